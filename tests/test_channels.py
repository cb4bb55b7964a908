"""SMS, WhatsApp (with media) and email events through archive_event, against a real Azurite and, for
media, the real azure-communication-messages SDK against the HTTPS ACS test server."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re

import pytest

from archiving import bootstrap
from archiving.ingest.archiver import archive_event, prepare
from archiving.ingest.types import CHANNEL_TYPES
from archiving.ingest.whatsapp import Inbound
from archiving.store import codec, keys
from archiving.store.records import user_hash
from archiving.store.schemas import errors as schema_errors

from .acs_server.media import add_media
from .conftest import HASH_KEY, load_vector, vector_files
from .host import Out, grid_event

KEY = HASH_KEY.encode()
CHANNEL_VECTORS = ("sms_", "advanced_message_", "email_")
_invoke = {}


@pytest.fixture(autouse=True)
def _function(app_functions):
    _invoke["fn"] = app_functions["archive_event"].get_user_function()


def deliver(raw: dict) -> Out:
    """As the host delivers an Event Grid schema event to the function."""
    out = Out()
    _invoke["fn"](event=grid_event(raw), rejected=out)
    return out


def channel_vectors(schema: str):
    return [p for p in vector_files(schema) if p.name.startswith(CHANNEL_VECTORS)]


def blobs(svc, prefix: str = "") -> dict[str, object]:
    out = {}
    for channel in ("sms/", "whatsapp/", "email/"):
        for name in svc.store.list_names(channel):
            if name.startswith(prefix) and not name.startswith(keys.MEDIA_ROOT):
                out[name] = svc.store.read_document(name)
    return out


def tags_of(svc, name: str) -> dict[str, str]:
    return svc.store.container.get_blob_client(name).get_blob_tags()


def sms(pascal: bool = True, **data) -> dict:
    event = copy.deepcopy(load_vector("eventgrid/event-grid-schema/sms_received.json"))
    if not pascal:
        event["data"] = {k[0].lower() + k[1:]: v for k, v in event["data"].items()}
    event["data"].update(data)
    return event


def whatsapp(event_id: str = "wa-0001", media: dict | None = None, **data) -> dict:
    """An inbound WhatsApp message (Event Grid schema) with only the parts a test asks for."""
    event = copy.deepcopy(load_vector("eventgrid/event-grid-schema/advanced_message_received.json"))
    event["id"] = event_id
    base = {k: event["data"][k] for k in ("channelType", "from", "to", "receivedTimestamp")}
    base.update({"content": "hello", "messageType": "text"})
    if media is not None:
        base["media"] = media
        base["messageType"] = "image"
    base.update(data)
    event["data"] = base
    return event


def report(status: str, at: str, message_id: str = "Outgoing_test-1", **data) -> dict:
    event = copy.deepcopy(load_vector("eventgrid/event-grid-schema/sms_delivery_report_received.json"))
    event["id"] = f"{message_id}-{status}-{at}"
    event["data"].update({"messageId": message_id, "deliveryStatus": status, "receivedTimestamp": at}, **data)
    return event


# -- the published examples ---------------------------------------------------------------------------


def test_every_channel_type_has_published_examples_in_both_schemas():
    for schema in ("event-grid-schema", "cloud-events-schema"):
        types = {json.loads(p.read_text())["eventType" if schema == "event-grid-schema" else "type"]
                 for p in channel_vectors(schema)}
        # The engagement report has no published example: built from the published schema below.
        assert types == set(CHANNEL_TYPES) - {"Microsoft.Communication.EmailEngagementTrackingReportReceived"}


@pytest.mark.parametrize("path", channel_vectors("event-grid-schema"), ids=lambda p: p.name)
def test_published_event_grid_examples_through_the_function(path, archive_env, services, acs, monkeypatch):
    raw = json.loads(path.read_text())
    media_id = (raw["data"].get("media") or {}).get("id")
    if media_id:
        monkeypatch.setenv("ACS_CONNECTION_STRING", acs.connection_string)
        for name, value in acs.trust_env().items():
            monkeypatch.setenv(name, value)
        bootstrap.reset()
        add_media(acs, media_id, b"\x89PNG published example", "image/png")
    out = deliver(raw)
    assert out.value is None, out.value  # not rejected
    (name, doc), = blobs(services).items()
    assert schema_errors(doc) == []
    assert doc["channel"] == keys.parse_channel_key(name).channel
    assert doc["kind"] == CHANNEL_TYPES[raw["eventType"]][0]
    tags = tags_of(services, name)
    common = {"kind", "channel", "at", "conversation", "message", "sender", "recipient"}
    assert set(tags) == (common | {"direction"} if doc["kind"].endswith("-message") else common)
    assert tags["sender"] == doc["from"]["hash"] and tags["recipient"] == doc["to"]["hash"]
    _no_raw_address(name, tags, doc)
    if media_id:
        assert doc["media"]["status"] == "stored"
        assert services.store.exists(doc["media"]["blob"])


@pytest.mark.parametrize("path", channel_vectors("cloud-events-schema"), ids=lambda p: p.name)
def test_published_cloud_events_examples_through_replay_path(path, media_services, acs):
    raw = json.loads(path.read_text())
    media_id = (raw["data"].get("media") or {}).get("id")
    if media_id:
        add_media(acs, media_id, b"cloud events media", "image/jpeg")
    svc = media_services
    outcome = archive_event(raw, svc.store, KEY, media=svc.media)
    assert outcome.status == "archived", outcome
    doc = svc.store.read_document(outcome.key)
    assert schema_errors(doc) == []
    _no_raw_address(outcome.key, tags_of(svc, outcome.key), doc)


def test_both_schemas_of_one_event_give_one_name():
    for name in ("sms_received.json", "sms_delivery_report_received.json", "email_delivery_report_received.json",
                 "advanced_message_received.json"):
        grid = prepare(load_vector(f"eventgrid/event-grid-schema/{name}"), KEY)
        cloud = prepare(load_vector(f"eventgrid/cloud-events-schema/{name}"), KEY)
        assert grid.key == cloud.key, name


def _no_raw_address(name: str, tags: dict, doc: dict) -> None:
    for party in (doc["from"], doc["to"]):
        digits = re.sub(r"\D", "", party["address"])
        for text in (name, *tags.values()):
            assert party["address"] not in text and party["normalized"] not in text
            if len(digits) >= 7:
                assert digits not in text


# -- parties and conversations --------------------------------------------------------------------------


def test_pascal_and_camel_case_sms_are_one_record(services):
    first = archive_event(sms(pascal=True), services.store, KEY)
    second = archive_event(sms(pascal=False), services.store, KEY)
    assert first.status == "archived" and second.status == "duplicate" and first.key == second.key
    doc = services.store.read_document(first.key)
    assert doc["content"] == "Great to connect with ACS events" and doc["segment_count"] == 1
    assert doc["from"]["normalized"] == "4:+15555555555"


def test_party_hash_is_over_e164_and_lower_case_address():
    assert keys.normalize_party("+1 (555) 555-5555") == keys.normalize_party("15555555555") == "4:+15555555555"
    assert keys.normalize_party("Test2@Contoso.ORG") == "test2@contoso.org"
    doc = prepare(sms(From="+1 555 555 1234"), KEY).document
    assert doc["from"]["hash"] == user_hash(KEY, "4:+15555551234")  # also a chat phone participant's hash


def test_one_prefix_per_business_counterpart_and_month(services):
    a = archive_event(sms(MessageId="m-1"), services.store, KEY)
    b = archive_event(sms(MessageId="m-2", ReceivedTimestamp="2020-09-18T00:30:00Z"), services.store, KEY)
    c = archive_event(sms(MessageId="m-3", From="+14255550000"), services.store, KEY)
    d = archive_event(sms(MessageId="m-4", ReceivedTimestamp="2020-10-01T00:00:00Z"), services.store, KEY)
    prefix = lambda key: key.split("/messages/")[0]  # noqa: E731
    assert prefix(a.key) == prefix(b.key)
    assert prefix(c.key) != prefix(a.key) and prefix(d.key) != prefix(a.key)
    assert prefix(d.key).split("/")[2] == prefix(a.key).split("/")[2]  # same conversation id, next month


# -- WhatsApp -------------------------------------------------------------------------------------------


def test_reaction_and_reply_with_context(services):
    reaction = whatsapp("wa-react", messageType="reaction", content=None,
                        reaction={"messageId": "out-42", "emoji": "👍"})
    reply = whatsapp("wa-reply", content="yes, Tuesday works", context={"from": "15555550100", "id": "out-42"})
    for event in (reaction, reply):
        outcome = archive_event(event, services.store, KEY)
        assert outcome.status == "archived"
    docs = blobs(services)
    by_id = {d["message_id"]: d for d in docs.values()}
    assert by_id["wa-react"]["reaction"] == {"messageId": "out-42", "emoji": "👍"}
    assert by_id["wa-react"]["content"] is None and by_id["wa-react"]["media"] is None
    assert by_id["wa-reply"]["context"] == {"from": "15555550100", "id": "out-42"}
    assert all(schema_errors(d) == [] for d in docs.values())


@pytest.fixture
def media_services(services, acs):
    svc = bootstrap.Services(settings=services.settings.__class__(
        **{**services.settings.__dict__, "acs_connection_string": acs.connection_string}),
        acs_options=acs.client_kwargs())
    yield svc
    svc.close()


@pytest.mark.parametrize("caption", ["the invoice", None])
def test_media_with_and_without_caption_is_stored_once_by_sha256(media_services, acs, caption):
    data = b"%PDF-1.7 " + bytes(range(256)) * 64
    add_media(acs, "media-inv", data, "application/pdf")
    media = {"id": "media-inv", "mimeType": "application/pdf", "fileName": "Rechnung März.pdf"}
    if caption:
        media["caption"] = caption
    svc = media_services
    before = acs.count(path=r"^/messages/streams/")
    first = archive_event(whatsapp("wa-m1", media=media), svc.store, KEY, media=svc.media)
    second = archive_event(whatsapp("wa-m2", media=media), svc.store, KEY, media=svc.media)
    assert first.status == second.status == "archived"
    assert acs.count(path=r"^/messages/streams/") - before == 2
    sha = hashlib.sha256(data).hexdigest()
    for outcome in (first, second):
        doc = svc.store.read_document(outcome.key)
        assert schema_errors(doc) == []
        assert doc["media"]["status"] == "stored" and doc["media"]["caption"] == caption
        assert doc["media"]["blob"] == keys.media_key(sha) and doc["media"]["size"] == len(data)
    assert list(svc.store.list_names(keys.MEDIA_ROOT)) == [keys.media_key(sha)]  # deduplicated
    raw, metadata = svc.store.read_raw(keys.media_key(sha))
    assert codec.decompress(raw) == data and metadata["sha256"] == sha
    assert metadata["mime_type"] == "application/pdf" and metadata["file_name"] == "Rechnung%20M%C3%A4rz.pdf"
    assert tags_of(svc, keys.media_key(sha)) == {"kind": "media", "channel": "whatsapp",
                                                   "at": "2024-03-22T17:06:11.261038Z"}
    # A redelivery reuses the archived entry: no second download.
    again = archive_event(whatsapp("wa-m1", media=media), svc.store, KEY, media=svc.media)
    assert again.status == "duplicate" and acs.count(path=r"^/messages/streams/") - before == 2


def test_media_gone_404_writes_the_record_with_a_marker(media_services, caplog):
    svc = media_services
    with caplog.at_level(logging.WARNING, logger="archiving.ingest.media"):
        outcome = archive_event(whatsapp("wa-gone", media={"id": "expired-media", "mimeType": "image/jpeg"}),
                                svc.store, KEY, media=svc.media)
    assert outcome.status == "archived"
    doc = svc.store.read_document(outcome.key)
    assert doc["media"]["status"] == "not-retrievable" and doc["media"]["blob"] is None
    assert "404" in doc["media"]["reason"] and schema_errors(doc) == []
    assert any("expired-media" in r.getMessage() and "not-retrievable" in r.getMessage() for r in caplog.records)


def test_media_transient_failure_raises_and_writes_nothing(media_services, acs):
    from azure.core.exceptions import HttpResponseError

    add_media(acs, "media-flaky", b"bytes", "image/jpeg")
    rule = acs.faults.add(503, path=r"^/messages/streams/media-flaky$")
    svc = media_services
    event = whatsapp("wa-flaky", media={"id": "media-flaky"})
    with pytest.raises(HttpResponseError):
        archive_event(event, svc.store, KEY, media=svc.media)
    assert rule.fired == 3  # the client's retries, within Event Grid's 30 s
    assert blobs(svc) == {} and list(svc.store.list_names(keys.MEDIA_ROOT)) == []
    acs.faults.remove(rule)
    assert archive_event(event, svc.store, KEY, media=svc.media).status == "archived"  # the redelivery


def test_media_over_the_size_limit_is_marked(media_services, acs):
    add_media(acs, "media-big", b"x" * 5000, "video/mp4")
    svc = media_services
    outcome = archive_event(whatsapp("wa-big", media={"id": "media-big"}), svc.store, KEY, media=svc.media,
                            media_max_bytes=4096)
    doc = svc.store.read_document(outcome.key)
    assert doc["media"]["status"] == "not-retrievable" and "MEDIA_MAX_BYTES" in doc["media"]["reason"]


def test_media_message_is_prepared_without_io():
    prepared = prepare(whatsapp("wa-p", media={"id": "m"}), KEY)
    assert isinstance(prepared, Inbound) and prepared.media.id == "m"


# -- reports --------------------------------------------------------------------------------------------


def test_duplicate_and_reordered_delivery_reports(services):
    late = report("Delivered", "2020-09-18T00:22:20.2855749Z")
    early = report("Sent", "2020-09-18T00:22:15Z")
    outcomes = [archive_event(e, services.store, KEY) for e in (late, early, late, copy.deepcopy(early))]
    assert [o.status for o in outcomes] == ["archived", "archived", "duplicate", "duplicate"]
    names = sorted(blobs(services))
    assert [n.rsplit("/", 1)[1] for n in names] == ["1600388535000-sent.json.lz4", "1600388540285-delivered.json.lz4"]
    assert len({n.rsplit("/reports/", 1)[0] for n in names}) == 1  # one message folder


def test_report_for_a_message_never_seen_and_across_months(services):
    outcome = archive_event(report("Delivered", "2020-10-01T00:00:05Z", message_id="Outgoing_unknown"),
                            services.store, KEY)
    assert outcome.status == "archived" and outcome.key.startswith("sms/202010/")
    hits = list(services.store.container.find_blobs_by_tags(
        f"\"message\" = '{keys.message_tag('Outgoing_unknown')}'"))
    assert [b.name for b in hits] == [outcome.key]


def test_email_engagement_from_the_published_schema(services):
    base = load_vector("eventgrid/event-grid-schema/email_delivery_report_received.json")
    event = {**base, "id": "eng-1", "eventType": "Microsoft.Communication.EmailEngagementTrackingReportReceived",
             "data": {"sender": "test2@contoso.org", "recipient": "Test1@Contoso.com",
                      "messageId": base["data"]["messageId"], "userActionTimeStamp": "2023-02-09T19:50:00Z",
                      "engagementContext": "https://contoso.com/offer", "userAgent": "Mozilla/5.0",
                      "engagement": "click"}}
    other_link = copy.deepcopy(event)
    other_link["data"]["engagementContext"] = "https://contoso.com/other"
    delivered = archive_event(base, services.store, KEY)
    clicks = [archive_event(e, services.store, KEY) for e in (event, other_link)]
    assert delivered.status == "archived" and [c.status for c in clicks] == ["archived", "archived"]
    folders = {o.key.rsplit("/reports/", 1)[0] for o in (delivered, *clicks)}
    assert len(folders) == 1  # beside the delivery report, same conversation (address case folded)
    doc = services.store.read_document(clicks[0].key)
    assert doc["kind"] == "email-engagement" and doc["engagement"] == "click" and schema_errors(doc) == []


@pytest.mark.parametrize("mutate, reason", [
    (lambda d: d.pop("MessageId"), "messageId"),
    (lambda d: d.update(From=""), "from"),
    (lambda d: d.update(Message=7), "message"),
    (lambda d: d.update(ReceivedTimestamp="yesterday"), "receivedTimestamp"),
    (lambda d: d.update(MessageId="../x"), "messageId"),
    (lambda d: d.update(SegmentCount="two"), "segmentCount"),
])
def test_malformed_channel_events_are_rejected_with_a_reason(mutate, reason):
    event = sms()
    mutate(event["data"])
    outcome = prepare(event, KEY)
    assert outcome.status == "rejected" and reason in outcome.rejection["reason"]


def test_whatsapp_without_media_id_is_rejected():
    outcome = prepare(whatsapp(media={"mimeType": "image/png"}), KEY)
    assert outcome.status == "rejected" and "media.id" in outcome.rejection["reason"]


# -- the read side: show, export, find, verify ------------------------------------------------------------


def _conversation(svc):
    """An SMS conversation of +14255550123 with the business number 15555555555: two inbound messages, a report
    of an outbound one, a report of one the archive never saw; plus a message of another customer."""
    customer = {"From": "+14255550123"}
    events = [sms(MessageId="in-1", ReceivedTimestamp="2020-09-18T00:27:45Z", Message="first", **customer),
              sms(MessageId="in-2", ReceivedTimestamp="2020-09-18T00:40:00Z", Message="second", **customer),
              report("Delivered", "2020-09-18T00:30:00Z", message_id="out-1", to="+14255550123"),
              report("Failed", "2020-09-30T23:59:59Z", message_id="out-2", to="14255550123"),
              sms(MessageId="other-1", From="+16175550000")]
    for e in events:
        assert archive_event(e, svc.store, KEY).status == "archived"


def test_show_a_conversation_by_the_two_parties_and_by_its_id(services):
    from archiving.read import conversations as conv

    _conversation(services)
    ids = conv.conversation_ids_between(KEY, "+1 425-555-0123", "15555555555")
    view = conv.load_conversation(services.store, ids)
    assert [m.message_id for m in view.messages] == ["in-1", "out-1", "in-2", "out-2"]
    assert [m.archived for m in view.messages] == [True, False, True, False]
    text = conv.render_text(view)
    assert "'first'" in text and "status Delivered" in text and conv.NOT_ARCHIVED in text
    by_id = conv.load_conversation(services.store, [view.messages[0].records[0][1]["conversation_id"]])
    assert [m.message_id for m in by_id.messages] == ["in-1", "out-1", "in-2", "out-2"]
    assert json.loads(conv.render_json(by_id))["messages"][1]["reports"][0]["document"]["status"] == "Delivered"


def test_show_an_email_delivery_history_in_order(services):
    from archiving.read import conversations as conv

    base = load_vector("eventgrid/event-grid-schema/email_delivery_report_received.json")
    later = copy.deepcopy(base)
    later["id"] = "later"
    later["data"].update(status="Bounced", deliveryAttemptTimeStamp="2023-03-01T00:00:00Z")  # next month
    for e in (later, base):
        archive_event(e, services.store, KEY)
    view = conv.load_message(services.store, base["data"]["messageId"])
    (message,) = view.messages
    assert [d["status"] for _, d in message.reports] == ["delivered", "Bounced"]
    assert {n.split("/")[1] for n, _ in message.reports} == {"202302", "202303"}


def test_export_and_find_cover_every_channel(services, tmp_path):
    from archiving.read.export import ExportRequest, export
    from archiving.read.find import find_user, text_line

    _conversation(services)
    archive_event(load_vector("eventgrid/event-grid-schema/chat_message_received.json"), services.store, KEY)
    result = export(services.store, ExportRequest("2020-01-01T00:00:00.000000Z", "2030-01-01T00:00:00.000000Z",
                                                  tmp_path / "all.csv", "csv"))
    assert result.counts["sms-message"] == 3 and result.counts["sms-report"] == 2 and result.counts["message"] == 1
    import csv

    rows = list(csv.DictReader((tmp_path / "all.csv").open(encoding="utf-8", newline="")))
    assert {r["channel"] for r in rows} == {"chat", "sms"}
    inbound = next(r for r in rows if r["message_id"] == "in-1")
    # A cell that starts with + is neutralized for spreadsheets (OWASP CSV injection): a leading '.
    assert inbound["content"] == "first" and inbound["sender_id"] == "'+14255550123"
    items = list(find_user(services.store, KEY, "+1 (425) 555-0123"))
    assert {i.document["message_id"] for i in items} == {"in-1", "in-2", "out-1", "out-2"}  # sent by and to it
    assert all("sms" in text_line(i) for i in items)
    assert list(find_user(services.store, KEY, "+19999999999")) == []


def test_verify_checks_channel_records_and_media(media_services, acs):
    from archiving.read.verify import verify

    svc = media_services
    _conversation(svc)
    add_media(acs, "media-v", b"verified bytes", "image/png")
    archive_event(whatsapp("wa-v", media={"id": "media-v"}), svc.store, KEY, media=svc.media)
    names = [n for root in ("sms/", "whatsapp/") for n in svc.store.list_names(root)]
    assert len(names) == 7 and all(p == [] for _, p in verify(svc.store, names))
    # Damage: media bytes replaced (sha256 no longer matches), a record under the wrong message id.
    media_name = next(n for n in names if n.startswith(keys.MEDIA_ROOT))
    svc.store.container.upload_blob(media_name, codec.encode_bytes(b"other bytes").data, overwrite=True,
                                    metadata={"sha256": hashlib.sha256(b"other bytes").hexdigest()})
    record = next(n for n in names if n.endswith("/in-1/received.json.lz4"))
    moved = record.replace("/in-1/", "/in-9/")
    data, metadata = svc.store.read_raw(record)
    svc.store.create_blob(moved, data, metadata)
    found = {n: p[0] for n, p in verify(svc.store, [media_name, moved]) if p}
    assert found[media_name].kind == "corrupt" and "name" in found[media_name].detail
    assert found[moved].kind == "invalid" and "message_id" in found[moved].detail


def test_cli_show_find_verify_every_channel(archive_env, services):
    from .test_cli import cli

    _conversation(services)
    shown = cli("show", "--between", "+14255550123", "15555555555", env=archive_env)
    assert shown.returncode == 0, shown.stderr
    assert "sms inbound message in-1" in shown.stdout and "message not in the archive" in shown.stdout
    conversation = shown.stdout.splitlines()[0].split()[1].rstrip(",")
    by_id = cli("show", conversation, "--format", "json", env=archive_env)
    assert by_id.returncode == 0 and len(json.loads(by_id.stdout)["messages"]) == 4
    assert cli("show", "--message", "nothing-here", env=archive_env).returncode == 3
    found = cli("find", "--sender", "+1 425 555 0123", env=archive_env)
    assert found.returncode == 0 and found.stdout.count("\n") == 4, found.stdout
    verified = cli("verify", env=archive_env)
    assert verified.returncode == 0 and "5 blobs verified" in verified.stdout, verified.stdout


def test_the_documented_example_names_are_the_ones_the_code_produces():
    from .test_docs import FORMAT_DOC, sections

    body = sections(FORMAT_DOC.read_text(encoding="utf-8"), 3)["13.9 Example: the published examples"]
    rows = re.findall(r"^\| `(\w+\.json)` \| `((?:sms|whatsapp|email)/[^`]+)` \|$", body, re.M)
    assert len(rows) == 5
    for vector, name in rows:
        assert prepare(load_vector(f"eventgrid/event-grid-schema/{vector}"), b"demo-only-hash-key").key == name
    shown = json.loads(re.search(r"^```json\n(.*?)^```", body, re.S | re.M).group(1))
    record = prepare(load_vector("eventgrid/event-grid-schema/sms_received.json"), b"demo-only-hash-key")
    assert {**shown, "archived_at": None} == {**record.document, "archived_at": None}
    assert schema_errors(shown) == []


def test_export_names_and_skips_a_damaged_channel_record(services, tmp_path, caplog):
    from archiving.read.export import ExportRequest, export

    _conversation(services)
    name = next(n for n in services.store.list_names("sms/") if n.endswith("/in-2/received.json.lz4"))
    blob = services.store.container.get_blob_client(name)
    blob.set_blob_metadata({"sha256": "0" * 64})  # the content no longer matches
    with caplog.at_level(logging.WARNING, logger="archiving.read.conversations"):
        result = export(services.store, ExportRequest("2020-01-01T00:00:00.000000Z", "2030-01-01T00:00:00.000000Z",
                                                      tmp_path / "x.jsonl"))
    assert result.counts["sms-message"] == 2  # of 3
    assert [(d.name, d.kind) for d in result.findings.items] == [(name, "corrupt")]  # named, counted, skipped


def test_media_api_of_the_test_server_checks_the_hmac_signature(acs):
    import base64
    import os

    from azure.communication.messages import NotificationMessagesClient
    from azure.core.exceptions import ClientAuthenticationError

    add_media(acs, "media-auth", b"signed bytes", "image/png")
    good = NotificationMessagesClient.from_connection_string(acs.connection_string, **acs.client_kwargs())
    assert b"".join(good.download_media("media-auth")) == b"signed bytes"
    wrong = f"endpoint={acs.endpoint};accesskey={base64.b64encode(os.urandom(32)).decode()}"
    bad = NotificationMessagesClient.from_connection_string(wrong, **acs.client_kwargs())
    with pytest.raises(ClientAuthenticationError):
        b"".join(bad.download_media("media-auth"))
    assert acs.count(path=r"^/messages/streams/media-auth$", status=401) == 1


def test_export_of_one_conversation(services, tmp_path):
    from archiving.read import conversations as conv
    from archiving.read.export import ExportRequest, export

    _conversation(services)
    conversation = conv.conversation_ids_between(KEY, "15555555555", "+14255550123")[0]
    result = export(services.store, ExportRequest("2020-01-01T00:00:00.000000Z", "2030-01-01T00:00:00.000000Z",
                                                  tmp_path / "one.jsonl", thread_id=conversation))
    lines = [json.loads(line) for line in (tmp_path / "one.jsonl").read_text().splitlines()]
    assert result.items == 4 and {line["thread_id"] for line in lines} == {conversation}
    assert {line["document"]["message_id"] for line in lines} == {"in-1", "in-2", "out-1", "out-2"}  # not other-1
