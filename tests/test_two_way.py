"""Two-way conversations (issue 19): what the business sent comes out of every read door, and no number or
address is in any name or tag. Real Azurite, the real ACS SDKs against the HTTPS ACS test server."""

from __future__ import annotations

import copy
import csv
import email
import email.policy
import io
import json
import re
from datetime import timedelta

import pytest

from archiving.ingest.archiver import archive_event
from archiving.outbound import OutboundArchive, layout
from archiving.outbound.clients import (ArchivingChatThreadClient, ArchivingEmailClient,
                                        ArchivingNotificationMessagesClient, ArchivingSmsClient)
from archiving.store import keys
from archiving.timefmt import iso, utcnow

from .conftest import HASH_KEY, load_vector
from .test_integrity import seal_env  # noqa: F401 - the seal's fixture (key and seal container)

KEY = HASH_KEY.encode()
BUSINESS, CUSTOMER = "+18005550100", "+14255550123"
SHOP, ANN = "DoNotReply@contoso.example", "ann@example.com"
WA_CHANNEL = "3f870487-d59e-4c01-82dd-46b9d388aa9d"


@pytest.fixture
def outbound(services):
    return OutboundArchive(services.store.container, HASH_KEY, outcomes="sync")


def sms_client(acs, archive):
    return ArchivingSmsClient.from_connection_string(acs.connection_string, archive=archive, **acs.client_kwargs())


def email_client(acs, archive):
    return ArchivingEmailClient.from_connection_string(acs.connection_string, archive=archive, **acs.client_kwargs())


def wa_client(acs, archive):
    return ArchivingNotificationMessagesClient.from_connection_string(acs.connection_string, archive=archive,
                                                                      **acs.client_kwargs())


def at(offset_s: float = 0) -> str:
    return iso(utcnow() + timedelta(seconds=offset_s))


def sms_in(message_id: str, when: str, text: str = "yes please", sender: str = CUSTOMER, to: str = BUSINESS) -> dict:
    event = copy.deepcopy(load_vector("eventgrid/event-grid-schema/sms_received.json"))
    event["id"] = f"ev-{message_id}"
    event["data"] = {"MessageId": message_id, "From": sender, "To": to, "Message": text, "ReceivedTimestamp": when}
    return event


def sms_report(message_id: str, status: str, when: str, to: str = CUSTOMER, sender: str = BUSINESS, **extra) -> dict:
    event = copy.deepcopy(load_vector("eventgrid/event-grid-schema/sms_delivery_report_received.json"))
    event["id"] = f"ev-{message_id}-{status}-{when}"
    event["data"] = {"messageId": message_id, "from": sender, "to": to, "deliveryStatus": status,
                     "receivedTimestamp": when, **extra}
    return event


def email_report(message_id: str, status: str, when: str, recipient: str = ANN, sender: str = SHOP) -> dict:
    event = copy.deepcopy(load_vector("eventgrid/event-grid-schema/email_delivery_report_received.json"))
    event["id"] = f"ev-{message_id}-{status}"
    event["data"] = {"sender": sender, "recipient": recipient, "messageId": message_id, "status": status,
                     "deliveryAttemptTimeStamp": when}
    return event


def email_message(to: str = ANN) -> dict:
    import base64

    return {"senderAddress": SHOP, "content": {"subject": "Your statement", "plainText": "Balance: 12.00"},
            "recipients": {"to": [{"address": to, "displayName": "Ann"}]},
            "attachments": [{"name": "statement.txt", "contentType": "text/plain",
                             "contentInBase64": base64.b64encode(b"statement body").decode()}]}


def sms_conversation(acs, services, outbound):
    """One sent SMS (business -> customer), its delivery report, the customer's reply."""
    sent = sms_client(acs, outbound).send(BUSINESS, CUSTOMER, "Shall we book you in?", enable_delivery_report=True)
    acs_id = sent[0].message_id
    for event in (sms_report(acs_id, "Delivered", at(2)), sms_in("Incoming_reply-1", at(60))):
        assert archive_event(event, services.store, KEY).status == "archived"
    return acs_id


# -- 6: no personal data in names or tags --------------------------------------------------------------

PII = ("+14255550199", "14255550199", "4255550199", "bob@example.com", "bob=40example.com", "example.com",
       CUSTOMER, CUSTOMER[1:], "ann@example.com", "Ann@Example.com", BUSINESS[1:])


def all_names_and_tags(store):
    for blob in store.container.list_blobs(include=["tags"]):
        yield blob.name, dict(blob.tags or {})


def assert_no_pii(store):
    seen = 0
    for name, tags in all_names_and_tags(store):
        seen += 1
        values = [name, *tags.values(), *(keys.untag_value(v) for v in tags.values())]
        for text in values:
            for secret in PII:
                assert secret.lower() not in text.lower(), (name, tags, secret)
            # A number written with separators, or split by them: its digits never appear in a row.
            digits = re.sub(r"[^0-9]", "", text)
            for number in ("4255550199", "4255550123", "4255550124", "8005550100"):
                assert number not in digits, (name, tags, number)
    assert seen > 10


def test_no_number_or_address_in_any_name_or_tag(acs, acs_env, app_functions, services, outbound, caplog):
    import logging

    from .test_outbound import http

    caplog.set_level(logging.INFO)
    store = services.store
    shaped = ("+14255550199", "bob@example.com", "14255550199")
    events = []
    for n, mid in enumerate(shaped):
        events.append(sms_in(mid, at(n)))
        events.append(sms_report(mid, "Suppressed bob@example.com", at(n + 1)))
        events.append(email_report(mid, "Suppressed bob@example.com", at(n + 2)))
        wa = copy.deepcopy(load_vector("eventgrid/event-grid-schema/advanced_message_received.json"))
        wa["id"] = mid
        wa["data"] = {"channelType": "whatsapp", "from": CUSTOMER, "to": WA_CHANNEL, "content": "hi",
                      "messageType": "text", "receivedTimestamp": at(n)}
        events.append(wa)
        war = copy.deepcopy(load_vector("eventgrid/event-grid-schema/advanced_message_delivery_status_updated.json"))
        war["id"] = f"war-{n}"
        war["data"].update(messageId=mid, status="+14255550199", to=CUSTOMER, **{"from": WA_CHANNEL})
        events.append(war)
        engagement = email_report(mid, "x", at(n + 3))
        engagement["eventType"] = "Microsoft.Communication.EmailEngagementTrackingReportReceived"
        engagement["data"] = {"sender": SHOP, "recipient": ANN, "messageId": mid, "engagementType": "view",
                              "userActionTimeStamp": at(n + 3), "engagementContext": "bob@example.com"}
        events.append(engagement)
    for event in events:
        outcome = archive_event(event, store, KEY)
        assert outcome.status == "archived", (event["eventType"], outcome)
    # Callers: archive ids must be UUIDs; an email operation id too; a repeatability key becomes one.
    with pytest.raises(ValueError, match="UUID"):
        sms_client(acs, outbound).send(BUSINESS, CUSTOMER, "x", archive_id="+14255550199")
    with pytest.raises(ValueError, match="UUID"):
        email_client(acs, outbound).begin_send(email_message(), operation_id="bob@example.com")
    code, body, _ = http(app_functions, "sms", {"from": BUSINESS, "to": CUSTOMER, "message": "x",
                                                "archive_id": "+14255550199"})
    assert code == 400 and "UUID" in body["error"]["message"]
    code, body, _ = http(app_functions, "email", {"message": email_message(), "operation_id": "bob@example.com"})
    assert code == 400 and "UUID" in body["error"]["message"]
    code, body, _ = http(app_functions, "sms", {"from": BUSINESS, "to": [CUSTOMER, "+14255550199"], "message": "x"},
                         {"Repeatability-Request-ID": "bob@example.com"})
    assert code == 200 and layout.check_archive_id(body["archive_id"])
    code, body, _ = http(app_functions, "email", {"message": email_message("bob@example.com")})
    assert code == 200
    wa_client(acs, outbound).send({"kind": "text", "channelRegistrationId": WA_CHANNEL, "to": ["+14255550199"],
                                   "content": "hi"}, headers={"Repeatability-Request-ID": "+14255550199"})
    thread_id = acs.create_thread("support", acs_env["ARCHIVER_USER_ID"], [])
    code, body, _ = http(app_functions, "chat", {"thread_id": thread_id, "content": "hello"})
    assert code == 200  # chat message ids are digits: their by-acs-id link is hashed
    assert_no_pii(store)
    for secret in ("+14255550199", "bob@example.com", "14255550199"):
        assert secret not in caplog.text


# -- 1: one conversation, both directions ------------------------------------------------------------


def test_show_an_sms_conversation_both_directions_in_order(acs, archive_env, services, outbound):
    from archiving.read import conversations as conv

    from .test_cli import cli

    acs_id = sms_conversation(acs, services, outbound)
    # A failed send and a record whose outcome never came, in the same conversation.
    from azure.core.exceptions import HttpResponseError

    acs.faults.add(400, path=r"^/sms$", method="POST", times=1, retry_after=None)
    with pytest.raises(HttpResponseError):
        sms_client(acs, outbound).send(BUSINESS, CUSTOMER, "refused")
    lost = layout.new_archive_id()
    outbound.begin("sms", lost, {"sender": layout.party(KEY, "sms", BUSINESS, "from"),
                                 "recipients": [layout.party(KEY, "sms", CUSTOMER, "to")], "subject": None,
                                 "body": {"text": "lost"}, "template": None, "attachments": [],
                                 "correlation": {}}, BUSINESS)  # archived, then the process died
    ids = conv.conversation_ids_between(KEY, CUSTOMER, BUSINESS)
    view = conv.load_conversation(services.store, ids, hash_key=KEY)
    assert [(m.direction, m.outcome) for m in view.messages] == [
        ("outbound", "sent"), ("outbound", "failed"), ("outbound", "outcome unknown"), ("inbound", None)]
    sent = view.messages[0]
    assert sent.delivery_status == "Delivered" and sent.acs_ids == [acs_id]
    text = conv.render_text(view)
    assert "sms outbound message" in text and "[sent; delivery Delivered]" in text and "'Shall we book you in?'" in text
    assert text.index("Shall we book") < text.index("'refused'") < text.index("'lost'") < text.index("yes please")
    assert "[failed]" in text
    assert "message not in the archive" not in text  # the report joined its outbound message

    shown = cli("show", "--between", CUSTOMER, BUSINESS, env=archive_env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("outbound message") == 3 and "inbound message Incoming_reply-1" in shown.stdout
    conversation = shown.stdout.splitlines()[0].split()[1].rstrip(",")
    as_json = json.loads(cli("show", conversation, "--format", "json", env=archive_env).stdout)
    assert [m["direction"] for m in as_json["messages"]] == ["outbound", "outbound", "outbound", "inbound"]
    assert as_json["messages"][0]["delivery_status"] == "Delivered"
    rows = list(csv.DictReader(io.StringIO(cli("show", conversation, "--format", "csv", env=archive_env).stdout)))
    assert [(r["direction"], r["outcome"]) for r in rows] == [
        ("outbound", "sent"), ("outbound", "failed"), ("outbound", "outcome unknown"), ("inbound", "")]
    assert rows[0]["content"] == "Shall we book you in?" and rows[0]["delivery_status"] == "Delivered"


def test_email_and_its_reports_are_one_conversation(acs, services, outbound):
    from archiving.read import conversations as conv

    result = email_client(acs, outbound).begin_send(email_message()).result()
    archive_event(email_report(result["id"], "Delivered", at(3)), services.store, KEY)
    view = conv.load_conversation(services.store, conv.conversation_ids_between(KEY, SHOP, ANN), hash_key=KEY)
    (message,) = view.messages
    assert message.direction == "outbound" and message.message_id == result["id"]
    assert message.outcome == "sent" and message.delivery_status == "Delivered"
    assert "statement.txt sha256=" in conv.render_text(view)


def test_show_message_by_its_acs_id_finds_what_the_business_sent(acs, archive_env, services, outbound):
    """``show --message`` with the id a report carries: an SMS's ACS id (through its by-acs-id link) or an email's
    operation id shows the outbound record with its outcome and delivery; a message known only by its reports
    (sent without the archive) is the business's, outbound, marked as not in the archive."""
    from .test_cli import cli

    acs_id = sms_conversation(acs, services, outbound)
    result = email_client(acs, outbound).begin_send(email_message()).result()
    archive_event(email_report(result["id"], "Delivered", at(3)), services.store, KEY)
    stray = "Outgoing_20261110093000aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"  # sent by another system
    archive_event(sms_report(stray, "Failed", at(4)), services.store, KEY)

    for message_id, channel in ((acs_id, "sms"), (result["id"], "email")):
        shown = cli("show", "--message", message_id, "--format", "json", env=archive_env)
        assert shown.returncode == 0, shown.stderr
        (m,) = json.loads(shown.stdout)["messages"]
        assert (m["channel"], m["direction"], m["outcome"], m["delivery_status"]) == (
            channel, "outbound", "sent", "Delivered"), m
        text = cli("show", "--message", message_id, env=archive_env).stdout
        assert f"{channel} outbound message" in text and "message not in the archive" not in text

    shown = cli("show", "--message", stray, "--format", "json", env=archive_env)
    (m,) = json.loads(shown.stdout)["messages"]
    assert (m["direction"], m["outcome"], m["delivery_status"]) == ("outbound", None, "Failed"), m
    text = cli("show", "--message", stray, env=archive_env).stdout
    assert "sms outbound message" in text and "message not in the archive" in text


def test_show_message_reads_the_by_acs_id_link_once(acs, services, outbound):
    """The link that finds the outbound message also joins its reports: read once, not once per use."""
    from archiving.outbound import layout
    from archiving.read import conversations as conv
    from archiving.store.archive import ArchiveStore

    class Counting(ArchiveStore):  # the same store, counting what it is asked for by name
        def __init__(self, container):
            super().__init__(container)
            self.asked: list[str] = []

        def exists(self, key):
            self.asked.append(key)
            return super().exists(key)

        def read_raw(self, key):
            self.asked.append(key)
            return super().read_raw(key)

    acs_id = sms_conversation(acs, services, outbound)
    store = Counting(services.store.container)
    view = conv.load_message(store, acs_id, hash_key=KEY)
    assert [(m.direction, m.outcome, m.delivery_status) for m in view.messages] == [("outbound", "sent", "Delivered")]
    link = layout.by_acs_id_key("sms", acs_id, KEY)
    assert store.asked.count(link) == 2  # does it exist, then its one read


def test_a_second_recipient_finds_the_message_through_its_index_blob(acs, services, outbound):
    from archiving.read import conversations as conv

    other = "+14255550124"
    sms_client(acs, outbound).send(BUSINESS, [CUSTOMER, other], "to both")
    for party in (CUSTOMER, other):
        view = conv.load_conversation(services.store, conv.conversation_ids_between(KEY, party, BUSINESS), hash_key=KEY)
        assert [(m.direction, m.outcome) for m in view.messages] == [("outbound", "sent")], party


def test_backfill_indexes_records_written_before(acs, archive_env, services, outbound):
    from archiving.read import conversations as conv

    from .test_cli import cli

    sms_client(acs, outbound).send(BUSINESS, [CUSTOMER, "+14255550124"], "old message")
    # As written before issue 19: no conversation tags, no index blobs.
    for blob in services.store.container.list_blobs(name_starts_with="outbound/", include=["tags"]):
        if blob.name.startswith("outbound/by-conversation/"):
            services.store.container.delete_blob(blob.name)
        elif blob.tags and "conversation" in blob.tags:
            tags = {k: v for k, v in blob.tags.items() if k not in ("conversation", "recipient", "direction")}
            services.store.container.get_blob_client(blob.name).set_blob_tags(tags)
    ids = conv.conversation_ids_between(KEY, "+14255550124", BUSINESS)
    assert conv.load_conversation(services.store, ids, hash_key=KEY).empty
    dry = cli("outbound", "index", "--dry-run", env=archive_env)
    assert dry.returncode == 0 and dry.stdout.startswith("1 outbound records"), dry.stdout
    done = cli("outbound", "index", env=archive_env)
    assert done.returncode == 0 and "2 blobs tagged, 1 index blobs written" in done.stdout, done.stdout
    assert [m.direction for m in conv.load_conversation(services.store, ids, hash_key=KEY).messages] == ["outbound"]
    again = cli("outbound", "index", env=archive_env)
    assert again.stdout.startswith("0 outbound records") and "1 indexed already" in again.stdout


# -- 2, 3: export and find ----------------------------------------------------------------------------


def test_export_jsonl_and_csv_hold_both_directions(acs, archive_env, services, outbound, tmp_path):
    from .test_cli import cli

    sms_conversation(acs, services, outbound)
    sent_email = email_client(acs, outbound).begin_send(email_message()).result()
    day = utcnow().strftime("%Y-%m-%d")
    out = tmp_path / "day.jsonl"
    done = cli("export", "--from", day, "--to", day, "--format", "jsonl", "--out", str(out), env=archive_env)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    messages = sorted((x for x in lines if x.get("direction")), key=lambda x: x["at"])
    assert [(x["channel"], x["direction"]) for x in messages] == [
        ("sms", "outbound"), ("email", "outbound"), ("sms", "inbound")]
    sms_out, email_out, reply = messages
    assert sms_out["outcome"] == "sent" and sms_out["content"] == "Shall we book you in?"
    assert sms_out["from"] == BUSINESS and sms_out["to"] == CUSTOMER and sms_out["thread_id"] == reply["thread_id"]
    assert sms_out["source"].startswith("outbound/sms/") and len(sms_out["source_sha256"]) == 64
    assert email_out["document"]["archive_id"] == sent_email["id"]
    assert email_out["attachments"][0]["name"] == "statement.txt" and len(email_out["attachments"][0]["sha256"]) == 64
    manifest = json.loads((tmp_path / "day.jsonl.manifest.json").read_text())
    assert manifest["counts"]["outbound-message"] == 2
    out_csv = tmp_path / "day.csv"
    assert cli("export", "--from", day, "--to", day, "--format", "csv", "--out", str(out_csv),
               env=archive_env).returncode == 0
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8-sig", newline="")))
    outbound_rows = [r for r in rows if r["direction"] == "outbound"]
    assert {r["channel"] for r in outbound_rows} == {"sms", "email"} and all(r["outcome"] == "sent" for r in outbound_rows)
    assert any("statement.txt sha256=" in r["attachments"] for r in outbound_rows)


def test_find_by_either_party_returns_both_directions(acs, archive_env, services, outbound):
    from .test_cli import cli

    sms_conversation(acs, services, outbound)
    email_client(acs, outbound).begin_send(email_message()).result()
    found = cli("find", "--sender", "+1 (425) 555-0123", "--format", "jsonl", env=archive_env)
    assert found.returncode == 0, found.stderr
    items = [json.loads(line) for line in found.stdout.splitlines()]
    assert sorted((i["kind"], i.get("direction")) for i in items) == [
        ("outbound-message", "outbound"), ("sms-message", "inbound"), ("sms-report", None)]
    by_address = cli("find", "--sender", "Ann@Example.com", env=archive_env)
    assert by_address.returncode == 0 and "outbound-message outbound" in by_address.stdout, by_address.stderr
    assert "[sent]" in by_address.stdout and "Balance: 12.00" in by_address.stdout


def test_rsmf_holds_outbound_sms_and_eml_holds_the_email(acs, services, outbound, tmp_path):
    from archiving.read.rsmf import MANIFEST, RsmfRequest
    from archiving.read.rsmf_export import export_rsmf
    from archiving.read.verified import Findings

    from .test_rsmf import check_file, custom, rsmf_files

    acs_id = sms_conversation(acs, services, outbound)
    sent = email_client(acs, outbound).begin_send(email_message()).result()
    day = utcnow().strftime("%Y-%m-%d")
    from archiving.read.scan import parse_bound

    findings = Findings()
    result = export_rsmf(services.store, RsmfRequest(parse_bound(day), parse_bound(day, end=True), tmp_path),
                         hash_key=KEY, findings=findings)
    assert not findings, findings.items
    (f,) = rsmf_files(tmp_path)
    check_file(f, services.store)
    events = f.manifest["events"]
    assert [e["direction"] for e in events] == ["outgoing", "incoming"]
    out = events[0]
    business = next(p for p in f.manifest["participants"] if p["id"] == out["participant"])
    assert f.manifest["conversations"][0]["custodian"] == business["id"]
    assert out["body"] == "Shall we book you in?" and custom(out)["send_outcome"] == ["sent"]
    assert [r["action"] for r in out["read_receipts"]] == ["delivered"]
    assert acs_id not in [e["id"] for e in events]  # one event: the report joined its message
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    (entry,) = manifest["emails"]
    eml = (tmp_path / entry["file"]).read_bytes()
    import hashlib

    assert entry["sha256"] == hashlib.sha256(eml).hexdigest() and entry["archive_id"] == sent["id"]
    assert entry["source"] == layout.message_key("email", sent["id"]) and entry["outcome"] == "sent"
    parsed = email.message_from_bytes(eml, policy=email.policy.default)
    assert parsed["Subject"] == "Your statement" and parsed["From"].addresses[0].addr_spec == SHOP
    assert parsed["To"].addresses[0].addr_spec == ANN
    assert parsed.get_body(("plain",)).get_content().strip() == "Balance: 12.00"
    (attachment,) = list(parsed.iter_attachments())
    assert attachment.get_filename() == "statement.txt" and attachment.get_content() == "statement body"
    assert result.emails == manifest["emails"]


def test_one_day_rsmf_reads_that_day_only(acs, services, outbound, tmp_path):
    """A damaged blob of another day, in another conversation, does not fail a one-day export."""
    from archiving.read.rsmf import RsmfRequest
    from archiving.read.rsmf_export import export_rsmf
    from archiving.read.scan import parse_bound
    from archiving.read.verified import Findings

    sms_conversation(acs, services, outbound)
    now = utcnow()
    same_month = now + timedelta(days=-1 if now.day > 1 else 1)  # what the month listing used to read
    other_day = sms_in("Incoming_other-day", iso(same_month), sender="+16175550000")
    key = archive_event(other_day, services.store, KEY).key
    data, metadata = services.store.read_raw(key)
    tags = services.store.container.get_blob_client(key).get_blob_tags()
    services.store.container.upload_blob(key, data[:-3], overwrite=True, metadata=metadata, tags=tags)  # truncated
    day = utcnow().strftime("%Y-%m-%d")
    findings = Findings()
    export_rsmf(services.store, RsmfRequest(parse_bound(day), parse_bound(day, end=True), tmp_path),
                hash_key=KEY, findings=findings)
    assert not findings


# -- 4: verify and the seal cover what the business sent ---------------------------------------------------


def test_whole_archive_verify_reads_outbound_and_passes(acs, archive_env, services, outbound):
    from .test_cli import cli

    sms_conversation(acs, services, outbound)
    sms_client(acs, outbound).send(BUSINESS, [CUSTOMER, "+14255550124"], "to both")
    email_client(acs, outbound).begin_send(email_message()).result()
    wa_client(acs, outbound).send({"kind": "text", "channelRegistrationId": WA_CHANNEL, "to": [CUSTOMER],
                                   "content": "hi"})
    done = cli("verify", env=archive_env)
    assert done.returncode == 0, done.stdout + done.stderr
    outbound_blobs = len(list(services.store.list_names("outbound/")))
    assert f"outbound/ {outbound_blobs}" in done.stderr and "sms/ 2" in done.stderr and "chat/ 0" in done.stderr
    only = cli("verify", "--prefix", "outbound/", env=archive_env)
    assert only.returncode == 0 and f"{outbound_blobs} blobs verified" in only.stdout, only.stdout
    # Damage is found: an attachment whose bytes changed, a record moved under another archive id.
    from archiving.store import codec

    attachment = next(n for n in services.store.list_names("outbound/attachments/"))
    services.store.container.upload_blob(attachment, codec.encode_bytes(b"changed").data, overwrite=True,
                                         metadata={"sha256": codec.sha256_hex(b"changed")}, tags={"kind": "outbound-attachment"})
    record = next(n for n in services.store.list_names("outbound/sms/") if n.endswith("/message.json.lz4"))
    data, metadata = services.store.read_raw(record)
    moved = layout.message_key("sms", layout.new_archive_id())
    services.store.container.upload_blob(moved, data, metadata=metadata,
                                         tags=services.store.container.get_blob_client(record).get_blob_tags())
    bad = cli("verify", "--prefix", "outbound/", env=archive_env)
    assert bad.returncode == 1
    lines = {line.split("\t")[1]: line.split("\t")[0] for line in bad.stdout.splitlines() if "\t" in line}
    assert lines == {attachment: "corrupt", moved: "invalid"}, bad.stdout


def test_the_seal_seals_outbound_records(acs, seal_env):
    """Every outbound blob (records, outcomes, links, index blobs, attachments) is in the sealed log, and a
    changed one is named by the seal's verify."""
    from archiving import bootstrap
    from archiving.integrity.seal import seal
    from archiving.integrity.verify import verify_log
    from archiving.settings import Settings

    svc = bootstrap.Services(settings=Settings.from_env(seal_env), profile=bootstrap.BATCH_PROFILE)
    try:
        archive = OutboundArchive(svc.store.container, HASH_KEY, outcomes="sync")
        sms_client(acs, archive).send(BUSINESS, [CUSTOMER, "+14255550124"], "sealed")
        email_client(acs, archive).begin_send(email_message()).result()
        written = sorted(svc.store.list_names("outbound/"))
        kinds = {n.split("/")[1] for n in written}
        assert kinds == {"sms", "email", "by-acs-id", "by-conversation", "attachments"}
        result = seal(svc)
        assert result.status == "sealed" and result.leaves == len(written)
        report = verify_log(svc)
        assert report.problems == [] and report.unsealed == [] and report.blobs_ok == len(written)
        record = next(n for n in written if n.endswith("/message.json.lz4"))
        from archiving.store import codec

        doc = svc.store.read_document(record)
        altered = codec.encode({**doc, "subject": "altered"})  # content and its sha256 metadata both rewritten
        svc.store.container.upload_blob(record, altered.data, overwrite=True, metadata={"sha256": altered.sha256})
        changed = verify_log(svc)
        assert any(p.subject.endswith(record) for p in changed.problems), changed.problems
    finally:
        svc.close()


# -- 5: one way to print untrusted text --------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

HOSTILE = st.one_of(
    st.sampled_from(["Failed\x1b[2J\x1b[H\x1b[32mALL GOOD", "\u202eevil", "a\x00b", "line\nbreak", "cr\rhere",
                     "\x9b31m", "\u2028sep", "\x07bell", "\u2066iso\u2069", "\x1b]0;title\x07"]),
    st.text(alphabet=st.characters(codec="utf-8", categories=("Cc", "Cf", "Zl", "Zp", "L", "N", "P")), max_size=12),
)
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def _screen_safe(text: str) -> None:
    import unicodedata

    for ch in text:
        assert ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Zl", "Zp"), repr(ch)
        assert ch not in _BIDI, repr(ch)


def _records(h):
    """One document of every SMS, WhatsApp, email and outbound kind, each field the hostile string ``h``."""
    party = {"address": h, "kind": "unknown", "normalized": h, "hash": "0" * 64}
    out_party = {"address": h, "hash": "0" * 64, "role": h, "display_name": h}
    head = {"schema_version": 1, "conversation_id": "0" * 16 + "-" + "1" * 16, "message_id": h, "from": party,
            "to": party, "event": {"id": h}, "archived_at": h}
    return [
        {**head, "channel": "sms", "kind": "sms-message", "action": h, "content": h, "received_at": h},
        {**head, "channel": "sms", "kind": "sms-report", "status": h, "status_details": h, "reported_at": h, "tag": h},
        {**head, "channel": "whatsapp", "kind": "whatsapp-message", "action": h, "content": h, "received_at": h,
         "media": {"file_name": h, "mime_type": h, "caption": h, "status": h, "blob": h, "reason": h, "sha256": h},
         "reaction": {"emoji": h, "messageId": h}, "context": {"id": h}, "button": {"text": h}},
        {**head, "channel": "whatsapp", "kind": "whatsapp-report", "status": h, "reported_at": h},
        {**head, "channel": "email", "kind": "email-report", "status": h, "status_details": h, "reported_at": h},
        {**head, "channel": "email", "kind": "email-engagement", "engagement": h, "engagement_context": h,
         "reported_at": h},
        {"schema_version": 1, "channel": "email", "kind": "outbound-message", "archive_id": h, "archived_at": h,
         "sender": out_party, "recipients": [out_party], "subject": h, "body": {"text": h, "html": h},
         "template": {"name": h, "language": h}, "attachments": [{"name": h, "sha256": h, "blob": h}], "via": h},
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=HOSTILE)
def test_every_text_view_neutralizes_hostile_stored_text(h):
    from archiving.outbound.read import OutboundView, render_text as outbound_text
    from archiving.read import conversations as conv
    from archiving.read.export import Item
    from archiving.read.find import text_line
    from archiving.read.verified import Damage, Findings

    findings = Findings()
    findings.add(h, f"invalid: name says {h!r}")
    docs = _records(h)
    messages = []
    for n, doc in enumerate(docs):
        direction = conv.direction_of(doc) or "inbound"
        name = f"{doc['channel']}/x/{n}/" + ("reports/r" if "report" in doc["kind"] or "engagement" in doc["kind"] else "m")
        view = conv.MessageView(h, doc["channel"], direction=direction, outcome=h if direction == "outbound" else None)
        (view.reports if "/reports/" in name else view.records).append((name, doc))
        if direction == "outbound":
            view.reports.append((name + "r", docs[1]))
        messages.append(view)
        item = Item(doc["kind"], h, h, h, h, doc, channel=doc["channel"], direction=direction, outcome=h)
        _screen_safe(text_line(item))
    _screen_safe(conv.render_text(conv.ConversationView([h], messages, findings)))
    out = OutboundView("email", h, message=docs[-1], sent={"archived_at": h, "recipients_accepted": h,
                                                          "recipients_total": h,
                                                          "results": [{"recipient": h, "acs_message_id": h,
                                                                       "successful": False, "http_status": h,
                                                                       "error": h}]},
                       failures=[{"archived_at": h, "error": {"type": h, "status_code": h, "code": h}}],
                       reports={h: [docs[1], docs[5]]})
    _screen_safe(outbound_text(out))
    _screen_safe(Damage(h, f"invalid: {h}").line())


def test_rollup_and_query_keep_both_directions(acs, services, outbound, tmp_path):
    from archiving.rollup.store import RollupStore
    from archiving.rollup.writer import rollup_days

    from .test_rollup import query

    sms_conversation(acs, services, outbound)
    rollup = RollupStore(services.store.container._get_blob_service_client().get_container_client(
        f"rollup-{services.settings.container}"))
    rollup_days(services.store, rollup, [utcnow().date()])
    rows = query(rollup, tmp_path, "SELECT kind, direction, thread_id, content FROM records "
                                   "WHERE direction IS NOT NULL ORDER BY at")
    assert [(r["kind"], r["direction"]) for r in rows] == [("outbound-message", "outbound"), ("sms-message", "inbound")]
    assert rows[0]["thread_id"] == rows[1]["thread_id"] and rows[0]["content"] == "Shall we book you in?"


def test_show_message_prints_a_hostile_status_escaped(archive_env, services):
    from .test_cli import cli

    status = "Failed\x1b[2J\x1b[H\x1b[32mALL GOOD\u202e"
    event = sms_report("Outgoing_hostile", status, at(0), statusDetails="\x00detail\nline")
    assert archive_event(event, services.store, KEY).status == "archived"
    shown = cli("show", "--message", "Outgoing_hostile", env=archive_env)
    assert shown.returncode == 0, shown.stderr
    assert "\x1b" not in shown.stdout and "\u202e" not in shown.stdout and "\\x1b[2J" in shown.stdout
    _screen_safe(shown.stdout)


def test_the_schema_fast_path_refuses_what_jsonschema_refuses():
    """The compiled validator only says "valid" quicker: what jsonschema refuses, it refuses too."""
    from archiving.outbound import schemas as outbound_schemas
    from archiving.store import schemas

    for kind in schemas.KINDS:
        fast = schemas.fast_validator(kind)
        assert fast is not None, kind
        assert not fast.is_valid({"kind": kind}) and schemas.errors({"kind": kind}), kind
    good = layout.document(layout.LINK, "sms", layout.new_archive_id(), "2026-12-01T00:00:00.000000Z",
                           acs_message_id="m", message_key="outbound/sms/x/message.json.lz4")
    assert outbound_schemas.errors(good) == []
    assert outbound_schemas.errors({**good, "surprise": 1}) and outbound_schemas.errors({**good, "channel": "fax"})
