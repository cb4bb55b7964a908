"""Chat records: one document, blob name and tag set per chat message version or thread change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from archiving import SCHEMA_VERSION
from archiving.ingest.events import Envelope, Identity, MessageChange, Participant, ThreadChange
from archiving.store import keys
from archiving.store.records import Record, user_hash
from archiving.timefmt import iso


def _identity(identity: Identity | None) -> dict[str, Any] | None:
    if identity is None:
        return None
    return {"raw_id": identity.raw_id, "kind": identity.kind, "display_name": identity.display_name}


def _participant(p: Participant) -> dict[str, Any]:
    return {
        "raw_id": p.identity.raw_id,
        "kind": p.identity.kind,
        "display_name": p.identity.display_name,
        "metadata": p.metadata,
    }


def _event(envelope: Envelope) -> dict[str, Any]:
    return {
        "id": envelope.id,
        "type": envelope.type,
        "time": envelope.time,
        "topic": envelope.topic,
        "subject": envelope.subject,
    }


def message_record(change: MessageChange, envelope: Envelope, hash_key: bytes, archived_at: datetime) -> Record:
    sender_hash = user_hash(hash_key, change.sender.raw_id) if change.sender else None
    document = {
        "schema_version": SCHEMA_VERSION,
        "channel": "chat",
        "kind": "message",
        "action": change.action,
        "thread_id": change.thread_id,
        "message_id": change.message_id,
        "message_version": change.version,
        "message_type": change.message_type,
        "content": change.content,
        "metadata": change.metadata,
        "sender": _identity(change.sender),
        "sender_hash": sender_hash,
        "composed_at": iso(change.composed_at),
        "edited_at": iso(change.edited_at),
        "deleted_at": iso(change.deleted_at),
        "event": _event(envelope),
        "archived_at": iso(archived_at),
    }
    at = change.deleted_at or change.edited_at or change.composed_at
    tags = {"kind": "message", "thread": keys.thread_tag(change.thread_id), "at": iso(at)}
    if sender_hash:
        tags["sender"] = sender_hash
    key = keys.message_key(change.thread_id, change.composed_at, change.message_id, change.version, change.action)
    return Record(key=key, document=document, tags=tags)


def thread_record(change: ThreadChange, envelope: Envelope, hash_key: bytes, archived_at: datetime) -> Record:
    document = {
        "schema_version": SCHEMA_VERSION,
        "channel": "chat",
        "kind": "thread",
        "action": change.action,
        "thread_id": change.thread_id,
        "occurred_at": iso(change.occurred_at),
        "actor": _identity(change.actor),
        "properties": change.properties,
        "participants": [_participant(p) for p in change.participants],
        "metadata": change.metadata,
        "event": _event(envelope),
        "archived_at": iso(archived_at),
    }
    tags = {"kind": "thread", "thread": keys.thread_tag(change.thread_id), "at": iso(change.occurred_at)}
    if change.actor:
        tags["sender"] = user_hash(hash_key, change.actor.raw_id)
    suffix = None
    if change.action.startswith("participant-"):
        # One record per participant changed; several may share a version.
        participant_hash = user_hash(hash_key, change.participants[0].identity.raw_id)
        tags["participant"] = participant_hash
        suffix = participant_hash[:16]
    key = keys.thread_key(change.thread_id, change.occurred_at, change.version, change.action, suffix)
    return Record(key=key, document=document, tags=tags)


def build_record(change: MessageChange | ThreadChange, envelope: Envelope, hash_key: bytes, archived_at: datetime) -> Record:
    if isinstance(change, MessageChange):
        return message_record(change, envelope, hash_key, archived_at)
    return thread_record(change, envelope, hash_key, archived_at)
