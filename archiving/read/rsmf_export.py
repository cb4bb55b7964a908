"""``export --format rsmf``: every conversation of a range, chat (read/rsmf.py) and SMS / WhatsApp
(read/rsmf_direct.py), as .rsmf files, then the export's manifest.  Above both modules, so that neither
imports the other's caller (no import cycle)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import orjson

from archiving import SCHEMA_VERSION
from archiving.read import rsmf_direct
from archiving.read.rsmf import (
    CHANNELS,
    EVENT_KINDS,
    GENERATOR,
    MANIFEST,
    RSMF_VERSION,
    People,
    RsmfRequest,
    RsmfResult,
    _write_conversation,
    chat_conversations,
    chat_names,
    collect_chat,
)
from archiving.read.scan import WORKERS
from archiving.read.verified import Findings
from archiving.store import keys
from archiving.timefmt import iso, utcnow

log = logging.getLogger("archiving.read.rsmf")


def export_rsmf(store: Any, request: RsmfRequest, hash_key: bytes | None = None, findings: Findings | None = None,
                progress: Any = None, container: str | None = None, workers: int = WORKERS) -> RsmfResult:
    """Write the range's conversations as .rsmf files into ``request.out``, then the export manifest."""
    out = Path(request.out)
    out.mkdir(parents=True, exist_ok=True)
    result = RsmfResult(out, out / MANIFEST, findings=findings if findings is not None else Findings())

    start, end = request.start, request.end
    # (channel, conversation id) of everything to export; --thread: that id, in whichever channel has it.
    only = request.thread_id if request.thread_id and keys.is_conversation_id(request.thread_id) else None
    chat = [] if only else ([request.thread_id] if request.thread_id else chat_conversations(store, start, end))
    todo = [("chat", tid) for tid in chat]
    plans = {}
    if request.thread_id is None or only:
        for name in rsmf_direct.DIRECT:
            plans[name] = rsmf_direct.plan(store, name, start, end, result.findings, only, workers)
            todo += [(name, cid) for cid in plans[name].conversations()]
    if progress is not None:  # the total: every blob to read, counted by listing (names are not kept)
        progress.total = sum(1 for ch, cid in todo if ch == "chat" for _ in chat_names(store, cid)) + sum(
            p.count() for p in plans.values())
        if hasattr(progress, "refresh"):
            progress.refresh()
    first_at = last_at = None
    for ch, cid in todo:
        with tempfile.TemporaryDirectory(prefix="rsmf-") as work:
            people = People(hash_key)
            if ch == "chat":
                got = collect_chat(store, cid, start, end, result.findings, Path(work), people, progress, workers)
                written = _write_conversation(got, CHANNELS["chat"], request, container, result)
            else:
                written = rsmf_direct.export_direct(store, ch, cid, start, end, result.findings, people, Path(work),
                                                    result, request.max_events, progress, workers, plans[ch],
                                                    hash_key)
        if written:
            result.conversations += 1
            stamps = [f["begin"] for f in written] + [f["end"] for f in written]
            first_at = min([first_at or stamps[0], *stamps])
            last_at = max([last_at or stamps[0], *stamps])
    from archiving.read import rsmf_calls  # calls: one conversation per call, recordings attached

    for entry in rsmf_calls.export_calls(store, start, end, result, hash_key, request.thread_id, progress, workers):
        result.conversations += 1
        first_at, last_at = min(first_at or entry["begin"], entry["begin"]), max(last_at or entry["end"], entry["end"])
    # Email has no RSMF mapping here: what the business sent is exported as RFC 5322 files beside them.
    if request.thread_id is None or only:
        from archiving.read.outbound_eml import export_emails

        result.emails = export_emails(store, out, start, end, result.findings, only, workers)
    manifest = {
        "export": "rsmf",
        "rsmf_version": RSMF_VERSION,
        "schema_version": SCHEMA_VERSION,
        "generator": GENERATOR,
        "created_at": iso(utcnow()),
        "container": container,
        "range": {"from": request.start, "to": request.end, "to_is_exclusive": True},
        "thread_id": request.thread_id,
        "conversations": result.conversations,
        "files": result.files,
        "counts": {k: result.counts[k] for k in EVENT_KINDS},
        "messages_edited": result.counts["edited"],
        "messages_deleted": result.counts["deleted"],
        "attachments": result.counts["attachments"],
        "events": result.events,
        "first_at": first_at,
        "last_at": last_at,
        "damaged_blobs": [{"blob": d.name, "reason": d.reason} for d in result.findings.items],
        "emails": result.emails,
    }
    partial = result.manifest_path.with_name(MANIFEST + ".partial")
    partial.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    partial.replace(result.manifest_path)
    log.info("rsmf export files=%d conversations=%d events=%d damaged=%d", len(result.files), result.conversations,
             result.events, len(result.findings))
    return result
