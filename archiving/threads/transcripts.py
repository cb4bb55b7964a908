"""Whole-thread transcripts (JSON and CSV), written once a thread has gone quiet.

The service lists messages newest first; transcripts are oldest first.  Pages are spilled to a
temporary file as they arrive and read back in reverse, so memory holds one page at a time
however long the thread.  Each format streams through its own lz4 frame into staged blocks,
committed once at the end (create-only): a transcript appears whole or not at all.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from archiving import SCHEMA_VERSION
from archiving.store import keys
from archiving.ingest.events import identity_kind
from archiving.timefmt import epoch_ms, iso, utcnow

log = logging.getLogger("archiving.threads.transcripts")

PAGE_SIZE = 200  # the service's maximum
BLOCK_SIZE = 4 * 1024 * 1024
CSV_HEADER = ("thread_id", "message_id", "sequence_id", "message_type", "sender_id", "sender_display_name",
              "created_at", "edited_at", "deleted_at", "content")

# SDK CommunicationIdentifierKind values -> the archive's (REST) kind names.
_SDK_KINDS = {"communication_user": "communicationUser", "phone_number": "phoneNumber",
              "microsoft_teams_user": "microsoftTeamsUser", "microsoft_teams_app": "microsoftTeamsApp"}


@dataclass(frozen=True)
class TranscriptResult:
    thread_id: str
    status: str  # archived | exists | empty
    keys: tuple[str, ...] = ()
    message_count: int = 0
    last_message_at: datetime | None = None
    thread_deleted: bool = False


# -- SDK models -> archive dicts ---------------------------------------------------------------


def _value(enum_or_str: Any) -> str | None:
    if enum_or_str is None:
        return None
    return str(getattr(enum_or_str, "value", enum_or_str))


def identity(identifier: Any, display_name: str | None = None) -> dict[str, Any] | None:
    if identifier is None:
        return None
    raw_id = getattr(identifier, "raw_id", None) or getattr(identifier, "properties", {}).get("id")
    kind = _SDK_KINDS.get(_value(getattr(identifier, "kind", None)) or "", None) or identity_kind(raw_id or "")
    return {"raw_id": raw_id, "kind": kind, "display_name": display_name}


def participant(p: Any) -> dict[str, Any]:
    who = identity(p.identifier, p.display_name) or {"raw_id": None, "kind": "unknown", "display_name": p.display_name}
    who["share_history_time"] = iso(p.share_history_time)
    return who


def message(m: Any) -> dict[str, Any]:
    """One ChatMessage of the SDK as a transcript message."""
    content = m.content
    mtype = _value(m.type) or "text"
    out: dict[str, Any] = {
        "message_id": m.id,
        "sequence_id": str(m.sequence_id),
        "message_type": mtype,
        "content": getattr(content, "message", None) if content is not None else None,
        "sender": identity(m.sender, m.sender_display_name),
        "created_at": iso(m.created_on),
        "edited_at": iso(m.edited_on),
        "deleted_at": iso(m.deleted_on),
        "metadata": dict(m.metadata or {}),
        "version": str(m.version),
    }
    if mtype in ("topicUpdated", "participantAdded", "participantRemoved"):
        out["topic"] = getattr(content, "topic", None) if content is not None else None
        out["participants"] = [participant(p) for p in (getattr(content, "participants", None) or [])]
        out["initiator"] = identity(getattr(content, "initiator", None)) if content is not None else None
    attachments = getattr(content, "attachments", None) if content is not None else None
    if attachments:
        out["attachments"] = [
            {"id": a.id, "attachment_type": _value(a.attachment_type), "name": a.name, "url": a.url,
             "preview_url": a.preview_url}
            for a in attachments
        ]
    return out


def csv_row(thread_id: str, m: Mapping[str, Any]) -> tuple[str, ...]:
    sender = m.get("sender") or {}
    content = m.get("content")
    if content is None and m.get("message_type") == "topicUpdated":
        content = m.get("topic")
    elif content is None and m.get("participants"):
        content = "; ".join(p.get("display_name") or p.get("raw_id") or "" for p in m["participants"])
    return (thread_id, m["message_id"], m["sequence_id"], m["message_type"], sender.get("raw_id") or "",
            sender.get("display_name") or "", m["created_at"] or "", m.get("edited_at") or "",
            m.get("deleted_at") or "", content or "")


# -- newest-first pages -> oldest-first stream, one page in memory ------------------------------------


class _Spill:
    """Pages written as they come; read back last page first, each page oldest first."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()
        self.pages: list[tuple[int, int]] = []  # (offset, length)
        self.count = 0

    def add(self, items: list[dict[str, Any]]) -> None:
        data = orjson.dumps(items)
        self.pages.append((self.file.tell(), len(data)))
        self.file.write(data)
        self.count += len(items)

    def oldest_first(self) -> Iterator[dict[str, Any]]:
        last_seq = -1
        for offset, length in reversed(self.pages):
            self.file.seek(offset)
            page = orjson.loads(self.file.read(length))
            page.sort(key=lambda m: int(m["sequence_id"]))
            for m in page:
                seq = int(m["sequence_id"])
                if seq <= last_seq:
                    # Pages overlapped or arrived out of order: never emit a message twice.
                    log.warning("sequence id out of order in listing: sequence=%s after=%s", seq, last_seq)
                    if seq == last_seq:
                        continue
                last_seq = max(last_seq, seq)
                yield m

    def close(self) -> None:
        self.file.close()


# -- streaming writers ---------------------------------------------------------------------------


class _StagedBlob:
    """Bytes -> lz4 frame -> staged blocks; commit once, create-only, with the sha256 of the input."""

    def __init__(self, blob_client: Any):
        import lz4.frame

        self.blob = blob_client
        self.compressor = lz4.frame.LZ4FrameCompressor(content_checksum=True)
        self.sha = hashlib.sha256()
        self.pending = bytearray(self.compressor.begin())
        self.block_ids: list[str] = []
        # Block ids unique to this run: two runs for one thread (a redelivered queue message) never
        # mix their blocks; the second commit finds the blob and stands down.
        import uuid

        self.run = uuid.uuid4().hex

    def write(self, data: bytes) -> None:
        self.sha.update(data)
        self.pending += self.compressor.compress(data)
        if len(self.pending) >= BLOCK_SIZE:
            self._stage()

    def _stage(self) -> None:
        import base64

        block_id = base64.b64encode(f"{self.run}-{len(self.block_ids):08d}".encode()).decode()
        self.blob.stage_block(block_id, bytes(self.pending))
        self.block_ids.append(block_id)
        self.pending.clear()

    def commit(self, tags: Mapping[str, str]) -> bool:
        """False if the blob exists already (another run committed it first)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import BlobBlock

        self.pending += self.compressor.flush()
        self._stage()
        try:
            self.blob.commit_block_list(
                [BlobBlock(block_id=b) for b in self.block_ids],
                metadata={"sha256": self.sha.hexdigest()}, tags=dict(tags),
                match_condition=MatchConditions.IfMissing,
            )
        except ResourceExistsError:
            return False
        return True


class _JsonTranscript:
    def __init__(self, sink: _StagedBlob, header: Mapping[str, Any]):
        self.sink = sink
        head = orjson.dumps(dict(header))
        self.sink.write(head[:-1] + b',"messages":[')
        self.first = True

    def add(self, m: Mapping[str, Any]) -> None:
        self.sink.write((b"" if self.first else b",") + orjson.dumps(m))
        self.first = False

    def finish(self, trailer: Mapping[str, Any]) -> None:
        self.sink.write(b"]," + orjson.dumps(dict(trailer))[1:])


class _CsvTranscript:
    def __init__(self, sink: _StagedBlob):
        self.sink = sink
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\r\n")  # RFC 4180
        self.writer.writerow(CSV_HEADER)
        self._flush()

    def _flush(self) -> None:
        self.sink.write(self.buffer.getvalue().encode("utf-8"))
        self.buffer.seek(0)
        self.buffer.truncate()

    def add(self, row: Iterable[str]) -> None:
        self.writer.writerow(row)
        if self.buffer.tell() > 64 * 1024:
            self._flush()

    def finish(self, trailer: Mapping[str, Any]) -> None:
        self._flush()


# -- the whole thread ------------------------------------------------------------------------------


def archive_thread(thread_id: str, services: Any, last_message_at: datetime | None = None) -> TranscriptResult:
    """Write the thread's transcript(s) for its last activity; idempotent.

    ``last_message_at`` is the thread's lastMessageReceivedOn (the sweep passes it); without it the
    newest message's creation time is used.  Raises on service or storage errors, so the queue
    delivers the message again.
    """
    keys.check_id(thread_id, "thread_id")
    settings = services.settings
    acs = services.acs
    client = acs.thread_client(thread_id)
    formats = settings.transcript_formats

    spill = _Spill()
    try:
        for page in client.list_messages(results_per_page=PAGE_SIZE).by_page():
            spill.add([message(m) for m in page])
        if spill.count == 0:
            log.info("thread=%s outcome=empty", thread_id)
            return TranscriptResult(thread_id, "empty")
        if last_message_at is None:
            offset, length = spill.pages[0]
            spill.file.seek(offset)
            newest = orjson.loads(spill.file.read(length))
            last_message_at = max(datetime.fromisoformat(m["created_at"].replace("Z", "+00:00")) for m in newest)
        last_ms = epoch_ms(last_message_at)
        names = {fmt: keys.transcript_key(thread_id, last_message_at, last_ms, fmt) for fmt in formats}
        store = services.store
        missing = {fmt: name for fmt, name in names.items() if not store.exists(name)}
        if not missing:
            log.info("thread=%s outcome=exists last_ms=%s", thread_id, last_ms)
            return TranscriptResult(thread_id, "exists", tuple(names.values()), spill.count, last_message_at)

        props = client.get_properties()
        participants = [participant(p) for p in client.list_participants()]
        store.ensure_container()
        sinks = {fmt: _StagedBlob(store.container.get_blob_client(name)) for fmt, name in missing.items()}
        header = {
            "schema_version": SCHEMA_VERSION, "channel": "chat", "kind": "transcript", "thread_id": thread_id,
            "topic": props.topic, "created_at": iso(props.created_on), "created_by": identity(props.created_by),
            "participants": participants,
        }
        json_out = _JsonTranscript(sinks["json"], header) if "json" in sinks else None
        csv_out = _CsvTranscript(sinks["csv"]) if "csv" in sinks else None
        count, first_at, last_at = 0, None, None
        for m in spill.oldest_first():
            count += 1
            first_at = first_at or m["created_at"]
            last_at = m["created_at"]
            if json_out:
                json_out.add(m)
            if csv_out:
                csv_out.add(csv_row(thread_id, m))
        trailer = {"message_count": count, "first_message_at": first_at, "last_message_at": last_at,
                   "archived_at": iso(utcnow())}
        tags = {"kind": "transcript", "thread": keys.thread_tag(thread_id), "at": iso(last_message_at)}
        for fmt, writer in (("json", json_out), ("csv", csv_out)):
            if writer is not None:
                writer.finish(trailer)
                created = sinks[fmt].commit(tags)
                log.info("thread=%s transcript=%s outcome=%s messages=%d", thread_id, missing[fmt],
                         "archived" if created else "exists", count)
    finally:
        spill.close()

    deleted = False
    if settings.delete_thread_after_archive:
        deleted = _delete_if_verified(thread_id, services, names)
    return TranscriptResult(thread_id, "archived", tuple(names.values()), count, last_message_at, deleted)


def _delete_if_verified(thread_id: str, services: Any, names: Mapping[str, str]) -> bool:
    """Delete the thread in ACS only once every transcript reads back with a matching sha256."""
    from archiving.store.verify_blob import check_blob

    for name in names.values():
        problem = check_blob(services.store, name)
        if problem:
            log.error("thread=%s transcript=%s outcome=not-deleted reason=%s", thread_id, name, problem)
            return False
    services.acs.chat_client().delete_chat_thread(thread_id)
    log.info("thread=%s outcome=deleted-in-acs", thread_id)
    return True
