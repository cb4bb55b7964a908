"""Parsing ACS chat events into frozen dataclasses (the envelope is ingest/envelope.py).

The parser is strict about what it needs to build a record (ids, versions, times) and lenient
about what real payloads vary in (numbers as strings, ``Text``/``Html``, legacy fields).
Anything it cannot use raises :class:`InvalidEvent` with the reason in words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archiving.errors import InvalidEvent
from archiving.ingest.common import check_finite
from archiving.ingest.envelope import MAX_EVENT_BYTES, Envelope  # noqa: F401 - re-exported
from archiving.ingest.types import ARCHIVED_TYPES, CHAT_TYPES  # noqa: F401 - re-exported
from archiving.store.keys import check_id
from archiving.timefmt import epoch_ms, parse_time

PREFIX = "Microsoft.Communication."


@dataclass(frozen=True)
class Identity:
    raw_id: str
    kind: str
    display_name: str | None = None


@dataclass(frozen=True)
class Participant:
    identity: Identity
    metadata: Mapping[str, Any]


@dataclass(frozen=True)
class MessageChange:
    action: str  # received | edited | deleted
    thread_id: str
    message_id: str
    version: str
    message_type: str
    content: str | None
    metadata: Mapping[str, Any]
    sender: Identity | None
    composed_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None


@dataclass(frozen=True)
class ThreadChange:
    action: str  # created | deleted | updated | participant-added | participant-removed
    thread_id: str
    version: str
    occurred_at: datetime
    actor: Identity | None
    properties: Mapping[str, Any] | None
    participants: tuple[Participant, ...]
    metadata: Mapping[str, Any]


Change = MessageChange | ThreadChange


def parse_change(envelope: Envelope) -> Change:
    """The change an archived event describes; raises InvalidEvent if it is malformed."""
    kind, action = CHAT_TYPES[envelope.type]
    data = envelope.data
    if not isinstance(data, Mapping):
        raise InvalidEvent(f"data is {_describe(data)}, expected a JSON object")
    thread_id = check_id(data.get("threadId"), "threadId")
    if kind == "message":
        return _message(action, thread_id, data)
    return _thread(action, thread_id, data)


def _message(action: str, thread_id: str, data: Mapping[str, Any]) -> MessageChange:
    message_id = check_id(data.get("messageId"), "messageId")
    composed_at = parse_time(data.get("composeTime"), "composeTime")
    edited_at = parse_time(data.get("editTime"), "editTime") if action == "edited" else None
    deleted_at = parse_time(data.get("deleteTime"), "deleteTime") if action == "deleted" else None
    if action == "deleted":
        content = None
    else:
        content = data.get("messageBody")
        if not isinstance(content, str):
            raise InvalidEvent(f"messageBody is {_describe(content)}, expected a string")
    message_type = data.get("type")
    if not isinstance(message_type, str) or not message_type:
        raise InvalidEvent(f"type is {_describe(message_type)}, expected a string such as 'Text'")
    sender = _identity(
        data.get("senderCommunicationIdentifier"),
        data.get("senderId"),
        data.get("senderDisplayName"),
        "senderCommunicationIdentifier",
    )
    return MessageChange(
        action=action,
        thread_id=thread_id,
        message_id=message_id,
        version=_version(data.get("version"), None),
        message_type=message_type.lower(),
        content=content,
        metadata=_metadata(data.get("metadata"), "metadata"),
        sender=sender,
        composed_at=composed_at,
        edited_at=edited_at,
        deleted_at=deleted_at,
    )


_THREAD_FIELDS = {
    # action -> (time field, actor identifier field, legacy actor string field)
    "created": ("createTime", "createdByCommunicationIdentifier", "createdBy"),
    "deleted": ("deleteTime", "deletedByCommunicationIdentifier", "deletedBy"),
    "updated": ("editTime", "editedByCommunicationIdentifier", "editedBy"),
    "participant-added": ("time", "addedByCommunicationIdentifier", "addedBy"),
    "participant-removed": ("time", "removedByCommunicationIdentifier", "removedBy"),
}


def _thread(action: str, thread_id: str, data: Mapping[str, Any]) -> ThreadChange:
    time_field, actor_field, legacy_actor = _THREAD_FIELDS[action]
    occurred_at = parse_time(data.get(time_field), time_field)
    actor = _identity(data.get(actor_field), data.get(legacy_actor), None, actor_field)
    properties = None
    if action in ("created", "updated"):
        properties = _metadata(data.get("properties"), "properties")
    if action == "created":
        listed = data.get("participants")
        if listed is None:
            listed = data.get("members")
        if listed is None:
            listed = []
        if not isinstance(listed, list):
            raise InvalidEvent(f"participants is {_describe(listed)}, expected a list")
        participants = tuple(_participant(p, f"participants[{i}]") for i, p in enumerate(listed))
    elif action.startswith("participant-"):
        verb = "Added" if action == "participant-added" else "Removed"
        one = data.get(f"participant{verb}")
        field = f"participant{verb}"
        if one is None and f"member{verb}" in data:
            one, field = data.get(f"member{verb}"), f"member{verb}"
        if one is None:
            raise InvalidEvent(f"participant{verb} is missing")
        participants = (_participant(one, field),)
    else:
        participants = ()
    return ThreadChange(
        action=action,
        thread_id=thread_id,
        version=_version(data.get("version"), occurred_at),
        occurred_at=occurred_at,
        actor=actor,
        properties=properties,
        participants=participants,
        metadata=_metadata(data.get("metadata"), "metadata"),
    )


def _participant(value: Any, field: str) -> Participant:
    if not isinstance(value, Mapping):
        raise InvalidEvent(f"{field} is {_describe(value)}, expected an object")
    identity = _identity(
        value.get("participantCommunicationIdentifier"),
        value.get("memberId"),
        value.get("displayName"),
        f"{field}.participantCommunicationIdentifier",
    )
    if identity is None:
        raise InvalidEvent(f"{field} has no participantCommunicationIdentifier")
    return Participant(identity=identity, metadata=_metadata(value.get("metadata"), f"{field}.metadata"))


# rawId prefixes, longest first within a family (see ACS_FACTS.md).
_KIND_BY_PREFIX = (
    ("8:acs:", "communicationUser"),
    ("8:dod-acs:", "communicationUser"),
    ("8:gcch-acs:", "communicationUser"),
    ("8:spool:", "communicationUser"),
    ("4:", "phoneNumber"),
    ("8:orgid:", "microsoftTeamsUser"),
    ("8:dod:", "microsoftTeamsUser"),
    ("8:gcch:", "microsoftTeamsUser"),
    ("8:teamsvisitor:", "microsoftTeamsUser"),
    ("28:orgid:", "microsoftTeamsApp"),
    ("28:dod:", "microsoftTeamsApp"),
    ("28:gcch:", "microsoftTeamsApp"),
)
_KIND_BY_KEY = (
    ("communicationUser", "communicationUser"),
    ("phoneNumber", "phoneNumber"),
    ("microsoftTeamsUser", "microsoftTeamsUser"),
    ("microsoftTeamsApp", "microsoftTeamsApp"),
)
KINDS = ("communicationUser", "phoneNumber", "microsoftTeamsUser", "microsoftTeamsApp", "unknown")


def identity_kind(raw_id: str, identifier: Mapping[str, Any] | None = None) -> str:
    if identifier is not None:
        declared = identifier.get("kind")
        if isinstance(declared, str) and declared in KINDS:
            return declared
        for key, kind in _KIND_BY_KEY:
            if isinstance(identifier.get(key), Mapping):
                return kind
    for prefix, kind in _KIND_BY_PREFIX:
        if raw_id.startswith(prefix):
            return kind
    return "unknown"


def _identity(identifier: Any, legacy: Any, display_name: Any, field: str) -> Identity | None:
    """An identity from the identifier object, else from a legacy raw-id string, else None."""
    if display_name is not None and not isinstance(display_name, str):
        raise InvalidEvent(f"display name of {field} is {_describe(display_name)}, expected a string")
    if identifier is not None:
        if not isinstance(identifier, Mapping):
            raise InvalidEvent(f"{field} is {_describe(identifier)}, expected an identifier object")
        raw_id = identifier.get("rawId")
        if raw_id is None:
            raw_id = _nested_id(identifier)
        if not isinstance(raw_id, str) or not raw_id:
            raise InvalidEvent(f"{field}.rawId is missing or not a string")
        return Identity(raw_id, identity_kind(raw_id, identifier), display_name)
    if legacy is not None:
        if not isinstance(legacy, str) or not legacy:
            raise InvalidEvent(f"legacy id for {field} is {_describe(legacy)}, expected a string")
        return Identity(legacy, identity_kind(legacy), display_name)
    return None


def _nested_id(identifier: Mapping[str, Any]) -> Any:
    user = identifier.get("communicationUser")
    if isinstance(user, Mapping):
        return user.get("id")
    phone = identifier.get("phoneNumber")
    if isinstance(phone, Mapping) and isinstance(phone.get("value"), str):
        return "4:" + phone["value"]
    return None


def _version(value: Any, fallback: datetime | None) -> str:
    """A decimal string: events send a JSON number or a string of digits."""
    if value is None and fallback is not None:
        if epoch_ms(fallback) < 0:  # the fallback is a version too: digits only, no sign
            raise InvalidEvent("version is missing and the change time is before 1970")
        return str(epoch_ms(fallback))
    if isinstance(value, bool):
        raise InvalidEvent("version is a boolean, expected a number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise InvalidEvent(f"version {value!r} is not a whole number")
        number = int(value)
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        number = int(value)
    else:
        raise InvalidEvent(f"version is {_describe(value)}, expected a whole number")
    if number < 0 or number >= 10**20:
        raise InvalidEvent("version is out of range (negative, or more than 20 digits)")
    return str(number)


def _metadata(value: Any, field: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidEvent(f"{field} is {_describe(value)}, expected an object")
    check_finite(value, field)
    return value




def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _describe(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"
