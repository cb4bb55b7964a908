"""The form of the outcome log lines that alerts and the workbook parse.

The Python worker of Azure Functions sends only a log record's message text to Application
Insights (``traces.message``; ``extra`` is dropped, customDimensions hold the host's own
Category, LogLevel, InvocationId...), so the fields a query needs are in the text itself, as
``name=value`` pairs separated by single spaces.  A value that is a plain token (letters, digits
and ``._:@/+-``) is written bare; anything else (spaces, ``=``, quotes, control or non-ASCII
characters, an empty string) as a JSON string in double quotes, so a line always splits the same
way and an id from a malformed event cannot forge another field.  Missing values are left out.

Ids and outcomes only: never message content, display names, phone numbers, e-mail addresses or
raw user ids (callers pass none of those).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

# Fields of the per-event line of archive_event (and replay), in the order written.  The
# alerts and the workbook (infra/modules/alerts.bicep, infra/modules/workbook.json) extract these
# names; tests/test_alerts.py checks that every name they use is one the code writes.
EVENT_FIELDS = ("event", "type", "channel", "thread", "conversation", "message", "outcome", "lag_ms", "blob",
                "reason")
# Outcomes of the per-event line.
OUTCOMES = ("archived", "duplicate", "conflict", "skipped", "rejected")

_BARE = re.compile(r"[A-Za-z0-9._:@/+\-]+")
_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def value_text(value: Any) -> str:
    text = str(value)
    if _BARE.fullmatch(text):
        return text
    return json.dumps(text, ensure_ascii=True)


def line(*pairs: tuple[str, Any]) -> str:
    """``name=value`` pairs in the given order; pairs whose value is None are left out."""
    return " ".join(f"{name}={value_text(value)}" for name, value in pairs if value is not None)


def parse(text: str) -> dict[str, str]:
    """The pairs of a line written by :func:`line` (what the alert queries do with ``extract``)."""
    fields: dict[str, str] = {}
    for name, raw in _PAIR.findall(text):
        fields[name] = json.loads(raw) if raw.startswith('"') else raw
    return fields


def _time(value: Any) -> datetime | None:
    # The fast path first (this runs once per event); the archive's own parser for the rest.
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is not None:
                return parsed
        except ValueError:
            pass
    from archiving.errors import InvalidEvent
    from archiving.timefmt import parse_time

    try:
        return parse_time(value, "time")
    except InvalidEvent:
        return None


def lag_ms(document: Mapping[str, Any]) -> int | None:
    """Milliseconds from the event's time (Event Grid ``eventTime``, CloudEvents ``time``) to the
    record's ``archived_at``: how far behind real time the archive is.  None if either is missing
    or unreadable (the line then carries no lag; it never fails the write)."""
    event = document.get("event")
    sent = _time(event.get("time")) if isinstance(event, Mapping) else None
    archived = _time(document.get("archived_at"))
    if sent is None or archived is None:
        return None
    return round((archived - sent).total_seconds() * 1000)


def _event_id(value: Any) -> Any:
    """An event id as it is when of a documented shape (a GUID, an SMS id, a short token); anything else (it
    may be a number or an address) as ``sha256:`` + 16 hex characters, enough to correlate log lines."""
    if not isinstance(value, str):
        return value
    from archiving.store import keys

    if keys.is_documented_id(value):
        return value
    import hashlib

    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _message(doc: Mapping[str, Any], key: str | None) -> str:
    """A chat message id as it is; another channel's as its blob name has it (an id not of its documented
    shape is hashed there: it may be a phone number or an address, which a log line never holds)."""
    if doc.get("thread_id") is not None:
        return doc.get("message_id", "-")
    from archiving.store import keys

    info = keys.parse_channel_key(key or "")
    return info.message_id if info and info.message_id else "-"


def event_line(outcome: Any, document: Mapping[str, Any] | None = None, reason: str | None = None) -> str:
    """The one line per event: ``event type channel thread|conversation message outcome lag_ms blob [reason]``.

    ``outcome`` is an ``archiver.Outcome`` (status, event_id, event_type, key); ``document`` the
    record's document when one was built (chat records have a thread, other channels a
    conversation)."""
    doc = document or {}
    thread = doc.get("thread_id")
    # A call's records carry its call id (calls/layout.py) where other channels have a conversation.
    conversation = (doc.get("conversation_id") or doc.get("call_id")) if thread is None else None
    return line(
        ("event", _event_id(outcome.event_id)),
        ("type", outcome.event_type),
        ("channel", doc.get("channel")),
        ("thread", thread),
        ("conversation", conversation),
        ("message", _message(doc, outcome.key) if doc else None),
        ("outcome", outcome.status),
        ("lag_ms", lag_ms(doc) if doc else None),
        ("blob", outcome.key),
        ("reason", reason),
    )

