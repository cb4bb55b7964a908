"""Dispatch of the SMS, WhatsApp and email event types to their parsers (ingest/sms.py, whatsapp.py, email.py)."""

from __future__ import annotations

from datetime import datetime

from archiving.ingest import email, sms, whatsapp
from archiving.ingest.envelope import Envelope
from archiving.ingest.types import CHANNEL_TYPES
from archiving.store.records import Record

_BUILDERS = {
    "sms-message": sms.received,
    "sms-report": sms.report,
    "whatsapp-message": whatsapp.received,
    "whatsapp-report": whatsapp.report,
    "email-report": email.report,
    "email-engagement": email.engagement,
}


def build(envelope: Envelope, hash_key: bytes, archived_at: datetime) -> Record | whatsapp.Inbound:
    """The record of a channel event, or an inbound WhatsApp message still to finish with its media."""
    kind, _ = CHANNEL_TYPES[envelope.type]
    return _BUILDERS[kind](envelope, hash_key, archived_at)
