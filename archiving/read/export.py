"""eDiscovery export: everything archived in a time range, streamed to JSON lines or CSV, with a manifest.

What is in the range, found through the blob index tags (and a listing, below):

- message records whose ``at`` (deletion, else edit, else compose time) is in the range;
- thread records whose ``at`` (the change's time) is in the range;
- the messages of transcripts (tagged with the thread's last activity, so only transcripts whose
  ``at`` is at or after the start are read) created, edited or deleted in the range.

Every blob is read through ``read_verified`` (lz4 frame, sha256, schema, name, tags): a damaged blob
is left out and named; every item names its source blob and the ``sha256`` computed from what was read.
Nothing is merged or de-duplicated (a message archived in real time and again in a transcript is
exported once per copy).

The tag index alone does not make the export complete: a blob rewritten without its tags (a copy
from URL drops them by default) is invisible to tag searches.  So the month folders the range covers
are also listed (with their tags: one listing call per 5,000 blobs), and every blob there without
index tags is read and included if it belongs to the range, with a warning.

The export is written to ``<out>.partial`` and renamed when complete (removed if the export fails);
the manifest ``<out>.manifest.json`` has the counts by kind, the time range, the sha256 and size of
the export file, and the damaged and untagged blobs met.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson

from archiving import SCHEMA_VERSION
from archiving.read.scan import WORKERS, find_names, in_range, list_indexed, tag_filter
from archiving.read.verified import Findings, VerifiedBlob, read_verified
from archiving.store import keys
from archiving.store.schemas import CHANNEL_KINDS
from archiving.timefmt import iso, utcnow

if TYPE_CHECKING:  # conversations imports nothing from here: no cycle at run time either
    from archiving.read.conversations import OutboundNames

log = logging.getLogger("archiving.read.export")

# SMS, WhatsApp, email (inbound and reports) and what the business sent on them: read/conversations.py
KINDS = ("message", "thread", "transcript-message") + CHANNEL_KINDS + ("outbound-message",)
KINDS += ("call", "call-recording")  # one item per call and per recording: read/calls.py
FORMATS = ("jsonl", "csv")
CSV_COLUMNS = ("kind", "at", "thread_id", "message_id", "version", "action", "message_type", "sender_id",
               "sender_display_name", "sender_hash", "content", "composed_at", "edited_at", "deleted_at", "topic",
               "participants", "source", "source_sha256", "channel", "direction", "outcome", "attachments")


@dataclass(frozen=True)
class Item:
    """One exported thing: a record, or one message of a transcript."""

    kind: str  # message | thread | transcript-message
    at: str | None
    thread_id: str
    source: str  # blob name
    source_sha256: str | None
    document: Mapping[str, Any]  # the record, or the transcript's message
    topic: str | None = None  # transcript messages: the transcript's topic
    channel: str = "chat"  # sms, whatsapp, email: thread_id is then the conversation id
    direction: str | None = None  # SMS, WhatsApp, email messages: inbound | outbound (reports: None)
    outcome: str | None = None  # outbound: sent | failed | outcome unknown [, not archived before send]

    def as_json(self) -> dict[str, Any]:
        out = {"kind": self.kind, "at": self.at, "thread_id": self.thread_id, "source": self.source,
               "source_sha256": self.source_sha256, "document": self.document, "channel": self.channel}
        if self.kind == "transcript-message":
            out["topic"] = self.topic
        if self.channel != "chat" or self.direction is not None:  # chat: an outbound record (export --matter)
            from archiving.read.conversations import attachments_of, content_of, parties

            sender, to = parties(self.document)
            out.update(direction=self.direction, outcome=self.outcome, **{"from": sender, "to": to},
                       content=content_of(self.document), attachments=attachments_of(self.document))
        return out

    def csv_row(self) -> tuple[str, ...]:
        """The CSV cells, neutralized for spreadsheets (a cell starting with = + - @ gets a leading ')."""
        from archiving.read.safe import spreadsheet_cell

        return tuple(spreadsheet_cell(cell) for cell in self.raw_csv_row())

    def raw_csv_row(self) -> tuple[str, ...]:
        d = self.document
        if self.channel != "chat" or self.direction is not None:
            from archiving.read.calls import csv_values
            from archiving.read.conversations import channel_values

            from archiving.read.conversations import attachments_of

            values = csv_values(self.kind, d) if self.channel == "call" else channel_values(d)
            values.update(kind=self.kind, at=self.at, thread_id=self.thread_id, source=self.source,
                          source_sha256=self.source_sha256, channel=self.channel, direction=self.direction,
                          outcome=self.outcome, attachments="; ".join(
                              f"{a.get('name') or ''} sha256={a.get('sha256') or '-'}" for a in attachments_of(d)) or None)
            return tuple("" if values.get(c) is None else str(values[c]) for c in CSV_COLUMNS)
        if self.kind == "thread":
            who = d.get("actor") or {}
            props = d.get("properties") or {}
            values = {"action": d.get("action"), "topic": props.get("topic"), "sender_hash": None}
        else:
            who = d.get("sender") or {}
            values = {
                "message_id": d.get("message_id"),
                "version": d.get("message_version") or d.get("version"),
                "action": d.get("action") or _action(d),
                "message_type": d.get("message_type"),
                "sender_hash": d.get("sender_hash"),
                "content": d.get("content"),
                "composed_at": d.get("composed_at") or d.get("created_at"),
                "edited_at": d.get("edited_at"),
                "deleted_at": d.get("deleted_at"),
                "topic": d.get("topic") if self.kind == "transcript-message" else None,
            }
        participants = "; ".join(_who(p) for p in d.get("participants") or [])
        values.update(kind=self.kind, at=self.at, thread_id=self.thread_id, sender_id=who.get("raw_id"),
                      sender_display_name=who.get("display_name"), participants=participants,
                      source=self.source, source_sha256=self.source_sha256, channel=self.channel)
        return tuple("" if values.get(c) is None else str(values[c]) for c in CSV_COLUMNS)


def _who(p: Mapping[str, Any]) -> str:
    name, raw = p.get("display_name"), p.get("raw_id") or ""
    return f"{name} <{raw}>" if name else raw


def _action(m: Mapping[str, Any]) -> str:
    return "deleted" if m.get("deleted_at") else ("edited" if m.get("edited_at") else "received")


def record_item(blob: VerifiedBlob, doc: Mapping[str, Any]) -> Item:
    if doc.get("channel") == "call":
        return call_item(blob, doc)
    if doc.get("channel") not in (None, "chat"):
        return item_of(blob, doc)
    kind = doc.get("kind")
    if kind == "message":
        at = doc.get("deleted_at") or doc.get("edited_at") or doc.get("composed_at")
    else:
        at = doc.get("occurred_at")
    return Item(kind, at, doc.get("thread_id"), blob.name, blob.sha256, doc)


def transcript_items(blob: VerifiedBlob, doc: Mapping[str, Any], start: str | None, end: str | None,
                     sender: str | None = None) -> Iterator[Item]:
    """The messages of a transcript created, edited or deleted in the range (and sent by ``sender``)."""
    for m in doc.get("messages") or []:
        times = [t for t in (m.get("created_at"), m.get("edited_at"), m.get("deleted_at")) if in_range(t, start, end)]
        if not times:
            continue
        if sender is not None and (m.get("sender") or {}).get("raw_id") != sender and not any(
                p.get("raw_id") == sender for p in m.get("participants") or []):
            continue
        # The latest of its times in the range: its state as of the end of the range.
        yield Item("transcript-message", max(times), doc.get("thread_id"), blob.name, blob.sha256, m,
                   topic=doc.get("topic"))


# -- writers ---------------------------------------------------------------------------------------


class HashingFile:
    """A binary file that keeps the sha256 and size of what is written; text goes in as UTF-8."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: str | bytes) -> int:
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sha.update(data)
        self.size += len(data)
        self.raw.write(data)
        return len(data)


class ItemWriter:
    def __init__(self, out: Any, fmt: str, bom: bool = False):
        if fmt not in FORMATS:
            raise ValueError(f"format {fmt!r}: choose from {', '.join(FORMATS)}")
        self.out = out
        self.fmt = fmt
        if fmt == "csv":
            if bom:  # Excel reads a CSV as UTF-8 only with a byte-order mark
                out.write("\ufeff")
            self.csv = csv.writer(out, lineterminator="\r\n")  # RFC 4180
            self.csv.writerow(CSV_COLUMNS)

    def write(self, item: Item) -> None:
        if self.fmt == "csv":
            self.csv.writerow(item.csv_row())
        else:
            self.out.write(orjson.dumps(item.as_json()) + b"\n")


class TextOut:
    """stdout (text) behind the bytes/str interface the writers use."""

    def __init__(self, stream: Any):
        self.stream = stream

    def write(self, data: str | bytes) -> int:
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        return self.stream.write(data)


# -- the export ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportRequest:
    start: str  # archive time text, inclusive
    end: str  # exclusive
    out: Path
    fmt: str = "jsonl"
    thread_id: str | None = None
    bom: bool = True  # CSV only: start with a UTF-8 byte-order mark (for Excel)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    manifest_path: Path
    counts: Mapping[str, int]
    sha256: str
    size: int
    first_at: str | None
    last_at: str | None
    findings: Findings = field(default_factory=Findings)
    untagged: int = 0  # blobs found by listing only, included with a warning

    @property
    def items(self) -> int:
        return sum(self.counts.values())


@dataclass
class _Tally:
    counts: Counter = field(default_factory=Counter)
    first_at: str | None = None
    last_at: str | None = None

    def add(self, item: Item) -> None:
        self.counts[item.kind] += 1
        if item.at:
            self.first_at = min(self.first_at or item.at, item.at)
            self.last_at = max(self.last_at or item.at, item.at)


def export_items(store: Any, start: str, end: str, thread_id: str | None = None, progress: Any = None,
                 workers: int = WORKERS, findings: Findings | None = None, hash_key: bytes | None = None,
                 stats: dict | None = None) -> Iterator[Item]:
    """Every item of the range, streamed: the chat records (message and thread records, transcript messages)
    found by one listing of the range's month folders, then the SMS, WhatsApp, email and call records."""
    findings = findings if findings is not None else Findings()
    stats = stats if stats is not None else {}
    stats.setdefault("untagged", 0)

    from archiving.store.keys import is_conversation_id

    if thread_id is not None and is_conversation_id(thread_id):  # an SMS / WhatsApp / email conversation
        yield from channel_items(store, start, end, findings=findings, progress=progress, workers=workers,
                                 conversation=thread_id)
        return
    yield from _chat_items(store, start, end, thread_id, progress, workers, findings, hash_key, stats)
    if thread_id is None:  # SMS, WhatsApp and email records of the range
        yield from channel_items(store, start, end, findings=findings, progress=progress, workers=workers)
        yield from call_items(  # calls: one item per call and per recording
            store, start, end, findings, progress, workers)


def _chat_items(store: Any, start: str, end: str, thread_id: str | None, progress: Any, workers: int,
                findings: Findings, hash_key: bytes | None, stats: dict) -> Iterator[Item]:
    """Chat items of the range.

    Where a chat record is filed tells which month folders can hold the range: thread records and transcripts
    by their own time (a transcript by its last message: any month from the range's first), message records by
    the message's creation, so a version made in the range may sit in an earlier month.  One listing of the
    months from the range's first, with tags and metadata, selects the blobs by their ``kind`` and ``at`` tags
    (and finds blobs without index tags) and streams them into the checked reads while it pages; a tag query
    finds message versions filed before the range's first month, asked only when such a month exists."""
    first = start[:7].replace("-", "")
    months = store.months()
    untagged: set[str] = set()

    def selected() -> Iterator[Any]:
        for month in (m for m in months if m >= first):
            prefix = keys.thread_prefix(month, thread_id) if thread_id else f"{keys.ROOT}{month}/"
            for listed in list_indexed(store, prefix):
                if listed.name.endswith(".csv.lz4"):  # the CSV twin of a JSON transcript
                    continue
                if not listed.indexed:
                    untagged.add(listed.name)
                    yield listed
                    continue
                kind, at = listed.tags.get("kind"), listed.tags.get("at")
                if (kind in ("message", "thread") and in_range(at, start, end)) or (
                        kind == "transcript" and at >= start):
                    yield listed

    def earlier() -> Iterator[str]:  # message versions of the range filed in a month before it
        if not any(m < first for m in months):
            return
        for name in find_names(store, tag_filter(kind="message", thread_id=thread_id, start=start, end=end)):
            info = keys.parse_key(name)
            if info is not None and info.month < first:
                yield name

    for source in (selected(), earlier()):
        for blob in read_verified(store, source, findings, workers, hash_key=hash_key):
            if progress is not None:
                progress.update(1)
            doc = blob.document
            if doc.get("kind") == "transcript":
                items = list(transcript_items(blob, doc, start, end))
            else:
                item = record_item(blob, doc)
                items = [item] if in_range(item.at, start, end) else []  # the document has the last word
            if items and blob.name in untagged:
                stats["untagged"] += 1
            yield from items
    if stats["untagged"]:
        log.warning("export untagged=%d (found by listing, not by the tag index)", stats["untagged"])


# -- SMS, WhatsApp and email records (read/conversations.py reads them; their export items are made here) --


def channel_items(store: Any, start: str | None, end: str | None, findings: Findings | None = None,
                  progress: Any = None, workers: int = WORKERS, conversation: str | None = None) -> Iterator[Item]:
    """Export items of every SMS, WhatsApp and email record whose ``at`` is in the range (of one conversation)."""
    from archiving.read.conversations import (
        OUTBOUND_MESSAGE, _tag_query, direction_of, is_channel_document, record_at, split_outbound,
    )

    own = findings is None
    findings = Findings() if own else findings
    for channel in keys.CHANNELS:
        # One channel's names of the range (strings only; media blobs have no place in an export), then its
        # blobs streamed. Outbound messages (tagged with channel and at too) come with their outcome, told
        # by the names of their outcome blobs (or one listing of their folder), not by reading them.
        query = _tag_query(channel=channel, conversation=conversation, start=start, end=end)
        names = [n for n in find_names(store, query) if not n.startswith(keys.MEDIA_ROOT)]
        inbound, outbound = split_outbound(store, names)
        for blob in read_verified(store, [*inbound, *outbound.message_names()], findings, workers,
                                  check_tags=False):  # found by a tag query: tagged
            if progress is not None:
                progress.update(1)
            doc = blob.document
            if isinstance(doc, Mapping) and doc.get("kind") == OUTBOUND_MESSAGE:
                item = outbound_item(blob, doc, outbound)
                if item is not None and in_range(item.at, start, end):
                    yield item
                continue
            if not is_channel_document(doc) or doc.get("kind") not in CHANNEL_KINDS:
                continue
            at = record_at(doc)
            if in_range(at, start, end):
                yield Item(doc["kind"], at, doc["conversation_id"], blob.name, blob.sha256, doc, channel=channel,
                           direction=direction_of(doc))
    if own:
        for damage in findings.items:  # named, skipped, never silent
            log.warning("damaged blob skipped: %s: %s", damage.name, damage.reason)


def item_of(blob: Any, doc: Mapping[str, Any]) -> Item:
    from archiving.read.conversations import direction_of, record_at

    return Item(doc.get("kind"), record_at(doc), doc.get("conversation_id"), blob.name, blob.sha256, doc,
                channel=doc.get("channel"), direction=direction_of(doc))


def outbound_item(blob: Any, doc: Mapping[str, Any], outbound: OutboundNames | None = None,
                  store: Any = None, chat: bool = False) -> Item | None:
    """The export item of an outbound SMS, WhatsApp or email message, with its send outcome from ``outbound``'s
    names, else one listing of its folder in ``store``.  Chat: None (its chat record is the item), unless
    ``chat`` (an export of blobs, as ``export --matter``): then the item of the outbound record itself, under
    the chat thread it was sent to."""
    from archiving.outbound import layout
    from archiving.read.conversations import (
        NOT_ARCHIVED_BEFORE_SEND, OUTBOUND, OUTBOUND_MESSAGE, OutboundNames, outbound_conversation, record_at,
        split_outbound,
    )

    channel, archive_id = doc.get("channel"), doc.get("archive_id")
    if channel == "chat" and chat:
        folder = layout.message_prefix(channel, archive_id)
        outbound = OutboundNames({(channel, archive_id): {n.rsplit("/", 1)[1] for n in store.list_names(folder)}})
        conversation = layout.chat_thread(channel, doc) or ""
    elif channel in layout.CONVERSATION_CHANNELS:
        if outbound is None or (channel, archive_id) not in outbound.files:
            _, outbound = split_outbound(store, store.list_names(layout.message_prefix(channel, archive_id)))
        conversation = outbound_conversation(doc) or ""
    else:
        return None
    outcome, late = outbound.status(channel, archive_id)
    if late:
        outcome = f"{outcome}, {NOT_ARCHIVED_BEFORE_SEND}"
    return Item(OUTBOUND_MESSAGE, record_at(doc), conversation, blob.name, blob.sha256, doc,
                channel=channel, direction=OUTBOUND, outcome=outcome)


# -- calls (read/calls.py reads and summarizes them; their export items are made here) ------------------


def call_item(blob: Any, doc: Mapping[str, Any]) -> Item:
    """One call record as a find item."""
    return Item(doc.get("kind"), doc.get("at"), doc.get("call_id"), blob.name, blob.sha256, doc, channel="call")


def call_items(store: Any, start: str | None, end: str | None, findings: Findings, progress: Any = None,
               workers: int = WORKERS) -> Iterator[Item]:
    """Export items: one ``call`` per call (its records of the range, summarized) and one ``call-recording``
    per recording record, in the order of the calls' first record."""
    from archiving.read.calls import grouped_calls, summary

    for call_id, blobs in grouped_calls(store, start, end, findings, progress, workers).items():
        s = summary((b.name, d) for b, d in blobs)
        s["sources"] = [{"name": b.name, "sha256": b.sha256} for b, _ in blobs]
        first = blobs[0][0]
        yield Item("call", s["started_at"] or blobs[0][1].get("at"), call_id, first.name, first.sha256, s,
                   channel="call")
        for b, d in blobs:
            if d.get("kind") == "call-recording":
                yield Item("call-recording", d.get("at"), call_id, b.name, b.sha256, d, channel="call")


def export(store: Any, request: ExportRequest, progress: Any = None, container: str | None = None,
           workers: int = WORKERS, hash_key: bytes | None = None) -> ExportResult:
    out = Path(request.out)
    partial = out.with_name(out.name + ".partial")
    manifest_path = out.with_name(out.name + ".manifest.json")
    tally = _Tally()
    findings = Findings()
    stats: dict = {}
    try:
        with open(partial, "wb") as raw:
            sink = HashingFile(raw)
            writer = ItemWriter(sink, request.fmt, bom=request.bom)
            for item in export_items(store, request.start, request.end, request.thread_id, progress, workers,
                                     findings, hash_key, stats):
                writer.write(item)
                tally.add(item)
            raw.flush()
            os.fsync(raw.fileno())
    except BaseException:
        partial.unlink(missing_ok=True)  # a failed export leaves nothing that looks like one
        raise
    os.replace(partial, out)
    # Chat kinds always; SMS, WhatsApp and email kinds when the range holds any.
    counts = {kind: tally.counts.get(kind, 0) for kind in KINDS if kind in KINDS[:3] or tally.counts.get(kind)}
    manifest = {
        "export": out.name,
        "format": request.fmt,
        "schema_version": SCHEMA_VERSION,
        "created_at": iso(utcnow()),
        "container": container,
        "range": {"from": request.start, "to": request.end, "to_is_exclusive": True},
        "thread_id": request.thread_id,
        "counts": counts,
        "items": sum(counts.values()),
        "first_at": tally.first_at,
        "last_at": tally.last_at,
        "sha256": sink.sha.hexdigest(),
        "bytes": sink.size,
        "selection": "message and thread records whose index tag `at` is in the range; messages of transcripts "
                     "created, edited or deleted in the range; every item names its source blob and its sha256",
        "checks": "every blob read was checked (lz4 frame, sha256 of the content against its metadata, JSON "
                  "Schema, name and index tags against the document); source_sha256 is computed from the "
                  "bytes read; the range's month folders were listed to find blobs without index tags",
        "damaged": [{"source": d.name, "reason": d.reason} for d in findings.items],
        "tag_warnings": [{"source": d.name, "reason": d.reason} for d in findings.warnings],
        "untagged_included": stats.get("untagged", 0),
    }
    manifest_path.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    log.info("export items=%d messages=%d threads=%d transcript_messages=%d bytes=%d damaged=%d untagged=%d",
             sum(counts.values()), counts["message"], counts["thread"], counts["transcript-message"], sink.size,
             len(findings.items), stats.get("untagged", 0))
    return ExportResult(out, manifest_path, counts, manifest["sha256"], sink.size,
                        tally.first_at, tally.last_at, findings, stats.get("untagged", 0))
