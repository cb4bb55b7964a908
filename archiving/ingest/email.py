"""Email events: EmailDeliveryReportReceived -> ``email-report``,
EmailEngagementTrackingReportReceived -> ``email-engagement``.  ACS has no inbound email event."""

from __future__ import annotations

import hashlib
from datetime import datetime

from archiving.errors import InvalidEvent
from archiving.ingest.common import Fields, check_finite, describe, event_summary, event_time, head, message_id, party, record, report_key
from archiving.ingest.envelope import Envelope
from archiving.store.records import Record
from archiving.timefmt import iso


def _parties(f: Fields, hash_key: bytes):
    return party(f.get("sender"), "sender", hash_key), party(f.get("recipient"), "recipient", hash_key)


def report(envelope: Envelope, hash_key: bytes, archived_at: datetime) -> Record:
    f = Fields(envelope.data)
    mid = message_id(f.get("messageId"))
    business, counterpart = _parties(f, hash_key)
    status = f.text("status")
    details = f.get("deliveryStatusDetails")
    if details is not None and not isinstance(details, (str, dict)):
        raise InvalidEvent(f"deliveryStatusDetails is {describe(details)}, expected an object or a string")
    if isinstance(details, dict):
        check_finite(details, "deliveryStatusDetails")
    at = event_time(f, envelope, "deliveryAttemptTimeStamp")
    document = head("email", "email-report", business, counterpart)
    document.update({"message_id": mid, "from": business, "to": counterpart, "status": status,
                     "status_details": details, "reported_at": iso(at), "event": event_summary(envelope),
                     "archived_at": iso(archived_at)})
    return record(document, report_key(document, at, status, hash_key), at, hash_key)


def engagement(envelope: Envelope, hash_key: bytes, archived_at: datetime) -> Record:
    f = Fields(envelope.data)
    mid = message_id(f.get("messageId"))
    business, counterpart = _parties(f, hash_key)
    kind = f.get("engagement", "engagementType")
    if not isinstance(kind, str) or not kind:
        raise InvalidEvent(f"engagement is {describe(kind)}, expected a string such as view or click")
    context = f.text("engagementContext", required=False)
    agent = f.text("userAgent", required=False)
    at = event_time(f, envelope, "userActionTimeStamp")
    document = head("email", "email-engagement", business, counterpart)
    document.update({"message_id": mid, "from": business, "to": counterpart, "engagement": kind,
                     "engagement_context": context, "user_agent": agent, "reported_at": iso(at),
                     "event": event_summary(envelope), "archived_at": iso(archived_at)})
    # Two clicks on two links in one millisecond are two records.
    suffix = hashlib.sha256((context or "").encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return record(document, report_key(document, at, kind, hash_key, suffix), at, hash_key)
