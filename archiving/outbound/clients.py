"""Drop-in clients: the four ACS send paths, archived before they send.

Each keeps its SDK's constructor forms (``Cls(endpoint, credential, ..., archive=...)``,
``Cls.from_connection_string(conn_str, archive=...)``, ``Cls.from_client(existing, archive=...)``)
and its send method's signature and return value; the only additions are the keyword-only
``archive`` (an :class:`~archiving.outbound.core.OutboundArchive`) at construction and an optional
``archive_id`` at send. Every other attribute is the wrapped client's.
"""

from __future__ import annotations

import base64
import contextvars
import json
from collections.abc import Mapping
from typing import Any

from archiving.outbound import layout
from archiving.outbound.core import Begun, OutboundArchive
from archiving.store.codec import sha256_hex

__all__ = ["ArchivingSmsClient", "ArchivingEmailClient", "ArchivingNotificationMessagesClient",
           "ArchivingChatThreadClient"]

# SmsClient.send draws a random repeatability id per recipient; the wrapper's per-call policy
# replaces them with ids derived from the archive id (before the request is signed), so a re-sent
# request is recognised by ACS (within its 5-minute repeatability window).
_SMS_REPEATABILITY: contextvars.ContextVar[tuple[list[str], str] | None] = contextvars.ContextVar(
    "archiving_sms_repeatability", default=None)


def _rfc1123(iso_time: str) -> str:
    from datetime import datetime
    from email.utils import format_datetime

    dt = datetime.fromisoformat(iso_time.replace("Z", "+00:00"))
    return format_datetime(dt, usegmt=True)


def _uuid(value: str, name: str) -> str:
    """Archive ids (and email operation ids, which are the archive id) are UUIDs: ValueError otherwise."""
    try:
        return layout.check_archive_id(value)
    except ValueError:
        raise ValueError(f"{name} must be a UUID (e.g. {layout.new_archive_id()})") from None


class _Wrapper:
    _client: Any
    archive: OutboundArchive

    def __getattr__(self, name: str) -> Any:
        # Everything but the send method is the SDK client's own.
        return getattr(self._client, name)

    def __enter__(self):
        self._client.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._client.__exit__(*exc)


def _sms_policy():
    from azure.core.pipeline.policies import SansIOHTTPPolicy

    class SmsRepeatabilityPolicy(SansIOHTTPPolicy):
        def on_request(self, request):  # noqa: D401 - azure-core hook
            ids = _SMS_REPEATABILITY.get()
            if not ids:
                return
            body = json.loads(request.http_request.body)
            request_ids, first_sent = ids
            for n, recipient in enumerate(body.get("smsRecipients") or []):
                recipient["repeatabilityRequestId"] = request_ids[n]
                recipient["repeatabilityFirstSent"] = first_sent
            request.http_request.set_json_body(body)

    return SmsRepeatabilityPolicy()


# -- SMS ------------------------------------------------------------------------------------------------


class ArchivingSmsClient(_Wrapper):
    """``azure.communication.sms.SmsClient``, archived before ``send``."""

    def __init__(self, endpoint: str, credential: Any, *, archive: OutboundArchive, **kwargs: Any):
        from azure.communication.sms import SmsClient

        policies = [_sms_policy(), *kwargs.pop("per_call_policies", [])]
        self._client = SmsClient(endpoint, credential, per_call_policies=policies, **kwargs)
        self.archive = archive
        self.deterministic_repeatability = True

    @classmethod
    def from_connection_string(cls, conn_str: str, *, archive: OutboundArchive, **kwargs: Any) -> "ArchivingSmsClient":
        from azure.communication.sms._shared.utils import parse_connection_str

        endpoint, access_key = parse_connection_str(conn_str)
        return cls(endpoint, access_key, archive=archive, **kwargs)

    @classmethod
    def from_client(cls, client: Any, *, archive: OutboundArchive) -> "ArchivingSmsClient":
        """Wrap an existing SmsClient (its random repeatability ids stay: only the archive dedupes)."""
        self = object.__new__(cls)
        self._client, self.archive, self.deterministic_repeatability = client, archive, False
        return self

    def send(self, from_: str, to: str | list[str], message: str, *, enable_delivery_report: bool = False,
             tag: str | None = None, archive_id: str | None = None, **kwargs: Any):
        from azure.communication.sms import SmsSendResult

        recipients = [to] if isinstance(to, str) else list(to)
        archive_id = archive_id or layout.new_archive_id()
        # The tag comes back in the delivery report: ours unless the caller has one.
        sent_tag = tag if tag is not None else archive_id
        fields = {
            "sender": layout.party(self.archive.hash_key, "sms", from_, "from"),
            "recipients": [layout.party(self.archive.hash_key, "sms", r, "to") for r in recipients],
            "subject": None, "body": {"text": message}, "template": None, "attachments": [],
            "options": {"enable_delivery_report": enable_delivery_report, "tag": sent_tag},
            "correlation": {"sms_tag": sent_tag,
                            "repeatability_request_ids": [layout.repeatability_id(archive_id, n) for n in range(len(recipients))]},
        }

        def transmit(begun: Begun):
            ids = (begun.document["correlation"]["repeatability_request_ids"], _rfc1123(begun.archived_at))
            token = _SMS_REPEATABILITY.set(ids if self.deterministic_repeatability else None)
            try:
                return self._client.send(from_, recipients if not isinstance(to, str) else to, message,
                                         enable_delivery_report=enable_delivery_report, tag=sent_tag, **kwargs)
            finally:
                _SMS_REPEATABILITY.reset(token)

        def results(value):
            return [{"recipient": r.to, "acs_message_id": r.message_id, "successful": bool(r.successful),
                     "http_status": r.http_status_code, "error": r.error_message} for r in value], {}

        def replay(begun: Begun):
            return [SmsSendResult(to=r["recipient"], message_id=r["acs_message_id"], http_status_code=r["http_status"],
                                  successful=r["successful"], error_message=r["error"]) for r in begun.sent["results"]]

        return self.archive.send("sms", archive_id, fields, sender=from_, transmit=transmit, results=results,
                                 replay=replay)


# -- Email ----------------------------------------------------------------------------------------------


def email_fields(hash_key: bytes, message: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, bytes, dict]]]:
    """The archived form of an EmailMessage (REST JSON): attachments by content hash."""
    content = message.get("content") or {}
    recipients = message.get("recipients") or {}
    parties = [layout.party(hash_key, "email", a.get("address", ""), role, a.get("displayName"))
               for role in ("to", "cc", "bcc") for a in (recipients.get(role) or [])]
    attachments, blobs, request_attachments = [], [], []
    for a in message.get("attachments") or []:
        data = base64.b64decode(a.get("contentInBase64") or "", validate=False)
        sha = sha256_hex(data)
        entry = {"name": a.get("name"), "content_type": a.get("contentType"), "content_id": a.get("contentId"),
                 "sha256": sha, "size": len(data), "blob": layout.attachment_key(sha)}
        attachments.append(entry)
        blobs.append((sha, data, {"content_type": str(a.get("contentType") or "")}))
        request_attachments.append({k: v for k, v in a.items() if k != "contentInBase64"} | {"sha256": sha})
    request = {k: v for k, v in message.items() if k != "attachments"}
    if request_attachments:
        request["attachments"] = request_attachments
    fields = {
        "sender": layout.party(hash_key, "email", message.get("senderAddress", ""), "from"),
        "recipients": parties,
        "subject": content.get("subject"),
        "body": {"text": content.get("plainText"), "html": content.get("html")},
        "template": None,
        "attachments": attachments,
        "options": {"headers": message.get("headers") or {}, "reply_to": message.get("replyTo") or [],
                    "user_engagement_tracking_disabled": message.get("userEngagementTrackingDisabled")},
        "request": request,
    }
    return fields, blobs


class ArchivingEmailClient(_Wrapper):
    """``azure.communication.email.EmailClient``, archived before ``begin_send``.

    The archive id is the send's ``operation_id`` (a UUID): the id ACS puts into the email's
    delivery and engagement reports as ``messageId``.
    """

    def __init__(self, endpoint: str, credential: Any, *, archive: OutboundArchive, **kwargs: Any):
        from azure.communication.email import EmailClient

        self._client = EmailClient(endpoint, credential, **kwargs)
        self.archive = archive

    @classmethod
    def from_connection_string(cls, conn_str: str, *, archive: OutboundArchive, **kwargs: Any) -> "ArchivingEmailClient":
        from azure.communication.email import EmailClient

        return cls.from_client(EmailClient.from_connection_string(conn_str, **kwargs), archive=archive)

    @classmethod
    def from_client(cls, client: Any, *, archive: OutboundArchive) -> "ArchivingEmailClient":
        self = object.__new__(cls)
        self._client, self.archive = client, archive
        return self

    def begin_send(self, message: Any, *, operation_id: str | None = None, archive_id: str | None = None, **kwargs: Any):
        if operation_id and archive_id and operation_id != archive_id:
            raise ValueError("operation_id and archive_id differ: give one (the archive id is the operation id)")
        if kwargs.get("continuation_token"):
            return self._client.begin_send(message, operation_id=operation_id, **kwargs)  # resuming: sends nothing
        archive_id = operation_id or archive_id or layout.new_archive_id()
        _uuid(archive_id, "operation_id" if operation_id else "archive_id")
        body = message
        if isinstance(message, (bytes, bytearray)):
            parsed = json.loads(message)
        elif hasattr(message, "read"):
            body = message.read()
            parsed = json.loads(body)
        else:
            parsed = message
        fields, blobs = email_fields(self.archive.hash_key, parsed)
        fields["correlation"] = {"email_operation_id": archive_id}
        recipients = [p["address"] for p in fields["recipients"]]

        def transmit(begun: Begun):
            return self._client.begin_send(body, operation_id=archive_id, **kwargs)

        def results(poller):
            status = poller.status()
            return ([{"recipient": r, "acs_message_id": archive_id, "successful": True, "http_status": 202,
                      "error": None} for r in recipients], {"operation_status": str(status)})

        def replay(begun: Begun):
            from azure.core.polling import LROPoller, NoPolling

            stored = {"id": archive_id, "status": begun.sent.get("operation_status") or "Running"}
            return LROPoller(None, stored, lambda initial: initial, NoPolling())

        return self.archive.send("email", archive_id, fields, sender=parsed.get("senderAddress"), transmit=transmit,
                                 results=results, replay=replay, attachments=blobs)


# -- WhatsApp (Advanced Messaging) ------------------------------------------------------------------------


def whatsapp_fields(hash_key: bytes, body: Mapping[str, Any]) -> dict[str, Any]:
    kind = body.get("kind")
    template = body.get("template")
    media = {k: body[k] for k in ("mediaUri", "caption", "fileName") if k in body}
    return {
        "sender": layout.party(hash_key, "whatsapp", str(body.get("channelRegistrationId", "")), "channel"),
        "recipients": [layout.party(hash_key, "whatsapp", r, "to") for r in body.get("to") or []],
        "subject": None,
        "body": {"text": body.get("content"), "kind": kind},
        "template": template,
        # Media goes out by URI (ACS fetches it); the URI is kept, not the bytes.
        "attachments": [media] if media else [],
        "request": dict(body),
    }


class ArchivingNotificationMessagesClient(_Wrapper):
    """``azure.communication.messages.NotificationMessagesClient``, archived before ``send``.

    The archive id gives the ``Repeatability-Request-ID`` (a caller's own one is kept, and the
    archive id derived from it, so its retries find the same record).
    """

    def __init__(self, endpoint: str, credential: Any, *, archive: OutboundArchive, **kwargs: Any):
        from azure.communication.messages import NotificationMessagesClient

        self._client = NotificationMessagesClient(endpoint, credential, **kwargs)
        self.archive = archive

    @classmethod
    def from_connection_string(cls, conn_str: str, *, archive: OutboundArchive, **kwargs: Any):
        from azure.communication.messages import NotificationMessagesClient

        return cls.from_client(NotificationMessagesClient.from_connection_string(conn_str, **kwargs), archive=archive)

    @classmethod
    def from_client(cls, client: Any, *, archive: OutboundArchive):
        self = object.__new__(cls)
        self._client, self.archive = client, archive
        return self

    def send(self, body: Any, *, archive_id: str | None = None, **kwargs: Any):
        from azure.communication.messages.models import SendMessageResult

        if isinstance(body, (bytes, bytearray)):
            parsed = json.loads(body)
        elif hasattr(body, "read"):
            body = body.read()
            parsed = json.loads(body)
        elif hasattr(body, "as_dict"):
            parsed = body.as_dict()
        else:
            parsed = dict(body)
        headers = dict(kwargs.pop("headers", None) or {})
        caller_key = next((v for k, v in headers.items() if k.lower() == "repeatability-request-id"), None)
        if archive_id is None:
            archive_id = layout.archive_id_from_key("whatsapp", caller_key) if caller_key else layout.new_archive_id()
        request_id = caller_key or layout.repeatability_id(archive_id)
        fields = whatsapp_fields(self.archive.hash_key, parsed)
        fields["correlation"] = {"repeatability_request_id": request_id}

        def transmit(begun: Begun):
            sent_headers = {k: v for k, v in headers.items()
                            if k.lower() not in ("repeatability-request-id", "repeatability-first-sent")}
            sent_headers["Repeatability-Request-ID"] = request_id
            first = next((v for k, v in headers.items() if k.lower() == "repeatability-first-sent"), None)
            sent_headers["Repeatability-First-Sent"] = first or _rfc1123(begun.archived_at)
            return self._client.send(body, headers=sent_headers, **kwargs)

        def results(value):
            return [{"recipient": r.to, "acs_message_id": r.message_id, "successful": True, "http_status": 202,
                     "error": None} for r in value.receipts], {}

        def replay(begun: Begun):
            return SendMessageResult({"receipts": [{"messageId": r["acs_message_id"], "to": r["recipient"]}
                                                   for r in begun.sent["results"]]})

        return self.archive.send("whatsapp", archive_id, fields, sender=parsed.get("channelRegistrationId"),
                                 transmit=transmit, results=results, replay=replay)


# -- Chat ----------------------------------------------------------------------------------------------


class ArchivingChatThreadClient(_Wrapper):
    """``azure.communication.chat.ChatThreadClient``, archived before ``send_message``.

    The archive id travels in the message's metadata (``archiveId``): the chat events archive it
    with the message, and a retry whose outcome was lost finds the message it already sent.
    ``sender_id`` (the token's ACS user) is recorded as the sender when given.
    """

    def __init__(self, endpoint: str, credential: Any, thread_id: str, *, archive: OutboundArchive,
                 sender_id: str | None = None, **kwargs: Any):
        from azure.communication.chat import ChatThreadClient

        self._client = ChatThreadClient(endpoint, credential, thread_id, **kwargs)
        self.archive, self.sender_id = archive, sender_id

    @classmethod
    def from_client(cls, client: Any, *, archive: OutboundArchive, sender_id: str | None = None):
        self = object.__new__(cls)
        self._client, self.archive, self.sender_id = client, archive, sender_id
        return self

    def send_message(self, content: str, *, archive_id: str | None = None, **kwargs: Any):
        from azure.communication.chat._generated.models import SendChatMessageResult

        if not content:
            raise ValueError("content cannot be None.")
        archive_id = archive_id or layout.new_archive_id()
        metadata = dict(kwargs.pop("metadata", None) or {})
        metadata[layout.CHAT_METADATA_KEY] = archive_id
        message_type = kwargs.get("chat_message_type")
        thread_id = self._client.thread_id
        fields = {
            "sender": (layout.party(self.archive.hash_key, "chat", self.sender_id, "from",
                                    kwargs.get("sender_display_name")) if self.sender_id else None),
            "recipients": [{"address": thread_id, "hash": None, "role": "thread", "display_name": None}],
            "subject": None,
            "body": {"text": content, "type": str(getattr(message_type, "value", message_type) or "text")},
            "template": None, "attachments": [],
            "options": {"metadata": metadata, "sender_display_name": kwargs.get("sender_display_name")},
            "correlation": {"chat_thread_id": thread_id, "metadata_key": layout.CHAT_METADATA_KEY},
        }

        def transmit(begun: Begun):
            if begun.retry:
                found = self._already_sent(archive_id, begun.archived_at)
                if found is not None:
                    return SendChatMessageResult(id=found)
            return self._client.send_message(content, metadata=metadata, **kwargs)

        def results(value):
            return [{"recipient": thread_id, "acs_message_id": value.id, "successful": True, "http_status": 201,
                     "error": None}], {}

        def replay(begun: Begun):
            return SendChatMessageResult(id=begun.sent["results"][0]["acs_message_id"])

        return self.archive.send("chat", archive_id, fields, sender=self.sender_id, transmit=transmit,
                                 results=results, replay=replay)

    def _already_sent(self, archive_id: str, archived_at: str) -> str | None:
        """The id of a message of this thread carrying the archive id, sent since the record was made."""
        from datetime import datetime, timedelta

        since = datetime.fromisoformat(archived_at.replace("Z", "+00:00")) - timedelta(minutes=1)
        for m in self._client.list_messages(start_time=since, results_per_page=200):
            if (m.metadata or {}).get(layout.CHAT_METADATA_KEY) == archive_id:
                return m.id
        return None
