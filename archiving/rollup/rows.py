"""One row per archived record version: generic columns every channel and kind fills, plus the whole
document as JSON, so a new kind of record fits without code and nothing is lost.

The Parquet files hold the columns below; ``channel``, ``year`` and ``month`` come from the Hive
partition path (engines add them when they read the folder), so they are not stored twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from archiving.read.verified import VerifiedBlob

# (name, DuckDB type, what it is) - the order of the columns in every part.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("source", "VARCHAR", "the archive blob the row was read from"),
    ("source_sha256", "VARCHAR", "sha256 of the blob's uncompressed content, computed when it was read and verified"),
    ("kind", "VARCHAR", "the document's kind: message, thread, transcript, sms-message, ..."),
    ("action", "VARCHAR", "received, edited, deleted, created, ... (null when the kind has none)"),
    ("thread_id", "VARCHAR", "chat: the thread id; other channels: the conversation id; calls: the call id"),
    ("message_id", "VARCHAR", "the message id (null for thread records and transcripts)"),
    ("version", "VARCHAR", "the message or record version, as a decimal string"),
    ("message_type", "VARCHAR", "text, html, ... (null when the kind has none)"),
    ("sender_hash", "VARCHAR", "HMAC hash of the sender (chat sender_hash, else the from party's hash)"),
    ("content", "VARCHAR", "the message text (null for deletions and kinds without content)"),
    ("at", "TIMESTAMPTZ", "the record's time, as in the blob index tag `at` (UTC)"),
    ("day", "DATE", "the UTC day of `at`: the day the row was rolled up for"),
    ("archived_at", "TIMESTAMPTZ", "when the archiver built the record"),
    ("schema_version", "INTEGER", "the document's schema_version"),
    ("document", "VARCHAR", "the whole document as JSON (nothing is lost)"),
    ("direction", "VARCHAR", "SMS, WhatsApp, email messages: inbound or outbound (what the business sent); "
                             "null for reports, outcomes and chat (added by issue 19: null in older parts)"),
)
PARTITIONS: tuple[tuple[str, str, str], ...] = (
    ("channel", "VARCHAR", "chat, sms, whatsapp, email, call (from the path: channel=...)"),
    ("year", "INTEGER", "year of `day` (from the path: year=...)"),
    ("month", "INTEGER", "month of `day` (from the path: month=...)"),
)
NAMES = tuple(c[0] for c in COLUMNS)
TYPES = {name: type_ for name, type_, _ in COLUMNS}

# Where a document keeps its time, when the index tag is not at hand (a blob found by listing).
_AT_FIELDS = ("deleted_at", "edited_at", "composed_at", "occurred_at", "received_at", "reported_at",
              "sent_at", "last_message_at", "at", "archived_at")


def document_at(doc: Mapping[str, Any]) -> str | None:
    """The record's time by the rule of the ``at`` tag (archive-format.md, section 8)."""
    if doc.get("kind") == "transcript":
        return doc.get("last_message_at") or doc.get("archived_at")
    for name in _AT_FIELDS:
        value = doc.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode("utf-8")


def row(blob: VerifiedBlob, at: str | None = None) -> tuple[str, dict[str, Any]]:
    """(channel, row) of one verified record; ``at`` is its index tag, when known."""
    doc = blob.document if isinstance(blob.document, dict) else {"value": blob.document}
    channel = doc.get("channel") if isinstance(doc.get("channel"), str) else blob.name.split("/", 1)[0]
    sender = doc.get("sender_hash")
    if sender is None and isinstance(doc.get("from"), dict):
        sender = doc["from"].get("hash")
    at = at or document_at(doc)
    direction = None
    thread_id = doc.get("thread_id") or doc.get("conversation_id") or doc.get("call_id")
    content = doc.get("content")
    if doc.get("kind") == "outbound-message":  # what the business sent, in its recipient's conversation
        from archiving.read.conversations import content_of, outbound_conversation

        direction, thread_id, content = "outbound", outbound_conversation(doc) or None, content_of(doc)
        sender = (doc.get("sender") or {}).get("hash") if isinstance(doc.get("sender"), dict) else None
    elif str(doc.get("kind") or "").endswith("-message") and channel != "chat":
        direction = "inbound"
    values = {
        "source": blob.name,
        "source_sha256": blob.sha256,
        "kind": _text(doc.get("kind")),
        "action": _text(doc.get("action")),
        "thread_id": _text(thread_id),
        "message_id": _text(doc.get("message_id")),
        "version": _text(doc.get("message_version") or doc.get("version")),
        "message_type": _text(doc.get("message_type")),
        "sender_hash": _text(sender),
        "content": _text(content),
        "at": at,
        "day": at[:10] if at else None,
        "archived_at": doc.get("archived_at") if isinstance(doc.get("archived_at"), str) else None,
        "schema_version": doc.get("schema_version") if isinstance(doc.get("schema_version"), int) else None,
        "document": orjson.dumps(blob.document).decode("utf-8"),
        "direction": direction,
    }
    return channel, values
