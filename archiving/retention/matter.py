"""``export --matter NAME``: exactly what a matter's active holds cover, as one set, with a manifest that names
the matter and its hold audit records.

The blobs are chosen as ``dispose`` chooses what to keep (archiving.retention.scope, one listing of the archive),
then read through the one verified reading path; transcripts of a covered thread give their messages in the
hold's time range.  JSON lines and CSV here; RSMF (a directory) through archiving.read.rsmf per covered thread or
conversation (archiving/cli/retention.py).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archiving.read.verified import Findings
from archiving.retention import audit
from archiving.retention.scope import OUTBOUND_MESSAGE, Blob, Scope, covered, document_reader, list_records


@dataclass
class MatterSet:
    matter: str
    matter_id: str
    scopes: list[Scope]
    audit: list[str]
    blobs: list[Blob] = field(default_factory=list)


def matter_set(svc: Any, matter: str, progress: Any = None) -> MatterSet:
    """The blobs the matter's active holds cover now; LookupError when it has no active hold."""
    from archiving.retention.holds import matters

    mid = audit.matter_id(matter.strip())
    m = matters(svc.store).get(mid)
    if m is None or not m.active:
        raise LookupError(f"matter {matter!r} has no active hold")
    blobs, _ = covered(list_records(svc), m.scopes, document_reader(svc))
    blobs.sort(key=lambda b: (b.at or "", b.name))
    return MatterSet(m.matter, mid, m.scopes, m.audit, blobs)


def _outbound_item(store: Any, blob: Any, doc: Any, listed: Blob, conversations: dict[tuple[str, str], str]) -> Any:
    """An outbound record's item: the message with its outcome under its conversation or chat thread; its outcome,
    marker and link records under the same (the archive id when the message is not in the matter)."""
    from archiving.read.conversations import OUTBOUND, OUTBOUND_MESSAGE as MESSAGE_KIND
    from archiving.read.export import Item, outbound_item

    channel, archive_id = str(doc.get("channel") or "chat"), str(doc.get("archive_id") or "")
    if doc.get("kind") == MESSAGE_KIND:
        item = outbound_item(blob, doc, store=store, chat=True)
        if item is not None:
            conversations[(channel, archive_id)] = item.thread_id
            return item
    return Item(str(doc.get("kind")), listed.at, conversations.get((channel, archive_id)) or archive_id, blob.name,
                blob.sha256, doc, channel=channel, direction=OUTBOUND)


def _range_of(scopes: list[Scope], blob: Blob) -> tuple[str | None, str | None]:
    from archiving.retention.scope import Matcher

    for i in Matcher(scopes).covering(blob) or [0]:
        return scopes[i].start, scopes[i].end
    return None, None


def export_matter(svc: Any, ms: MatterSet, out: Path, fmt: str = "jsonl", bom: bool = True,
                  progress: Any = None) -> tuple[Path, Counter, Findings, str, int]:
    """Write the items of the matter's blobs to ``out`` (written whole, then renamed) and ``out``.manifest.json;
    (manifest path, counts by kind, findings, sha256, size)."""
    import orjson

    from archiving.read.export import HashingFile, ItemWriter, record_item, transcript_items
    from archiving.read.verified import read_verified
    from archiving.timefmt import iso, utcnow

    store = svc.store
    findings = Findings()
    counts: Counter = Counter()
    by_name = {b.name: b for b in ms.blobs}
    partial = out.with_name(out.name + ".partial")
    try:
        with open(partial, "wb") as raw:
            sink = HashingFile(raw)
            writer = ItemWriter(sink, fmt, bom=bom)
            names = [b.name for b in ms.blobs if not b.name.endswith(".csv.lz4")]  # a transcript's JSON twin
            # Outbound records last, each message before the outcomes and links exported under its conversation
            # (or chat thread); the rest keep their order (time, name).
            names.sort(key=lambda n: (n.startswith("outbound/"), n.startswith("outbound/")
                                      and not n.endswith("/" + OUTBOUND_MESSAGE)))
            conversations: dict[tuple[str, str], str] = {}
            for blob in read_verified(store, names, findings, hash_key=svc.settings.hash_key):
                if progress is not None:
                    progress.update(1)
                doc = blob.document
                if blob.name.startswith("outbound/"):
                    items = [_outbound_item(store, blob, doc, by_name[blob.name], conversations)]
                elif isinstance(doc, dict) and doc.get("kind") == "transcript":
                    start, end = _range_of(ms.scopes, by_name[blob.name])
                    items = list(transcript_items(blob, doc, start, end))
                else:
                    items = [record_item(blob, doc)]
                for item in items:
                    writer.write(item)
                    counts[item.kind] += 1
            raw.flush()
            os.fsync(raw.fileno())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, out)
    manifest_path = out.with_name(out.name + ".manifest.json")
    manifest = {
        "export": out.name, "format": fmt, "created_at": iso(utcnow()), "container": svc.settings.container,
        "matter": ms.matter, "matter_id": ms.matter_id,
        "holds": [s.as_dict() for s in ms.scopes], "hold_audit_records": ms.audit,
        "selection": "every blob an active hold of the matter covers (docs/operations.md, 'Records management'), "
                     "as dispose decides what to keep; transcripts give their messages in the hold's time range",
        "blobs": len(ms.blobs), "counts": dict(counts), "items": sum(counts.values()),
        "sha256": sink.sha.hexdigest(), "bytes": sink.size,
        "damaged": [{"source": d.name, "reason": d.reason} for d in findings.items],
    }
    manifest_path.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    return manifest_path, counts, findings, manifest["sha256"], sink.size


def export_matter_rsmf(svc: Any, ms: MatterSet, out: Path, progress: Any = None) -> tuple[Path, Counter, Findings, int]:
    """RSMF: one sub-directory per covered thread or conversation (``export --format rsmf`` of it, over the hold's
    range or the span of its covered records), and ``matter.manifest.json`` naming the matter, its hold audit
    records and each sub-directory's thread or conversation."""
    import orjson

    from archiving.read.rsmf import RsmfRequest
    from archiving.read.rsmf_export import export_rsmf
    from archiving.timefmt import iso, utcnow

    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: with --format rsmf, --out is a directory")
    out.mkdir(parents=True, exist_ok=True)
    findings = Findings()
    groups: dict[str, list[Blob]] = {}
    for b in ms.blobs:
        key = b.thread or b.conversation
        if key:
            groups.setdefault(key, []).append(b)
    counts: Counter = Counter()
    parts = []
    files = 0
    for i, (key, blobs) in enumerate(sorted(groups.items()), 1):
        start, end = _range_of(ms.scopes, blobs[0])
        ats = sorted(b.at for b in blobs if b.at)
        start = start or (ats[0] if ats else "1970-01-01T00:00:00.000000Z")
        end = end or _after(ats[-1] if ats else iso(utcnow()))
        sub = out / f"{i:04d}"
        result = export_rsmf(svc.store, RsmfRequest(start=start, end=end, out=sub, thread_id=key),
                             hash_key=svc.settings.hash_key, findings=findings, progress=progress,
                             container=svc.settings.container)
        counts.update(result.counts)
        files += len(result.files)
        parts.append({"directory": sub.name, "thread_or_conversation": key, "from": start, "to": end,
                      "files": len(result.files)})
    manifest_path = out / "matter.manifest.json"
    manifest = {"format": "rsmf", "created_at": iso(utcnow()), "container": svc.settings.container,
                "matter": ms.matter, "matter_id": ms.matter_id, "holds": [s.as_dict() for s in ms.scopes],
                "hold_audit_records": ms.audit, "blobs": len(ms.blobs), "parts": parts,
                "damaged": [{"source": d.name, "reason": d.reason} for d in findings.items]}
    manifest_path.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    return manifest_path, counts, findings, files


def _after(at: str) -> str:
    from datetime import datetime, timedelta

    from archiving.timefmt import iso

    return iso(datetime.fromisoformat(at.replace("Z", "+00:00")) + timedelta(days=1))  # type: ignore[return-value]
