"""The real-time path: one event in, one record (or a skip, or a rejection) out.

Shared by the ``archive_chat_event`` function and ``python -m archiving replay``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archiving.errors import InvalidEvent
from archiving.ingest.events import MAX_EVENT_BYTES, Envelope, parse_change
from archiving.ingest.chat_records import build_record
from archiving.ops.logfields import event_line
from archiving.store.records import Record
from archiving.store.archive import ArchiveStore
from archiving.timefmt import iso, utcnow

log = logging.getLogger("archiving.ingest.events")

SKIPPED, REJECTED = "skipped", "rejected"


@dataclass(frozen=True)
class Outcome:
    status: str  # archived | duplicate | conflict | skipped | rejected
    event_id: str | None
    event_type: str | None = None
    key: str | None = None
    rejection: Mapping[str, Any] | None = None  # the document for the rejected container


def prepare(raw: Any, hash_key: bytes, now: datetime | None = None) -> Record | Outcome:
    """Parse and build without I/O: a Record to write, or a skip or rejection Outcome."""
    try:
        envelope = Envelope.from_mapping(raw)
    except InvalidEvent as exc:
        return _rejected(raw, None, None, str(exc), now)
    if not envelope.archived:
        return Outcome(SKIPPED, envelope.id, envelope.type)
    try:
        _check_size(raw)
        change = parse_change(envelope)
        record = build_record(change, envelope, hash_key, now or utcnow())
        record.encoded  # noqa: B018 - encode here, so what JSON cannot carry is a rejection, not a store error
    except InvalidEvent as exc:
        return _rejected(raw, envelope.id, envelope.type, str(exc), now)
    except (TypeError, ValueError) as exc:  # orjson: >64-bit ints, lone surrogates, deep nesting
        return _rejected(raw, envelope.id, envelope.type, f"event cannot be encoded as JSON: {exc}", now)
    return record


def archive_event(raw: Any, store: ArchiveStore, hash_key: bytes, now: datetime | None = None) -> Outcome:
    """Archive one event (a mapping in Event Grid or CloudEvents schema).

    Storage errors propagate so that the caller fails and the event is delivered again.
    """
    prepared = prepare(raw, hash_key, now)
    if isinstance(prepared, Outcome):
        _log(prepared, None)
        return prepared
    record = prepared
    from archiving.store.records import key_id

    result = store.put_record(record, hash_key_id=key_id(hash_key))
    event = record.document["event"]
    outcome = Outcome(result.status, event["id"], event["type"], result.key)
    _log(outcome, record)
    return outcome


def _check_size(raw: Any) -> None:
    from archiving.store import codec

    try:
        size = len(codec.dumps(raw))
    except (TypeError, ValueError):
        # orjson refuses it (>64-bit ints, lone surrogates, deep nesting), perhaps in a part the
        # record leaves out: measure with the standard encoder so that the limit still holds.
        import json

        try:
            text = json.dumps(raw, ensure_ascii=False, separators=(",", ":"), default=repr)
            size = len(text.encode("utf-8", "surrogatepass"))
        except (RecursionError, ValueError):
            return  # reported with its own reason once the record is built
    if size > MAX_EVENT_BYTES:
        raise InvalidEvent(f"event is {size} bytes, more than the {MAX_EVENT_BYTES} bytes Event Grid allows")


def _rejected(raw: Any, event_id: str | None, event_type: str | None, reason: str, now: datetime | None) -> Outcome:
    document = {"reason": reason, "event": raw, "received_at": iso(now or utcnow())}
    return Outcome(REJECTED, event_id, event_type, rejection=document)


def _log(outcome: Outcome, record: Record | None) -> None:
    # Ids and outcomes only: never content, display names or raw user ids.  One parseable line per
    # event (archiving/ops/logfields.py): the alerts and the workbook query its fields.
    if record is not None:
        log.info(event_line(outcome, record.document))
    elif outcome.status == REJECTED:
        log.warning(event_line(outcome, reason=outcome.rejection["reason"] if outcome.rejection else ""))
    else:
        log.info(event_line(outcome))


def rejection_json(outcome: Outcome) -> str:
    """The rejection document as text; survives what orjson refuses (lone surrogates, huge ints)."""
    import json

    try:
        return json.dumps(outcome.rejection, ensure_ascii=True, default=repr)
    except RecursionError:
        # Nested deeper than the encoder follows: keep the reason and what identifies the event.
        document = dict(outcome.rejection or {})
        raw = document.get("event")
        kept = ("id", "eventType", "type", "subject", "topic", "source", "eventTime", "time", "dataVersion")
        document["event"] = {k: raw[k] for k in kept if isinstance(raw, Mapping) and isinstance(raw.get(k), str)}
        document["reason"] = f"{document.get('reason', '')} (the event is too deeply nested to keep in full)"
        return json.dumps(document, ensure_ascii=True, default=repr)


def rejection_name(outcome: Outcome, now: datetime | None = None) -> str:
    """Blob name for a rejection written outside the host, shaped like the binding's {DateTime}-{rand-guid}."""
    import uuid

    stamp = (now or utcnow()).strftime("%Y-%m-%dT%H-%M-%SZ")
    return f"{stamp}-{uuid.uuid4()}.json"
