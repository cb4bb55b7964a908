"""Timestamps: parsing what ACS and Event Grid send, and the one format the archive writes."""

from __future__ import annotations

from datetime import datetime, timezone

from archiving.errors import InvalidEvent

UTC = timezone.utc


def parse_time(value: object, field: str) -> datetime:
    """An aware UTC datetime from an ISO-8601 string (``Z`` or any offset, 0 to 7+ fractional digits)."""
    if not isinstance(value, str):
        raise InvalidEvent(f"{field} is {_kind(value)}, expected an ISO-8601 timestamp string")
    text = value.strip()
    if len(text) > 64:
        raise InvalidEvent(f"{field} is not an ISO-8601 timestamp (too long)")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = _parse_long_fraction(text)
        if parsed is None:
            raise InvalidEvent(f"{field} is not an ISO-8601 timestamp") from None
    if parsed.tzinfo is None:
        raise InvalidEvent(f"{field} has no UTC offset")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise InvalidEvent(f"{field} is out of range") from None


def _parse_long_fraction(text: str) -> datetime | None:
    # fromisoformat takes at most 6 fractional digits on some inputs; .NET writes 7.
    dot = text.find(".", 10)
    if dot < 0:
        return None
    end = dot + 1
    while end < len(text) and text[end].isdigit():
        end += 1
    if end - dot - 1 <= 6:
        return None
    try:
        return datetime.fromisoformat(text[: dot + 7] + text[end:])
    except ValueError:
        return None


def iso(dt: datetime | None) -> str | None:
    """The archive's timestamp format: UTC, microseconds, ``Z`` (sorts as text)."""
    if dt is None:
        return None
    return dt.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def epoch_ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _kind(value: object) -> str:
    if value is None:
        return "missing"
    return f"a {type(value).__name__}"
