"""Reading events from files (Event Grid arrays, single events, CloudEvents, JSON lines,
Event Grid dead-letter blobs) or from a dead-letter container, and archiving them through the
same path as the function.  Streamed: one file or blob in memory at a time."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from archiving.ingest.archiver import REJECTED, Outcome, archive_event, rejection_json, rejection_name
from archiving.store.codec import sha256_hex

log = logging.getLogger("archiving.ingest.replay")

DEAD_LETTERED = "dead-lettered"


def parse_events(text: str) -> list[Any]:
    """The events in a file: a JSON array, one JSON object, or one JSON object per line."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        items = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"line {number}: not JSON ({exc.msg})") from None
        return items
    if isinstance(doc, list):
        return doc
    return [doc]


def _normalize(item: Any) -> Any:
    """CloudEvents through azure-core's CloudEvent (it decodes data_base64), else as is."""
    if isinstance(item, dict) and "specversion" in item:
        from azure.core.messaging import CloudEvent

        try:
            event = CloudEvent.from_dict(item)
        except (ValueError, KeyError, TypeError):
            return item  # rejected with a reason by the archiver
        data = event.data
        if isinstance(data, (bytes, bytearray)):
            try:
                data = json.loads(data)
            except ValueError:
                data = data.decode("utf-8", "replace")
        normalized = {"id": event.id, "source": event.source, "type": event.type, "specversion": event.specversion,
                      "subject": event.subject, "time": event.time.isoformat() if event.time else None, "data": data}
        return {**item, **normalized}
    return item


def unwrap(item: Any) -> tuple[Any, str | None, Any]:
    """(event, dead-letter reason or None, delivery attempts) of one item of a file or dead-letter blob.

    Event Grid dead letters are the event itself plus ``deadLetterReason``, ``deliveryAttempts``,
    ``lastDeliveryOutcome``, ``publishTime``, ``lastDeliveryAttemptTime`` (ignored by the envelope
    reader); items wrapped as ``{"event": {...}, "deadLetterProperties": {...}}`` are unwrapped.
    """
    if not isinstance(item, dict):
        return item, None, None
    props = item.get("deadLetterProperties", item.get("deadletterproperties"))
    if isinstance(item.get("event"), dict) and isinstance(props, dict):
        reason = props.get("deadLetterReason", props.get("deadletterreason"))
        return item["event"], reason, props.get("deliveryAttempts", props.get("deliveryattempts"))
    reason = item.get("deadLetterReason", item.get("deadletterreason"))
    return item, reason, item.get("deliveryAttempts", item.get("deliveryattempts"))


def read_files(paths: Iterable[str | Path]) -> Iterator[tuple[str, Any]]:
    for path in paths:
        p = Path(path)
        for event in parse_events(p.read_text(encoding="utf-8")):
            yield str(p), event


def replay(events: Iterable[Any], store, rejected_store, hash_key: bytes, progress=None, media=None,
           media_max_bytes: int | None = None) -> Counter:
    """Archive each event; rejected ones go to the rejected container, like the function's binding."""
    counts: Counter = Counter()
    for item in events:
        event, reason, attempts = unwrap(item)
        event = _normalize(event)
        if reason is not None:
            log.info("dead-lettered event=%s reason=%s attempts=%s",
                     event.get("id") if isinstance(event, dict) else None, reason, attempts)
            counts[DEAD_LETTERED] += 1
        extra = {"media_max_bytes": media_max_bytes} if media_max_bytes else {}
        outcome: Outcome = archive_event(event, store, hash_key, media=media, **extra)
        counts[outcome.status] += 1
        if outcome.status == REJECTED:
            # Plain JSON, as the function's output binding writes it: readable in Storage Explorer.
            body = rejection_json(outcome).encode("utf-8")
            rejected_store.create_blob(rejection_name(outcome), body, {"sha256": sha256_hex(body)})
        if progress is not None:
            progress.update(1)
    return counts
