"""SMS events: SMSReceived -> ``sms-message``, SMSDeliveryReportReceived -> ``sms-report``."""

from __future__ import annotations

from datetime import datetime

from archiving.errors import InvalidEvent
from archiving.ingest.common import (Fields, describe, event_summary, event_time, head, message_id, message_key, party,
                                     record, report_key, whole)
from archiving.ingest.envelope import Envelope
from archiving.store.records import Record
from archiving.timefmt import iso, parse_time


def received(envelope: Envelope, hash_key: bytes, archived_at: datetime) -> Record:
    f = Fields(envelope.data)
    mid = message_id(f.get("messageId"))
    counterpart = party(f.get("from"), "from", hash_key)
    business = party(f.get("to"), "to", hash_key)
    content = f.get("message")
    if not isinstance(content, str):
        raise InvalidEvent(f"message is {describe(content)}, expected a string")
    at = event_time(f, envelope, "receivedTimestamp")
    document = head("sms", "sms-message", business, counterpart)
    document = {**{k: document[k] for k in ("schema_version", "channel", "kind")}, "action": "received",
                "conversation_id": document["conversation_id"], "message_id": mid, "from": counterpart,
                "to": business, "content": content, "segment_count": f.integer("segmentCount"),
                "received_at": iso(at), "event": event_summary(envelope), "archived_at": iso(archived_at)}
    return record(document, message_key("sms", at, document, hash_key), at, hash_key)


def report(envelope: Envelope, hash_key: bytes, archived_at: datetime) -> Record:
    f = Fields(envelope.data)
    mid = message_id(f.get("messageId"))
    business = party(f.get("from"), "from", hash_key)
    counterpart = party(f.get("to"), "to", hash_key)
    status = f.text("deliveryStatus")
    details = f.get("deliveryStatusDetails")
    if details is not None and not isinstance(details, str):
        raise InvalidEvent(f"deliveryStatusDetails is {describe(details)}, expected a string")
    tag = f.get("tag")
    if tag is not None and not isinstance(tag, str):
        raise InvalidEvent(f"tag is {describe(tag)}, expected a string")
    at = event_time(f, envelope, "receivedTimestamp")
    document = head("sms", "sms-report", business, counterpart)
    document.update({"message_id": mid, "from": business, "to": counterpart, "status": status,
                     "status_details": details, "attempts": _attempts(f.get("deliveryAttempts")), "tag": tag,
                     "reported_at": iso(at), "event": event_summary(envelope), "archived_at": iso(archived_at)})
    return record(document, report_key(document, at, status, hash_key), at, hash_key)


def _attempts(value) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidEvent(f"deliveryAttempts is {describe(value)}, expected a list")
    out = []
    for i, item in enumerate(value):
        a = Fields(item) if isinstance(item, dict) else None
        if a is None:
            raise InvalidEvent(f"deliveryAttempts[{i}] is {describe(item)}, expected an object")
        stamp = a.get("timestamp")
        out.append({
            "timestamp": iso(parse_time(stamp, f"deliveryAttempts[{i}].timestamp")) if stamp is not None else None,
            "segments_succeeded": whole(a.get("segmentsSucceeded"), f"deliveryAttempts[{i}].segmentsSucceeded"),
            "segments_failed": whole(a.get("segmentsFailed"), f"deliveryAttempts[{i}].segmentsFailed"),
        })
    return out
