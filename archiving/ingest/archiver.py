"""The real-time path: one event in, one record (or a skip, or a rejection) out.

Shared by the ``archive_event`` function and ``python -m archiving replay``; every channel (chat,
SMS, WhatsApp, email).  An inbound WhatsApp message with media fetches its media in between.
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
from archiving.ingest.types import CALL_TYPES, CHANNEL_TYPES
from archiving.ingest.whatsapp import STORED, Inbound
from archiving.store.records import Record
from archiving.store import keys
from archiving.store.archive import DUPLICATE, ArchiveStore
from archiving.timefmt import iso, utcnow

log = logging.getLogger("archiving.ingest.events")

SKIPPED, REJECTED = "skipped", "rejected"
DEFAULT_MEDIA_MAX_BYTES = 100 * 1024 * 1024  # MEDIA_MAX_BYTES: WhatsApp's largest media (documents)


@dataclass(frozen=True)
class Outcome:
    status: str  # archived | duplicate | conflict | skipped | rejected
    event_id: str | None
    event_type: str | None = None
    key: str | None = None
    rejection: Mapping[str, Any] | None = None  # the document for the rejected container


def prepare(raw: Any, hash_key: bytes, now: datetime | None = None) -> Any:
    """Parse and build without I/O: a Record to write, an inbound WhatsApp message whose media is still
    to fetch (``Inbound``), or a skip or rejection Outcome."""
    try:
        envelope = Envelope.from_mapping(raw)
    except InvalidEvent as exc:
        return _rejected(raw, None, None, str(exc), now)
    if not envelope.archived:
        return Outcome(SKIPPED, envelope.id, envelope.type)
    try:
        _check_size(raw)
        if envelope.type in CALL_TYPES:
            from archiving.calls import events as calls

            built = calls.build(envelope, hash_key, now or utcnow())
            if isinstance(built, calls.Recording):
                built.announced().encoded  # noqa: B018 - what JSON cannot carry is rejected before any download
                return built
            record = built
        elif envelope.type in CHANNEL_TYPES:
            from archiving.ingest import channels

            built = channels.build(envelope, hash_key, now or utcnow())
            if isinstance(built, Inbound):
                if built.media is not None:
                    # Encode with a stand-in media entry: what JSON cannot carry is rejected before any download.
                    built.finish(built.media.entry(STORED, keys.media_key("0" * 64), "0" * 64, 0)).encoded  # noqa: B018
                    return built
                built = built.finish(None)
            record = built
        else:
            change = parse_change(envelope)
            record = build_record(change, envelope, hash_key, now or utcnow())
        record.encoded  # noqa: B018 - encode here, so what JSON cannot carry is a rejection, not a store error
    except InvalidEvent as exc:
        return _rejected(raw, envelope.id, envelope.type, str(exc), now)
    except (TypeError, ValueError) as exc:  # orjson: >64-bit ints, lone surrogates, deep nesting
        return _rejected(raw, envelope.id, envelope.type, f"event cannot be encoded as JSON: {exc}", now)
    return record


def archive_event(raw: Any, store: ArchiveStore, hash_key: bytes, now: datetime | None = None,
                  media: Any = None, media_max_bytes: int = DEFAULT_MEDIA_MAX_BYTES, recordings: Any = None,
                  delete_recordings: bool = False) -> Outcome:
    """Archive one event (a mapping in Event Grid or CloudEvents schema).

    ``media`` is the ``MediaSource`` for WhatsApp media (needed only when a message has media);
    ``recordings`` the ``RecordingSource`` for call recordings (calls/recordings.py).
    Storage errors, and media downloads that fail other than with 404, propagate so that the
    caller fails and the event is delivered again.
    """
    prepared = prepare(raw, hash_key, now)
    if isinstance(prepared, Outcome):
        _log(prepared, None)
        return prepared
    if not isinstance(prepared, (Record, Inbound)):  # a call recording: announced, downloaded, recorded
        return _recording(prepared, store, hash_key, recordings, delete_recordings)
    if isinstance(prepared, Inbound):
        record = _with_media(prepared, store, media, media_max_bytes)
        if isinstance(record, Outcome):
            _log(record, None)
            return record
    else:
        record = prepared
    from archiving.store.records import key_id

    result = store.put_record(record, hash_key_id=key_id(hash_key))
    event = record.document["event"]
    outcome = Outcome(result.status, event["id"], event["type"], result.key)
    _log(outcome, record)
    return outcome


def _recording(rec: Any, store: ArchiveStore, hash_key: bytes, source: Any, delete_after: bool) -> Outcome:
    from archiving.calls.recordings import archive_recording
    from archiving.store.records import key_id

    event = rec.document["event"]
    try:
        result = archive_recording(rec, source, store, key_id(hash_key), delete_after, event["id"])
    except Exception as exc:
        # Event Grid redelivers; this line lets an alert see a recording still failing after 12 hours
        # (ACS keeps it 24: infra/modules/queries/recording-not-archived.kql).
        from archiving.ops.logfields import line

        age_ms = round((utcnow() - rec.at).total_seconds() * 1000)
        log.error(line(("recording", rec.recording), ("call", rec.call), ("event", event["id"]),
                       ("outcome", "download-failed"), ("age_ms", age_ms), ("reason", type(exc).__name__)))
        raise
    outcome = Outcome(result.status, event["id"], event["type"], result.key)
    _log(outcome, rec.document)
    return outcome


def _with_media(inbound: Inbound, store: ArchiveStore, media: Any, max_bytes: int) -> Record | Outcome:
    """The record with its media entry; a redelivery reuses the archived entry instead of downloading again."""
    from archiving.ingest.media import archive_media
    from archiving.store.records import substance

    event = inbound.document["event"]
    if store.exists(inbound.key):
        existing = store.read_document(inbound.key)
        record = inbound.finish(existing.get("media") if isinstance(existing, Mapping) else None)
        if isinstance(existing, Mapping) and substance(existing) == record.substance:
            return Outcome(DUPLICATE, event["id"], event["type"], inbound.key)
        return record  # differs: put_record keeps it as a conflict copy
    if media is None:
        from archiving.settings import SettingError

        raise SettingError("ACS_CONNECTION_STRING", "not set (nor ACS_ENDPOINT): WhatsApp media is downloaded from ACS")
    entry = archive_media(inbound.media, media, store, inbound.at, max_bytes, event["id"])
    return inbound.finish(entry)


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


def _log(outcome: Outcome, record: Any) -> None:
    # Ids and outcomes only: never content, display names or raw user ids.  One parseable line per
    # event (archiving/ops/logfields.py): the alerts and the workbook query its fields.
    if record is not None:
        log.info(event_line(outcome, record if isinstance(record, Mapping) else record.document))
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
