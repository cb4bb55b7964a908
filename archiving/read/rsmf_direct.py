"""RSMF for the direct channels (SMS, WhatsApp): one conversation per (business, counterpart).

Layout (docs/archive-format.md section 13): ``<channel>/<yyyymm>/<conversation>/messages/<message_id>/``
holds ``received.json.lz4`` (an inbound message), ``sent.json.lz4`` (the business's own copy of a
message it sent, when the archive has one) and ``reports/<at_ms>-<status>.json.lz4`` (delivery
reports); ``whatsapp/media/<sha256>.lz4`` the media bytes.  A report sits in the month of its own
time, so the month after the range is read too.

Mapping: a message event per message, ``direction`` ``incoming`` (from the counterpart) or
``outgoing`` (from the business, the custodian); delivery reports become ``read_receipts``
(``delivered``, ``read``) of the counterpart on the message they report on; a message known only
from its reports is an outgoing event with an empty body saying so.  WhatsApp media are files in
rsmf.zip, verified (lz4 frame, sha256 of the bytes against the record and the blob's metadata)
before they are added.  A direct conversation is held in memory whole (they are short: a chat
thread is the long kind, streamed day by day by ``rsmf``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from archiving.read.rsmf import (
    CHANNELS,
    Channel,
    People,
    RsmfResult,
    Slice,
    _customs,
    _months,
    write_slice,
)
from archiving.read.rsmf_eml import ZipFileEntry
from archiving.read.scan import WORKERS, in_range
from archiving.read.verified import Findings, read_verified

DIRECT = ("sms", "whatsapp")
RECEIPTS = {"delivered": "delivered", "read": "read"}  # report status (lower-case) -> read_receipts action
CHUNK = 1 << 20


def identity(party: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A party of the record as the identity People knows: the normalized address is the account id."""
    if not party or not (party.get("normalized") or party.get("address")):
        return None
    return {"raw_id": party.get("normalized") or party.get("address"), "kind": party.get("kind") or "unknown",
            "display_name": party.get("address")}


def conversations(store: Any, channel: str, start: str, end: str) -> list[str]:
    ids: set[str] = set()
    for yyyymm in _months(start, end):
        prefix = f"{channel}/{yyyymm}/"
        for folder in store.list_prefixes(prefix):
            ids.add(folder[len(prefix):-1])
    return sorted(ids)


def names(store: Any, channel: str, conversation: str, start: str, end: str) -> Iterator[str]:
    months = _months(start, end)
    last = months[-1]
    following = f"{int(last[:4]) + (last[4:] == '12'):04d}{(int(last[4:]) % 12) + 1:02d}"
    for yyyymm in (*months, following):
        for name in store.list_names(f"{channel}/{yyyymm}/{conversation}/"):
            if name.endswith(".json.lz4") and ".conflict-" not in name:
                yield name


class _Media:
    """WhatsApp media, fetched, decompressed and verified into a local file before they go into the zip."""

    def __init__(self, store: Any, root: Path, findings: Findings):
        self.store, self.root, self.findings = store, root, findings

    def fetch(self, media: Mapping[str, Any]) -> tuple[str, Path, int] | None:
        import lz4.frame

        blob, expected = media.get("blob"), media.get("sha256")
        try:
            data, metadata = self.store.read_raw(blob)
        except Exception as exc:
            from azure.core.exceptions import ResourceNotFoundError

            if not isinstance(exc, ResourceNotFoundError):
                raise
            self.findings.add(blob, "missing: the media blob the record names does not exist")
            return None
        path = self.root / f"media-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"
        digest, size = hashlib.sha256(), 0
        try:
            decompressor = lz4.frame.LZ4FrameDecompressor()
            with open(path, "wb") as out:
                for i in range(0, len(data), CHUNK):
                    chunk = decompressor.decompress(data[i:i + CHUNK])
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            if not decompressor.eof:
                raise ValueError("the lz4 frame is truncated")
        except Exception as exc:  # noqa: BLE001 - lz4 raises RuntimeError and others on damaged frames
            self.findings.add(blob, f"unreadable: lz4 frame: {exc}")
            return None
        hexdigest = digest.hexdigest()
        if hexdigest != expected or metadata.get("sha256") != hexdigest:
            self.findings.add(blob, "corrupt: sha256 of the media does not match its record or metadata")
            return None
        return hexdigest, path, size


def _file_name(media: Mapping[str, Any], sha256: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", media.get("file_name") or "").strip("._")[:80]
    if not name:
        ext = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp",
               "audio/ogg": ".ogg", "video/mp4": ".mp4", "application/pdf": ".pdf"}.get(media.get("mime_type") or "", "")
        name = f"media{ext}"
    return f"{sha256[:16]}-{name}"


def _open(path: Path):
    def chunks():
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk
    return chunks


def export_direct(store: Any, channel_name: str, conversation: str, start: str, end: str, findings: Findings,
                  people: People, work: Path, result: RsmfResult, max_events: int, progress: Any = None,
                  workers: int = WORKERS) -> list[dict[str, Any]]:
    channel: Channel = CHANNELS[channel_name]
    messages: dict[str, dict[str, Any]] = {}  # message id -> the message record (received or sent) and its blob
    reports: dict[str, list[dict[str, Any]]] = {}
    business = counterpart = None
    resource = None
    for blob in read_verified(store, names(store, channel_name, conversation, start, end), findings, workers):
        if progress is not None:
            progress.update(1)
        doc = blob.document
        try:
            kind = doc["kind"]
            item = {"doc": doc, "source": blob.name, "sha256": blob.sha256}
            inbound = doc.get("action") == "received"
            b_party, c_party = (doc.get("to"), doc.get("from")) if inbound else (doc.get("from"), doc.get("to"))
            business, counterpart = business or identity(b_party), counterpart or identity(c_party)
            people.see(identity(doc.get("from")))
            people.see(identity(doc.get("to")))
            resource = resource or ((doc.get("event") or {}).get("topic") or "").rstrip("/").rsplit("/", 1)[-1] or None
            if kind.endswith("-report"):
                reports.setdefault(doc["message_id"], []).append(item)
            elif kind.endswith(("-message", "-sent")):
                messages.setdefault(doc["message_id"], item)
        except (KeyError, TypeError, AttributeError) as exc:
            findings.add(blob.name, f"invalid: not a document the export can map ({type(exc).__name__})")
    media = _Media(store, work, findings)
    by_day: dict[str, list[tuple[dict[str, Any], list[ZipFileEntry]]]] = {}
    for mid in messages.keys() | reports.keys():
        mine = sorted(reports.get(mid, []), key=lambda r: r["doc"].get("reported_at") or "")
        event, files = _message_event(channel, conversation, mid, messages.get(mid), mine, people, business, media)
        if event is not None and in_range(event["timestamp"], start, end):
            by_day.setdefault(event["timestamp"][:10], []).append((event, files))
    members = {people.pid(p): p for p in (business, counterpart) if p}
    display = " ↔ ".join(p["display_name"] or p["raw_id"] for p in (business, counterpart) if p) or conversation
    custodian = (business or {}).get("display_name") or resource or "ACS archive"
    written = []
    for day in sorted(by_day):
        items = sorted(by_day[day], key=lambda t: (t[0]["timestamp"], t[0]["id"]))
        size = max(1, max_events)
        slices = [items[i:i + size] for i in range(0, len(items), size)]
        for part, chunk in enumerate(slices, 1):
            s = Slice(channel, conversation, display, day, part, len(slices), [e for e, _ in chunk], members,
                      custodian, _customs(("conversation_id", conversation)),
                      custodian_id=people.pid(business) if business else None,
                      files=[f for _, files in chunk for f in files])
            written.append(write_slice(s, people, result))
    return written


def _message_event(channel: Channel, conversation: str, mid: str, item: Mapping[str, Any] | None,
                   reports: list[Mapping[str, Any]], people: People, business: Mapping[str, Any] | None,
                   media: _Media) -> tuple[dict[str, Any] | None, list[ZipFileEntry]]:
    files: list[ZipFileEntry] = []
    if item is None:  # known only from its delivery reports: a message the business sent
        if not reports:
            return None, files
        first = reports[0]["doc"]
        event = {"id": mid, "type": "message", "conversation": conversation,
                 "participant": people.pid(identity(first.get("from")) or business), "direction": "outgoing",
                 "timestamp": first.get("reported_at"), "body": ""}
        custom = _customs(("source_blob", reports[0]["source"]), ("source_sha256", reports[0]["sha256"]),
                          ("note", "message not in the archive: known from its delivery reports only"))
    else:
        doc = item["doc"]
        inbound = doc.get("action") == "received"
        event = {"id": mid, "type": "message", "conversation": conversation,
                 "participant": people.pid(identity(doc.get("from"))), "direction": "incoming" if inbound else "outgoing",
                 "timestamp": doc.get("received_at") or doc.get("sent_at"), "body": doc.get("content") or ""}
        reaction = doc.get("reaction")
        if reaction and not event["body"]:
            event["body"] = f"reacted {reaction.get('emoji') or ''} to message {reaction.get('messageId') or '?'}".strip()
        custom = _customs(("source_blob", item["source"]), ("source_sha256", item["sha256"]),
                          ("message_type", doc.get("message_type")), ("channel_message_id", doc.get("channel_message_id")),
                          ("segment_count", str(doc["segment_count"]) if doc.get("segment_count") is not None else None),
                          ("reaction", reaction), ("reply_to", doc.get("context")), ("button", doc.get("button")),
                          ("interactive", doc.get("interactive")), ("error", doc.get("error")))
        m = doc.get("media")
        if m:
            custom += _customs(("media", {k: m.get(k) for k in ("id", "mime_type", "file_name", "caption", "status",
                                                                  "blob", "sha256", "size", "reason")}))
            got = media.fetch(m) if m.get("status") == "stored" and m.get("blob") else None
            if got is not None:
                sha, path, size = got
                name = _file_name(m, sha)
                event["attachments"] = [{"id": name, "display": m.get("file_name") or name, "size": size}]
                files.append(ZipFileEntry(name, _open(path)))
            if m.get("caption") and not event["body"]:
                event["body"] = m["caption"]
    receipts = []
    for r in reports:
        doc = r["doc"]
        status = (doc.get("status") or "").lower()
        custom += _customs((f"report {doc.get('reported_at')} {doc.get('status')}", f"{r['source']} sha256:{r['sha256']}"))
        if status in RECEIPTS and doc.get("to") and doc.get("reported_at"):
            receipts.append({"participant": people.pid(identity(doc["to"])), "timestamp": doc["reported_at"],
                             "action": RECEIPTS[status]})
    if receipts:
        event["read_receipts"] = receipts
    event["custom"] = custom
    return event, files
