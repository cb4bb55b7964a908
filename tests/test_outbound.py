"""Archive before send: the real SMS, Email, Messages and Chat SDKs against the HTTPS ACS test server,
the archive in a real Azurite."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from archiving.outbound import ArchiveFailed, ArchiveIdReused, OutboundArchive, layout
from archiving.outbound.clients import (ArchivingChatThreadClient, ArchivingEmailClient,
                                        ArchivingNotificationMessagesClient, ArchivingSmsClient)

from .acs_server import sending
from .conftest import HASH_KEY

PHONE_FROM, PHONE_TO, PHONE_TO2 = "+18005550100", "+14255550123", "+14255550124"
SECRET = "Your one-time code is 271828"


@pytest.fixture
def outbound(azurite, archive_env):
    return OutboundArchive.from_connection_string(azurite.connection_string, archive_env["ARCHIVE_CONTAINER"], HASH_KEY,
                                                  outcomes="sync")


def dead_archive(**kwargs) -> OutboundArchive:
    """An archive whose storage refuses connections (a loopback port nobody listens on)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conn = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey="
            "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
            f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")
    return OutboundArchive.from_connection_string(conn, "outbound", HASH_KEY, **kwargs)


def sms(acs, archive):
    return ArchivingSmsClient.from_connection_string(acs.connection_string, archive=archive, **acs.client_kwargs())


def blobs(archive, channel=None, archive_id=None):
    prefix = layout.ROOT if channel is None else layout.message_prefix(channel, archive_id)
    return {name: archive.store.read_document(name) if name.endswith(".json.lz4") else None
            for name in archive.store.list_names(prefix)}


def assert_valid(archive):
    """Every outbound document in the archive matches its JSON Schema."""
    from archiving.outbound.schemas import errors

    docs = {n: d for n, d in blobs(archive).items() if d is not None}
    assert docs
    bad = {n: errors(d) for n, d in docs.items() if errors(d)}
    assert bad == {}


def test_schema_rejects_what_is_wrong():
    from archiving.outbound.schemas import errors

    good = layout.document(layout.LINK, "sms", "a1", "2026-12-01T00:00:00.000000Z", acs_message_id="m",
                           message_key=layout.message_key("sms", "a1"))
    assert errors(good) == []
    assert errors({**good, "channel": "fax"}) and errors({**good, "surprise": 1}) and errors({"kind": "x"})
    assert errors({**good, "message_key": "chat/x"})


def sent_count(acs, channel):
    return len(sending.sent(acs, channel))


# -- SMS -------------------------------------------------------------------------------------------------


def test_sms_archived_then_sent(acs, outbound):
    before = sent_count(acs, "sms")
    results = sms(acs, outbound).send(PHONE_FROM, [PHONE_TO, PHONE_TO2], SECRET, enable_delivery_report=True)
    assert [r.to for r in results] == [PHONE_TO, PHONE_TO2] and all(r.successful for r in results)
    assert sent_count(acs, "sms") == before + 2
    tag = sending.sent(acs, "sms")[-1].body["tag"]  # the archive id went to ACS as the tag
    record = outbound.store.read_document(layout.message_key("sms", tag))
    assert record["kind"] == layout.MESSAGE and record["body"]["text"] == SECRET
    assert [p["address"] for p in record["recipients"]] == [PHONE_TO, PHONE_TO2]
    assert record["recipients"][0]["hash"] == layout.address_hash(HASH_KEY.encode(), "sms", PHONE_TO)
    outcome = outbound.store.read_document(layout.sent_key("sms", tag))
    assert outcome["status"] == "sent" and outcome["recipients_accepted"] == 2
    assert {r["acs_message_id"] for r in outcome["results"]} == {r.message_id for r in results}
    for r in results:  # the join key of the delivery reports
        link = outbound.store.read_document(layout.by_acs_id_key("sms", r.message_id))
        assert link["archive_id"] == tag and link["message_key"] == layout.message_key("sms", tag)
    tags = outbound.store.container.get_blob_client(layout.message_key("sms", tag)).get_blob_tags()
    assert tags["kind"] == layout.MESSAGE and tags["channel"] == "sms"
    assert tags["sender"] == layout.address_hash(HASH_KEY.encode(), "sms", PHONE_FROM)
    assert PHONE_FROM not in json.dumps(tags)
    assert_valid(outbound)


def test_sms_record_exists_before_acs_is_called(acs, outbound):
    """The record is in storage when ACS sees the request."""
    seen = {}
    archive_id = layout.new_archive_id()
    original = sending.send_sms

    def spy(api, req):
        seen["record"] = outbound.store.exists(layout.message_key("sms", archive_id))
        return original(api, req)

    sending.send_sms = spy
    try:
        sms(acs, outbound).send(PHONE_FROM, PHONE_TO, "hello", archive_id=archive_id)
    finally:
        sending.send_sms = original
    assert seen == {"record": True}


def test_archive_down_nothing_sent(acs, caplog):
    archive = dead_archive()
    before = len(acs.request_log.records())
    started = time.monotonic()
    with pytest.raises(ArchiveFailed) as info:
        sms(acs, archive).send(PHONE_FROM, PHONE_TO, SECRET)
    elapsed = time.monotonic() - started
    assert info.value.attempts == 3 and elapsed < 10
    assert len(acs.request_log.records()) == before  # ACS never called
    assert SECRET not in caplog.text and PHONE_TO not in caplog.text


def test_archive_stalls_bounded_time(acs, azurite, archive_env):
    """Storage that accepts but never answers: 3 attempts, all within the 10 s budget."""
    from .faultproxy import FaultProxy

    proxy = FaultProxy(("127.0.0.1", azurite.blob_port), stall_seconds=30).start()
    try:
        proxy.add("stall", method="PUT")
        archive = OutboundArchive.from_connection_string(proxy.connection_string(), archive_env["ARCHIVE_CONTAINER"],
                                                         HASH_KEY)
        before = sent_count(acs, "sms")
        started = time.monotonic()
        with pytest.raises(ArchiveFailed) as info:
            sms(acs, archive).send(PHONE_FROM, PHONE_TO, SECRET)
        assert time.monotonic() - started <= 10.5
        assert info.value.attempts == 3 and proxy.counts["stall"] == 3
        assert sent_count(acs, "sms") == before
    finally:
        proxy.stop()


def test_fail_open_sends_and_marks_later(acs, azurite, archive_env, caplog):
    from .faultproxy import FaultProxy

    proxy = FaultProxy(("127.0.0.1", azurite.blob_port)).start()
    try:
        proxy.add("reset_before", method="PUT", times=3)
        archive = OutboundArchive.from_connection_string(
            proxy.connection_string(), archive_env["ARCHIVE_CONTAINER"], HASH_KEY, fail_open=True,
            flush_interval=0.2, outcomes="sync")
        archive_id = layout.new_archive_id()
        with caplog.at_level(logging.WARNING, logger="archiving.outbound"):
            results = sms(acs, archive).send(PHONE_FROM, PHONE_TO, SECRET, archive_id=archive_id)
        assert results[0].successful
        assert "NOT ARCHIVED BEFORE SEND" in caplog.text
        deadline = time.monotonic() + 10
        while archive.pending and time.monotonic() < deadline:
            time.sleep(0.1)
        assert archive.pending == 0
        names = blobs(archive, "sms", archive_id)
        assert set(names) == {layout.message_key("sms", archive_id), layout.not_archived_key("sms", archive_id),
                              layout.sent_key("sms", archive_id)}
        assert names[layout.not_archived_key("sms", archive_id)]["kind"] == layout.NOT_ARCHIVED
        assert_valid(archive)
    finally:
        proxy.stop()


def test_acs_failure_after_archive_recorded(acs, outbound):
    from azure.core.exceptions import HttpResponseError

    acs.faults.add(400, path=r"^/sms$", method="POST", times=1, retry_after=None)
    archive_id = layout.new_archive_id()
    with pytest.raises(HttpResponseError):
        sms(acs, outbound).send(PHONE_FROM, PHONE_TO, SECRET, archive_id=archive_id)
    names = blobs(outbound, "sms", archive_id)
    failed = [d for n, d in names.items() if "/failed-" in n]
    assert len(failed) == 1 and failed[0]["status"] == "failed" and failed[0]["error"]["status_code"] == 400
    assert layout.sent_key("sms", archive_id) not in names
    # the same send again: the record stays one, the message goes out, the outcome is recorded
    results = sms(acs, outbound).send(PHONE_FROM, PHONE_TO, SECRET, archive_id=archive_id)
    assert results[0].successful
    assert outbound.store.read_document(layout.sent_key("sms", archive_id))["status"] == "sent"
    assert_valid(outbound)


def test_sms_retry_same_archive_id_sends_once(acs, outbound):
    client = sms(acs, outbound)
    archive_id = layout.new_archive_id()
    before = sent_count(acs, "sms")
    first = client.send(PHONE_FROM, PHONE_TO, "hello", archive_id=archive_id)
    again = client.send(PHONE_FROM, PHONE_TO, "hello", archive_id=archive_id)
    assert sent_count(acs, "sms") == before + 1
    assert [r.message_id for r in again] == [r.message_id for r in first]
    assert len([n for n in blobs(outbound, "sms", archive_id) if n.endswith("message.json.lz4")]) == 1
    with pytest.raises(ArchiveIdReused):
        client.send(PHONE_FROM, PHONE_TO, "something else", archive_id=archive_id)
    assert sent_count(acs, "sms") == before + 1


def test_crash_between_archive_and_send(acs, outbound):
    """A process that dies after the record and before the outcome: the record has no outcome
    (reported as unknown); the retry sends with the same repeatability ids, so ACS sends once."""
    from archiving.outbound.read import outcome_unknown

    archive_id = layout.new_archive_id()
    client = sms(acs, outbound)

    class Crash(BaseException):
        pass

    original = outbound.record_sent

    def crash(*args, **kwargs):
        raise Crash()

    outbound.record_sent = crash  # ACS answered, then the process "died" before the outcome
    before = sent_count(acs, "sms")
    try:
        with pytest.raises(Crash):
            client.send(PHONE_FROM, PHONE_TO, "hello", archive_id=archive_id)
    finally:
        outbound.record_sent = original
    assert sent_count(acs, "sms") == before + 1
    unknown = [u.archive_id for u in outcome_unknown(outbound.store)]
    assert archive_id in unknown
    client.send(PHONE_FROM, PHONE_TO, "hello", archive_id=archive_id)
    assert sent_count(acs, "sms") == before + 1  # ACS recognised the repeatability ids
    assert archive_id not in [u.archive_id for u in outcome_unknown(outbound.store)]


def test_concurrent_sends(acs, outbound):
    client = sms(acs, outbound)
    before = sent_count(acs, "sms")
    ids = [layout.new_archive_id() for _ in range(16)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda a: client.send(PHONE_FROM, PHONE_TO, f"n {a}", archive_id=a), ids))
    assert all(r[0].successful for r in results)
    assert sent_count(acs, "sms") == before + 16
    # one archive id from 8 threads at once: one record, one send
    shared = layout.new_archive_id()
    with ThreadPoolExecutor(8) as pool:
        same = list(pool.map(lambda _: client.send(PHONE_FROM, PHONE_TO, "once", archive_id=shared), range(8)))
    assert len({r[0].message_id for r in same}) == 1
    assert sent_count(acs, "sms") == before + 17


def test_background_outcomes(acs, azurite, archive_env):
    """The default: only the record is written before send() returns; the outcome follows."""
    archive = OutboundArchive.from_connection_string(azurite.connection_string, archive_env["ARCHIVE_CONTAINER"],
                                                     HASH_KEY)
    assert archive.outcomes == "background"
    archive_id = layout.new_archive_id()
    results = sms(acs, archive).send(PHONE_FROM, [PHONE_TO, PHONE_TO2], "hi", archive_id=archive_id)
    assert archive.flush(timeout=10) == 0
    outcome = archive.store.read_document(layout.sent_key("sms", archive_id))
    assert [r["acs_message_id"] for r in outcome["results"]] == [r.message_id for r in results]
    archive.close()


def test_sms_from_existing_client(acs, outbound):
    from azure.communication.sms import SmsClient

    raw = SmsClient.from_connection_string(acs.connection_string, **acs.client_kwargs())
    client = ArchivingSmsClient.from_client(raw, archive=outbound)
    results = client.send(PHONE_FROM, PHONE_TO, "hi", tag="caller-tag")
    assert results[0].successful
    assert sending.sent(acs, "sms")[-1].body["tag"] == "caller-tag"  # the caller's tag is kept


# -- Email -----------------------------------------------------------------------------------------------


def email_message(**extra):
    return {"senderAddress": "DoNotReply@contoso.example", "content": {"subject": "Your statement",
            "plainText": "Balance: 12.00", "html": "<p>Balance: 12.00</p>"},
            "recipients": {"to": [{"address": "Ann@Example.com", "displayName": "Ann"}],
                           "bcc": [{"address": "audit@contoso.example"}]},
            "attachments": [{"name": "statement.txt", "contentType": "text/plain",
                             "contentInBase64": base64.b64encode(b"statement body").decode()}], **extra}


def test_email_archived_then_sent(acs, outbound):
    client = ArchivingEmailClient.from_connection_string(acs.connection_string, archive=outbound, **acs.client_kwargs())
    poller = client.begin_send(email_message())
    result = poller.result()
    assert result["status"] == "Succeeded"
    operation_id = result["id"]
    record = outbound.store.read_document(layout.message_key("email", operation_id))
    assert record["subject"] == "Your statement" and record["correlation"]["email_operation_id"] == operation_id
    attachment = record["attachments"][0]
    assert "contentInBase64" not in json.dumps(record)
    from archiving.store import codec

    stored = codec.decompress(outbound.store.read_raw(attachment["blob"])[0])
    assert stored == b"statement body" and codec.sha256_hex(stored) == attachment["sha256"]
    outcome = outbound.store.read_document(layout.sent_key("email", operation_id))
    assert {r["recipient"] for r in outcome["results"]} == {"Ann@Example.com", "audit@contoso.example"}
    assert [m.message_id for m in sending.sent(acs, "email")][-1] == operation_id
    # a retry with the caller's operation id: no second send, a poller all the same
    before = sent_count(acs, "email")
    again = client.begin_send(email_message(), operation_id=operation_id)
    assert again.result()["id"] == operation_id and sent_count(acs, "email") == before
    assert_valid(outbound)


# -- WhatsApp --------------------------------------------------------------------------------------------


def test_whatsapp_text_and_template(acs, outbound):
    from azure.communication.messages.models import (MessageTemplate, MessageTemplateText, TemplateNotificationContent,
                                                     TextNotificationContent)

    client = ArchivingNotificationMessagesClient.from_connection_string(acs.connection_string, archive=outbound,
                                                                        **acs.client_kwargs())
    result = client.send(TextNotificationContent(channel_registration_id="b045be8c-45cd-492a-b2a2-47e5b3d9a2b3",
                                                 to=[PHONE_TO], content=SECRET))
    message_id = result.receipts[0].message_id
    link = outbound.store.read_document(layout.by_acs_id_key("whatsapp", message_id))
    record = outbound.store.read_document(link["message_key"])
    assert record["body"]["text"] == SECRET and record["request"]["kind"] == "text"
    template = TemplateNotificationContent(
        channel_registration_id="b045be8c-45cd-492a-b2a2-47e5b3d9a2b3", to=[PHONE_TO],
        template=MessageTemplate(name="appointment", language="en_US",
                                 template_values=[MessageTemplateText(name="day", text="Monday")]))
    key = "caller-key-1"
    before = sent_count(acs, "whatsapp")
    first = client.send(template, headers={"Repeatability-Request-ID": "6f3b1c52-9f0e-4a43-8a8e-0d1c7b2a1e11"})
    again = client.send(template, headers={"Repeatability-Request-ID": "6f3b1c52-9f0e-4a43-8a8e-0d1c7b2a1e11"})
    assert first.receipts[0].message_id == again.receipts[0].message_id
    assert sent_count(acs, "whatsapp") == before + 1
    archive_id = layout.archive_id_from_key("whatsapp", "6f3b1c52-9f0e-4a43-8a8e-0d1c7b2a1e11")
    rec = outbound.store.read_document(layout.message_key("whatsapp", archive_id))
    assert rec["template"]["name"] == "appointment" and key not in json.dumps(rec)
    assert_valid(outbound)


# -- Chat ------------------------------------------------------------------------------------------------


def test_chat_send_message(acs, outbound):
    from azure.communication.chat import CommunicationTokenCredential

    user = acs.create_user()
    thread_id = acs.create_thread("support", user, [])
    client = ArchivingChatThreadClient(acs.endpoint, CommunicationTokenCredential(acs.issue_token(user)), thread_id,
                                       archive=outbound, sender_id=user, **acs.client_kwargs())
    result = client.send_message("Hello from support", sender_display_name="Support")
    link = outbound.store.read_document(layout.by_acs_id_key("chat", result.id, HASH_KEY.encode()))
    record = outbound.store.read_document(link["message_key"])
    assert record["body"]["text"] == "Hello from support" and record["recipients"][0]["address"] == thread_id
    message = client.get_message(result.id)  # every other method is the SDK's
    assert message.metadata[layout.CHAT_METADATA_KEY] == link["archive_id"]
    # the chat record the Event Grid function writes for this message is joined by its id
    from archiving.ingest.archiver import archive_event
    from archiving.outbound.read import find_by_acs_id
    from archiving.read.verified import Findings

    from .conftest import load_vector

    event = load_vector("eventgrid/event-grid-schema/chat_message_received_in_thread.json")
    event["data"].update(threadId=thread_id, messageId=result.id, version=result.id, messageBody="Hello from support",
                         metadata={layout.CHAT_METADATA_KEY: link["archive_id"]})
    assert archive_event(event, outbound.store, HASH_KEY.encode()).status == "archived"
    view = find_by_acs_id(outbound.store, "chat", result.id, Findings(), HASH_KEY.encode())
    assert [r["action"] for r in view.reports[result.id]] == ["received"]
    assert_valid(outbound)


# -- delivery reports joined (at the layout level until issue 11's parser lands) --------------------------


def report_from_vector(relative: str, message_id: str) -> dict:
    from .conftest import load_vector

    event = load_vector(relative)
    event["data"]["messageId"] = message_id
    return event


@pytest.mark.parametrize("channel,vector", [
    ("sms", "eventgrid/event-grid-schema/sms_delivery_report_received.json"),
    ("email", "eventgrid/event-grid-schema/email_delivery_report_received.json"),
    ("whatsapp", "eventgrid/event-grid-schema/advanced_message_delivery_status_updated.json"),
])
def test_delivery_reports_joined(acs, outbound, channel, vector):
    """A delivery report's messageId leads to the outbound message; show presents message, outcome, reports."""
    from archiving.outbound.read import find_by_acs_id, load, render_text
    from archiving.read.verified import Findings
    from archiving.store.records import Record

    if channel == "sms":
        acs_id = sms(acs, outbound).send(PHONE_FROM, PHONE_TO, "report me", enable_delivery_report=True)[0].message_id
    elif channel == "email":
        client = ArchivingEmailClient.from_connection_string(acs.connection_string, archive=outbound, **acs.client_kwargs())
        acs_id = client.begin_send(email_message()).result()["id"]
    else:
        client = ArchivingNotificationMessagesClient.from_connection_string(acs.connection_string, archive=outbound,
                                                                            **acs.client_kwargs())
        acs_id = client.send({"kind": "text", "channelRegistrationId": "c1", "to": [PHONE_TO],
                              "content": "report me"}).receipts[0].message_id
    event = report_from_vector(vector, acs_id)
    status = event["data"].get("deliveryStatus") or event["data"].get("status")
    # The report through the Event Grid path; until issue 11's parser is merged that path skips
    # these types, and the report is filed as issue 11 files it: beside its message, tagged with
    # the escaped message id.
    from archiving.ingest.archiver import SKIPPED, archive_event

    outcome = archive_event(event, outbound.store, HASH_KEY.encode())
    if outcome.status == SKIPPED:
        kind = {"sms": "sms-report", "email": "email-report", "whatsapp": "whatsapp-report"}[channel]
        report = {"schema_version": 1, "channel": channel, "kind": kind, "message_id": acs_id, "status": status,
                  "reported_at": "2026-12-01T00:00:05.000000Z",
                  "event": {"id": event["id"], "type": event["eventType"]}, "archived_at": "2026-12-01T00:00:06.000000Z"}
        name = (f"{channel}/202612/0123456789abcdef-fedcba9876543210/messages/{acs_id}/reports/"
                f"1796083205000-{status.lower()}.json.lz4")
        outbound.store.put_record(Record(name, report, {"kind": kind, "channel": channel,
                                                        "message": layout.message_tag(acs_id)}))
        other = dict(report, message_id="other")  # a report of another message must not be joined
        outbound.store.put_record(Record(name.replace(acs_id, "other"), other,
                                         {"kind": kind, "channel": channel, "message": "other"}))
    else:
        other_event = report_from_vector(vector, "other-message")
        other_event["id"] = "another-event"
        archive_event(other_event, outbound.store, HASH_KEY.encode())
    findings = Findings()
    view = find_by_acs_id(outbound.store, channel, event["data"]["messageId"], findings)
    assert view is not None and view.status == "sent" and not findings
    assert [r["message_id"] for r in view.reports[acs_id]] == [acs_id] and view.reports[acs_id][0]["status"] == status
    assert load(outbound.store, channel, view.archive_id, findings).message["channel"] == channel
    text = render_text(view)
    assert f"{view.reports[acs_id][0]['kind']}: {status}" in text and acs_id in text


# -- the HTTP endpoint, called as the host calls it ------------------------------------------------------


def http(app_functions, channel, body, headers=None):
    import azure.functions as func

    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = func.HttpRequest(method="POST", url=f"/api/send/{channel}", body=raw, route_params={"channel": channel},
                           headers={"Content-Type": "application/json", **(headers or {})})
    resp = app_functions["send_message"].get_user_function()(req=req)
    return resp.status_code, json.loads(resp.get_body() or b"null"), dict(resp.headers)


def test_endpoint_binding_metadata(indexed):
    bindings = {b["type"]: b for b in indexed["send_message"]["bindings"]}
    trigger = bindings["httpTrigger"]
    assert trigger["authLevel"] == "FUNCTION" or trigger["authLevel"].lower() == "function"
    assert trigger["route"] == "send/{channel}" and [m.lower() for m in trigger["methods"]] == ["post"]
    assert bindings["http"]["direction"] == "OUT"


def test_endpoint_sms(acs, acs_env, app_functions, services, caplog):
    before = sent_count(acs, "sms")
    with caplog.at_level(logging.INFO):
        status, body, _ = http(app_functions, "sms", {"from": PHONE_FROM, "to": [PHONE_TO], "message": SECRET,
                                                      "enable_delivery_report": True})
    assert status == 200 and body["status"] == "sent" and body["results"][0]["successful"]
    assert sent_count(acs, "sms") == before + 1
    record = services.store.read_document(layout.message_key("sms", body["archive_id"]))
    assert record["via"] == "endpoint" and record["body"]["text"] == SECRET
    assert SECRET not in caplog.text and PHONE_TO not in caplog.text and body["archive_id"] in caplog.text
    # the same request again, with its archive id: the stored answer, nothing sent twice
    again = http(app_functions, "sms", {"from": PHONE_FROM, "to": [PHONE_TO], "message": SECRET,
                                        "enable_delivery_report": True, "archive_id": body["archive_id"]})
    assert again[0] == 200 and again[1]["results"] == body["results"] and sent_count(acs, "sms") == before + 1


@pytest.mark.parametrize("channel,body,status,fragment", [
    ("fax", {}, 404, "channel"),
    ("sms", b"{not json", 400, "JSON"),
    ("sms", [1, 2], 400, "object"),
    ("sms", {"from": PHONE_FROM, "to": PHONE_TO, "message": "x", "bcc": "y"}, 400, "unknown field"),
    ("sms", {"from": "0800 123", "to": PHONE_TO, "message": "x"}, 400, "E.164"),
    ("sms", {"from": PHONE_FROM, "to": [], "message": "x"}, 400, "to must be"),
    ("sms", {"from": PHONE_FROM, "to": PHONE_TO, "message": "x" * 2049}, 400, "longer"),
    ("sms", {"from": PHONE_FROM, "to": PHONE_TO, "message": "x", "archive_id": "../x"}, 400, "archive_id"),
    ("email", {"message": {"senderAddress": "a@b.example", "content": {}, "recipients": {"to": []}}}, 400, "subject"),
    ("whatsapp", {"notification": {"channelRegistrationId": "c", "to": ["+1", "+2"], "kind": "text"}}, 400, "exactly one"),
    ("chat", {"thread_id": "19:x@thread.v2"}, 400, "content"),
])
def test_endpoint_validation(acs, acs_env, app_functions, services, channel, body, status, fragment):
    before = len(acs.request_log.records())
    code, answer, _ = http(app_functions, channel, body)
    assert code == status and fragment in answer["error"]["message"]
    assert len(acs.request_log.records()) == before  # nothing sent
    assert list(services.store.list_names(layout.ROOT)) == []  # nothing archived


def test_endpoint_too_large(acs, acs_env, app_functions):
    from archiving.outbound.endpoint import MAX_BODY_BYTES

    code, answer, _ = http(app_functions, "email", b" " * (MAX_BODY_BYTES + 1))
    assert code == 413 and answer["error"]["code"] == "TooLarge"


def test_endpoint_archive_down_503(acs, acs_env, app_functions, monkeypatch):
    from archiving import bootstrap

    dead = dead_archive()  # its connection string's port refuses connections
    conn = dead.store.container.url.split("/devstoreaccount1")[0]
    monkeypatch.setenv("ArchiveStorage", "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey="
                       "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
                       f"BlobEndpoint={conn}/devstoreaccount1;")
    bootstrap.reset()
    before = len(acs.request_log.records())
    code, answer, headers = http(app_functions, "sms", {"from": PHONE_FROM, "to": PHONE_TO, "message": SECRET})
    assert code == 503 and answer["error"]["code"] == "ArchiveUnavailable"
    assert headers.get("Retry-After") == "30" or headers.get("retry-after") == "30"
    assert len(acs.request_log.records()) == before


def test_endpoint_acs_refuses_422_recorded(acs, acs_env, app_functions, services):
    acs.faults.add(400, path=r"^/sms$", method="POST", times=1, retry_after=None)
    code, answer, _ = http(app_functions, "sms", {"from": PHONE_FROM, "to": PHONE_TO, "message": "x",
                                                  "archive_id": "0f8fad5b-d9cb-469f-a165-70867728950e"})
    assert code == 422 and answer["error"]["acs_status"] == 400
    names = list(services.store.list_names(layout.message_prefix("sms", "0f8fad5b-d9cb-469f-a165-70867728950e")))
    assert any("/failed-" in n for n in names) and any(n.endswith("/message.json.lz4") for n in names)


def test_endpoint_email_whatsapp_chat(acs, acs_env, app_functions, services, caplog):
    caplog.set_level(logging.DEBUG, logger="archiving")
    code, body, _ = http(app_functions, "email", {"message": email_message()})
    assert code == 200 and body["operation_id"] == body["archive_id"]
    code, body, _ = http(app_functions, "whatsapp", {"notification": {
        "kind": "text", "channelRegistrationId": "c1", "to": [PHONE_TO], "content": "hi"}})
    assert code == 200 and body["receipts"][0]["to"] == PHONE_TO
    thread_id = acs.create_thread("support", acs_env["ARCHIVER_USER_ID"], [])
    code, body, _ = http(app_functions, "chat", {"thread_id": thread_id, "content": "hello",
                                                 "sender_display_name": "Support"})
    assert code == 200
    assert [m["id"] for m in acs.messages(thread_id) if (m.get("content") or {}).get("message") == "hello"] == [body["message_id"]]
    link = services.store.read_document(layout.by_acs_id_key("chat", body["message_id"], HASH_KEY.encode()))
    assert link["archive_id"] == body["archive_id"]
    logged = caplog.text
    assert body["archive_id"] in logged
    for secret in ("Ann@Example.com", "ann@example.com", "Balance: 12.00", "Your statement", PHONE_TO, "hello"):
        assert secret not in logged


# -- the command line --------------------------------------------------------------------------------------


def test_cli_show_and_reconcile(acs, archive_env, services):
    from .test_cli import cli

    archive = OutboundArchive(services.store.container, HASH_KEY, outcomes="sync")
    client = sms(acs, archive)
    sent_id = layout.new_archive_id()
    acs_id = client.send(PHONE_FROM, PHONE_TO, "statement ready", archive_id=sent_id)[0].message_id
    # a record whose send never finished (the process died between the two steps)
    lost_id = layout.new_archive_id()
    archive.begin("sms", lost_id, {"body": {"text": "lost"}}, PHONE_FROM)

    shown = cli("outbound", "show", "sms", sent_id, env=archive_env)
    assert shown.returncode == 0, shown.stderr
    assert "sms message " + sent_id + ": sent" in shown.stdout and acs_id in shown.stdout
    assert "statement ready" in shown.stdout
    by_report = cli("outbound", "show", "sms", "--acs-id", acs_id, "--format", "json", env=archive_env)
    assert by_report.returncode == 0 and json.loads(by_report.stdout)["archive_id"] == sent_id
    assert cli("outbound", "show", "sms", layout.new_archive_id(), env=archive_env).returncode == 3

    unknown = cli("outbound", "reconcile", "--older-than", "0", env=archive_env)
    assert unknown.returncode == 1, unknown.stderr
    assert f"archived, send outcome unknown\tsms\t{lost_id}" in unknown.stdout and sent_id not in unknown.stdout
    recent = cli("outbound", "reconcile", env=archive_env)  # default: only records older than 2 minutes
    assert recent.returncode == 0 and lost_id not in recent.stdout
    assert cli("outbound", "show", "--help").returncode == 0


def test_address_hash_as_issue_11_hashes_parties():
    """One number, one hash, across SMS, WhatsApp and chat (the raw id form 4:+<digits>)."""
    from archiving.store.records import user_hash

    key = HASH_KEY.encode()
    assert layout.normalize_address("sms", "15555555555") == "4:+15555555555"
    assert layout.normalize_address("whatsapp", "+1 (555) 555-5555") == "4:+15555555555"
    assert layout.address_hash(key, "sms", "+15555555555") == user_hash(key, "4:+15555555555")
    assert layout.normalize_address("email", " Test2@Contoso.org") == "test2@contoso.org"
    assert layout.normalize_address("whatsapp", "B045BE8C-45CD-492A-B2A2-47E5B3D9A2B3") == \
        "b045be8c-45cd-492a-b2a2-47e5b3d9a2b3"
    assert layout.normalize_address("chat", "8:acs:abc_def") == "8:acs:abc_def"


def test_docs_embed_the_shipped_schema_and_name_every_kind():
    import re

    from archiving.outbound.schemas import SCHEMA_FILE

    from .conftest import ROOT

    text = (ROOT / "docs" / "outbound.md").read_text(encoding="utf-8")
    block = re.search(r"### outbound\.schema\.json\n.*?```json\n(.*?)```", text, re.S).group(1)
    assert json.loads(block) == json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    for kind in (layout.MESSAGE, layout.SENT, layout.FAILED, layout.NOT_ARCHIVED, layout.LINK, layout.INDEX):
        assert f"`{kind}`" in text


def test_two_processes_same_archive_id_one_record_one_send(acs, azurite, archive_env):
    """Two senders with their own clients and archives (as two processes) retry one message at once."""
    archives = [OutboundArchive.from_connection_string(azurite.connection_string, archive_env["ARCHIVE_CONTAINER"],
                                                       HASH_KEY, outcomes="sync") for _ in range(2)]
    clients = [sms(acs, a) for a in archives]
    archive_id = layout.new_archive_id()
    before = sent_count(acs, "sms")
    barrier = threading.Barrier(2)

    def go(client):
        barrier.wait()
        return client.send(PHONE_FROM, PHONE_TO, "once only", archive_id=archive_id)[0].message_id

    with ThreadPoolExecutor(2) as pool:
        ids = list(pool.map(go, clients))
    assert ids[0] == ids[1] and sent_count(acs, "sms") == before + 1
    names = list(archives[0].store.list_names(layout.message_prefix("sms", archive_id)))
    assert sorted(n.rsplit("/", 1)[1] for n in names) == ["message.json.lz4", "sent.json.lz4"]


def test_send_apis_verify_the_hmac_signature(acs):
    """The test server refuses a request signed with another key, as ACS does: nothing is sent."""
    import base64 as b64

    from azure.communication.email import EmailClient
    from azure.communication.messages import NotificationMessagesClient
    from azure.communication.sms import SmsClient
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

    wrong = f"endpoint={acs.endpoint};accesskey={b64.b64encode(b'not the key').decode()}"
    before = len(sending.sent(acs))
    with pytest.raises((ClientAuthenticationError, HttpResponseError)) as info:
        SmsClient.from_connection_string(wrong, **acs.client_kwargs()).send(PHONE_FROM, PHONE_TO, "x")
    assert info.value.status_code == 401
    with pytest.raises(ClientAuthenticationError):
        EmailClient.from_connection_string(wrong, **acs.client_kwargs()).begin_send(email_message())
    with pytest.raises(ClientAuthenticationError):
        NotificationMessagesClient.from_connection_string(wrong, **acs.client_kwargs()).send(
            {"kind": "text", "channelRegistrationId": "c", "to": [PHONE_TO], "content": "x"})
    assert len(sending.sent(acs)) == before


def test_endpoint_repeatability_header_makes_retries_idempotent(acs, acs_env, app_functions, services):
    request = {"kind": "text", "channelRegistrationId": "c1", "to": [PHONE_TO], "content": "once"}
    key = {"Repeatability-Request-ID": "5d3c1f0e-7f7e-4d8e-9c59-7a0f6e2b9a11"}
    before = sent_count(acs, "whatsapp")
    first = http(app_functions, "whatsapp", {"notification": request}, headers=key)
    again = http(app_functions, "whatsapp", {"notification": request}, headers=key)
    assert first[0] == again[0] == 200 and first[1] == again[1]
    assert first[1]["archive_id"] == layout.archive_id_from_key("whatsapp", key["Repeatability-Request-ID"])
    assert sent_count(acs, "whatsapp") == before + 1


def test_chat_retry_after_crash_finds_the_sent_message(acs, outbound):
    """Chat has no repeatability id: a retry whose outcome was lost finds its message by archiveId."""
    from azure.communication.chat import CommunicationTokenCredential

    user = acs.create_user()
    thread_id = acs.create_thread("support", user, [])
    client = ArchivingChatThreadClient(acs.endpoint, CommunicationTokenCredential(acs.issue_token(user)), thread_id,
                                       archive=outbound, sender_id=user, **acs.client_kwargs())
    archive_id = layout.new_archive_id()

    class Crash(BaseException):
        pass

    def crash(*args, **kwargs):
        raise Crash()

    original, outbound.record_sent = outbound.record_sent, crash
    try:
        with pytest.raises(Crash):
            client.send_message("only once", archive_id=archive_id)
    finally:
        outbound.record_sent = original
    result = client.send_message("only once", archive_id=archive_id)
    texts = [m for m in acs.messages(thread_id) if (m.get("content") or {}).get("message") == "only once"]
    assert len(texts) == 1 and texts[0]["id"] == result.id
    assert outbound.store.read_document(layout.sent_key("chat", archive_id))["results"][0]["acs_message_id"] == result.id


def test_endpoint_acs_down_502_recorded(acs, acs_env, app_functions, services):
    rule = acs.faults.add(503, path=r"^/sms$", method="POST", times=10, retry_after=None)
    archive_id = "6ba7b810-9dad-41d1-80b4-00c04fd430c8"
    code, answer, _ = http(app_functions, "sms", {"from": PHONE_FROM, "to": PHONE_TO, "message": "x",
                                                  "archive_id": archive_id})
    assert code == 502 and answer["error"]["code"] == "AcsFailed" and rule.fired >= 1
    names = list(services.store.list_names(layout.message_prefix("sms", archive_id)))
    assert any("/failed-" in n for n in names)
    acs.faults.remove(rule)
