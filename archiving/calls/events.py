"""Call events -> call records (docs/archive-format.md, section 15).

CallStarted -> ``call-started``, CallEnded -> ``call-ended``, CallParticipantAdded / Removed ->
``call-participant``, IncomingCall -> ``call-incoming``; RecordingFileStatusUpdated -> a
``Recording`` still to download (calls/recordings.py), which becomes ``call-recording-announced``
(written first) and ``call-recording``.

Each record's name comes from what it says (the call, the party, the time), never from the event id,
so a redelivered event is a duplicate and events arriving in any order land in the same call.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from archiving import SCHEMA_VERSION
from archiving.calls import layout
from archiving.errors import InvalidEvent
from archiving.ingest.common import Fields, describe, event_summary, event_time, optional_object, report_ms
from archiving.ingest.envelope import Envelope
from archiving.ingest.types import CALL_TYPES
from archiving.store import keys
from archiving.store.records import Record, user_hash
from archiving.timefmt import iso, parse_time

MAX_CHUNKS = 1000


def party(identifier: Any, name: str, hash_key: bytes, display_name: Any = None) -> dict[str, Any]:
    """A call party from a communication identifier: raw id, kind, HMAC hash (as chat and SMS hash it)."""
    from archiving.ingest.events import identity_kind

    ident = optional_object(identifier, name)
    if ident is None:
        raise InvalidEvent(f"{name} is missing")
    raw_id = ident.get("rawId")
    if raw_id is None:
        user, phone = ident.get("communicationUser"), ident.get("phoneNumber")
        if isinstance(user, Mapping):
            raw_id = user.get("id")
        elif isinstance(phone, Mapping) and isinstance(phone.get("value"), str):
            raw_id = "4:" + phone["value"]
    if not isinstance(raw_id, str) or not raw_id.strip() or len(raw_id) > 1024:
        raise InvalidEvent(f"{name}.rawId is {describe(raw_id)}, expected an ACS raw id")
    if display_name is not None and not isinstance(display_name, str):
        raise InvalidEvent(f"display name of {name} is {describe(display_name)}, expected a string")
    return {"raw_id": raw_id, "kind": identity_kind(raw_id, ident),
            "hash": user_hash(hash_key, keys.normalize_party(raw_id)), "display_name": display_name}


def _wrapped(value: Any, name: str, hash_key: bytes, display_name: Any = None) -> dict[str, Any] | None:
    """``startedBy`` / ``endedBy`` / ``user``: {communicationIdentifier, role, ...}."""
    outer = optional_object(value, name)
    if outer is None:
        return None
    identifier = outer.get("communicationIdentifier")
    p = party(identifier if identifier is not None else outer, name, hash_key, display_name)
    role = outer.get("role")
    p["role"] = role if isinstance(role, str) else None
    return p


def _call_fields(f: Fields, envelope: Envelope) -> dict[str, Any]:
    server_call_id = f.get("serverCallId")
    if not isinstance(server_call_id, str) or not server_call_id:
        raise InvalidEvent(f"serverCallId is {describe(server_call_id)}, expected a string")
    group, room = f.obj("group"), f.obj("room")
    two_party, rooms = f.get("isTwoParty"), f.get("isRoomsCall")
    for value, name in ((two_party, "isTwoParty"), (rooms, "isRoomsCall")):
        if value is not None and not isinstance(value, bool):
            raise InvalidEvent(f"{name} is {describe(value)}, expected true or false")
    return {
        "schema_version": SCHEMA_VERSION, "channel": layout.CHANNEL,
        "call_id": layout.call_segment(server_call_id), "server_call_id": server_call_id,
        "correlation_id": f.text("correlationId", required=False),
        "group_id": _text_of(group, "group.id"), "room_id": _text_of(room, "room.id"),
        "is_two_party": two_party, "is_rooms_call": rooms,
    }


def _text_of(obj: Mapping[str, Any] | None, name: str) -> str | None:
    if obj is None:
        return None
    value = obj.get("id")
    if value is not None and not isinstance(value, str):
        raise InvalidEvent(f"{name} is {describe(value)}, expected a string")
    return value


def _record(document: dict[str, Any], key: str, at: datetime, **parties: str | None) -> Record:
    tags = {"kind": document["kind"], "channel": layout.CHANNEL, "at": iso(at), "call": document["call_id"]}
    if document.get("correlation_id"):
        tags["correlation"] = keys.thread_tag(document["correlation_id"])
    tags.update({k: v for k, v in parties.items() if v})
    return Record(key=key, document=document, tags=tags)


def build(envelope: Envelope, hash_key: bytes, archived_at: datetime) -> Record | Recording:
    kind, action = CALL_TYPES[envelope.type]
    f = Fields(envelope.data)
    if kind == "call-recording":
        return recording(envelope, f, hash_key, archived_at)
    doc = _call_fields(f, envelope)
    if envelope.time is None:  # call events carry no time of their own in data
        raise InvalidEvent("the event has no time (eventTime)")
    at = parse_time(envelope.time, "event time")
    call = doc["call_id"]
    doc.update({"kind": kind, "at": iso(at)})
    tail = {"event": event_summary(envelope), "archived_at": iso(archived_at)}
    if kind == "call-started":
        by = _wrapped(f.get("startedBy"), "startedBy", hash_key)
        doc.update({"started_by": by, **tail})
        return _record(doc, layout.started_key(at, call), at, sender=by and by["hash"])
    if kind == "call-ended":
        by = _wrapped(f.get("endedBy"), "endedBy", hash_key)
        started_by = _wrapped(f.get("startedBy"), "startedBy", hash_key)
        duration = f.get("callDurationInSeconds")
        if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))
                                     or not math.isfinite(duration) or duration < 0):
            raise InvalidEvent(f"callDurationInSeconds is {describe(duration)}, expected a number of seconds")
        doc.update({"ended_by": by, "started_by": started_by, "duration_seconds": duration,
                    "reason": f.obj("reason"), **tail})
        return _record(doc, layout.ended_key(at, call), at, sender=by and by["hash"])
    if kind == "call-participant":
        who = _wrapped(f.get("user"), "user", hash_key, f.get("displayName"))
        if who is None:
            raise InvalidEvent("user is missing")
        started_by = _wrapped(f.get("startedBy"), "startedBy", hash_key)
        doc.update({"action": action, "participant": who, "participant_id": f.text("participantId", required=False),
                    "user_agent": f.text("userAgent", required=False), "started_by": started_by, **tail})
        key = layout.participant_key(at, call, report_ms(at), action, who["hash"])
        return _record(doc, key, at, participant=who["hash"])
    # call-incoming
    caller = party(f.get("from"), "from", hash_key, f.get("callerDisplayName"))
    callee = party(f.get("to"), "to", hash_key)
    behalf = f.get("onBehalfOfCallee")
    doc.update({"from": caller, "to": callee,
                "on_behalf_of": party(behalf, "onBehalfOfCallee", hash_key) if behalf is not None else None,
                "custom_context": f.obj("customContext"), **tail})
    key = layout.incoming_key(at, call, report_ms(at), caller["hash"], callee["hash"])
    return _record(doc, key, at, sender=caller["hash"], recipient=callee["hash"])


# -- recordings ------------------------------------------------------------------------------------------

_SUBJECT = re.compile(r"/recording/call/([^/]+)(?:/serverCallId/([^/]+))?/recordingId/([^/]+)")


@dataclass(frozen=True)
class Chunk:
    """One chunk the event announces; the bytes are at ``content_location`` for 24 hours."""

    index: int
    document_id: str
    end_reason: str | None
    content_location: str
    metadata_location: str | None
    delete_location: str | None

    def entry(self, content: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None) -> dict[str, Any]:
        return {"index": self.index, "document_id": self.document_id, "end_reason": self.end_reason,
                "content_location": self.content_location, "metadata_location": self.metadata_location,
                "delete_location": self.delete_location, "content": dict(content) if content is not None else None,
                "metadata": dict(metadata) if metadata is not None else None}


@dataclass(frozen=True)
class Recording:
    """A parsed RecordingFileStatusUpdated: the announced record now, the archived one after downloads."""

    document: Mapping[str, Any]  # without status and chunks
    at: datetime
    chunks: tuple[Chunk, ...] = field(default=())

    @property
    def call(self) -> str:
        return self.document["call_id"]

    @property
    def recording(self) -> str:
        return self.document["recording_key_id"]

    @property
    def announced_key(self) -> str:
        return layout.recording_key(self.at, self.call, self.recording, layout.ANNOUNCED)

    @property
    def archived_key(self) -> str:
        return layout.recording_key(self.at, self.call, self.recording, layout.ARCHIVED)

    def announced(self) -> Record:
        doc = {**self.document, "kind": "call-recording-announced",
               "chunks": [c.entry(None, None) for c in self.chunks]}
        return _record(doc, self.announced_key, self.at, recording=self.recording)

    def finish(self, entries: list[Mapping[str, Any]]) -> Record:
        stored = all(e["content"].get("status") == "stored" for e in entries)
        doc = {**self.document, "kind": "call-recording", "status": "stored" if stored else "not-retrievable",
               "chunks": [dict(e) for e in entries]}
        return _record(doc, self.archived_key, self.at, recording=self.recording)


def recording(envelope: Envelope, f: Fields, hash_key: bytes, archived_at: datetime) -> Recording:
    m = _SUBJECT.search(envelope.subject or "")
    if not m:
        raise InvalidEvent("subject is not /recording/call/<call-id>[/serverCallId/<id>]/recordingId/<id>")
    call_id, server_call_id, recording_id = m.groups()
    info = optional_object(f.get("recordingStorageInfo"), "recordingStorageInfo")
    listed = (info or {}).get("recordingChunks")
    if not isinstance(listed, list) or not listed:
        raise InvalidEvent("recordingStorageInfo.recordingChunks is missing or empty")
    if len(listed) > MAX_CHUNKS:
        raise InvalidEvent(f"more than {MAX_CHUNKS} recording chunks")
    chunks = tuple(sorted((_chunk(c, i) for i, c in enumerate(listed)), key=lambda c: c.index))
    if len({c.index for c in chunks}) != len(chunks):
        raise InvalidEvent("recordingChunks repeat an index")
    at = event_time(f, envelope, "recordingStartTime")
    duration = f.integer("recordingDurationMs")
    # Linked by the server call id when the subject has it (as the call records are), else by the call id.
    link = server_call_id or call_id
    document = {
        "schema_version": SCHEMA_VERSION, "channel": layout.CHANNEL, "kind": "call-recording",
        "call_id": layout.call_segment(link), "server_call_id": server_call_id,
        "correlation_id": call_id, "recording_id": recording_id,
        "recording_key_id": layout.recording_segment(recording_id),
        "recording_start_time": iso(at), "duration_ms": duration,
        "session_end_reason": f.text("sessionEndReason", required=False),
        "content_type": f.text("recordingContentType", required=False),
        "channel_type": f.text("recordingChannelType", required=False),
        "format_type": f.text("recordingFormatType", required=False),
        "at": iso(at), "event": event_summary(envelope), "archived_at": iso(archived_at),
    }
    return Recording(document, at, chunks)


def _chunk(value: Any, i: int) -> Chunk:
    c = optional_object(value, f"recordingChunks[{i}]")
    if c is None:
        raise InvalidEvent(f"recordingChunks[{i}] is missing")
    g = Fields(c)
    index = g.integer("index")
    document_id = g.text("documentId")
    content = g.text("contentLocation")
    if not content.startswith("https://"):
        raise InvalidEvent(f"recordingChunks[{i}].contentLocation is not an https URL")
    return Chunk(index if index is not None else i, document_id, g.text("endReason", required=False), content,
                 g.text("metadataLocation", required=False), g.text("deleteLocation", required=False))
