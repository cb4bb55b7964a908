"""The contract of ``POST /api/send/{channel}`` (blueprints/send.py), without azure.functions.

Request: a JSON object with the fields of the SDK's send method (docs/outbound.md, "The send
endpoint"); optional ``archive_id`` (or header ``Repeatability-Request-ID``) makes a retry
idempotent. Answers (JSON): 200 sent (``archive_id``, ``results`` with the ACS ids); 400 invalid
request; 404 unknown channel; 409 archive id names another message; 413 too large; 422 ACS
refused the request; 502 ACS failed or unreachable (the record and a ``failed`` outcome are
archived); 503 the archive is unreachable, nothing sent (``Retry-After``); 500 a setting is
missing (named). Logs carry the channel, archive id, status and ACS status, never content,
numbers or addresses.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from archiving.outbound import layout

log = logging.getLogger("archiving.outbound.endpoint")

MAX_BODY_BYTES = 10 * 1024 * 1024  # ACS email: 10 MB per request, attachments included
MAX_SMS_CHARS = 2048
MAX_SMS_RECIPIENTS = 100
MAX_CHAT_CHARS = 28 * 1024  # ACS chat: 28 KB per message
MAX_WHATSAPP_CHARS = 4096
MAX_EMAIL_RECIPIENTS = 50
RETRY_AFTER_SECONDS = 30


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> str:
        return json.dumps(self.body, ensure_ascii=False)


class Invalid(ValueError):
    pass


def _error(status: int, code: str, message: str, **extra: Any) -> Answer:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else {}
    return Answer(status, {"error": {"code": code, "message": message, **extra}}, headers)


def _str(body: Mapping[str, Any], name: str, *, required: bool = True, max_len: int | None = None,
         label: str | None = None) -> str | None:
    label = label or name
    value = body.get(name)
    if value is None:
        if required:
            raise Invalid(f"{label} is required")
        return None
    if not isinstance(value, str) or (required and not value):
        raise Invalid(f"{label} must be a non-empty string")
    if max_len is not None and len(value) > max_len:
        raise Invalid(f"{label} is longer than {max_len} characters")
    return value


# E.164: "+" and 6 to 15 ASCII digits (str.isdigit would pass superscripts and other scripts' digits).
_E164 = re.compile(r"\+[0-9]{6,15}", re.ASCII)


def _phone(value: Any, name: str) -> str:
    if not isinstance(value, str) or not _E164.fullmatch(value):
        raise Invalid(f"{name} must be a phone number in E.164 form (+ and 6 to 15 digits 0-9)")
    return value


def _opt(obj: Mapping[str, Any], name: str, types: type | tuple[type, ...], label: str, what: str) -> Any:
    value = obj.get(name)
    if value is not None and not isinstance(value, types):
        raise Invalid(f"{label} must be {what}")
    return value


def _address(value: Any, label: str) -> None:
    if not isinstance(value, dict) or not isinstance(value.get("address"), str) or "@" not in value["address"]:
        raise Invalid(f"{label} must be an object with an email address")
    _opt(value, "displayName", str, f"{label}.displayName", "a string")


def _email_message(message: Any) -> None:
    """The fields of an ACS EmailMessage that the archive and the SDK read, each checked by name."""
    if not isinstance(message, dict):
        raise Invalid("message (the ACS EmailMessage object) is required")
    _str(message, "senderAddress", label="message.senderAddress")
    content = message.get("content")
    if not isinstance(content, dict) or not isinstance(content.get("subject"), str):
        raise Invalid("message.content.subject is required")
    for name in ("plainText", "html"):
        _opt(content, name, str, f"message.content.{name}", "a string")
    recipients = message.get("recipients")
    if not isinstance(recipients, dict):
        raise Invalid("message.recipients is required")
    count = 0
    for role in ("to", "cc", "bcc"):
        entries = _opt(recipients, role, list, f"message.recipients.{role}", "a list") or []
        for n, entry in enumerate(entries):
            _address(entry, f"message.recipients.{role}[{n}]")
        count += len(entries)
    if not 1 <= count <= MAX_EMAIL_RECIPIENTS:
        raise Invalid(f"message.recipients needs 1 to {MAX_EMAIL_RECIPIENTS} addresses")
    for n, entry in enumerate(_opt(message, "replyTo", list, "message.replyTo", "a list") or []):
        _address(entry, f"message.replyTo[{n}]")
    headers = _opt(message, "headers", dict, "message.headers", "an object of strings")
    if headers and not all(isinstance(v, str) for v in headers.values()):
        raise Invalid("message.headers must be an object of strings")
    _opt(message, "userEngagementTrackingDisabled", bool, "message.userEngagementTrackingDisabled", "true or false")
    attachments = _opt(message, "attachments", list, "message.attachments", "a list")
    for n, item in enumerate(attachments or []):
        label = f"message.attachments[{n}]"
        if not isinstance(item, dict):
            raise Invalid(f"{label} must be an object (name, contentType, contentInBase64)")
        for name in ("name", "contentType", "contentInBase64"):
            _str(item, name, label=f"{label}.{name}")
        _opt(item, "contentId", str, f"{label}.contentId", "a string")
        try:
            base64.b64decode(item["contentInBase64"], validate=True)
        except (binascii.Error, ValueError):
            raise Invalid(f"{label}.contentInBase64 is not valid base64") from None


def _archive_id(body: Mapping[str, Any], headers: Mapping[str, str], channel: str) -> str | None:
    value = body.get("archive_id")
    if value is not None:
        try:
            return layout.check_archive_id(value)
        except Exception as exc:  # InvalidEvent: id rules
            raise Invalid(str(exc).replace("archive id", "archive_id")) from None
    key = next((v for k, v in headers.items() if k.lower() == "repeatability-request-id"), None)
    return layout.archive_id_from_key(channel, key) if key else None


KNOWN = {
    "sms": {"from", "to", "message", "enable_delivery_report", "tag", "archive_id"},
    "email": {"message", "operation_id", "archive_id"},
    "whatsapp": {"notification", "archive_id"},
    "chat": {"thread_id", "content", "chat_message_type", "sender_display_name", "metadata", "sender_id", "archive_id"},
}


def handle(services: Any, channel: str | None, raw: bytes, headers: Mapping[str, str]) -> Answer:
    """Validate, archive, send; never raises for anything a caller or the storage can cause."""
    try:
        return _handle(services, channel, raw, headers)
    except Exception as exc:  # noqa: BLE001 - a defect of ours: a JSON answer, and where it happened in the log
        import traceback

        where = traceback.extract_tb(exc.__traceback__)[-1]  # not the message: it may quote the request
        log.error("send endpoint %s: unexpected %s at %s:%s", channel if channel in layout.CHANNELS else "?",
                  type(exc).__name__, where.filename, where.lineno)
        return _error(500, "InternalError", "the request could not be handled (logged); nothing was sent "
                      "unless an archive_id answers 200 on retry")


def _handle(services: Any, channel: str | None, raw: bytes, headers: Mapping[str, str]) -> Answer:
    from archiving.outbound.core import ArchiveFailed, ArchiveIdReused
    from archiving.settings import SettingError

    if channel not in layout.CHANNELS:
        return _error(404, "UnknownChannel", f"channel must be one of {', '.join(layout.CHANNELS)}")
    if len(raw) > MAX_BODY_BYTES:
        return _error(413, "TooLarge", f"the request is larger than {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw or b"null")
    except (ValueError, RecursionError):
        return _error(400, "InvalidJson", "the body is not JSON")
    if not isinstance(body, dict):
        return _error(400, "InvalidRequest", "the body must be a JSON object")
    unknown = sorted(set(body) - KNOWN[channel])
    if unknown:
        return _error(400, "InvalidRequest", f"unknown field(s) for {channel}: {', '.join(unknown)}")
    try:
        archive_id = _archive_id(body, headers, channel)
        call = _prepare(services, channel, body, archive_id)
    except Invalid as exc:
        return _error(400, "InvalidRequest", str(exc))
    except SettingError as exc:
        log.error("send endpoint: %s", exc)
        return _error(500, "SettingError", str(exc))
    try:
        answer = call()
    except ArchiveFailed as exc:
        log.error("send endpoint %s %s: archive unreachable, nothing sent", channel, exc.archive_id)
        return _error(503, "ArchiveUnavailable", "the archive could not be written; nothing was sent",
                      archive_id=exc.archive_id)
    except ArchiveIdReused as exc:
        return _error(409, "ArchiveIdReused", str(exc))
    except SettingError as exc:
        log.error("send endpoint: %s", exc)
        return _error(500, "SettingError", str(exc))
    except Exception as exc:  # noqa: BLE001 - ACS said no, or could not be reached: archived as failed
        from azure.core.exceptions import AzureError

        if not isinstance(exc, (AzureError, OSError, ValueError)):
            raise
        status = getattr(exc, "status_code", None)
        log.warning("send endpoint %s: ACS send failed: %s %s", channel, type(exc).__name__, status or "")
        if isinstance(status, int) and 400 <= status < 500:
            return _error(422, "AcsRejected", "ACS refused the request (recorded as failed)", acs_status=status)
        if isinstance(exc, ValueError):
            return _error(400, "InvalidRequest", f"the SDK refused the request ({type(exc).__name__}): check the "
                          f"fields of {channel} against docs/outbound.md")
        return _error(502, "AcsFailed", "ACS failed or could not be reached (recorded as failed); retry with "
                      "the same archive_id", acs_status=status)
    log.info("send endpoint %s %s: sent", channel, answer.body.get("archive_id"))
    return answer


def _prepare(services: Any, channel: str, body: Mapping[str, Any], archive_id: str | None):
    """Validate the channel's fields; a callable that archives and sends."""
    if channel == "sms":
        sender = _phone(body.get("from"), "from")
        to = body.get("to")
        recipients = [to] if isinstance(to, str) else to
        if not isinstance(recipients, list) or not recipients or len(recipients) > MAX_SMS_RECIPIENTS:
            raise Invalid(f"to must be a phone number or a list of 1 to {MAX_SMS_RECIPIENTS}")
        recipients = [_phone(r, "to") for r in recipients]
        message = _str(body, "message", max_len=MAX_SMS_CHARS)
        report = body.get("enable_delivery_report", False)
        if not isinstance(report, bool):
            raise Invalid("enable_delivery_report must be true or false")
        tag = _str(body, "tag", required=False, max_len=256)
        archive_id = archive_id or layout.new_archive_id()

        def call() -> Answer:
            results = services.senders.client("sms").send(sender, recipients, message, enable_delivery_report=report,
                                                          tag=tag, archive_id=archive_id)
            return Answer(200, {"channel": "sms", "archive_id": archive_id, "status": "sent", "results": [
                {"to": r.to, "message_id": r.message_id, "successful": r.successful,
                 "http_status_code": r.http_status_code, "error_message": r.error_message} for r in results]})

        return call

    if channel == "email":
        message = body.get("message")
        _email_message(message)
        operation_id = _str(body, "operation_id", required=False, max_len=64)
        if operation_id is not None and not layout.is_archive_id(operation_id):
            raise Invalid("operation_id must be a UUID (it is the archive id, and ACS's Operation-Id is one)")
        if operation_id and archive_id and operation_id != archive_id:
            raise Invalid("operation_id and archive_id differ")
        archive_id = operation_id or archive_id or layout.new_archive_id()

        def call() -> Answer:
            poller = services.senders.client("email").begin_send(message, operation_id=archive_id)
            return Answer(200, {"channel": "email", "archive_id": archive_id, "status": "sent",
                                "operation_id": archive_id, "operation_status": str(poller.status())})

        return call

    if channel == "whatsapp":
        notification = body.get("notification")
        if not isinstance(notification, dict):
            raise Invalid("notification (the ACS NotificationContent object) is required")
        _str(notification, "channelRegistrationId", label="notification.channelRegistrationId")
        to = notification.get("to")
        if not isinstance(to, list) or len(to) != 1:
            raise Invalid("notification.to must hold exactly one recipient")
        _phone(to[0], "notification.to[0]")
        if notification.get("kind") not in ("text", "image", "image_v0", "document", "video", "audio", "template"):
            raise Invalid("notification.kind must be text, image, document, video, audio or template")
        _str(notification, "content", required=notification.get("kind") == "text", max_len=MAX_WHATSAPP_CHARS,
             label="notification.content")
        for name in ("mediaUri", "caption", "fileName"):
            _opt(notification, name, str, f"notification.{name}", "a string")
        _opt(notification, "template", dict, "notification.template", "an object")
        archive_id = archive_id or layout.new_archive_id()

        def call() -> Answer:
            result = services.senders.client("whatsapp").send(notification, archive_id=archive_id)
            return Answer(200, {"channel": "whatsapp", "archive_id": archive_id, "status": "sent",
                                "receipts": [{"message_id": r.message_id, "to": r.to} for r in result.receipts]})

        return call

    thread_id = _str(body, "thread_id", max_len=256)
    content = _str(body, "content", max_len=MAX_CHAT_CHARS)
    message_type = _str(body, "chat_message_type", required=False)
    if message_type not in (None, "text", "html"):
        raise Invalid("chat_message_type must be text or html")
    display = _str(body, "sender_display_name", required=False, max_len=256)
    metadata = body.get("metadata")
    if metadata is not None and (not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values())):
        raise Invalid("metadata must be an object of strings")
    sender_id = _str(body, "sender_id", required=False, max_len=256)
    archive_id = archive_id or layout.new_archive_id()

    def call() -> Answer:
        client = services.senders.chat(thread_id, sender_id)
        kwargs: dict[str, Any] = {"metadata": metadata, "sender_display_name": display}
        if message_type:
            kwargs["chat_message_type"] = message_type
        result = client.send_message(content, archive_id=archive_id, **kwargs)
        return Answer(200, {"channel": "chat", "archive_id": archive_id, "status": "sent", "message_id": result.id})

    return call
