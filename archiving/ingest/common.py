"""What the SMS, WhatsApp and email parsers share: case-blind fields, parties, times, record shape.

Field names are matched without regard to case: the published SMS examples use PascalCase
(``MessageId``) where the schema says camelCase, and email spells ``…TimeStamp``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from archiving import SCHEMA_VERSION
from archiving.errors import InvalidEvent
from archiving.ingest.envelope import Envelope
from archiving.store import keys
from archiving.store.records import Record, user_hash
from archiving.timefmt import epoch_ms, iso, parse_time

MAX_ADDRESS_LENGTH = 320


class Fields:
    """A case-blind view of an event's ``data``."""

    def __init__(self, data: Any):
        if not isinstance(data, Mapping):
            raise InvalidEvent(f"data is {describe(data)}, expected a JSON object")
        self._data = data
        self._lower: dict[str, Any] | None = None  # built on the first miss (PascalCase payloads)

    def get(self, *names: str) -> Any:
        data = self._data
        for name in names:
            value = data.get(name)
            if value is None:
                if self._lower is None:
                    self._lower = {}
                    for k, v in data.items():
                        if isinstance(k, str) and v is not None:
                            self._lower.setdefault(k.lower(), v)
                value = self._lower.get(name.lower())
            if value is not None:
                return value
        return None

    def text(self, name: str, required: bool = True) -> str | None:
        value = self.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str) or (required and not value):
            raise InvalidEvent(f"{name} is {describe(value)}, expected a {'non-empty ' if required else ''}string")
        return value

    def obj(self, name: str) -> Mapping[str, Any] | None:
        value = self.get(name)
        return optional_object(value, name)

    def integer(self, name: str) -> int | None:
        return whole(self.get(name), name)


def optional_object(value: Any, name: str) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidEvent(f"{name} is {describe(value)}, expected an object")
    check_finite(value, name)
    return value


def whole(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidEvent(f"{name} is a boolean, expected a whole number")
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        value = int(value)
    if not isinstance(value, int) or abs(value) >= 2**63:
        raise InvalidEvent(f"{name} is {describe(value)}, expected a whole number")
    return value


def check_finite(value: Any, field: str) -> None:
    """NaN and Infinity are not JSON: stored, they would read back as null, so the record would not
    say what came and every redelivery would differ from it (a spurious conflict copy)."""
    stack = [value]
    while stack:  # iterative: free-form values may nest deeply
        item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidEvent(f"{field} contains NaN or Infinity, which JSON cannot carry")
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def describe(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, str):
        return "an empty string" if not value else "a string"
    return f"a {type(value).__name__}"


def party(address: Any, name: str, hash_key: bytes) -> dict[str, str]:
    """A party of docs/archive-format.md 13.2: address as given, kind, what is hashed, the hash."""
    if not isinstance(address, str) or not address.strip():
        raise InvalidEvent(f"{name} is {describe(address)}, expected a phone number, address or id")
    if len(address) > MAX_ADDRESS_LENGTH:
        raise InvalidEvent(f"{name} is longer than {MAX_ADDRESS_LENGTH} characters")
    kind, normalized, hashed = _party(hash_key, address)
    return {"address": address, "kind": kind, "normalized": normalized, "hash": hashed}


@lru_cache(maxsize=4096)
def _party(hash_key: bytes, address: str) -> tuple[str, str, str]:
    # A conversation repeats its two parties in every event: normalize and hash each once.
    normalized = keys.normalize_party(address)
    return keys.party_kind(address), normalized, user_hash(hash_key, normalized)


def event_time(fields: Fields, envelope: Envelope, *names: str) -> datetime:
    """The first of ``names`` present, else the envelope's time; InvalidEvent if neither."""
    for name in names:
        value = fields.get(name)
        if value is not None:
            return parse_time(value, name)
    if envelope.time is not None:
        return parse_time(envelope.time, "event time")
    raise InvalidEvent(f"{names[0]} is missing and the event has no time")


def message_id(value: Any, name: str = "messageId") -> str:
    return keys.check_id(value, name)


def event_summary(envelope: Envelope) -> dict[str, Any]:
    return {"id": envelope.id, "type": envelope.type, "time": envelope.time, "topic": envelope.topic,
            "subject": envelope.subject}


def head(channel: str, kind: str, business: Mapping[str, str], counterpart: Mapping[str, str]) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "channel": channel, "kind": kind,
            "conversation_id": keys.conversation_id(business["hash"], counterpart["hash"])}


def record(document: dict[str, Any], key: str, at: datetime, hash_key: bytes) -> Record:
    """The record with the index tags of 13.7 (the ``message`` tag: the id's name part, ``keys.name_id``)."""
    tags = {
        "kind": document["kind"],
        "channel": document["channel"],
        "at": iso(at),
        "conversation": document["conversation_id"],
        "message": keys.message_tag(document["message_id"], hash_key),
        "sender": document["from"]["hash"],
        "recipient": document["to"]["hash"],
    }
    if document["kind"].endswith("-message"):
        tags["direction"] = "inbound"
    return Record(key=key, document=document, tags=tags)


def report_key(document: Mapping[str, Any], at: datetime, status: str, hash_key: bytes,
               suffix: str | None = None) -> str:
    return keys.report_key(document["channel"], at, document["conversation_id"],
                           keys.name_id(document["message_id"], hash_key), report_ms(at), status, suffix, hash_key)


def message_key(channel: str, at: datetime, document: Mapping[str, Any], hash_key: bytes) -> str:
    return keys.channel_message_key(channel, at, document["conversation_id"],
                                    keys.name_id(document["message_id"], hash_key))


def report_ms(at: datetime) -> int:
    ms = epoch_ms(at)
    if ms < 0:
        raise InvalidEvent("the report's time is before 1970")
    return ms
