"""RSMF for calls: one conversation per call (``eventcollectionid`` = its ``<call>``), one file per call.

Participants joining and leaving are ``join`` / ``leave`` events; the call's start, end and incoming
attempts are ``history`` events; each archived recording is a ``message`` event whose attachments are
the recording's chunks (``call/media/<sha256>``, streamed into rsmf.zip and hashed on the way: a chunk
whose bytes no longer match its sha256 is named among the damaged blobs).  Each file's entry in the
export manifest lists its recordings with sha256 and size (``recordings``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from archiving.read.rsmf import Channel, People, RsmfResult, Slice, _customs, write_slice
from archiving.read.rsmf_eml import ZipFileEntry
from archiving.read.scan import WORKERS
from archiving.read.verified import Findings

CALL = Channel("call", "acs-calling", "channel", "Azure Communication Services Calling")
CHUNK = 1 << 20


def _stream(store: Any, blob: str, sha256: str, findings: Findings):
    def chunks():
        digest = hashlib.sha256()
        for block in store.container.download_blob(blob).chunks():
            digest.update(block)
            yield block
        if digest.hexdigest() != sha256:
            findings.add(blob, f"corrupt: sha256 of the content is {digest.hexdigest()}, the record says {sha256}")
    return chunks


def _events(call: str, blobs: list[tuple[Any, Mapping[str, Any]]], people: People, store: Any, findings: Findings):
    events, files, recordings = [], [], []
    for blob, d in blobs:
        kind, at = d.get("kind"), d.get("at")
        custom = _customs(("source_blob", blob.name), ("source_sha256", blob.sha256), ("kind", kind))
        base = {"id": f"{call}-{blob.name.rsplit('/', 2)[-2]}-{blob.name.rsplit('/', 1)[-1].split('.')[0]}",
                "conversation": call, "timestamp": at, "custom": custom}
        for who in (d.get("started_by"), d.get("ended_by"), d.get("participant"), d.get("from"), d.get("to")):
            people.see(who)
        if kind == "call-participant":
            who = d.get("participant")
            events.append({**base, "type": "join" if d.get("action") == "added" else "leave",
                           "participant": people.pid(who), "body": f"{people.name(who)} {d.get('action')}"})
        elif kind == "call-started":
            events.append({**base, "type": "history", "participant": people.pid(d.get("started_by")),
                           "body": f"call started by {people.name(d.get('started_by'))}"})
        elif kind == "call-ended":
            events.append({**base, "type": "history", "participant": people.pid(d.get("ended_by")),
                           "body": f"call ended by {people.name(d.get('ended_by'))} after "
                                   f"{d.get('duration_seconds')} s"})
        elif kind == "call-incoming":
            events.append({**base, "type": "history", "participant": people.pid(d.get("from")),
                           "body": f"incoming call from {people.name(d.get('from'))} to {people.name(d.get('to'))}"})
        elif kind == "call-recording":
            attachments = []
            for c in d.get("chunks") or []:
                content = c.get("content") or {}
                if content.get("status") != "stored":
                    continue
                name = f"recording-{content['sha256'][:16]}-chunk{c.get('index')}"
                attachments.append({"id": name, "display": name, "size": content.get("size")})
                files.append(ZipFileEntry(name, _stream(store, content["blob"], content["sha256"], findings)))
                recordings.append({"attachment": name, "blob": content["blob"], "sha256": content["sha256"],
                                   "size": content.get("size"), "content_type": content.get("content_type"),
                                   "recording_id": d.get("recording_id"), "index": c.get("index")})
            event = {**base, "type": "message", "participant": people.pid(None),
                     "body": f"recording {d.get('recording_id')}: {d.get('status')}, {d.get('duration_ms')} ms, "
                             f"{len(attachments)} of {len(d.get('chunks') or [])} chunks attached"}
            if attachments:
                event["attachments"] = attachments
            events.append(event)
    return events, files, recordings


def export_calls(store: Any, start: str, end: str, result: RsmfResult, hash_key: bytes | None,
                 only: str | None = None, progress: Any = None, workers: int = WORKERS) -> list[dict[str, Any]]:
    """Write one .rsmf file per call of the range (``only``: that call id); the written files' entries."""
    from archiving.read.calls import grouped_calls

    written = []
    for call, blobs in grouped_calls(store, start, end, result.findings, progress, workers).items():
        if only is not None and call != only:
            continue
        people = People(hash_key)
        events, files, recordings = _events(call, blobs, people, store, result.findings)
        events = [e for e in events if e.get("timestamp")]
        if not events:
            continue
        members = {e["participant"]: None for e in events if e["type"] == "join"}
        s = Slice(CALL, call, f"call {call}", events[0]["timestamp"][:10], 1, 1, events, members, "ACS archive",
                  _customs(("call_id", call), ("server_call_id", blobs[0][1].get("server_call_id"))), files=files)
        entry = write_slice(s, people, result)
        entry["recordings"] = recordings  # the export manifest's files[] entry: each recording with its sha256
        written.append(entry)
    return written
