"""The inactive-thread sweep and transcripts: the real ACS SDKs against our HTTPS test server,
the functions called as the host calls them, the queue and blobs in a real Azurite."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import datetime, timedelta, timezone

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from archiving import bootstrap
from archiving.store import codec
from archiving.store.schemas import errors as schema_errors
from archiving.threads.sweep import ThreadToArchive, select_threads
from archiving.threads.transcripts import CSV_HEADER, archive_thread
from archiving.store.verify_blob import check_blob

from .host import Out

UTC = timezone.utc
NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=3)


@pytest.fixture
def sweep_env(acs_env):
    return acs_env


@pytest.fixture
def svc(acs_services):
    return acs_services


def people(acs, n):
    return [acs.create_user() for _ in range(n)]


def quiet_thread(acs, archiver, *, messages=3, when=OLD, topic="Quiet"):
    alice, bob = people(acs, 2)
    tid = acs.create_thread(topic, created_by=alice, participants=[alice, bob, archiver], created_on=when - timedelta(hours=1))
    acs.add_messages(tid, alice, messages, start=when - timedelta(minutes=messages), step=timedelta(seconds=30))
    return tid


def run_timer(app_functions) -> list[str]:
    out = Out()
    app_functions["sweep_inactive_threads"].get_user_function()(timer=TimerRequest(past_due=False), queue=out)
    return out.value or []


def run_queue(app_functions, body: str) -> None:
    msg = func.QueueMessage(id="m1", body=body.encode("utf-8"))
    app_functions["archive_thread"].get_user_function()(msg=msg)


def transcript(svc, name):
    data = svc.store.container.download_blob(name).readall()
    return codec.decompress(data)


def transcripts_of(svc, tid):
    return sorted(n for n in svc.store.list_names("chat/") if f"/{tid}/transcripts/" in n)


# -- bindings ----------------------------------------------------------------------------------------


def test_timer_has_a_retry_policy(app_functions):
    # Function-level retry applies to timers (not to Event Grid or queues, which retry themselves).
    retry = app_functions["sweep_inactive_threads"].get_settings_dict("retry_policy")
    assert retry["strategy"] == "exponential_backoff" and int(retry["max_retry_count"]) >= 1
    assert app_functions["archive_thread"].get_settings_dict("retry_policy") is None


def test_bindings_as_the_host_indexes_them(indexed):
    timer = {b["name"]: b for b in indexed["sweep_inactive_threads"]["bindings"]}
    assert timer["timer"]["type"] == "timerTrigger" and timer["timer"]["schedule"] == "%SWEEP_SCHEDULE%"
    assert timer["timer"]["runOnStartup"] is False
    assert timer["queue"] == {"direction": "OUT", "type": "queue", "name": "queue", "queueName": "%SWEEP_QUEUE%",
                              "connection": "ArchiveStorage"}
    (trigger,) = indexed["archive_thread"]["bindings"]
    assert trigger == {"direction": "IN", "type": "queueTrigger", "name": "msg", "queueName": "%SWEEP_QUEUE%",
                       "connection": "ArchiveStorage"}


# -- selection ---------------------------------------------------------------------------------------


def test_selection(app_functions, acs, sweep_env, svc):
    archiver = sweep_env["ARCHIVER_USER_ID"]
    inactive = quiet_thread(acs, archiver)
    active = quiet_thread(acs, archiver, when=NOW - timedelta(minutes=5))
    deleted = quiet_thread(acs, archiver)
    acs.delete_thread(deleted)
    outsider = quiet_thread(acs, acs.create_user())  # the archiver is not a participant
    alice = acs.create_user()
    # Only the service's own system messages (participants added, topic): still a conversation record.
    system_only = acs.create_thread("No messages", created_by=alice, participants=[alice, archiver], created_on=OLD)
    done = quiet_thread(acs, archiver)
    archive_thread(done, svc, None)

    queued = [json.loads(m) for m in run_timer(app_functions)]
    assert sorted(m["thread_id"] for m in queued) == sorted([inactive, system_only])
    listed = {t.id: t.last_message_received_on for t in svc.acs.chat_client().list_chat_threads()}
    for m in queued:
        assert m["last_message_received_on"] == listed[m["thread_id"]].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert {active, deleted, done} <= set(listed) and outsider not in listed

    _, stats = select_threads(svc)
    assert (stats.listed, stats.selected, stats.active, stats.deleted, stats.archived_already) == (5, 2, 1, 1, 1)


def test_selection_lists_every_page(acs, sweep_env, svc):
    archiver = sweep_env["ARCHIVER_USER_ID"]
    alice = acs.create_user()
    for i in range(450):
        tid = acs.create_thread(f"t{i}", created_by=alice, participants=[alice, archiver], created_on=OLD)
        acs.send_message(tid, alice, "hi", created_on=OLD)
    before = acs.count(method="GET", path=r"^/chat/threads$")
    selected, stats = select_threads(svc)
    assert stats.listed == 450 and len(selected) == 450
    assert acs.count(method="GET", path=r"^/chat/threads$") - before == 3  # 200 + 200 + 50


# -- transcripts ---------------------------------------------------------------------------------------


def conversation(acs, archiver):
    alice, bob, carol = people(acs, 3)
    t0 = OLD - timedelta(hours=2)
    tid = acs.create_thread("Order 4711", created_by=alice, participants=[alice, bob, archiver], created_on=t0)
    tricky = 'Commas, "quotes",\nnew lines\r\nand emoji 📦🙂 — done'
    acs.send_message(tid, bob, tricky, created_on=t0 + timedelta(minutes=1), sender_display_name="Bob, Jr.")
    acs.add_messages(tid, alice, 450, start=t0 + timedelta(minutes=2), step=timedelta(seconds=1))
    edited = acs.send_message(tid, bob, "typo", created_on=t0 + timedelta(minutes=20))
    acs.edit_message(tid, edited, "fixed", edited_on=t0 + timedelta(minutes=21))
    gone = acs.send_message(tid, bob, "secret", created_on=t0 + timedelta(minutes=22))
    acs.delete_message(tid, gone, deleted_on=t0 + timedelta(minutes=23))
    acs.add_participant(tid, carol, display_name="Carol", by=alice, share_history_time=t0,
                        added_on=t0 + timedelta(minutes=24))
    acs.send_message(tid, carol, "<p>Hi <b>all</b></p>", type="html", created_on=OLD)
    return tid, tricky, edited, gone


def test_transcripts_through_the_queue(app_functions, acs, sweep_env, svc, azurite):
    tid, tricky, edited, gone = conversation(acs, sweep_env["ARCHIVER_USER_ID"])
    queued = run_timer(app_functions)
    assert len(queued) == 1

    # Through a real queue, as the host's output binding and trigger would (base64 messages).
    from azure.storage.queue import QueueClient

    queue = QueueClient.from_connection_string(azurite.connection_string, sweep_env["SWEEP_QUEUE"])
    queue.create_queue()
    queue.send_message(base64.b64encode(queued[0].encode()).decode())
    (received,) = list(queue.receive_messages())
    run_queue(app_functions, base64.b64decode(received.content).decode())

    names = transcripts_of(svc, tid)
    last = datetime.fromisoformat(json.loads(queued[0])["last_message_received_on"].replace("Z", "+00:00"))
    ms = int(last.timestamp() * 1000)
    assert names == [f"chat/{last:%Y%m}/{tid}/transcripts/{ms}.csv.lz4", f"chat/{last:%Y%m}/{tid}/transcripts/{ms}.json.lz4"]
    for name in names:
        assert check_blob(svc.store, name) is None

    doc = json.loads(transcript(svc, names[1]))
    assert schema_errors(doc) == []
    service = acs.messages(tid)
    assert doc["message_count"] == len(service) == len(doc["messages"]) > 450
    seqs = [int(m["sequence_id"]) for m in doc["messages"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    by_id = {m["message_id"]: m for m in doc["messages"]}
    assert by_id[edited]["content"] == "fixed" and by_id[edited]["edited_at"]
    assert by_id[gone]["deleted_at"] and by_id[gone]["content"] in (None, "")
    system = [m for m in doc["messages"] if m["message_type"] in ("participantAdded", "topicUpdated")]
    assert any(m["message_type"] == "participantAdded" and m["participants"][0]["display_name"] == "Carol" for m in system)
    assert any(m["message_type"] == "topicUpdated" and m["topic"] == "Order 4711" for m in system)
    assert doc["messages"][-1]["message_type"] == "html"
    assert doc["topic"] == "Order 4711" and len(doc["participants"]) == 4
    assert doc["first_message_at"] == doc["messages"][0]["created_at"]

    rows = list(csv.reader(io.StringIO(transcript(svc, names[0]).decode("utf-8"), newline="")))
    assert tuple(rows[0]) == CSV_HEADER
    assert len(rows) == 1 + doc["message_count"]
    row = next(r for r in rows if r[-1].startswith("Commas"))
    assert row[-1] == tricky and row[5] == "Bob, Jr."
    assert b"\r\n" in transcript(svc, names[0])[:200]  # RFC 4180 line ends

    # A redelivered queue message changes nothing.
    etags = {n: svc.store.container.get_blob_client(n).get_blob_properties().etag for n in names}
    run_queue(app_functions, queued[0])
    assert {n: svc.store.container.get_blob_client(n).get_blob_properties().etag for n in names} == etags
    # And a second sweep enqueues nothing new.
    assert run_timer(app_functions) == []


def test_thread_that_wakes_up_gets_a_new_transcript(acs, sweep_env, svc):
    tid = quiet_thread(acs, sweep_env["ARCHIVER_USER_ID"], when=OLD - timedelta(days=2))
    (first,), _ = select_threads(svc)
    archive_thread(first.thread_id, svc, first.last_message_at)
    acs.send_message(tid, acs.messages(tid)[-1]["senderCommunicationIdentifier"]["rawId"], "back again", created_on=OLD)
    (second,), _ = select_threads(svc)
    assert second.last_message_at > first.last_message_at
    archive_thread(second.thread_id, svc, second.last_message_at)
    assert len(transcripts_of(svc, tid)) == 4


def test_throttled_listing_still_gives_a_complete_transcript(acs, sweep_env, svc):
    tid = quiet_thread(acs, sweep_env["ARCHIVER_USER_ID"], messages=1000)
    rule = acs.faults.add(status=429, path=r"/messages$", every=2, retry_after=0)
    try:
        result = archive_thread(tid, svc, None)
    finally:
        acs.faults.remove(rule)
    assert rule.fired >= 3
    doc = json.loads(transcript(svc, next(k for k in result.keys if k.endswith(".json.lz4"))))
    assert doc["message_count"] == len(acs.messages(tid))


def fast_retries(acs, sweep_env):
    """The production retry counts (archiving.threads.acs.CLIENT_OPTIONS), with millisecond backoffs."""
    from archiving.settings import Settings

    return bootstrap.Services(settings=Settings.from_env(sweep_env),
                              acs_options={**acs.client_kwargs(), "retry_backoff_factor": 0.001})


def test_a_page_throttled_many_times_in_a_row_still_succeeds(acs, sweep_env):
    # azure-core gives up after 3 status retries unless told otherwise; a busy thread can see more.
    tid = quiet_thread(acs, sweep_env["ARCHIVER_USER_ID"])
    svc = fast_retries(acs, sweep_env)
    rule = acs.faults.add(status=429, path=r"/messages$", times=6, retry_after=0)
    try:
        result = archive_thread(tid, svc, None)
    finally:
        acs.faults.remove(rule)
        svc.close()
    assert rule.fired == 6 and result.status == "archived"


def test_a_thread_that_keeps_failing_raises_for_the_queue(acs, sweep_env):
    tid = quiet_thread(acs, sweep_env["ARCHIVER_USER_ID"])
    svc = fast_retries(acs, sweep_env)
    rule = acs.faults.add(status=503, path=r"/messages$", retry_after=0)
    try:
        with pytest.raises(Exception) as info:
            archive_thread(tid, svc, None)
    finally:
        acs.faults.remove(rule)
    assert "503" in str(info.value) or "ServiceUnavailable" in str(info.value)
    assert rule.fired == 9  # the first try and 8 retries
    assert transcripts_of(svc, tid) == []
    svc.close()


def test_delete_after_archive(acs, sweep_env, svc, monkeypatch):
    from archiving.settings import Settings

    tid = quiet_thread(acs, sweep_env["ARCHIVER_USER_ID"])
    deleting = bootstrap.Services(settings=Settings.from_env(dict(sweep_env, DELETE_THREAD_AFTER_ARCHIVE="true")),
                                  acs_options=acs.client_kwargs())
    result = archive_thread(tid, deleting, None)
    deleting.close()
    assert result.thread_deleted is True
    assert acs.thread(tid)["deletedOn"]
    assert all(check_blob(svc.store, k) is None for k in result.keys)


def test_no_delete_when_the_transcript_does_not_read_back(svc):
    from archiving.threads.transcripts import _delete_if_verified

    svc.store.ensure_container()
    svc.store.create_blob("chat/202401/t/transcripts/1.json.lz4", codec.encode({"a": 1}).data, {"sha256": "0" * 64})
    assert _delete_if_verified("t", svc, {"json": "chat/202401/t/transcripts/1.json.lz4"}) is False


def test_malformed_queue_message_raises_for_the_poison_queue(app_functions, sweep_env):
    for body in ("not json", "[]", json.dumps({"thread_id": "a/b", "last_message_received_on": "2024-01-01T00:00:00Z"}),
                 json.dumps({"thread_id": "19:x@thread.v2", "last_message_received_on": "soon"})):
        with pytest.raises(ValueError):
            run_queue(app_functions, body)


def test_queue_message_round_trip():
    item = ThreadToArchive("19:abc@thread.v2", datetime(2024, 2, 29, 23, 59, 59, 123000, tzinfo=UTC))
    assert ThreadToArchive.from_message(item.to_message()) == item


def test_missing_acs_setting_is_named(app_functions, archive_env):
    from archiving.settings import SettingError

    with pytest.raises(SettingError, match="ACS_CONNECTION_STRING"):
        run_timer(app_functions)


# -- the command line ----------------------------------------------------------------------------------


def test_cli_sweep_once_and_identity(acs, sweep_env, svc, tmp_path):
    import os
    import subprocess
    import sys

    from .conftest import ROOT

    tid = quiet_thread(acs, sweep_env["ARCHIVER_USER_ID"], messages=250)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("Archive", "ARCHIVE", "ACS_"))}
    env.update(sweep_env, PYTHONPATH=str(ROOT), **acs.trust_env())

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "archiving", "--quiet", *args], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=120)

    dry = cli("sweep", "--once", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "1 to archive" in dry.stderr and dry.stdout.split("\t")[0] == tid  # summary on stderr, data on stdout
    assert transcripts_of(svc, tid) == []

    done = cli("sweep", "--once")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "1 threads archived, 0 failed"
    assert len(transcripts_of(svc, tid)) == 2
    assert "0 to archive, 1 archived already" in cli("sweep", "--once").stderr

    created = cli("identity", "create", "--force")  # ARCHIVER_USER_ID is set: without --force, refused
    assert created.returncode == 0, created.stderr
    user = created.stdout.strip()
    assert user.startswith("8:acs:") and acs.issue_token(user)

    missing = {k: v for k, v in env.items() if k != "ARCHIVER_USER_ID"}
    result = subprocess.run([sys.executable, "-m", "archiving", "sweep", "--once"], capture_output=True, text=True,
                            env=missing, cwd=tmp_path, timeout=60)
    assert result.returncode == 2 and "ARCHIVER_USER_ID" in result.stderr


def test_redrive_moves_poison_messages_back(sweep_env, azurite, tmp_path):
    import os
    import subprocess
    import sys

    from azure.storage.queue import QueueClient

    from .conftest import ROOT

    name = sweep_env["SWEEP_QUEUE"]
    poison = QueueClient.from_connection_string(azurite.connection_string, f"{name}-poison")
    target = QueueClient.from_connection_string(azurite.connection_string, name)
    poison.create_queue()
    target.create_queue()
    bodies = [base64.b64encode(f'{{"thread_id": "19:{i}@thread.v2"}}'.encode()).decode() for i in range(3)]
    for body in bodies:
        poison.send_message(body)
    env = dict(os.environ, **sweep_env, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-m", "archiving", "--quiet", "redrive"], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"3 messages moved from {name}-poison to {name}; 0 remain in {name}-poison (of 3 at the start)"
    assert sorted(m.content for m in target.receive_messages(max_messages=10)) == sorted(bodies)
    assert list(poison.receive_messages()) == []
