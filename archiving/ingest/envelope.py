"""The Event Grid / CloudEvents envelope of every event, whatever its channel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archiving.errors import InvalidEvent
from archiving.ingest.types import ARCHIVED_TYPES

# Event Grid rejects events over 1 MB, so nothing legitimate is larger; replayed files could be.
MAX_EVENT_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Envelope:
    """One event as delivered, in either schema; ``raw`` is kept for rejections."""

    id: str
    type: str
    subject: str | None
    topic: str | None
    time: str | None
    data: Any
    raw: Mapping[str, Any]

    @classmethod
    def from_mapping(cls, raw: Any) -> "Envelope":
        """Event Grid schema or CloudEvents 1.0 (``specversion``, or ``type`` without ``eventType``)."""
        if not isinstance(raw, Mapping):
            raise InvalidEvent(f"event is a {type(raw).__name__}, expected a JSON object")
        cloud = "specversion" in raw or ("eventType" not in raw and "type" in raw)
        event_id = raw.get("id")
        event_type = raw.get("type" if cloud else "eventType")
        if not isinstance(event_id, str) or not event_id:
            raise InvalidEvent("event id is missing or not a string")
        if not isinstance(event_type, str) or not event_type:
            raise InvalidEvent("event type is missing or not a string")
        return cls(
            id=event_id,
            type=event_type,
            subject=_opt_str(raw.get("subject")),
            topic=_opt_str(raw.get("source" if cloud else "topic")),
            time=_opt_str(raw.get("time" if cloud else "eventTime")),
            data=raw.get("data"),
            raw=raw,
        )

    @property
    def archived(self) -> bool:
        return self.type in ARCHIVED_TYPES


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
