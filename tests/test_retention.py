"""Records management on Azurite (archiving/retention): holds by matter, dispose, the seal's verify after
disposal, rehydration of Archive-tier blobs; through the CLI and the dispose timer as the host runs it."""

from __future__ import annotations

import copy
import json
import re
import shlex
import uuid
from datetime import datetime, timedelta

import pytest

from archiving import bootstrap
from archiving.cli.main import main
from archiving.ingest.replay import replay
from archiving.integrity.signing import generate
from archiving.retention import audit
from archiving.settings import Settings
from archiving.timefmt import UTC, iso, utcnow

from .conftest import load_vector

RETENTION_DAYS = 365
OLD = datetime(2021, 3, 1, 9, 0, tzinfo=UTC)  # years past a 365-day retention
PARTY = "+14255550123"
BUSINESS = "+18005550199"


@pytest.fixture
def env(archive_env, monkeypatch, tmp_path):
    suffix = uuid.uuid4().hex[:10]
    key = tmp_path / "seal-key.pem"
    generate(key)
    values = dict(archive_env, ARCHIVE_SEAL_CONTAINER=f"seal-{suffix}", ARCHIVE_JOURNAL_CONTAINER=f"journal-{suffix}",
                  ARCHIVE_SEAL_KEY_FILE=str(key), ARCHIVE_RETENTION_DAYS=str(RETENTION_DAYS),
                  DISPOSE_SCHEDULE="0 0 3 * * *", ARCHIVE_OPERATOR="records.officer")
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no local.settings.json: the CLI reads the environment
    bootstrap.reset()
    yield values
    bootstrap.reset()


@pytest.fixture
def svc(env):
    s = bootstrap.Services(settings=Settings.from_env(env), profile=bootstrap.BATCH_PROFILE)
    yield s
    s.close()


def chat(thread: str, when: datetime, n: int, sender: str = "8:acs:00000000-0000-0000-0000-00000000000a") -> dict:
    e = copy.deepcopy(load_vector("eventgrid/event-grid-schema/chat_message_received_in_thread.json"))
    mid = str(int(when.timestamp() * 1000) + n)
    e["id"] = str(uuid.uuid4())
    e["eventTime"] = iso(when + timedelta(seconds=1))
    e["data"].update(threadId=thread, messageId=mid, version=mid, composeTime=iso(when + timedelta(milliseconds=n)))
    e["data"]["senderCommunicationIdentifier"] = {"rawId": sender, "communicationUser": {"id": sender}}
    e["subject"] = f"thread/{thread}/sender/{sender}"
    return e


def sms(sender: str, to: str, when: datetime, n: int) -> dict:
    e = copy.deepcopy(load_vector("eventgrid/event-grid-schema/sms_received.json"))
    mid = f"Incoming_{uuid.uuid4().hex}"
    e["id"] = mid
    e["eventTime"] = iso(when + timedelta(seconds=2))
    e["data"].update(MessageId=mid, From=sender, To=to, ReceivedTimestamp=iso(when + timedelta(seconds=n)))
    return e


def archive(svc, events) -> None:
    counts = replay(events, svc.store, svc.rejected_store, svc.settings.hash_key)
    assert counts["rejected"] == 0, counts


def names(svc, prefix: str = "") -> set[str]:
    return set(svc.store.list_names(prefix))


def thread_names(svc, thread: str) -> set[str]:
    return {n for n in names(svc, "chat/") if f"/{thread}/" in n}


def cli(capsys, *args) -> tuple[int, str, str]:
    code = main(["-q", *args])
    out, err = capsys.readouterr()
    return code, out, err


def run_dispose_timer(app_functions) -> None:
    from azure.functions.timer import TimerRequest

    bootstrap.reset()
    app_functions["dispose_archive"].get_user_function()(timer=TimerRequest(past_due=False))


HELD, UNHELD, PARTY_THREAD = "19:held@thread.v2", "19:unheld@thread.v2", "19:party@thread.v2"


# -- holds and dispose -----------------------------------------------------------------------------------


def test_dispose_timer_is_indexed_with_its_schedule_setting(indexed):
    (binding,) = indexed["dispose_archive"]["bindings"]
    assert binding["type"] == "timerTrigger" and binding["schedule"] == "%DISPOSE_SCHEDULE%"


def test_holds_survive_dispose_unheld_is_disposed_and_release_lets_the_next_run_dispose(svc, capsys, app_functions):
    party_raw = "8:acs:00000000-0000-0000-0000-0000000000bb"
    archive(svc, [chat(HELD, OLD, i) for i in range(3)] + [chat(UNHELD, OLD, i) for i in range(3)]
            + [chat(PARTY_THREAD, OLD, 0, sender=party_raw), chat(PARTY_THREAD, OLD, 1)]
            + [sms(PARTY, BUSINESS, OLD, 0), sms("+14255550999", BUSINESS, OLD, 1)]
            + [chat("19:recent@thread.v2", utcnow() - timedelta(days=3), 0)])
    code, out, _ = cli(capsys, "hold", "place", "--matter", "Smith v. Contoso", "--reason", "litigation notice",
                       "--thread", HELD)
    assert code == 0 and "3 record(s) covered now" in out
    code, out, _ = cli(capsys, "hold", "place", "--matter", "Party matter", "--reason", "subpoena", "--party", party_raw)
    assert code == 0 and "2 record(s) covered now" in out  # its own message, and the thread it wrote in
    code, out, _ = cli(capsys, "hold", "place", "--matter", "Party matter", "--reason", "and the phone",
                       "--party", PARTY)
    assert code == 0 and "1 record(s) covered now" in out
    # Written after the hold, dated in the past: covered all the same.
    archive(svc, [chat(HELD, OLD, 9)])

    code, out, _ = cli(capsys, "hold", "list", "--format", "json")
    rows = json.loads(out)
    assert code == 0 and sorted((r["matter"], r["records"]) for r in rows) == [
        ("Party matter", 1), ("Party matter", 2), ("Smith v. Contoso", 4)]
    assert all(r["placed_by"] == "records.officer" and r["audit"].startswith("holds/") for r in rows)
    assert PARTY not in out and party_raw not in out  # a party is kept only as its hash

    code, out, _ = cli(capsys, "dispose", "--dry-run")
    assert code == 0 and "would dispose 4 record(s)" in out
    assert not names(svc, "dispositions/")  # a dry run writes nothing

    run_dispose_timer(app_functions)
    assert thread_names(svc, UNHELD) == set()
    assert len(thread_names(svc, HELD)) == 4 and len(thread_names(svc, PARTY_THREAD)) == 2
    left_sms = names(svc, "sms/")
    assert len(left_sms) == 1  # the party's SMS; the other number's is disposed
    assert len(thread_names(svc, "19:recent@thread.v2")) == 1
    (record,) = names(svc, "dispositions/")
    doc = svc.store.read_document(record)
    assert doc["counts"]["disposed"] == 4 and doc["counts"]["held"] == 7 and doc["retention_days"] == RETENTION_DAYS
    assert all(d["sha256"] and d["retention_ended"].startswith("2022-03-01") for d in doc["disposed"])
    assert {h["matter_id"]: h["records"] for h in doc["holds"]} == {audit.matter_id("Smith v. Contoso"): 4,
                                                                   audit.matter_id("Party matter"): 3}
    from archiving.retention.audit import check_signature
    from archiving.integrity.signing import FileSigner

    signer = FileSigner(svc.settings.seal_key_file)
    assert check_signature(doc, {signer.key_id: signer.public_pem}) is None
    assert check_signature(dict(doc, cutoff="2000-01-01T00:00:00.000000Z"), {signer.key_id: signer.public_pem})

    code, out, _ = cli(capsys, "hold", "release", "--matter", "Smith v. Contoso", "--reason", "case closed")
    assert code == 0 and "audit record: holds/" in out
    assert cli(capsys, "hold", "release", "--matter", "Smith v. Contoso", "--reason", "again")[0] == 3
    code, out, _ = cli(capsys, "dispose")
    assert code == 0 and "disposed 4 record(s)" in out
    assert thread_names(svc, HELD) == set() and len(thread_names(svc, PARTY_THREAD)) == 2
    code, out, _ = cli(capsys, "hold", "list", "--format", "json", "--all")
    assert {(r["matter"], r["active"]) for r in json.loads(out)} == {("Party matter", True),
                                                                      ("Smith v. Contoso", False)}
    # Every hold action is an audit record with its schema.
    from archiving.store.schemas import errors

    for name in names(svc, "holds/"):
        assert errors(svc.store.read_document(name)) == []


def test_hold_usage_errors_are_named(svc, capsys):
    code, _, err = cli(capsys, "hold", "place", "--matter", "M", "--reason", "r")
    assert code == 2 and "exactly one scope" in err
    code, _, err = cli(capsys, "hold", "place", "--matter", "M", "--reason", "r", "--thread", "a", "--party", PARTY)
    assert code == 2 and "--thread and --party" in err
    code, _, err = cli(capsys, "hold", "place", "--matter", "M", "--reason", " ", "--thread", "a")
    assert code == 2 and "--reason is empty" in err
    code, _, err = cli(capsys, "hold", "place", "--matter", "M", "--reason", "r", "--party", "bob")
    assert code == 2 and "--party" in err
    assert cli(capsys, "hold", "list")[0] == 3


def test_hold_with_a_date_range_covers_only_its_range(svc, capsys):
    archive(svc, [chat(HELD, OLD, 0), chat(HELD, OLD + timedelta(days=40), 1)])
    code, out, _ = cli(capsys, "hold", "place", "--matter", "M", "--reason", "r", "--thread", HELD,
                       "--from", "2021-03-01", "--to", "2021-03-31")
    assert code == 0 and "1 record(s) covered now" in out
    code, out, _ = cli(capsys, "dispose")
    assert code == 0 and "disposed 1 record(s)" in out and len(thread_names(svc, HELD)) == 1


def test_a_damaged_hold_record_stops_dispose_and_deletes_nothing(svc, capsys):
    archive(svc, [chat(UNHELD, OLD, 0)])
    assert cli(capsys, "hold", "place", "--matter", "M", "--reason", "r", "--thread", HELD)[0] == 0
    (hold,) = names(svc, "holds/")
    svc.store.container.get_blob_client(hold).upload_blob(b"garbage", overwrite=True,
                                                          metadata={"sha256": "0" * 64})
    code, _, err = cli(capsys, "dispose")
    assert code == 2 and hold in err and "damaged" in err
    assert len(thread_names(svc, UNHELD)) == 1


def test_legal_hold_setting_names_what_the_container_lacks(svc, capsys, monkeypatch):
    """Azurite does not implement Set Blob Legal Hold (nor immutability): the command stops with the setting named."""
    archive(svc, [chat(HELD, OLD, 0)])
    monkeypatch.setenv("ARCHIVE_LEGAL_HOLD", "true")
    code, _, err = cli(capsys, "hold", "place", "--matter", "M", "--reason", "r", "--thread", HELD)
    assert code == 2 and "ARCHIVE_LEGAL_HOLD" in err and "immutability" in err
    assert not names(svc, "holds/")  # nothing recorded as placed
