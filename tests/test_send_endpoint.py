"""The send endpoint keeps its word (issue 21, item 2): 503 within its 10 s budget against storage that
refuses, hangs or answers 500, with nothing sent; ``handle()`` never raises, whatever the body; every
400 names the field.  Through function_app.app's send_message, the real SMS/Email/Messages/Chat SDKs
against the HTTPS ACS test server, the archive in Azurite (or a storage that misbehaves, on loopback)."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiving import bootstrap
from archiving.outbound.endpoint import KNOWN, handle

from .badstorage import Answers500, Hung, closed_port, connection_string
from .test_outbound import PHONE_FROM, PHONE_TO, http

BUDGET = 10.0
SECRET = "Your one-time code is 314159"


@pytest.fixture(params=["refuses", "hangs", "answers 500"])
def bad_storage(request, acs_env, monkeypatch):
    server = None
    if request.param == "refuses":
        port = closed_port()
    elif request.param == "hangs":
        server = Hung()
        port = server.port
    else:
        server = Answers500()
        port = server.port
    monkeypatch.setenv("ArchiveStorage", connection_string(port))
    bootstrap.reset()
    yield request.param
    bootstrap.reset()
    if server is not None:
        server.stop()


REQUESTS = {
    "sms": {"from": PHONE_FROM, "to": [PHONE_TO], "message": SECRET},
    "email": {"message": {"senderAddress": "DoNotReply@contoso.example",
                          "content": {"subject": "Code", "plainText": SECRET},
                          "recipients": {"to": [{"address": "alice@contoso.example"}]},
                          "attachments": [{"name": "a.txt", "contentType": "text/plain",
                                           "contentInBase64": "aGVsbG8="}]}},
    "whatsapp": {"notification": {"channelRegistrationId": "c1a2b3", "to": [PHONE_TO], "kind": "text",
                                  "content": SECRET}},
}


@pytest.mark.parametrize("channel", sorted(REQUESTS))
def test_503_within_the_budget_and_nothing_sent(channel, bad_storage, acs, app_functions):
    before = len(acs.request_log.records())
    started = time.monotonic()
    code, answer, headers = http(app_functions, channel, REQUESTS[channel])
    elapsed = time.monotonic() - started
    assert code == 503 and answer["error"]["code"] == "ArchiveUnavailable", (bad_storage, answer)
    assert elapsed < BUDGET, f"{bad_storage}: {elapsed:.1f} s"
    assert {k.lower(): v for k, v in headers.items()}.get("retry-after") == "30"
    assert len(acs.request_log.records()) == before  # ACS never called


@pytest.mark.parametrize("channel, body, field", [
    ("email", {"message": dict(REQUESTS["email"]["message"], attachments="x")}, "message.attachments"),
    ("email", {"message": dict(REQUESTS["email"]["message"], attachments=["x"])}, "message.attachments[0]"),
    ("email", {"message": dict(REQUESTS["email"]["message"], attachments=[
        {"name": "a", "contentType": "text/plain", "contentInBase64": "not base64!"}])},
     "message.attachments[0].contentInBase64"),
    ("email", {"message": dict(REQUESTS["email"]["message"], attachments=[{"name": "a", "contentType": "t"}])},
     "message.attachments[0].contentInBase64"),
    ("email", {"message": dict(REQUESTS["email"]["message"], recipients={"to": "a@b.example"})},
     "message.recipients.to"),
    ("email", {"message": dict(REQUESTS["email"]["message"], recipients={"to": [{"address": 5}]})},
     "message.recipients.to[0]"),
    ("email", {"message": dict(REQUESTS["email"]["message"], headers={"X-A": 1})}, "message.headers"),
    ("email", {"message": dict(REQUESTS["email"]["message"], senderAddress=["x"])}, "message.senderAddress"),
    ("email", {"message": dict(REQUESTS["email"]["message"], content={"subject": "s", "html": {}})},
     "message.content.html"),
    ("sms", dict(REQUESTS["sms"], to="+¹²³⁴⁵⁶⁷⁸"), "to"),
    ("sms", dict(REQUESTS["sms"], to=["+١٢٣٤٥٦٧٨٩"]), "to"),
    ("sms", dict(REQUESTS["sms"], **{"from": "+12345678\n"}), "from"),
    ("whatsapp", {"notification": dict(REQUESTS["whatsapp"]["notification"], to=[{"x": 1}])},
     "notification.to[0]"),
    ("whatsapp", {"notification": dict(REQUESTS["whatsapp"]["notification"], channelRegistrationId=7)},
     "notification.channelRegistrationId"),
    ("whatsapp", {"notification": dict(REQUESTS["whatsapp"]["notification"], mediaUri=["u"])},
     "notification.mediaUri"),
])
def test_every_400_names_the_field(channel, body, field, acs, acs_env, app_functions, services):
    before = len(acs.request_log.records())
    code, answer, _ = http(app_functions, channel, body)
    assert code == 400 and answer["error"]["message"].startswith(field + " "), answer
    assert len(acs.request_log.records()) == before
    assert list(services.store.list_names("outbound/")) == []


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12)


def _near(fields: dict) -> st.SearchStrategy:
    """Objects with the expected keys (each optional) holding anything: reaches the nested checks."""
    return st.fixed_dictionaries({}, optional=fields) | JSON


PHONE = st.sampled_from([PHONE_TO, "+1", "+١٢٣٤٥٦٧", "+¹²³⁴⁵⁶⁷⁸", "1425555", ""]) | JSON
ADDRESS = _near({"address": st.sampled_from(["a@b.example", "x"]) | JSON, "displayName": JSON})
BODIES = {
    "sms": _near({"from": PHONE, "to": PHONE | st.lists(PHONE, max_size=2), "message": JSON,
                  "enable_delivery_report": JSON, "tag": JSON, "archive_id": JSON}),
    "email": _near({"message": _near({
        "senderAddress": JSON, "content": _near({"subject": JSON, "plainText": JSON, "html": JSON}),
        "recipients": _near({"to": st.lists(ADDRESS, max_size=2) | JSON, "cc": JSON, "bcc": JSON}),
        "attachments": st.lists(_near({"name": JSON, "contentType": JSON, "contentId": JSON,
                                       "contentInBase64": st.sampled_from(["aGk=", "%%", ""]) | JSON}),
                                max_size=2) | JSON,
        "headers": JSON, "replyTo": JSON, "userEngagementTrackingDisabled": JSON}),
        "operation_id": JSON, "archive_id": JSON}),
    "whatsapp": _near({"notification": _near({
        "channelRegistrationId": JSON, "to": st.lists(PHONE, max_size=2) | JSON,
        "kind": st.sampled_from(["text", "image", "template"]) | JSON, "content": JSON, "mediaUri": JSON,
        "caption": JSON, "fileName": JSON, "template": JSON}), "archive_id": JSON}),
    "chat": _near({name: JSON for name in KNOWN["chat"]}),
}
FIELD_WORDS = {channel: set(names) | {"body", "channel", "field"} for channel, names in KNOWN.items()}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_handle_never_raises_and_every_400_names_a_field(data, acs_env):
    channel = data.draw(st.sampled_from(sorted(BODIES)), label="channel")
    body = data.draw(BODIES[channel] | JSON, label="body")
    raw = data.draw(st.just(json.dumps(body).encode()) | st.binary(max_size=40), label="raw")
    answer = handle(bootstrap.services(), channel, raw, {})
    assert answer.status not in (500,), answer.body
    json.loads(answer.json())
    if answer.status == 400:
        message = answer.body["error"]["message"]
        assert any(word in message for word in FIELD_WORDS[channel]), message


def test_fail_open_records_are_stamped_when_written(acs, azurite, archive_env):
    """fail_open: the message goes out while storage refuses; its record and marker are written later,
    with ``archived_at`` the time they were written and ``first_attempt_at`` the failed attempt's."""
    from datetime import datetime

    from archiving.outbound import OutboundArchive, layout
    from archiving.outbound.schemas import errors

    from .conftest import HASH_KEY
    from .faultproxy import FaultProxy
    from .test_outbound import sms

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    proxy = FaultProxy(("127.0.0.1", azurite.blob_port)).start()
    try:
        proxy.add("reset_before", method="PUT", times=3)
        archive = OutboundArchive.from_connection_string(
            proxy.connection_string(), archive_env["ARCHIVE_CONTAINER"], HASH_KEY, fail_open=True,
            flush_interval=1.0, outcomes="sync")
        archive_id = layout.new_archive_id()
        before = time.time()
        assert sms(acs, archive).send(PHONE_FROM, PHONE_TO, SECRET, archive_id=archive_id)[0].successful
        sent = time.time()
        deadline = time.monotonic() + 15
        while archive.pending and time.monotonic() < deadline:
            time.sleep(0.1)
        assert archive.pending == 0
        for key in (layout.message_key("sms", archive_id), layout.not_archived_key("sms", archive_id)):
            doc = archive.store.read_document(key)
            assert errors(doc) == []
            first, written = at(doc["first_attempt_at"]), at(doc["archived_at"])
            assert before - 1 <= first.timestamp() <= sent  # the failed attempt, before the send returned
            assert written.timestamp() >= sent and (written - first).total_seconds() >= 0.9  # when written
        # The sent outcome waits behind the record (order kept): written late too, its own time kept apart.
        outcome = archive.store.read_document(layout.sent_key("sms", archive_id))
        assert errors(outcome) == [] and at(outcome["archived_at"]) > at(outcome["first_attempt_at"])
    finally:
        proxy.stop()
