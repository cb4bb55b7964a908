"""WhatsApp (Advanced Messaging) events: AdvancedMessageReceived -> ``whatsapp-message`` (its media
fetched by ingest/media.py), AdvancedMessageDeliveryStatusUpdated -> ``whatsapp-report``.

An inbound message has no message id in the published schema: the Event Grid event id, which
Event Grid keeps across redeliveries, is its identity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archiving.errors import InvalidEvent
from archiving.ingest.common import (Fields, describe, event_summary, event_time, head, message_id, message_key,
                                     optional_object, party, record, report_key)
from archiving.ingest.envelope import Envelope
from archiving.store import keys
from archiving.store.records import Record
from archiving.timefmt import iso

STORED, NOT_RETRIEVABLE = "stored", "not-retrievable"


@dataclass(frozen=True)
class MediaRef:
    """What the event says about a media item; the bytes are fetched by id."""

    id: str
    mime_type: str | None
    file_name: str | None
    caption: str | None
    animated: bool | None

    def entry(self, status: str, blob: str | None = None, sha256: str | None = None, size: int | None = None,
              reason: str | None = None) -> dict[str, Any]:
        return {"id": self.id, "mime_type": self.mime_type, "file_name": self.file_name, "caption": self.caption,
                "animated": self.animated, "status": status, "blob": blob, "sha256": sha256, "size": size,
                "reason": reason}


@dataclass(frozen=True)
class Inbound:
    """A parsed inbound message waiting for its media entry (``finish``)."""

    key: str
    document: Mapping[str, Any]  # media is None here
    at: datetime
    media: MediaRef | None
    hash_key: bytes = b""

    def finish(self, media_entry: Mapping[str, Any] | None) -> Record:
        return record({**self.document, "media": media_entry}, self.key, self.at, self.hash_key)


def received(envelope: Envelope, hash_key: bytes, archived_at: datetime) -> Inbound:
    f = Fields(envelope.data)
    mid = keys.check_id(envelope.id, "event id")
    counterpart = party(f.get("from"), "from", hash_key)
    business = party(f.get("to"), "to", hash_key)
    at = event_time(f, envelope, "receivedTimestamp")
    content = f.text("content", required=False)
    channel_message_id = f.text("messageId", required=False)
    h = head("whatsapp", "whatsapp-message", business, counterpart)
    document = {
        "schema_version": h["schema_version"], "channel": "whatsapp", "kind": "whatsapp-message",
        "action": "received", "conversation_id": h["conversation_id"], "message_id": mid,
        "channel_message_id": channel_message_id, "channel_type": f.text("channelType", required=False),
        "message_type": f.text("messageType", required=False), "from": counterpart, "to": business,
        "content": content, "media": None, "reaction": f.obj("reaction"), "context": f.obj("context"),
        "button": f.obj("button"), "interactive": f.obj("interactive"), "error": f.obj("error"),
        "received_at": iso(at), "event": event_summary(envelope), "archived_at": iso(archived_at),
    }
    return Inbound(message_key("whatsapp", at, document, hash_key), document, at, _media(f.get("media")), hash_key)


def _media(value: Any) -> MediaRef | None:
    media = optional_object(value, "media")
    if media is None:
        return None
    m = Fields(media)
    media_id = m.get("id")
    if not isinstance(media_id, str) or not media_id:
        raise InvalidEvent(f"media.id is {describe(media_id)}, expected a string")
    animated = m.get("animated")
    if animated is not None and not isinstance(animated, bool):
        raise InvalidEvent(f"media.animated is {describe(animated)}, expected true or false")
    return MediaRef(media_id, m.text("mimeType", required=False), m.text("fileName", required=False),
                    m.text("caption", required=False), animated)


def report(envelope: Envelope, hash_key: bytes, archived_at: datetime) -> Record:
    f = Fields(envelope.data)
    mid = message_id(f.get("messageId"))
    business = party(f.get("from"), "from", hash_key)
    counterpart = party(f.get("to"), "to", hash_key)
    status = f.text("status")
    at = event_time(f, envelope, "receivedTimestamp")
    document = head("whatsapp", "whatsapp-report", business, counterpart)
    document.update({"message_id": mid, "channel_type": f.text("channelType", required=False), "from": business,
                     "to": counterpart, "status": status, "error": f.obj("error"), "reported_at": iso(at),
                     "event": event_summary(envelope), "archived_at": iso(archived_at)})
    return record(document, report_key(document, at, status, hash_key), at, hash_key)
