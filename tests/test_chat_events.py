"""archive_event, called as the host calls it, against a real Azurite."""

from __future__ import annotations

import copy
import json
import logging
import socket
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from archiving import bootstrap
from archiving.store import codec
from archiving.store import keys
from archiving.store.records import user_hash
from archiving.store.schemas import errors as schema_errors
from archiving.settings import SettingError

from .conftest import HASH_KEY, ROOT, load_vector, vector_files
from .host import Out, grid_event

THREAD = "19:3f2504e0d4f14c7a9b1c6e2a5d7f8a90@thread.v2"
SAMPLE = json.loads((ROOT / "samples" / "conversation.json").read_text(encoding="utf-8"))
_invoke = {}


@pytest.fixture(autouse=True)
def _function(app_functions):
    # The user function the host invokes, as indexed from function_app.app.
    _invoke["fn"] = app_functions["archive_event"].get_user_function()


def deliver(raw: dict) -> Out:
    out = Out()
    _invoke["fn"](event=grid_event(raw), rejected=out)
    return out


def archive_blobs(svc) -> dict[str, dict]:
    return {name: svc.store.read_document(name) for name in svc.store.list_names("chat/")}


def message_event(**data_overrides) -> dict:
    event = copy.deepcopy(load_vector("eventgrid/event-grid-schema/chat_message_received_in_thread.json"))
    event["data"].update(data_overrides)
    return event


# -- what the host indexes -----------------------------------------------------------------------


def test_binding_metadata(indexed):
    bindings = {b["name"]: b for b in indexed["archive_event"]["bindings"]}
    assert bindings["event"] == {"direction": "IN", "type": "eventGridTrigger", "name": "event"}
    rejected = bindings["rejected"]
    assert rejected["type"] == "blob" and rejected["direction"] == "OUT"
    assert rejected["path"].startswith("%ARCHIVE_REJECTED_CONTAINER%/")
    assert "{rand-guid}" in rejected["path"]
    assert rejected["connection"] == "ArchiveStorage"
    assert indexed["archive_event"]["scriptFile"] == "function_app.py"


def test_function_app_imports_no_storage_sdk_and_reads_no_setting():
    """Cold start: importing the app must not touch settings or build clients."""
    import subprocess
    import sys

    code = (
        "import os, sys; [os.environ.pop(k, None) for k in list(os.environ) if k.startswith(('Archive', 'ARCHIVE'))];"
        "import function_app; print(function_app.app is not None, 'azure.storage.blob' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


# -- every published vector ----------------------------------------------------------------------

EXPECTED = {
    "chat_message_received.json": "messages/1613694358927/1613694358927-received",
    "chat_message_received_in_thread.json": "messages/1613783230064/1613783230064-received",
    "chat_message_edited.json": "messages/1613694357917/1613694500784-edited",
    "chat_message_edited_in_thread.json": "messages/1613782685964/1613782750464-edited",
    "chat_message_deleted.json": "messages/1613695388152/1613695390361-deleted",
    "chat_message_deleted_in_thread.json": "messages/1613782685440/1613782814333-deleted",
    "chat_thread_created.json": "thread/1613781114365-created",
    "chat_thread_created_withUser.json": "thread/1613692046910-created",
    "chat_thread_deleted.json": "thread/1613779241389-deleted",
    "chat_thread_with_user_deleted.json": "thread/1613692578672-deleted",
    "chat_thread_properties_updated.json": "thread/1613779447695-updated",
    "chat_thread_properties_updated_per_user.json": "thread/1613694508719-updated",
    "chat_thread_participant_added.json": "thread/1613782482822-participant-added-",
    "chat_participant_added_to_thread_with_user.json": "thread/1614235049907-participant-added-",
    "chat_member_added_to_thread_with_user.json": "thread/1600390033176-participant-added-",
    "chat_thread_participant_removed.json": "thread/1613782578096-participant-removed-",
    "chat_participant_removed_from_thread_with_user.json": "thread/1614235220325-participant-removed-",
    "chat_member_removed_from_thread_with_user.json": "thread/1600390071131-participant-removed-",
}


# Two upstream files in the event-grid-schema folder are CloudEvents-shaped: not for this trigger
# (the replay test covers every CloudEvents vector).
# SMS, WhatsApp and email vectors are tests/test_channels.py's.
GRID_VECTORS = [p for p in vector_files("event-grid-schema")
                if "specversion" not in p.read_text(encoding="utf-8") and p.name.startswith("chat_")]


def test_vectors_cover_every_archived_type():
    from archiving.ingest.types import CHAT_TYPES as ARCHIVED_TYPES

    seen = {json.loads(p.read_text(encoding="utf-8"))["eventType"] for p in GRID_VECTORS}
    assert set(ARCHIVED_TYPES) <= seen
    assert set(EXPECTED) == {p.name for p in GRID_VECTORS if json.loads(p.read_text())["eventType"] in ARCHIVED_TYPES}


@pytest.mark.parametrize("path", GRID_VECTORS, ids=lambda p: p.name)
def test_every_event_grid_vector(path: Path, services):
    raw = json.loads(path.read_text(encoding="utf-8"))
    out = deliver(raw)
    assert out.value is None, out.value
    blobs = archive_blobs(services)
    expected = EXPECTED.get(path.name)
    if expected is None:
        assert blobs == {}, f"{raw['eventType']} must be skipped"
        return
    assert len(blobs) == 1
    (name, doc), = blobs.items()
    thread_id = raw["data"]["threadId"]
    assert name.startswith("chat/")
    assert f"/{thread_id}/{expected}" in name
    assert doc["thread_id"] == thread_id
    assert doc["event"]["id"] == raw["id"] and doc["event"]["type"] == raw["eventType"]
    assert schema_errors(doc) == []


def test_vector_record_fields(services):
    deliver(load_vector("eventgrid/event-grid-schema/chat_message_edited_in_thread.json"))
    (name, doc), = archive_blobs(services).items()
    assert name == ("chat/202102/19:e07c8ddc5bab4c059ea9f11d29b544b6@thread.v2/messages/1613782685964/"
                    "1613782750464-edited.json.lz4")
    sender = "8:acs:109f0644-b956-4cd9-87b1-71024f6e2f44_00000008-5cbb-38a0-88f7-084822002453"
    assert doc["message_version"] == "1613782750464"
    assert doc["message_type"] == "text"
    assert doc["content"] == "8effb181-1eb2-4a58-9d03-ed48a461b19b"
    assert doc["metadata"] == {"key": "value", "description": "A map of data associated with the message"}
    assert doc["sender"] == {"raw_id": sender, "kind": "communicationUser", "display_name": "Scott"}
    assert doc["sender_hash"] == user_hash(HASH_KEY.encode(), sender)
    assert doc["composed_at"] == "2021-02-20T00:58:05.964000Z"
    assert doc["edited_at"] == "2021-02-20T00:59:10.464000Z"
    assert doc["deleted_at"] is None
    # The blob: an lz4 frame whose metadata sha256 is that of the uncompressed JSON; tags to find it.
    blob = services.store.container.get_blob_client(name)
    raw_bytes = codec.decompress(blob.download_blob().readall())
    assert blob.get_blob_properties().metadata["sha256"] == codec.sha256_hex(raw_bytes)
    tags = blob.get_blob_tags()
    assert tags["sender"] == doc["sender_hash"]
    assert keys.untag_value(tags["thread"]) == doc["thread_id"]
    assert tags["kind"] == "message" and tags["at"] == doc["edited_at"]


def test_thread_created_record_lists_participants(services):
    deliver(load_vector("eventgrid/event-grid-schema/chat_thread_created.json"))
    (name, doc), = archive_blobs(services).items()
    assert name.endswith("/thread/1613781114365-created.json.lz4") and "/202102/" in name
    assert doc["properties"] == {"topic": "Talk about new Thread Events in commuication services"}
    assert [p["display_name"] for p in doc["participants"]] == ["Bob", "Scott", "Shawn", "Anthony"]
    assert doc["actor"]["raw_id"].endswith("5cbb-38a0-88f7-084822002453")
    assert doc["occurred_at"] == "2021-02-20T00:31:54.365000Z"


def test_legacy_member_event(services):
    deliver(load_vector("eventgrid/event-grid-schema/chat_member_added_to_thread_with_user.json"))
    (name, doc), = archive_blobs(services).items()
    assert doc["participants"] == [{
        "raw_id": "8:acs:5354158b-17b7-489c-9380-95d8821ff76b_00000005-3e5f-1bc6-f40f-343a0d0003fe",
        "kind": "communicationUser", "display_name": "John Smith", "metadata": {}}]
    assert doc["actor"]["raw_id"].endswith("0003f1")
    suffix = user_hash(HASH_KEY.encode(), doc["participants"][0]["raw_id"])[:16]
    assert name.endswith(f"/thread/1600390033176-participant-added-{suffix}.json.lz4")


# -- duplicates, order, months -------------------------------------------------------------------


def test_sample_conversation_every_copy_gives_one_record(services):
    for raw in SAMPLE:
        deliver(raw)
    first = {n: b.etag for n, b in ((b.name, b) for b in services.store.container.list_blobs())}
    assert len(first) == 12  # 7 message versions + created, added, updated, removed... see samples/generate.py
    assert Counter(n.split("/")[3] for n in first) == {"messages": 8, "thread": 4}
    # Redelivery of everything, in reverse order: nothing new, nothing rewritten.
    for raw in reversed(SAMPLE):
        assert deliver(raw).value is None
    again = {b.name: b.etag for b in services.store.container.list_blobs()}
    assert again == first


def test_edit_and_delete_before_the_message(services):
    received = message_event(messageId="1700000000000", version=1700000000000,
                             composeTime="2023-11-14T22:13:20Z", messageBody="first")
    edited = copy.deepcopy(received)
    edited["id"], edited["eventType"] = "e-edit", "Microsoft.Communication.ChatMessageEditedInThread"
    edited["data"].update(version="1700000001000", editTime="2023-11-14T22:13:21Z", messageBody="second")
    deleted = copy.deepcopy(received)
    deleted["id"], deleted["eventType"] = "e-del", "Microsoft.Communication.ChatMessageDeletedInThread"
    deleted["data"].update(version=1700000002000, deleteTime="2023-11-14T22:13:22.1234567Z")
    del deleted["data"]["messageBody"]
    for raw in (deleted, edited, received):
        deliver(raw)
    names = sorted(n.rsplit("/", 1)[-1] for n in archive_blobs(services))
    assert names == ["1700000000000-received.json.lz4", "1700000001000-edited.json.lz4",
                     "1700000002000-deleted.json.lz4"]
    from archiving.read.reader import load_thread

    view = load_thread(services.store, received["data"]["threadId"])
    (message,) = view.messages
    assert message.deleted_at == "2023-11-14T22:13:22.123456Z" and message.content is None
    assert [v.content for v in message.versions] == ["first", "second", None]


def test_late_on_the_last_day_of_a_month_in_a_negative_offset(services):
    # 23:30 on 31 January in New York is 04:30 on 1 February UTC: the record files under 202402,
    # and its edit, made in March, sits beside it.
    received = message_event(messageId="1706761800000", composeTime="2024-01-31T23:30:00.000-05:00",
                             version="1706761800000")
    edited = copy.deepcopy(received)
    edited["id"], edited["eventType"] = "e-edit", "Microsoft.Communication.ChatMessageEditedInThread"
    edited["data"].update(version=1709300000000, editTime="2024-03-01T13:33:20.5-05:00", messageBody="fixed")
    deliver(received)
    deliver(edited)
    names = sorted(archive_blobs(services))
    thread = received["data"]["threadId"]
    assert names == [
        f"chat/202402/{thread}/messages/1706761800000/1706761800000-received.json.lz4",
        f"chat/202402/{thread}/messages/1706761800000/1709300000000-edited.json.lz4",
    ]


def test_version_number_or_string_gives_the_same_record(services):
    as_number = message_event(version=1613783230064)
    as_string = message_event(version="1613783230064")
    as_string["id"] = "another-delivery"
    assert deliver(as_number).value is None and deliver(as_string).value is None
    assert len(archive_blobs(services)) == 1


def test_differing_duplicate_is_kept_beside_the_first(services, caplog):
    first = message_event(messageBody="original")
    second = message_event(messageBody="tampered")
    second["id"] = "other-delivery"
    deliver(first)
    with caplog.at_level(logging.WARNING, logger="archiving"):
        deliver(second)
        deliver(second)  # redelivery of the differing copy adds nothing more
    blobs = archive_blobs(services)
    assert sorted(d["content"] for d in blobs.values()) == ["original", "tampered"]
    conflict = [n for n in blobs if ".conflict-" in n]
    assert len(conflict) == 1 and conflict[0].endswith(".json.lz4")
    assert any("differs" in r.getMessage() for r in caplog.records)
    assert all("tampered" not in r.getMessage() for r in caplog.records)


def test_same_change_from_64_concurrent_invocations(services):
    raw = load_vector("eventgrid/event-grid-schema/chat_message_received.json")
    errors: list[BaseException] = []
    barrier = threading.Barrier(64)

    def one(i):
        copy_ = copy.deepcopy(raw)
        copy_["id"] = f"delivery-{i}"
        barrier.wait()
        try:
            assert deliver(copy_).value is None
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    with ThreadPoolExecutor(64) as pool:
        list(pool.map(one, range(64)))
    assert errors == []
    assert len(archive_blobs(services)) == 1


def test_other_event_types_are_skipped_with_one_log_line(services, caplog):
    typing_event = {"id": "t1", "topic": "/x", "subject": "s", "eventType": "Microsoft.Communication.UserDisconnected",
                    "eventTime": "2024-01-01T00:00:00Z", "dataVersion": "1.0", "data": {"threadId": "x"}}
    with caplog.at_level(logging.INFO, logger="archiving"):
        assert deliver(typing_event).value is None
    assert archive_blobs(services) == {}
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("archiving")]
    assert lines == ["event=t1 type=Microsoft.Communication.UserDisconnected outcome=skipped"]


# -- malformed events ------------------------------------------------------------------------------

def _malformed():
    base = load_vector("eventgrid/event-grid-schema/chat_message_received_in_thread.json")

    def variant(**data):
        event = copy.deepcopy(base)
        for k, v in data.items():
            if v is _DROP:
                event["data"].pop(k, None)
            else:
                event["data"][k] = v
        return event

    thread_event = load_vector("eventgrid/event-grid-schema/chat_thread_participant_added.json")
    no_participant = copy.deepcopy(thread_event)
    del no_participant["data"]["participantAdded"]
    cases = {
        "data is a list": (dict(copy.deepcopy(base), data=[1, 2]), "data is a list"),
        "data is a string": (dict(copy.deepcopy(base), data="hello"), "data is a string"),
        "data is null": (dict(copy.deepcopy(base), data=None), "data is missing"),
        "threadId missing": (variant(threadId=_DROP), "threadId is missing"),
        "threadId empty": (variant(threadId=""), "threadId is empty"),
        "threadId with slash": (variant(threadId="19:a/b@thread.v2"), "threadId contains a path separator"),
        "threadId with backslash": (variant(threadId="19:a\\b@thread.v2"), "threadId contains a path separator"),
        "threadId with dot-dot": (variant(threadId="19:..@thread.v2"), "threadId contains '..'"),
        "threadId with control char": (variant(threadId="19:a\x07b@thread.v2"), "control character"),
        "threadId a number": (variant(threadId=19), "threadId is a int"),
        "messageId missing": (variant(messageId=_DROP), "messageId is missing"),
        "messageId unsafe": (variant(messageId="../1"), "messageId contains"),
        "composeTime unparseable": (variant(composeTime="yesterday"), "composeTime is not an ISO-8601"),
        "composeTime without offset": (variant(composeTime="2021-02-19T00:25:58.927"), "composeTime has no UTC offset"),
        "composeTime a number": (variant(composeTime=1613694358927), "composeTime is a int"),
        "version a boolean": (variant(version=True), "version is a boolean"),
        "version garbage": (variant(version="12a"), "version is a string"),
        "version fractional": (variant(version=1.5), "not a whole number"),
        "body not a string": (variant(messageBody=42), "messageBody is a int"),
        "metadata a list": (variant(metadata=["a"]), "metadata is a list"),
        "sender a string": (variant(senderCommunicationIdentifier="8:acs:x"), "expected an identifier object"),
        "type missing": (variant(type=_DROP), "type is missing"),
        "participant missing": (no_participant, "participantAdded is missing"),
    }
    return cases


_DROP = object()
MALFORMED = _malformed()


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_event_is_rejected_with_its_reason(case, services):
    raw, reason = MALFORMED[case]
    out = deliver(raw)
    assert archive_blobs(services) == {}
    doc = json.loads(out.value)
    assert reason in doc["reason"]
    assert doc["event"]["id"] == raw["id"] and doc["event"]["data"] == raw["data"]
    assert schema_errors(doc) == []


def test_rejection_survives_what_json_cannot_encode(services):
    raw = message_event(metadata={"big": 2**70, "bad": "\ud800"})
    doc = json.loads(deliver(raw).value)
    assert "cannot be encoded as JSON" in doc["reason"]
    assert doc["event"]["data"]["metadata"]["bad"] == "\ud800"


def test_oversized_event_is_rejected(services):
    raw = message_event(messageBody="x" * (1024 * 1024 + 1))
    doc = json.loads(deliver(raw).value)
    assert "more than the 1048576 bytes" in doc["reason"]


# -- settings and failures -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ARCHIVE_HASH_KEY", "ArchiveStorage"])
def test_missing_setting_is_named(name, archive_env, monkeypatch):
    monkeypatch.delenv(name)
    bootstrap.reset()
    with pytest.raises(SettingError, match=name):
        deliver(message_event())


def test_invalid_setting_is_named(archive_env, monkeypatch):
    monkeypatch.setenv("ARCHIVE_CONTAINER", "Not_A_Container")
    bootstrap.reset()
    with pytest.raises(SettingError, match="ARCHIVE_CONTAINER"):
        deliver(message_event())


def _storage_at(monkeypatch, port: int) -> None:
    monkeypatch.setenv(
        "ArchiveStorage",
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={'A' * 86}==;BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;",
    )
    bootstrap.reset()


def test_storage_refusing_connections_raises(archive_env, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connections are refused
    _storage_at(monkeypatch, port)
    started = time.monotonic()
    with pytest.raises(Exception) as info:
        deliver(message_event())
    assert type(info.value).__module__.startswith("azure.core")
    assert time.monotonic() - started < 30


def test_storage_that_never_answers_raises_within_event_grid_timeout(archive_env, monkeypatch):
    # A listener that accepts and never replies: every attempt waits for the read timeout.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                pass

    threading.Thread(target=accept, daemon=True).start()
    try:
        _storage_at(monkeypatch, server.getsockname()[1])
        started = time.monotonic()
        with pytest.raises(Exception) as info:
            deliver(message_event())
        elapsed = time.monotonic() - started
        assert type(info.value).__module__.startswith("azure.core")
        assert len(held) == 3  # the first try and two retries
        assert elapsed < 30
    finally:
        stop.set()
        server.close()
        for conn in held:
            conn.close()


# -- logs ------------------------------------------------------------------------------------------


def test_logs_carry_ids_and_outcomes_never_content_or_raw_ids(services, caplog):
    with caplog.at_level(logging.DEBUG):
        for raw in SAMPLE:
            deliver(raw)
        deliver(message_event(threadId="bad/id"))
    text = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    assert "outcome=archived" in text and "outcome=duplicate" in text and "outcome=rejected" in text
    for raw in SAMPLE:
        data = raw["data"]
        if data.get("messageBody"):
            assert data["messageBody"] not in text
        for field in ("senderCommunicationIdentifier", "recipientCommunicationIdentifier"):
            if isinstance(data.get(field), dict):
                assert data[field]["rawId"] not in text
        if data.get("senderDisplayName"):
            assert data["senderDisplayName"] not in text
