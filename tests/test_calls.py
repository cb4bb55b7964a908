"""Calls (issue 23): call events and Call Automation recordings through archive_event, as the host runs
it, against a real Azurite and, for recordings, the real azure-communication-callautomation SDK talking
to the HTTPS ACS test server under an ``*.asm.skype.com`` name (tests/acs_server/tunnel.py)."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import random

import pytest

from archiving import bootstrap
from archiving.calls import layout
from archiving.ingest.types import CALL_TYPES
from archiving.store.schemas import errors as schema_errors

from .acs_server.recordings import HOST, add_recording, remove_recording
from .acs_server.tunnel import Tunnel
from .conftest import HASH_KEY, load_vector
from .host import Out, grid_event

KEY = HASH_KEY.encode()
PHONE = "+14255550123"
BUSINESS = "8:acs:11111111-2222-3333-4444-555555555555_00000000-0000-0000-0000-000000000001"
SERVER_CALL_ID = "aHR0cHM6Ly9hcGkuZmxpZ2h0cHJveHkudGVzdC9jYWxscy8xMjM0"
CORRELATION = "0b8e2c57-5a3c-4f6e-9d3a-3b2f6b1e9a01"
RECORDING_ID = "eyJQbGF0Zm9ybUVuZHBvaW50SWQiOiJ0ZXN0In0"
DOCUMENT = "0-eus-d12-held0out0call0000000000000001"
AUDIO = bytes(random.Random(23).getrandbits(8) for _ in range(300_000))  # > one SDK block, several spool writes
ACS_METADATA = json.dumps({"resourceId": "r", "callId": CORRELATION, "chunkDocumentId": DOCUMENT,
                           "recordingInfo": {"contentType": "mixed", "format": "mp3"}}).encode()
_invoke = {}


@pytest.fixture(autouse=True)
def _function(app_functions):
    _invoke["fn"] = app_functions["archive_event"].get_user_function()


@pytest.fixture
def rec_env(acs, acs_env, monkeypatch):
    """acs_env plus the tunnel: *.asm.skype.com goes to the test server, everything else direct."""
    with Tunnel(acs.port) as tunnel:
        monkeypatch.setenv("HTTPS_PROXY", tunnel.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        bootstrap.reset()
        yield tunnel
    bootstrap.reset()


def deliver(raw: dict) -> Out:
    out = Out()
    _invoke["fn"](event=grid_event(raw), rejected=out)
    return out


def to_grid(raw: dict) -> dict:
    """A published CloudEvents-shaped example in the Event Grid schema the trigger receives."""
    if "eventType" in raw:
        return copy.deepcopy(raw)
    return {"id": raw["id"], "topic": raw["source"], "subject": raw["subject"], "eventType": raw["type"],
            "eventTime": raw["time"], "dataVersion": "1.0", "data": copy.deepcopy(raw["data"])}


def ident(raw_id: str) -> dict:
    if raw_id.startswith("4:"):
        return {"kind": "phoneNumber", "rawId": raw_id, "phoneNumber": {"value": raw_id[2:]}}
    return {"kind": "communicationUser", "rawId": raw_id, "communicationUser": {"id": raw_id}}


def call_event(name: str, event_id: str, at: str, **data) -> dict:
    """A held-out call event: the published example's shape with this call's ids."""
    event = to_grid(load_vector(f"eventgrid/event-grid-schema/{name}.json"))
    event.update(id=event_id, eventTime=at, subject=f"call/{SERVER_CALL_ID}/startedBy/{BUSINESS}")
    event["data"].update(serverCallId=SERVER_CALL_ID, correlationId=CORRELATION, isTwoParty=True, isRoomsCall=False,
                         group=None, room=None,
                         startedBy={"communicationIdentifier": ident(BUSINESS), "role": "UserRole"})
    event["data"].update(data)
    return event


def recording_event(locations: dict, event_id: str = "rec-evt-1") -> dict:
    event = to_grid(load_vector("eventgrid/event-grid-schema/recording_file_status_updated.json"))
    event["id"] = event_id
    event["subject"] = f"/recording/call/{CORRELATION}/serverCallId/{SERVER_CALL_ID}/recordingId/{RECORDING_ID}"
    event["eventTime"] = "2026-03-02T10:01:10Z"
    chunk = event["data"]["recordingStorageInfo"]["recordingChunks"][0]
    chunk.update(documentId=DOCUMENT, **locations)
    event["data"].update(recordingStartTime="2026-03-02T10:00:05Z", recordingDurationMs=61000)
    return event


def held_out(locations: dict) -> list[dict]:
    """Started, participant added, recording ready, participant removed, ended."""
    return [
        call_event("call_started", "evt-started", "2026-03-02T10:00:00Z"),
        call_event("call_participant_added", "evt-added", "2026-03-02T10:00:02Z",
                   user={"communicationIdentifier": ident("4:" + PHONE)}, displayName="Customer",
                   participantId="p-customer"),
        recording_event(locations),
        call_event("call_participant_removed", "evt-removed", "2026-03-02T10:01:03Z",
                   user={"communicationIdentifier": ident("4:" + PHONE), "role": "UserRole"},
                   displayName="Customer", participantId="p-customer"),
        call_event("call_ended", "evt-ended", "2026-03-02T10:01:05Z", callDurationInSeconds=65,
                   endedBy={"communicationIdentifier": ident(BUSINESS)}),
    ]


def call_blobs(svc) -> dict[str, object]:
    return {n: (None if n.startswith(layout.MEDIA_ROOT) else svc.store.read_document(n))
            for n in svc.store.list_names(layout.ROOT)}


def tags_of(svc, name: str) -> dict[str, str]:
    return svc.store.container.get_blob_client(name).get_blob_tags()


def _no_address(svc, names) -> None:
    digits = PHONE.lstrip("+")
    for name in names:
        tags = tags_of(svc, name)
        for text in (name, *tags.values(), *svc.store.container.get_blob_client(name).get_blob_properties().metadata.values()):
            assert digits not in text and BUSINESS not in text and "acs:" not in text, (name, text)


# -- the published examples ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["call_started", "call_ended", "call_participant_added", "call_participant_removed",
                                  "incoming_call"])
def test_published_call_examples_through_the_function(name, archive_env, services):
    raw = to_grid(load_vector(f"eventgrid/event-grid-schema/{name}.json"))
    out = deliver(raw)
    assert out.value is None, out.value
    (key, doc), = call_blobs(services).items()
    assert schema_errors(doc) == []
    info = layout.parse_call_key(key)
    assert layout.kind_of(info) == doc["kind"] == CALL_TYPES[raw["eventType"]][0]
    assert info.call == doc["call_id"] == layout.call_segment(raw["data"]["serverCallId"])
    tags = tags_of(services, key)
    assert tags["kind"] == doc["kind"] and tags["channel"] == "call" and tags["call"] == doc["call_id"]
    assert deliver(raw).value is None  # redelivered: a duplicate, nothing new
    assert list(call_blobs(services)) == [key]


def test_published_recording_example_downloads_its_chunk(rec_env, acs, acs_env):
    raw = load_vector("eventgrid/event-grid-schema/recording_file_status_updated.json")
    chunk = raw["data"]["recordingStorageInfo"]["recordingChunks"][0]
    add_recording(acs, chunk["documentId"], b"ID3 published example", "video/mp4", b'{"a": 1}')
    assert deliver(raw).value is None
    svc = bootstrap.services()
    docs = call_blobs(svc)
    (archived,) = [d for d in docs.values() if d and d["kind"] == "call-recording"]
    assert archived["status"] == "stored" and archived["server_call_id"] is None  # the example names no server call
    assert archived["chunks"][0]["content"]["sha256"] == hashlib.sha256(b"ID3 published example").hexdigest()
    assert rec_env.connects and set(rec_env.connects) == {"storage.asm.skype.com"}


def test_malformed_call_events_are_rejected_with_a_reason(archive_env, services):
    raw = call_event("call_started", "bad-1", "2026-03-02T10:00:00Z", serverCallId=None)
    out = deliver(raw)
    assert "serverCallId" in json.loads(out.value)["reason"]
    raw = recording_event({"contentLocation": "http://storage.asm.skype.com/x"}, "bad-2")
    assert "https" in json.loads(deliver(raw).value)["reason"]
    raw = call_event("call_participant_added", "bad-3", "2026-03-02T10:00:00Z", user={"communicationIdentifier": {}})
    assert "rawId" in json.loads(deliver(raw).value)["reason"]
    assert call_blobs(services) == {}


# -- the held-out call --------------------------------------------------------------------------------


def gets(acs) -> int:
    """Downloads of the held-out chunk so far (the server lives for the module: compare differences)."""
    return acs.count(method="GET", path=f"/v1/objects/{DOCUMENT}/content/audio")


def _archive_call(acs, order=None) -> list[dict]:
    locations = add_recording(acs, DOCUMENT, AUDIO, "audio/mpeg", ACS_METADATA)
    events = held_out(locations)
    for i in order or range(len(events)):
        out = deliver(events[i])
        assert out.value is None, out.value
    return events


def test_held_out_call_is_archived_with_participants_and_recording_byte_for_byte(rec_env, acs, acs_env):
    before = gets(acs)
    events = _archive_call(acs)
    svc = bootstrap.services()
    blobs = call_blobs(svc)
    call = layout.call_segment(SERVER_CALL_ID)
    kinds = sorted(d["kind"] for d in blobs.values() if d)
    assert kinds == ["call-ended", "call-participant", "call-participant", "call-recording",
                     "call-recording-announced", "call-started"]
    for name, doc in blobs.items():
        if doc is not None:
            assert schema_errors(doc) == [], name
            assert doc["call_id"] == call and f"/{call}/" in name
    rec = next(d for d in blobs.values() if d and d["kind"] == "call-recording")
    content, metadata = rec["chunks"][0]["content"], rec["chunks"][0]["metadata"]
    assert content["sha256"] == hashlib.sha256(AUDIO).hexdigest() and content["size"] == len(AUDIO)
    assert content["content_type"] == "audio/mpeg"
    stored = svc.store.container.download_blob(content["blob"]).readall()
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(AUDIO).hexdigest()  # served = archived
    assert svc.store.container.download_blob(metadata["blob"]).readall() == ACS_METADATA
    assert rec["duration_ms"] == 61000 and rec["status"] == "stored"
    _no_address(svc, blobs)
    # the downloads were signed (HMAC) and went to the recording host
    assert gets(acs) == before + 1
    # idempotent: every event again, nothing new, nothing downloaded again
    for event in events:
        assert deliver(event).value is None
    assert call_blobs(svc).keys() == blobs.keys()
    assert gets(acs) == before + 1


def test_out_of_order_events_still_make_one_call(rec_env, acs, acs_env):
    _archive_call(acs, order=[4, 3, 2, 1, 0])
    svc = bootstrap.services()
    calls = {layout.parse_call_key(n).call for n in call_blobs(svc) if not n.startswith(layout.MEDIA_ROOT)}
    assert calls == {layout.call_segment(SERVER_CALL_ID)}


def test_expired_recording_is_recorded_as_not_retrievable_with_a_warning(rec_env, acs, acs_env, caplog):
    locations = add_recording(acs, DOCUMENT, AUDIO)
    remove_recording(acs, DOCUMENT)  # older than ACS's 24 hours
    with caplog.at_level(logging.WARNING, logger="archiving.calls.recordings"):
        assert deliver(recording_event(locations)).value is None
    rec = next(d for d in call_blobs(bootstrap.services()).values() if d and d["kind"] == "call-recording")
    assert rec["status"] == "not-retrievable"
    assert rec["chunks"][0]["content"]["status"] == "not-retrievable" and "404" in rec["chunks"][0]["content"]["reason"]
    assert any("not-retrievable" in r.getMessage() for r in caplog.records)


def test_failed_download_raises_so_event_grid_redelivers(rec_env, acs, acs_env, caplog):
    locations = add_recording(acs, DOCUMENT, AUDIO, "audio/mpeg", ACS_METADATA)
    rule = acs.faults.add(500, path=r"^/v1/objects/")
    try:
        from azure.core.exceptions import HttpResponseError

        with pytest.raises(HttpResponseError) as raised, caplog.at_level(logging.ERROR, "archiving.ingest.events"):
            deliver(recording_event(locations))
        _the_alert_reads_the_failure_line([r.getMessage() for r in caplog.records if r.getMessage().startswith("recording=")])
        assert raised.value.status_code == 500
        assert acs.count(method="GET", path=r"^/v1/objects/", status=500, fault=True) >= 3  # the SDK retried twice
    finally:
        acs.faults.remove(rule)
    svc = bootstrap.services()
    kinds = [d["kind"] for d in call_blobs(svc).values() if d]
    assert kinds == ["call-recording-announced"]  # announced, not archived: status counts it
    assert deliver(recording_event(locations)).value is None  # the redelivery archives it
    assert sorted(d["kind"] for d in call_blobs(svc).values() if d) == ["call-recording", "call-recording-announced"]


def _the_alert_reads_the_failure_line(lines: list[str]) -> None:
    """infra/modules/queries/recording-not-archived.kql extracts what the failure line carries."""
    from archiving.ops import logfields

    from .test_alerts import all_queries, extracted_fields, line_kind

    (line,) = lines
    fields = logfields.parse(line)
    assert fields["outcome"] == "download-failed" and fields["reason"] == "HttpResponseError"
    assert int(fields["age_ms"]) > 12 * 3600 * 1000  # the recording started in March 2026: long ago
    (query,) = [t for n, t in all_queries().items() if n == "queries/recording-not-archived.kql"]
    assert line_kind(query) == "recording="
    for field, pattern in extracted_fields(query):
        assert pattern.search(line).group(1) == fields[field], field
    assert PHONE.lstrip("+") not in line and "acs:" not in line


def test_delete_after_archive_deletes_the_recording_from_acs(rec_env, acs, acs_env, monkeypatch):
    monkeypatch.setenv("DELETE_RECORDING_AFTER_ARCHIVE", "true")
    bootstrap.reset()
    locations = add_recording(acs, DOCUMENT, AUDIO, "audio/mpeg", ACS_METADATA)
    before, deletes = gets(acs), acs.count(method="DELETE", path=r"/deletedata$")
    assert deliver(recording_event(locations)).value is None
    assert acs.count(method="DELETE", path=r"/deletedata$") == deletes + 1
    assert gets(acs) == before + 1
    remove_recording(acs, DOCUMENT)
    assert deliver(recording_event(locations)).value is None  # a redelivery: archived already, nothing to delete


def test_the_sdk_range_download_against_the_test_server(rec_env, acs, acs_env):
    """What a resumed download sends: Range from an offset, answered 206 with the rest."""
    locations = add_recording(acs, DOCUMENT, AUDIO)
    source = bootstrap.services().recordings
    response = source.open(locations["contentLocation"], 1000)
    assert response.status_code == 206
    assert b"".join(response.iter_bytes()) == AUDIO[1000:]
    whole = source.client().download_recording(locations["contentLocation"], offset=10, length=90)
    assert b"".join(whole.iter_bytes()) == AUDIO[10:100]
    with pytest.raises(ValueError):  # the SDK itself refuses other hosts before sending credentials
        source.open(locations["contentLocation"].replace(HOST, "example.com"))


# -- every door ---------------------------------------------------------------------------------------


def run(capsys, *argv: str) -> tuple[int, str, str]:
    from archiving.cli.main import main

    code = main(["--quiet", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def archived_call(rec_env, acs, acs_env):
    _archive_call(acs)
    return bootstrap.services()


def test_show_call_text_and_json(archived_call, capsys):
    sha = hashlib.sha256(AUDIO).hexdigest()
    for ref in (SERVER_CALL_ID, layout.call_segment(SERVER_CALL_ID), CORRELATION):
        code, out, _ = run(capsys, "show", "--call", ref, "--format", "json")
        assert code == 0
        shown = json.loads(out)
        assert shown["call_id"] == layout.call_segment(SERVER_CALL_ID)
        assert shown["started_at"] == "2026-03-02T10:00:00.000000Z" and shown["ended_at"] == "2026-03-02T10:01:05.000000Z"
        assert shown["duration_seconds"] == 65
        (customer,) = shown["participants"]
        assert customer["raw_id"] == "4:" + PHONE and customer["joined_at"] and customer["left_at"]
        (recording,) = shown["recordings"]
        assert recording["status"] == "stored"
        (chunk,) = recording["chunks"]
        assert chunk["sha256"] == sha and chunk["size"] == len(AUDIO) and chunk["path"] == layout.media_key(sha)
    code, out, _ = run(capsys, "show", "--call", SERVER_CALL_ID)
    assert code == 0 and f"sha256 {sha}" in out and "Customer <4:+14255550123>" in out and "duration 65 s" in out
    assert run(capsys, "show", "--call", "no-such-call")[0] == 3


def test_show_call_text_neutralizes_hostile_names(rec_env, acs, acs_env, capsys):
    locations = add_recording(acs, DOCUMENT, AUDIO)
    event = held_out(locations)[1]
    event["data"]["displayName"] = "Eve\x1b]0;pwned\x07\u202e"
    assert deliver(event).value is None
    code, out, _ = run(capsys, "show", "--call", SERVER_CALL_ID)
    assert code == 0 and "\x1b" not in out and "\u202e" not in out and "\\x1b" in out


def test_find_sender_finds_the_call_for_each_party(archived_call, capsys):
    code, out, _ = run(capsys, "find", "--sender", PHONE, "--format", "jsonl")
    assert code == 0
    kinds = sorted(json.loads(line)["kind"] for line in out.splitlines())
    assert kinds == ["call-participant", "call-participant"]
    code, out, _ = run(capsys, "find", "--sender", BUSINESS)
    assert code == 0
    assert "call-started" in out and "call-ended" in out and layout.call_segment(SERVER_CALL_ID) in out


def test_export_has_one_line_per_call_and_per_recording(archived_call, capsys, tmp_path):
    import csv

    sha = hashlib.sha256(AUDIO).hexdigest()
    out = tmp_path / "calls.jsonl"
    code, _, err = run(capsys, "export", "--from", "2026-03-01", "--to", "2026-03-03", "--out", str(out))
    assert code == 0, err
    items = [json.loads(line) for line in out.read_text().splitlines()]
    assert [i["kind"] for i in items] == ["call", "call-recording"]
    call, recording = items
    assert call["document"]["duration_seconds"] == 65 and call["document"]["recordings"][0]["chunks"][0]["sha256"] == sha
    assert recording["document"]["chunks"][0]["content"]["sha256"] == sha
    manifest = json.loads((tmp_path / "calls.jsonl.manifest.json").read_text())
    assert manifest["counts"]["call"] == 1 and manifest["counts"]["call-recording"] == 1
    out = tmp_path / "calls.csv"
    assert run(capsys, "export", "--from", "2026-03-01", "--to", "2026-03-03", "--format", "csv", "--out", str(out))[0] == 0
    rows = list(csv.DictReader(out.read_text(encoding="utf-8-sig").splitlines()))
    assert [r["kind"] for r in rows] == ["call", "call-recording"]
    assert rows[0]["message_id"] == SERVER_CALL_ID and rows[0]["participants"] == "4:" + PHONE
    assert f"sha256={sha}" in rows[1]["content"]


def test_verify_checks_recordings_by_content_hash(archived_call, capsys):
    svc = archived_call
    code, out, _ = run(capsys, "verify", "--prefix", "call/")
    assert code == 0, out
    assert "blobs verified" in out and " 0 corrupt" in out
    # a chunk whose bytes changed (metadata kept) is corrupt
    sha = hashlib.sha256(AUDIO).hexdigest()
    blob = svc.store.container.get_blob_client(layout.media_key(sha))
    metadata = blob.get_blob_properties().metadata
    blob.upload_blob(AUDIO[:-1] + b"\x00", overwrite=True, metadata=metadata)
    code, out, _ = run(capsys, "verify", "--prefix", "call/media/")
    assert code == 1 and f"corrupt\t{layout.media_key(sha)}" in out


def test_verify_names_a_recording_record_whose_chunk_is_missing(archived_call, capsys):
    svc = archived_call
    svc.store.container.delete_blob(layout.media_key(hashlib.sha256(AUDIO).hexdigest()))
    code, out, _ = run(capsys, "verify", "--prefix", "call/")
    assert code == 1 and "which is not in the archive" in out


def test_status_shows_recordings_not_archived_after_12_hours(rec_env, acs, acs_env):
    from datetime import datetime, timedelta, timezone

    from archiving.calls.status import check_recordings
    from archiving.ops.status import Context, Limits

    locations = add_recording(acs, DOCUMENT, AUDIO)
    rule = acs.faults.add(500, path=r"^/v1/objects/")
    from azure.core.exceptions import HttpResponseError

    try:
        with pytest.raises(HttpResponseError):
            deliver(recording_event(locations))
    finally:
        acs.faults.remove(rule)
    svc = bootstrap.services()
    start = datetime(2026, 3, 2, 10, 0, 5, tzinfo=timezone.utc)
    assert check_recordings(Context(svc, start + timedelta(hours=2), Limits())).state == "OK"
    late = check_recordings(Context(svc, start + timedelta(hours=13), Limits()))
    assert late.state == "WARN" and late.values["pending"] == 1 and "docs/operations.md" in late.action
    assert check_recordings(Context(svc, start + timedelta(hours=25), Limits())).state == "FAIL"
    assert deliver(recording_event(locations)).value is None  # the redelivery archives it: no longer pending
    assert check_recordings(Context(svc, start + timedelta(hours=13), Limits())).state == "OK"


def test_rollup_has_a_call_channel(archived_call, monkeypatch, tmp_path):
    import uuid
    from datetime import date

    from .test_rollup import query

    from archiving.rollup.store import RollupStore
    from archiving.rollup.writer import rollup_day
    from archiving.settings import Settings

    monkeypatch.setenv("ROLLUP_CONTAINER", f"rollup-{uuid.uuid4().hex[:12]}")
    import os

    svc = bootstrap.Services(settings=Settings.from_env(os.environ))
    try:
        result = rollup_day(svc.store, RollupStore(svc.rollup_container), date(2026, 3, 2))
        names = [b.name for b in svc.rollup_container.list_blobs()]
        assert any("channel=call/" in n for n in names), names
        assert result is not None
        # Queried as the command does: one row per call record, every kind the call wrote, under its call id.
        rows = query(RollupStore(svc.rollup_container), tmp_path,
                     "SELECT kind, thread_id, source_sha256 FROM records WHERE channel = 'call' ORDER BY source")
        archived = [n for n in svc.store.list_names(layout.ROOT) if not n.startswith(layout.MEDIA_ROOT)]
        assert len(rows) == len(archived)
        assert {r["kind"] for r in rows} >= {"call-started", "call-participant", "call-recording", "call-ended"}
        assert {r["thread_id"] for r in rows} == {layout.call_segment(SERVER_CALL_ID)}
        assert all(len(r["source_sha256"]) == 64 for r in rows)
    finally:
        svc.close()


def test_the_seal_seals_every_call_blob(archived_call, monkeypatch, tmp_path):
    """Every call record and recording chunk goes into the sealed log, and verify accounts for each."""
    import os
    import uuid

    from archiving.integrity.seal import seal
    from archiving.integrity.signing import generate
    from archiving.integrity.verify import verify_log
    from archiving.settings import Settings

    key = tmp_path / "seal-key.pem"
    generate(key)
    monkeypatch.setenv("ARCHIVE_SEAL_CONTAINER", f"seal-{uuid.uuid4().hex[:10]}")
    monkeypatch.setenv("ARCHIVE_SEAL_KEY_FILE", str(key))
    svc = bootstrap.Services(settings=Settings.from_env(dict(os.environ)), profile=bootstrap.BATCH_PROFILE)
    try:
        written = set(svc.store.list_names(layout.ROOT))
        assert any(n.startswith(layout.MEDIA_ROOT) for n in written)
        result = seal(svc)
        assert result.status == "sealed" and result.leaves >= len(written)
        report = verify_log(svc)
        assert report.problems == [] and report.unsealed == [] and report.blobs_ok == result.leaves
    finally:
        svc.close()


def test_a_recording_larger_than_a_block_is_uploaded_in_blocks_create_only(rec_env, acs, acs_env):
    from archiving.calls.recordings import BLOCK_BYTES, upload_blocks

    big = random.Random(5).randbytes(2 * BLOCK_BYTES + 12345)
    locations = add_recording(acs, DOCUMENT, big, "video/mp4", ACS_METADATA)
    assert deliver(recording_event(locations)).value is None
    svc = bootstrap.services()
    sha = hashlib.sha256(big).hexdigest()
    blob = svc.store.container.get_blob_client(layout.media_key(sha))
    assert hashlib.sha256(blob.download_blob().readall()).hexdigest() == sha
    assert len(blob.get_block_list()[0]) == 3  # committed blocks, not one put
    assert blob.get_blob_tags()["kind"] == "call-media" and blob.get_blob_properties().metadata["sha256"] == sha
    import io

    # the same name again: create-only, the first copy stands
    assert upload_blocks(svc.store, layout.media_key(sha), io.BytesIO(b"x" * len(big)), len(big), {}, {}) is False
    assert hashlib.sha256(blob.download_blob().readall()).hexdigest() == sha


def test_replay_of_a_recording_event_downloads_it(rec_env, acs, acs_env, capsys, tmp_path):
    """The runbook's way back for a dead-lettered recording event: replay it within the 24 hours."""
    locations = add_recording(acs, DOCUMENT, AUDIO, "audio/mpeg", ACS_METADATA)
    path = tmp_path / "events.json"
    path.write_text(json.dumps([recording_event(locations)]))
    code, _, err = run(capsys, "replay", str(path))
    assert code == 0, err
    rec = next(d for d in call_blobs(bootstrap.services()).values() if d and d["kind"] == "call-recording")
    assert rec["status"] == "stored" and rec["chunks"][0]["content"]["sha256"] == hashlib.sha256(AUDIO).hexdigest()


def test_rsmf_export_carries_the_recording_with_its_sha256(archived_call, capsys, tmp_path):
    from .test_rsmf import VALIDATOR, Rsmf

    sha = hashlib.sha256(AUDIO).hexdigest()
    out = tmp_path / "rsmf"
    code, _, err = run(capsys, "export", "--from", "2026-03-02", "--to", "2026-03-02", "--format", "rsmf",
                       "--out", str(out))
    assert code == 0, err
    (path,) = sorted(out.glob("*.rsmf"))
    rsmf = Rsmf(path)
    assert list(VALIDATOR.iter_errors(rsmf.manifest)) == []
    types = [e["type"] for e in rsmf.manifest["events"]]
    assert types.count("join") == 1 and types.count("leave") == 1 and "message" in types
    (recording,) = [e for e in rsmf.manifest["events"] if e.get("attachments")]
    (attachment,) = recording["attachments"]
    assert hashlib.sha256(rsmf.zip.read(attachment["id"])).hexdigest() == sha
    manifest = json.loads((out / "rsmf-export.manifest.json").read_text())
    (entry,) = [f for f in manifest["files"] if f["channel"] == "call"]
    assert entry["recordings"][0]["sha256"] == sha and entry["recordings"][0]["size"] == len(AUDIO)
    assert manifest["damaged_blobs"] == []


def test_show_between_two_parties_includes_their_calls(archived_call, capsys):
    code, out, _ = run(capsys, "show", "--between", PHONE, BUSINESS, "--format", "json")
    assert code == 0
    (call,) = json.loads(out)["calls"]
    assert call["call_id"] == layout.call_segment(SERVER_CALL_ID) and call["duration_seconds"] == 65
    code, out, _ = run(capsys, "show", "--between", PHONE, BUSINESS)
    assert code == 0 and f"call {layout.call_segment(SERVER_CALL_ID)}" in out
    assert run(capsys, "show", "--between", PHONE, "+15555550100")[0] == 3  # no call (nor message) of these two


def test_show_between_as_html_has_the_call_as_an_entry(archived_call, capsys):
    from .test_conversation_html import check

    code, out, _ = run(capsys, "show", "--between", PHONE, BUSINESS, "--format", "html")
    assert code == 0
    (entry,) = check(out).entries
    assert "call" in entry["class"] and f"call {layout.call_segment(SERVER_CALL_ID)}" in entry["text"]
    assert "duration 65 s" in entry["text"] and "2026-03-02 10:00:00Z" in entry["text"]
    sha = hashlib.sha256(AUDIO).hexdigest()
    assert f"sha256 {sha}" in entry["text"] and layout.media_key(sha) in entry["text"]  # as text, never loaded
    # Participants by their id's kind and a short hash, as on a chat page; raw ids with --raw-ids.
    assert "4:" + PHONE not in out and "Customer" in entry["text"] and "phoneNumber · " in entry["text"]
    code, out, _ = run(capsys, "show", "--between", PHONE, BUSINESS, "--format", "html", "--raw-ids")
    assert code == 0 and "4:" + PHONE in out


def test_a_download_cut_short_resumes_with_a_range_request(rec_env, acs, acs_env, caplog):
    big = random.Random(7).randbytes(3 * 1024 * 1024)
    locations = add_recording(acs, DOCUMENT, big, "audio/wav")
    ranged = acs.count(method="GET", path=f"/v1/objects/{DOCUMENT}/content/audio", status=206)
    rec_env.cut_next(2 * 1024 * 1024 + 512 * 1024)  # the connection drops after 2 of the 1 MiB blocks were read
    with caplog.at_level(logging.INFO, "archiving.calls.recordings"):
        assert deliver(recording_event(locations)).value is None
    rec = next(d for d in call_blobs(bootstrap.services()).values() if d and d["kind"] == "call-recording")
    assert rec["chunks"][0]["content"]["sha256"] == hashlib.sha256(big).hexdigest()
    assert acs.count(method="GET", path=f"/v1/objects/{DOCUMENT}/content/audio", status=206) == ranged + 1
    assert any("outcome=resume offset=2097152" in r.getMessage() for r in caplog.records)


def test_a_ringing_group_and_a_call_across_months_stay_one_call(archive_env, services, capsys):
    incoming = to_grid(load_vector("eventgrid/event-grid-schema/incoming_call.json"))
    incoming["data"]["serverCallId"] = SERVER_CALL_ID
    for i, callee in enumerate((BUSINESS, BUSINESS.replace("0001", "0002"))):  # one IncomingCall per target
        event = copy.deepcopy(incoming)
        event["id"], event["eventTime"] = f"ring-{i}", "2026-03-31T23:59:58Z"
        event["data"]["to"] = ident(callee)
        assert deliver(event).value is None
    assert deliver(call_event("call_started", "s", "2026-03-31T23:59:59Z")).value is None
    assert deliver(call_event("call_ended", "e", "2026-04-01T00:10:00Z", callDurationInSeconds=601)).value is None
    names = [n for n in call_blobs(services)]
    assert len(names) == 4 and not any(".conflict-" in n for n in names)
    assert {layout.parse_call_key(n).month for n in names} == {"202603", "202604"}
    code, out, _ = run(capsys, "show", "--call", SERVER_CALL_ID, "--format", "json")
    shown = json.loads(out)
    assert code == 0 and len(shown["incoming"]) == 2 and shown["duration_seconds"] == 601 and len(shown["records"]) == 4


def test_the_recording_host_checks_the_signature(rec_env, acs, acs_env, monkeypatch):
    """A wrong access key is refused (401) and the event fails: the HMAC check of the test server is real."""
    from azure.core.exceptions import ClientAuthenticationError

    wrong = acs.connection_string.replace(acs.access_key, "d3Jvbmcta2V5LXdyb25nLWtleQ==")
    monkeypatch.setenv("ACS_CONNECTION_STRING", wrong)
    bootstrap.reset()
    locations = add_recording(acs, DOCUMENT, AUDIO)
    refused = acs.count(path=r"^/v1/objects/", status=401)
    with pytest.raises(ClientAuthenticationError):
        deliver(recording_event(locations))
    assert acs.count(path=r"^/v1/objects/", status=401) == refused + 1


def test_the_route_can_be_given_through_the_composition_root(acs, acs_env, monkeypatch):
    """Without proxy variables, Services(acs_options=...) carries the proxy and the CA to the SDK client."""
    from archiving.calls.events import build
    from archiving.calls.recordings import archive_recording
    from archiving.ingest.envelope import Envelope
    from archiving.settings import Settings
    from archiving.timefmt import utcnow

    for name in ("HTTPS_PROXY", "https_proxy", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    locations = add_recording(acs, DOCUMENT, AUDIO, "audio/mpeg", ACS_METADATA)
    with Tunnel(acs.port) as tunnel:
        svc = bootstrap.Services(settings=Settings.from_env(acs_env),
                                 acs_options={"proxies": {"https": tunnel.url}, "connection_verify": acs.ca_file})
        try:
            rec = build(Envelope.from_mapping(recording_event(locations)), KEY, utcnow())
            result = archive_recording(rec, svc.recordings, svc.store, None)
            assert result.status == "archived"
            doc = svc.store.read_document(result.key)
            assert doc["chunks"][0]["content"]["sha256"] == hashlib.sha256(AUDIO).hexdigest()
        finally:
            svc.close()
        assert tunnel.connects and set(tunnel.connects) == {HOST}
