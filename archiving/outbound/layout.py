"""Every name and layout decision of outbound archiving, in one place (docs/outbound.md, "Layout").

Blob names, in the archive container (``ARCHIVE_CONTAINER``), beside ``chat/``::

    outbound/<channel>/<archive_id>/message.json.lz4                   the message, written BEFORE the send
    outbound/<channel>/<archive_id>/sent.json.lz4                      outcome: ACS accepted it (ids per recipient)
    outbound/<channel>/<archive_id>/failed-<epoch_ms>.json.lz4         outcome: one per failed attempt
    outbound/<channel>/<archive_id>/not-archived-before-send.json.lz4  fail-open marker (record written late)
    outbound/by-acs-id/<channel>/<acs_message_id>.json.lz4             link: ACS message id -> archive id
    outbound/attachments/<sha256>.lz4                                  attachment bytes, deduplicated by hash

``<channel>``: ``sms``, ``email``, ``whatsapp``, ``chat`` (the names issue 11 uses for the
inbound side). No month in the name: a retry of the same archive id must find the first
attempt's blobs whatever the date; time queries use the ``at`` index tag.

Joins with the delivery reports that issue 11 archives: a report carries the ACS message id
(SMS ``messageId``, email ``messageId`` = the send's operation id = our archive id, WhatsApp
``messageId``); ``by_acs_id_key`` finds the outbound message from it, ``sent.json.lz4`` lists the
ids of a message, and ``report_query`` finds the reports of an id by issue 11's ``message`` index
tag. Addresses are hashed as issue 11 hashes parties (``normalize_address``).

Documents are JSON (orjson) in an LZ4 frame with metadata ``sha256``, create-only, like chat
records (archiving.store.codec, ArchiveStore.create_blob).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from archiving.store import keys
from archiving.store.records import user_hash

ROOT = "outbound/"
CHANNELS = ("sms", "email", "whatsapp", "chat")
SCHEMA_VERSION = 1

# Document kinds (the ``kind`` field and index tag).
MESSAGE, SENT, FAILED, NOT_ARCHIVED, LINK, INDEX = (
    "outbound-message", "outbound-sent", "outbound-failed", "outbound-not-archived-before-send", "outbound-link",
    "outbound-index",
)
# The channels whose outbound messages join a conversation of the inbound side (13.1's conversation id);
# outbound chat messages are the chat records they become (joined by ``archiveId``).
CONVERSATION_CHANNELS = ("sms", "email", "whatsapp")
DIRECTION = "outbound"
# Outcome statuses as ``show`` and ``reconcile`` report them.
STATUS_SENT, STATUS_FAILED, STATUS_UNKNOWN = "sent", "failed", "archived, send outcome unknown"

# The chat message metadata key that carries the archive id to ACS (and back in chat events).
CHAT_METADATA_KEY = "archiveId"
# Namespace of archive ids derived from a caller's own repeatability key (uuid5): a retry with the
# same key maps to the same archive id, hence the same record.
_ID_NAMESPACE = uuid.UUID("5b0f8a4e-2f1c-4d7a-9a63-0c1f6a9e4b21")


def new_archive_id() -> str:
    """A fresh archive id: a UUID, so it is also a valid email ``Operation-Id`` (format uuid)."""
    return str(uuid.uuid4())


def archive_id_from_key(channel: str, key: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, f"{channel}:{key}"))


def repeatability_id(archive_id: str, index: int = 0) -> str:
    """A deterministic Repeatability-Request-ID per recipient: ACS dedupes a re-sent request."""
    return str(uuid.uuid5(uuid.UUID(archive_id) if _is_uuid(archive_id) else _ID_NAMESPACE, f"r{index}:{archive_id}"))


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
        return True
    except ValueError:
        return False


def check_channel(channel: str) -> str:
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}: choose from {', '.join(CHANNELS)}")
    return channel


def is_archive_id(value: Any) -> bool:
    return isinstance(value, str) and bool(_GUID.match(value))


def check_archive_id(value: Any) -> str:
    """An archive id is a UUID we choose (or derive from a caller's key): anything else is refused, so no
    number or address a caller passes ever becomes a folder name."""
    keys.check_id(value, "archive id")
    if not _GUID.match(value):
        from archiving.errors import InvalidEvent

        raise InvalidEvent("archive id must be a UUID (a caller's own idempotency key goes in the "
                           "Repeatability-Request-ID header: it is turned into one)")
    return value


def message_prefix(channel: str, archive_id: str) -> str:
    return f"{ROOT}{check_channel(channel)}/{archive_id}/"


def message_key(channel: str, archive_id: str) -> str:
    return f"{message_prefix(channel, archive_id)}message{keys.RECORD_SUFFIX}"


def sent_key(channel: str, archive_id: str) -> str:
    return f"{message_prefix(channel, archive_id)}sent{keys.RECORD_SUFFIX}"


def failed_key(channel: str, archive_id: str, epoch_ms: int) -> str:
    return f"{message_prefix(channel, archive_id)}failed-{epoch_ms}{keys.RECORD_SUFFIX}"


def not_archived_key(channel: str, archive_id: str) -> str:
    return f"{message_prefix(channel, archive_id)}not-archived-before-send{keys.RECORD_SUFFIX}"


def by_acs_id_key(channel: str, acs_message_id: str, hash_key: bytes | None = None) -> str:
    """The link's name: the ACS id as it is when of its documented shape, else its hash (``keys.name_id``;
    chat message ids, all digits, are hashed). Without the key only documented ids are accepted."""
    keys.check_id(acs_message_id, "ACS message id")
    part = keys.name_id(acs_message_id, hash_key) if hash_key is not None else acs_message_id
    if hash_key is None and not keys.is_documented_id(acs_message_id):
        raise ValueError("an ACS id not of its documented shape needs the hash key to be named")
    return f"{ROOT}by-acs-id/{check_channel(channel)}/{part}{keys.RECORD_SUFFIX}"


def attachment_key(sha256_hex: str) -> str:
    return f"{ROOT}attachments/{sha256_hex}.lz4"


def index_key(channel: str, conversation: str, archive_id: str) -> str:
    return f"{ROOT}by-conversation/{check_channel(channel)}/{conversation}/{archive_id}{keys.RECORD_SUFFIX}"


_OUTBOUND_RE = re.compile(r"^outbound/(sms|email|whatsapp|chat)/([^/]+)/([^/]+)$")
_INDEX_RE = re.compile(r"^outbound/by-conversation/(sms|email|whatsapp|chat)/([0-9a-f]{16}-[0-9a-f]{16})/([^/]+)\.json\.lz4$")
_ATTACHMENT_RE = re.compile(r"^outbound/attachments/([0-9a-f]{64})\.lz4$")


def parse_name(name: str) -> tuple[str, str, str] | None:
    """(channel, archive_id, file) of a blob under outbound/<channel>/<archive_id>/, or for an index blob
    (channel, archive_id, "index"); else None."""
    m = _OUTBOUND_RE.match(name)
    if m:
        return m.group(1), m.group(2), m.group(3)
    m = _INDEX_RE.match(name)
    if m:
        return m.group(1), m.group(3), "index"
    return None


def attachment_sha(name: str) -> str | None:
    m = _ATTACHMENT_RE.match(name)
    return m.group(1) if m else None


def status_of(files: set[str] | list[str]) -> str:
    """The send outcome by the names of a message's blobs alone (no download)."""
    if f"sent{keys.RECORD_SUFFIX}" in files:
        return STATUS_SENT
    if any(f.startswith("failed-") for f in files):
        return STATUS_FAILED
    return STATUS_UNKNOWN


def conversation_tags(channel: str, sender_hash: str | None, recipients: list[Any]) -> list[tuple[str, str]]:
    """(conversation id, recipient hash) of each recipient, in order: the conversation of the business
    (sender) and that recipient, as the inbound side names it (keys.conversation_id)."""
    if channel not in CONVERSATION_CHANNELS or not sender_hash:
        return []
    out = []
    for r in recipients or []:
        h = r.get("hash") if isinstance(r, Mapping) else None
        if h:
            pair = (keys.conversation_id(sender_hash, h), h)
            if pair not in out:
                out.append(pair)
    return out


_MESSAGE_RE = re.compile(r"^outbound/(sms|email|whatsapp|chat)/([^/]+)/message\.json\.lz4$")


def parse_message_key(name: str) -> tuple[str, str] | None:
    """(channel, archive_id) of a message record's name, else None."""
    m = _MESSAGE_RE.match(name)
    return (m.group(1), m.group(2)) if m else None


# Where the delivery/engagement reports of one ACS message id are, in issue 11's layout: beside
# their message under <channel>/<yyyymm>/<conversation>/messages/<message_id>/reports/, found by
# the index tag ``message`` = the escaped message id (keys.thread_tag's escaping), whatever the
# month. Chat has no reports: its message records (chat/<yyyymm>/<thread>/messages/<id>/) stand in.
REPORT_CHANNELS = ("sms", "email", "whatsapp")


def message_tag(acs_message_id: str, hash_key: bytes | None = None) -> str:
    """issue 11's ``message`` tag value (keys.message_tag): the id's name part."""
    return keys.message_tag(acs_message_id, hash_key)


def report_query(channel: str, acs_message_id: str, hash_key: bytes | None = None) -> str | None:
    """The blob index tag query of the reports of one ACS message id, None for chat."""
    if channel not in REPORT_CHANNELS:
        return None
    return f"\"channel\" = '{channel}' AND \"message\" = '{message_tag(acs_message_id, hash_key)}'"


def is_report_name(name: str) -> bool:
    return "/reports/" in name and not name.startswith(ROOT)


# -- addresses: hashed as issue 11 hashes parties (keys.normalize_party there) ------------------------------

_DIGITS = re.compile(r"^(?:4:)?\+?[0-9][0-9 ().\-]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def normalize_address(channel: str, address: str) -> str:
    """What the hash is computed over, as issue 11 does: a phone number as ``4:+<digits>`` (the ACS
    raw id form, one hash across SMS, WhatsApp and chat), an email address or a WhatsApp channel
    registration id (GUID) lower-cased, anything else (an ACS raw id) unchanged."""
    text = address.strip()
    if _DIGITS.match(text) and 3 <= sum(c.isdigit() for c in text) <= 15:
        return "4:+" + "".join(c for c in text.removeprefix("4:") if c.isdigit())
    if _EMAIL.match(text) or _GUID.match(text):
        return text.lower()
    return text


def address_hash(hash_key: bytes, channel: str, address: str) -> str:
    return user_hash(hash_key, normalize_address(channel, address))


def tags(kind: str, channel: str, at: str, sender_hash: str | None = None,
         conversation: tuple[str, str] | None = None, thread: str | None = None) -> dict[str, str]:
    """Index tags; with ``conversation`` (id, recipient hash) also ``conversation``, ``recipient`` and
    ``direction`` = outbound, as the inbound records are tagged (docs/outbound.md, "Conversations"); with
    ``thread`` (a chat thread id) the ``thread`` tag inbound chat records carry (keys.thread_tag)."""
    out = {"kind": kind, "channel": channel, "at": at}
    if sender_hash:
        out["sender"] = sender_hash
    if conversation:
        out["conversation"], out["recipient"] = conversation
        out["direction"] = DIRECTION
    if thread:
        out["thread"] = keys.thread_tag(thread)
    return out


def chat_thread(channel: str, doc: Any) -> str | None:
    """The chat thread an outbound chat message (its document, or the fields it is made of) was sent to:
    ``correlation.chat_thread_id``, else its one recipient of role ``thread``; None for other channels."""
    if channel != "chat" or not isinstance(doc, Mapping):
        return None
    correlation = doc.get("correlation")
    thread = correlation.get("chat_thread_id") if isinstance(correlation, Mapping) else None
    if not thread:
        first = (doc.get("recipients") or [None])[0]
        if isinstance(first, Mapping) and first.get("role") == "thread":
            thread = first.get("address")
    return thread if isinstance(thread, str) and thread else None


def party(hash_key: bytes, channel: str, address: str, role: str, display_name: str | None = None) -> dict[str, Any]:
    return {"address": address, "hash": address_hash(hash_key, channel, address), "role": role,
            "display_name": display_name}


def document(kind: str, channel: str, archive_id: str, archived_at: str, **fields: Any) -> dict[str, Any]:
    """A document of this layout: the fixed head, then the kind's fields."""
    return {"schema_version": SCHEMA_VERSION, "channel": channel, "kind": kind, "archive_id": archive_id,
            **fields, "archived_at": archived_at}


def results_by_id(sent: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The per-recipient results of a sent outcome, by ACS message id."""
    return {r["acs_message_id"]: r for r in sent.get("results") or [] if r.get("acs_message_id")}
