"""The send APIs of ACS: SMS, Email and Advanced Messages (WhatsApp), HMAC-verified like the identity API.

After the published REST specs (azure-rest-api-specs, specification/communication/data-plane):

* SMS ``POST /sms?api-version=2021-03-07`` (Sms/stable/2021-03-07): 202 with one result per recipient
  (``to``, ``messageId``, ``httpStatusCode``, ``successful``, ``errorMessage``, ``repeatabilityResult``); a
  recipient whose ``repeatabilityRequestId`` was seen before gets its first ``messageId`` back and is not
  sent again; a ``repeatabilityFirstSent`` older than 5 minutes is rejected (400, ``rejected``).
* Email ``POST /emails:send?api-version=2025-09-01`` (Email/stable/2025-09-01): 202 ``{"id", "status"}``
  with ``Operation-Location``; ``GET /emails/operations/{id}`` answers ``Succeeded``.  The
  ``Operation-Id`` header names the operation (format uuid); a second send with the same id is
  answered with the first operation and sends nothing (an assumption: the spec does not say).
  Requests over 10 MB are refused (413).
* Advanced Messages ``POST /messages/notifications:send?api-version=2024-08-30``
  (Messages/stable/2024-08-30): 202 ``{"receipts": [{"messageId", "to"}]}``; ``Repeatability-Request-ID``
  / ``Repeatability-First-Sent`` as in ACS's repeatable requests (5 minutes tracked, 412 when older).

What was sent is kept for tests: ``sent(server)`` lists every message actually sent (a repeat is not
listed twice).  Registered by one lookup in ``RestApi.route``.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Callable

from .state import UTC, ApiError, bad_request

if TYPE_CHECKING:
    from .api import Request, Response, RestApi

REPEATABILITY_WINDOW = timedelta(minutes=5)
EMAIL_MAX_BYTES = 10 * 1024 * 1024
SMS_MAX_RECIPIENTS = 100
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
WHATSAPP_KINDS = ("text", "image", "image_v0", "document", "video", "audio", "template", "reaction", "sticker",
                  "interactive")


@dataclass
class SentMessage:
    channel: str  # sms | email | whatsapp
    message_id: str  # the ACS id (SMS message id, email operation id, WhatsApp message id)
    to: str
    body: dict[str, Any]


@dataclass
class SendingState:
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: list[SentMessage] = field(default_factory=list)
    sms_repeats: dict[str, dict[str, Any]] = field(default_factory=dict)
    email_operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    whatsapp_repeats: dict[str, dict[str, Any]] = field(default_factory=dict)
    # tests may make ACS refuse a recipient: number -> (http status, error message)
    refuse: dict[str, tuple[int, str]] = field(default_factory=dict)


_STATE_LOCK = threading.Lock()


def state(server: Any) -> SendingState:
    with _STATE_LOCK:
        st = getattr(server, "_sending_state", None)
        if st is None:
            st = SendingState()
            server._sending_state = st
        return st


def sent(server: Any, channel: str | None = None) -> list[SentMessage]:
    st = state(server)
    with st.lock:
        return [m for m in st.sent if channel is None or m.channel == channel]


def route(api: "RestApi", req: "Request") -> dict[str, tuple[Callable, str, tuple]] | None:
    """The handler table of a send API path, or None."""
    segs = req.segments
    if segs == ["sms"]:
        return {"POST": (lambda r: send_sms(api, r), "hmac", ())}
    if segs == ["emails:send"]:
        return {"POST": (lambda r: send_email(api, r), "hmac", ())}
    if len(segs) == 3 and segs[:2] == ["emails", "operations"]:
        return {"GET": (lambda r, op: email_status(api, r, op), "hmac", (segs[2],))}
    if segs == ["messages", "notifications:send"]:
        return {"POST": (lambda r: send_whatsapp(api, r), "hmac", ())}
    return None


def _first_sent_ok(value: str | None) -> bool | None:
    """None: not given or not a date; False: older than the tracked window."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return datetime.now(UTC) - when <= REPEATABILITY_WINDOW


# -- SMS ----------------------------------------------------------------------------------------------------


def send_sms(api: "RestApi", req: "Request") -> "Response":
    from .api import json_response

    body = api.body(req)
    sender = body.get("from")
    if not isinstance(sender, str) or not sender:
        raise bad_request("from is required.", "from")
    message = body.get("message")
    if not isinstance(message, str):
        raise bad_request("message is required.", "message")
    recipients = body.get("smsRecipients")
    if not isinstance(recipients, list) or not recipients:
        raise bad_request("smsRecipients is required.", "smsRecipients")
    if len(recipients) > SMS_MAX_RECIPIENTS:
        raise bad_request(f"At most {SMS_MAX_RECIPIENTS} recipients.", "smsRecipients")
    options = body.get("smsSendOptions") or {}
    st = state(api.s)
    out = []
    with st.lock:
        for r in recipients:
            to = r.get("to") if isinstance(r, dict) else None
            rid = r.get("repeatabilityRequestId") if isinstance(r, dict) else None
            item: dict[str, Any] = {"to": to}
            if not isinstance(to, str) or not _E164.match(to):
                out.append({**item, "httpStatusCode": 400, "errorMessage": "Invalid To phone number format.",
                            "successful": False})
                continue
            if rid:
                fresh = _first_sent_ok(r.get("repeatabilityFirstSent"))
                if fresh is None or fresh is False:
                    out.append({**item, "httpStatusCode": 400, "repeatabilityResult": "rejected",
                                "errorMessage": "Request sent with Invalid DateTime value for repeatability-first-sent.",
                                "successful": False})
                    continue
                previous = st.sms_repeats.get(rid)
                if previous is not None:
                    out.append(previous)  # recognised: the first answer, nothing sent again
                    continue
            if to in st.refuse:
                status, text = st.refuse[to]
                out.append({**item, "httpStatusCode": status, "errorMessage": text, "successful": False})
                continue
            message_id = f"Outgoing_{datetime.now(UTC):%Y%m%d%H%M%S}{uuid.uuid4()}_noam"
            answer = {**item, "messageId": message_id, "httpStatusCode": 202, "successful": True}
            if rid:
                answer["repeatabilityResult"] = "accepted"
                st.sms_repeats[rid] = answer
            st.sent.append(SentMessage("sms", message_id, to, {"from": sender, "message": message,
                                                                "tag": options.get("tag")}))
            out.append(answer)
    return json_response(202, {"value": out})


# -- Email --------------------------------------------------------------------------------------------------


def send_email(api: "RestApi", req: "Request") -> "Response":
    from .api import json_response

    if len(req.body) > EMAIL_MAX_BYTES:
        raise ApiError(413, "RequestEntityTooLarge", "The email request exceeds 10 MB.")
    body = api.body(req)
    if not isinstance(body.get("senderAddress"), str) or "@" not in body["senderAddress"]:
        raise bad_request("senderAddress is required.", "senderAddress")
    content = body.get("content")
    if not isinstance(content, dict) or not isinstance(content.get("subject"), str):
        raise bad_request("content.subject is required.", "content")
    recipients = body.get("recipients") or {}
    addresses = [a.get("address") for role in ("to", "cc", "bcc") for a in (recipients.get(role) or [])
                 if isinstance(a, dict)]
    if not addresses or not all(isinstance(a, str) and "@" in a for a in addresses):
        raise bad_request("recipients need at least one valid address.", "recipients")
    operation_id = req.headers.get("Operation-Id") or str(uuid.uuid4())
    try:
        uuid.UUID(operation_id)
    except ValueError:
        raise bad_request("Operation-Id must be a UUID.", "Operation-Id") from None
    st = state(api.s)
    with st.lock:
        if operation_id not in st.email_operations:
            st.email_operations[operation_id] = {"id": operation_id, "status": "Succeeded"}
            for a in addresses:
                st.sent.append(SentMessage("email", operation_id, a, body))
    location = f"{api.s.endpoint}emails/operations/{operation_id}?api-version=2025-09-01"
    return json_response(202, {"id": operation_id, "status": "Running"},
                         [("Operation-Location", location), ("retry-after", "0")])


def email_status(api: "RestApi", req: "Request", operation_id: str) -> "Response":
    from .api import json_response

    st = state(api.s)
    with st.lock:
        op = st.email_operations.get(operation_id)
    if op is None:
        raise ApiError(404, "NotFound", f"Operation {operation_id} not found.")
    return json_response(200, op)


# -- Advanced Messages (WhatsApp) ---------------------------------------------------------------------------


def send_whatsapp(api: "RestApi", req: "Request") -> "Response":
    from .api import json_response

    rid = req.headers.get("Repeatability-Request-ID")
    first_sent = req.headers.get("Repeatability-First-Sent")
    if rid:
        fresh = _first_sent_ok(first_sent)
        if fresh is None:
            raise bad_request("Repeatability-First-Sent must be an IMF-fixdate.", "Repeatability-First-Sent")
        if fresh is False:
            raise ApiError(412, "PreconditionFailed", "Repeatability-First-Sent is older than the tracked window.")
    body = api.body(req)
    if not isinstance(body.get("channelRegistrationId"), str):
        raise bad_request("channelRegistrationId is required.", "channelRegistrationId")
    to = body.get("to")
    if not isinstance(to, list) or len(to) != 1 or not isinstance(to[0], str):
        raise bad_request("to must hold exactly one recipient.", "to")
    kind = body.get("kind")
    if kind not in WHATSAPP_KINDS:
        raise bad_request(f"Unknown kind {kind!r}.", "kind")
    if kind == "text" and not isinstance(body.get("content"), str):
        raise bad_request("content is required for text.", "content")
    if kind == "template" and not isinstance(body.get("template"), dict):
        raise bad_request("template is required.", "template")
    if kind in ("image", "document", "video", "audio") and not isinstance(body.get("mediaUri"), str):
        raise bad_request("mediaUri is required.", "mediaUri")
    st = state(api.s)
    with st.lock:
        previous = st.whatsapp_repeats.get(rid) if rid else None
        if previous is not None:
            return json_response(202, previous, [("Repeatability-Result", "accepted")])
        answer = {"receipts": [{"messageId": str(uuid.uuid4()), "to": to[0]}]}
        st.sent.append(SentMessage("whatsapp", answer["receipts"][0]["messageId"], to[0], body))
        if rid:
            st.whatsapp_repeats[rid] = answer
    headers = [("Repeatability-Result", "accepted")] if rid else []
    return json_response(202, answer, headers)
