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


# -- SMS, WhatsApp and email (docs/archive-format.md, section 13) ------------------------------------
#
#     <channel>/<yyyymm>/<conversation>/messages/<message_id>/received.json.lz4
#     <channel>/<yyyymm>/<conversation>/messages/<message_id>/reports/<at_ms>-<status>.json.lz4
#     email/<yyyymm>/<conversation>/messages/<message_id>/reports/<at_ms>-<engagement>-<ctx12>.json.lz4
#     whatsapp/media/<sha256>.lz4
#
# <conversation> is "<business hash[:16]>-<counterpart hash[:16]>" (party hashes, below): no phone
# number or email address is ever in a name or a tag.

CHANNELS = ("sms", "whatsapp", "email")
MEDIA_ROOT = "whatsapp/media/"
# Reserved for the business's own copy of a message it sends (issue 12), beside received.
INBOUND, OUTBOUND = "received", "sent"

_DIGITS = re.compile(r"^(?:4:)?\+?[0-9][0-9 ().\-]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def party_kind(address: str) -> str:
    """phoneNumber, email, channel (a WhatsApp channel registration id) or unknown."""
    text = address.strip()
    if _DIGITS.match(text) and 3 <= sum(c.isdigit() for c in text) <= 15:
        return "phoneNumber"
    if _EMAIL.match(text):
        return "email"
    if _GUID.match(text):
        return "channel"
    return "unknown"


def normalize_party(address: str) -> str:
    """What the party hash is computed over.

    A phone number becomes ``4:+<digits>`` (E.164 in the form of an ACS raw id, so a number has
    the same hash in SMS, WhatsApp and chat); an email address is lower-cased; a channel
    registration id (GUID) is lower-cased; anything else (an ACS raw id) is kept as it is.
    """
    text = address.strip()
    kind = party_kind(text)
    if kind == "phoneNumber":
        return "4:+" + "".join(c for c in text.removeprefix("4:") if c.isdigit())
    if kind in ("email", "channel"):
        return text.lower()
    return text


def conversation_id(business_hash: str, counterpart_hash: str) -> str:
    return f"{business_hash[:16]}-{counterpart_hash[:16]}"


_CONVERSATION_RE = re.compile(r"^[0-9a-f]{16}-[0-9a-f]{16}$")


def is_conversation_id(text: str) -> bool:
    return bool(_CONVERSATION_RE.match(text))


def channel_prefix(channel: str, yyyymm: str, conversation: str) -> str:
    return f"{channel}/{yyyymm}/{conversation}/"


def channel_message_key(channel: str, at: datetime, conversation: str, message_id: str,
                        direction: str = INBOUND) -> str:
    return f"{channel}/{month(at)}/{conversation}/messages/{message_id}/{direction}{RECORD_SUFFIX}"


# -- ids and statuses in names: only of their documented shape, else hashed (no personal data) -----------
#
# An id taken from an event or a caller goes into a name or a tag verbatim only when it has the shape
# ACS documents for it: a GUID (email operation ids, WhatsApp message ids, event ids) or an SMS message
# id (``Incoming_`` / ``Outgoing_`` + 14-digit time + GUID).  Anything else (a phone number, an email
# address, free text) becomes ``h-`` + 32 hex characters of its HMAC with ARCHIVE_HASH_KEY: the same id
# always gives the same name (joins and redeliveries still work), and no number or address is in a name.

_DOCUMENTED_ID = re.compile(
    r"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|(?:Incoming|Outgoing)_[0-9]{14}[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"(?:_[A-Za-z]{1,16})?)$")
HASHED_ID = re.compile(r"^h-[0-9a-f]{32}$")


# Also kept: a short token that starts with a letter, of letters, digits, ``_`` and ``-``, without a run of
# 7 digits (no phone number fits); test and sample ids such as ``in-1`` are of this form.
_TOKEN_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_DIGIT_RUN = re.compile(r"[0-9]{7}")


def is_documented_id(value: str) -> bool:
    if _DOCUMENTED_ID.match(value):
        return True
    return bool(_TOKEN_ID.match(value)) and not _DIGIT_RUN.search(value)


def name_id(value: str, hash_key: bytes) -> str:
    """The name part (and ``message`` tag) of an id from an event or a caller: itself when of its documented
    shape, else ``h-<hmac[:32]>`` (docs/archive-format.md, 13.1)."""
    if is_documented_id(value):
        return value
    import hmac

    key = hash_key if isinstance(hash_key, bytes) else str(hash_key).encode("utf-8")
    return "h-" + hmac.new(key, b"id:" + value.encode("utf-8", "surrogatepass"), "sha256").hexdigest()[:32]


_STATUS_WORD = re.compile(r"^[A-Za-z]{1,40}$")


def report_token(text: str, hash_key: bytes | None = None) -> str:
    """A status or engagement type as a name part: a single word (Delivered, Failed, view, click…) lower-cased;
    anything else (free text that may quote an address) ``s-<hmac[:12]>`` (with the key), else ``s-`` + 12
    characters no check can tell apart (verification without the key accepts any)."""
    if _STATUS_WORD.match(text):
        return text.lower()
    if hash_key is None:
        return "s-"
    import hmac

    key = hash_key if isinstance(hash_key, bytes) else str(hash_key).encode("utf-8")
    return "s-" + hmac.new(key, b"status:" + text.encode("utf-8", "surrogatepass"), "sha256").hexdigest()[:12]


def report_key(channel: str, at: datetime, conversation: str, message_id: str, at_ms: int, status: str,
               suffix: str | None = None, hash_key: bytes | None = None) -> str:
    """``message_id`` is the name part (``name_id``) of the message id."""
    tail = f"-{suffix}" if suffix else ""
    return (f"{channel}/{month(at)}/{conversation}/messages/{message_id}/reports/"
            f"{at_ms}-{report_token(status, hash_key)}{tail}{RECORD_SUFFIX}")


def media_key(sha256_hex: str) -> str:
    return f"{MEDIA_ROOT}{sha256_hex}.lz4"


@dataclass(frozen=True)
class ChannelKeyInfo:
    """What a channel blob name says; ``media`` names have only channel and sha256."""

    channel: str
    month: str | None
    conversation: str | None
    message_id: str | None
    area: str  # message | report | media
    name: str  # received / sent, "<at_ms>-<status>[-<suffix>]" or the media sha256 (without suffixes)
    conflict: bool = False


_CHANNEL_KEY_RE = re.compile(
    r"^(sms|whatsapp|email)/(\d{6})/([0-9a-f]{16}-[0-9a-f]{16})/messages/([^/]+)/"
    r"(?:(received|sent)|reports/([0-9]+-[a-z0-9-]+))(\.conflict-[0-9a-f]{12})?\.json\.lz4$"
)
_MEDIA_KEY_RE = re.compile(r"^whatsapp/media/([0-9a-f]{64})\.lz4$")


def parse_channel_key(key: str) -> ChannelKeyInfo | None:
    m = _MEDIA_KEY_RE.match(key)
    if m:
        return ChannelKeyInfo("whatsapp", None, None, None, "media", m.group(1))
    m = _CHANNEL_KEY_RE.match(key)
    if not m:
        return None
    channel, yyyymm, conversation, message_id, direction, report, conflict = m.groups()
    area = "message" if direction else "report"
    return ChannelKeyInfo(channel, yyyymm, conversation, message_id, area, direction or report, bool(conflict))


def message_tag(message_id: str, hash_key: bytes | None = None) -> str:
    """The ``message`` tag: the name part of the message id (``name_id``), so reports join their message.
    Without the key only ids of the documented shape are accepted."""
    if hash_key is None:
        if not is_documented_id(message_id) and not HASHED_ID.match(message_id):
            raise ValueError("an id not of its documented shape needs the hash key to be looked up")
        return thread_tag(message_id)
    return thread_tag(name_id(message_id, hash_key))
