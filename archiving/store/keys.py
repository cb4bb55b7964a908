"""The archive's blob names: the layout is a public contract (docs/archive-format.md).

    chat/<yyyymm>/<thread_id>/messages/<message_id>/<version>-<action>.json.lz4
    chat/<yyyymm>/<thread_id>/thread/<version>-<action>[-<suffix>].json.lz4
    chat/<yyyymm>/<thread_id>/transcripts/<last_ms>.<json|csv>.lz4

A second copy of a record that differs in substance is kept beside the first, as
``<name>.conflict-<sha12>.json.lz4``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from archiving.errors import InvalidEvent

ROOT = "chat/"
RECORD_SUFFIX = ".json.lz4"
MAX_ID_LENGTH = 256

# Control characters (C0, DEL, C1), path separators; ".." is checked apart.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f/\\]")


def check_id(value: object, field: str) -> str:
    """An id that is safe to put verbatim into a blob name, or InvalidEvent."""
    if not isinstance(value, str):
        raise InvalidEvent(f"{field} is {'missing' if value is None else 'a ' + type(value).__name__}, expected a string")
    if not value:
        raise InvalidEvent(f"{field} is empty")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidEvent(f"{field} is longer than {MAX_ID_LENGTH} characters")
    if _UNSAFE.search(value):
        raise InvalidEvent(f"{field} contains a path separator or control character")
    if ".." in value:
        raise InvalidEvent(f"{field} contains '..'")
    if value != value.strip() or value in (".",):
        raise InvalidEvent(f"{field} has leading or trailing blanks")
    return value


def month(dt: datetime) -> str:
    """yyyymm of an aware UTC datetime."""
    return f"{dt.year:04d}{dt.month:02d}"


def thread_prefix(yyyymm: str, thread_id: str) -> str:
    return f"{ROOT}{yyyymm}/{thread_id}/"


def message_key(thread_id: str, composed_at: datetime, message_id: str, version: str, action: str) -> str:
    return f"{ROOT}{month(composed_at)}/{thread_id}/messages/{message_id}/{version}-{action}{RECORD_SUFFIX}"


def thread_key(thread_id: str, occurred_at: datetime, version: str, action: str, suffix: str | None = None) -> str:
    tail = f"-{suffix}" if suffix else ""
    return f"{ROOT}{month(occurred_at)}/{thread_id}/thread/{version}-{action}{tail}{RECORD_SUFFIX}"


def transcript_key(thread_id: str, last_message_at: datetime, last_ms: int, fmt: str) -> str:
    return f"{ROOT}{month(last_message_at)}/{thread_id}/transcripts/{last_ms}.{fmt}.lz4"


def conflict_key(key: str, substance_sha256: str) -> str:
    assert key.endswith(RECORD_SUFFIX)
    return f"{key[: -len(RECORD_SUFFIX)]}.conflict-{substance_sha256[:12]}{RECORD_SUFFIX}"


@dataclass(frozen=True)
class KeyInfo:
    """What a blob name says: month, thread, area (messages, thread, transcripts) and the rest."""

    month: str
    thread_id: str
    area: str
    name: str  # what follows the area, e.g. "<message_id>/<version>-<action>.json.lz4"


_KEY_RE = re.compile(r"^chat/(\d{6})/([^/]+)/(messages|thread|transcripts)/(.+)$")


def parse_key(key: str) -> KeyInfo | None:
    m = _KEY_RE.match(key)
    if not m:
        return None
    return KeyInfo(*m.groups())


# Blob index tag values allow only letters, digits, space and + - . / : = _ (256 at most).
# Anything else is written as =XX per UTF-8 byte, and "=" itself as =3D: reversible and exact.
_TAG_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 +-./:_")


def tag_value(text: str) -> str:
    out = []
    for ch in text:
        if ch in _TAG_SAFE:
            out.append(ch)
        else:
            out.extend(f"={b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


def untag_value(text: str) -> str:
    data = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "=":
            data.append(int(text[i + 1 : i + 3], 16))
            i += 3
        else:
            data.extend(text[i].encode("ascii"))
            i += 1
    return data.decode("utf-8")


def thread_tag(thread_id: str) -> str:
    """The ``thread`` tag: the escaped id, or ``sha256:<hex>`` of the id if that is too long."""
    value = tag_value(thread_id)
    if len(value) <= 256:
        return value
    import hashlib

    return "sha256:" + hashlib.sha256(thread_id.encode("utf-8")).hexdigest()
