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
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from archiving.read.rsmf import (
    CHANNELS,
    Channel,
    People,
    RsmfResult,
    Slice,
    _customs,
    write_slice,
)
from archiving.read.rsmf_eml import ZipFileEntry
from archiving.read.scan import WORKERS, in_range
from archiving.read.verified import Findings, read_verified
from archiving.timefmt import iso

DIRECT = ("sms", "whatsapp")
RECEIPTS = {"delivered": "delivered", "read": "read"}  # report status (lower-case) -> read_receipts action
CHUNK = 1 << 20


def identity(party: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A party of the record as the identity People knows: the normalized address is the account id."""
    if not party or not (party.get("normalized") or party.get("address")):
        return None
    return {"raw_id": party.get("normalized") or party.get("address"), "kind": party.get("kind") or "unknown",
            "display_name": party.get("address")}


REPORT_GRACE = timedelta(days=1)  # delivery reports of the range's messages that come after its end


@dataclass
class Planned:
    """What a direct channel's export reads, by conversation: names of the range (by the ``at`` tag: reads
    proportional to the range), outbound messages already read (their conversation is in the document)."""

    names: dict[str, list[str]] = field(default_factory=dict)  # conversation -> inbound records and reports
    outbound: dict[str, list[tuple[Any, str | None]]] = field(default_factory=dict)  # conversation -> (blob, outcome)

    def conversations(self) -> list[str]:
        return sorted(self.names.keys() | self.outbound.keys())

    def count(self) -> int:
        return sum(len(v) for v in self.names.values()) + sum(len(v) for v in self.outbound.values())


def plan(store: Any, channel: str, start: str, end: str, findings: Findings, only: str | None = None,
         workers: int = WORKERS) -> Planned:
    """The blobs of the range: a tag query on ``channel`` and ``at`` (and ``conversation`` with ``only``), plus
    the reports filed in the day after the range of the conversations found (late delivery reports).
    Nothing outside that is read, so a damaged blob of another day cannot fail the export."""
    from archiving.outbound import layout
    from archiving.read.conversations import _tag_query, outbound_conversation, split_outbound
    from archiving.read.scan import find_names
    from archiving.store import keys

    out = Planned()
    found = [n for n in find_names(store, _tag_query(channel=channel, conversation=only, start=start, end=end))
             if not n.startswith(keys.MEDIA_ROOT) and ".conflict-" not in n]
    inbound, outbound = split_outbound(store, found)
    for name in inbound:
        info = keys.parse_channel_key(name)
        if info is not None and info.conversation:
            out.names.setdefault(info.conversation, []).append(name)
    # A message found through an index blob (a recipient after the first) belongs to that conversation too:
    # outbound/by-conversation/<channel>/<conversation>/<archive_id>.json.lz4
    extra: dict[tuple[str, str], str] = {}
    for name in found:
        parsed = layout.parse_name(name)
        if parsed is not None and parsed[2] == "index":
            extra[(parsed[0], parsed[1])] = name.split("/")[3]
    for blob in read_verified(store, outbound.message_names(), findings, workers, check_tags=False):
        doc = blob.document
        outcome, late = outbound.status(doc["channel"], doc["archive_id"])
        outcome = f"{outcome}, not archived before send" if late else outcome
        for conv in dict.fromkeys(c for c in (outbound_conversation(doc), extra.get((doc["channel"], doc["archive_id"])))
                                  if c and (only is None or c == only)):
            out.outbound.setdefault(conv, []).append((blob, outcome))
    later = iso(datetime.fromisoformat(end.replace("Z", "+00:00")) + REPORT_GRACE)
    wanted = set(out.conversations())
    for name in find_names(store, _tag_query(channel=channel, conversation=only, start=end, end=later)):
        info = keys.parse_channel_key(name)
        if info is not None and info.area == "report" and info.conversation in wanted and not info.conflict:
            out.names.setdefault(info.conversation, []).append(name)
    return out


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
                  workers: int = WORKERS, planned: Planned | None = None,
                  hash_key: bytes | None = None) -> list[dict[str, Any]]:
    channel: Channel = CHANNELS[channel_name]
    messages: dict[str, dict[str, Any]] = {}  # message id -> the message record (received or sent) and its blob
    reports: dict[str, list[dict[str, Any]]] = {}
    business = counterpart = None
    resource = None
    planned = planned or plan(store, channel_name, start, end, findings, conversation, workers)
    # What the business sent (archived before send): events from the business participant.
    for blob, outcome in planned.outbound.get(conversation, []):
        doc = blob.document
        sender = _outbound_party(doc.get("sender"))
        business = business or sender
        people.see(sender)
        for r in doc.get("recipients") or []:
            if r.get("hash") and conversation.endswith(r["hash"][:16]):
                counterpart = counterpart or _outbound_party(r)
                people.see(_outbound_party(r))
        messages[doc["archive_id"]] = {"doc": doc, "source": blob.name, "sha256": blob.sha256, "outcome": outcome}
    for blob in read_verified(store, planned.names.get(conversation, []), findings, workers, check_tags=False):
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
    _join_outbound(store, channel_name, messages, reports, findings, hash_key)
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
    if item is not None and item["doc"].get("kind") == "outbound-message":
        from archiving.read.conversations import content_of

        doc = item["doc"]
        event = {"id": mid, "type": "message", "conversation": conversation,
                 "participant": people.pid(_outbound_party(doc.get("sender")) or business), "direction": "outgoing",
                 "timestamp": doc.get("archived_at"), "body": content_of(doc) or ""}
        custom = _customs(("source_blob", item["source"]), ("source_sha256", item["sha256"]),
                          ("archive_id", doc.get("archive_id")), ("send_outcome", item.get("outcome")),
                          ("archived_before_send", "no" if "not archived" in (item.get("outcome") or "") else "yes"),
                          ("template", doc.get("template")), ("attachments", doc.get("attachments") or None))
    elif item is None:  # known only from its delivery reports: a message the business sent
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


def _outbound_party(party: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """An outbound record's party as the identity People knows (the normalized address, as inbound)."""
    if not party or not party.get("address"):
        return None
    from archiving.store import keys

    return {"raw_id": keys.normalize_party(party["address"]), "kind": keys.party_kind(party["address"]),
            "display_name": party.get("display_name") or party["address"]}


def _join_outbound(store: Any, channel: str, messages: dict[str, dict[str, Any]],
                   reports: dict[str, list[dict[str, Any]]], findings: Findings, hash_key: bytes | None) -> None:
    """Reports of an outbound message go under its archive id: by the SMS tag (the archive id), else the
    ``by-acs-id`` link; one event per message, never two."""
    from archiving.outbound import layout
    from archiving.store import keys

    outbound = {aid for aid, m in messages.items() if m["doc"].get("kind") == "outbound-message"}
    if not outbound:
        return
    for mid in [m for m in reports if m not in messages]:
        tag = reports[mid][0]["doc"].get("tag")
        target = tag if tag in outbound else None
        if target is None and (hash_key is not None or keys.is_documented_id(mid)):
            link = layout.by_acs_id_key(channel, mid, hash_key)
            if store.exists(link):
                for blob in read_verified(store, [link], findings):
                    target = blob.document.get("archive_id") if blob.document.get("archive_id") in outbound else None
        if target is not None:
            reports.setdefault(target, []).extend(reports.pop(mid))
