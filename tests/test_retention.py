"""Records management on Azurite (archiving/retention): holds by matter, dispose, the seal's verify after
disposal, rehydration of Archive-tier blobs; through the CLI and the dispose timer as the host runs it."""

from __future__ import annotations

import copy
import csv
import json
import re
import shlex
import uuid
from pathlib import Path
from datetime import datetime, timedelta

import pytest

from archiving import bootstrap
from archiving.store import keys
from archiving.cli.main import main
from archiving.ingest.replay import replay
from archiving.retention import audit
from archiving.settings import Settings
from archiving.timefmt import UTC, iso, utcnow

from .conftest import load_vector
from .test_integrity import seal_env  # noqa: F401 - the seal's fixture (key and seal container)

RETENTION_DAYS = 365
OLD = datetime(2021, 3, 1, 9, 0, tzinfo=UTC)  # years past a 365-day retention
PARTY = "+14255550123"
BUSINESS = "+18005550199"


@pytest.fixture
def env(seal_env, monkeypatch):
    """The seal's settings (a key, a seal container) and the retention's."""
    values = dict(seal_env, ARCHIVE_RETENTION_DAYS=str(RETENTION_DAYS), DISPOSE_SCHEDULE="0 0 3 * * *",
                  ARCHIVE_OPERATOR="records.officer")
    for name, value in values.items():
        monkeypatch.setenv(name, value)
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


# -- the seal's verify after disposal ---------------------------------------------------------------------


def test_verify_passes_after_disposal_and_names_a_blob_deleted_by_hand(svc, capsys):
    from archiving.integrity.seal import seal

    archive(svc, [chat(UNHELD, OLD, i) for i in range(2)] + [chat(HELD, utcnow() - timedelta(days=2), 0)])
    seal(svc)
    code, out, _ = cli(capsys, "dispose")
    assert code == 0 and "disposed 2 record(s)" in out
    seal(svc)  # the disposition record is sealed like every blob
    code, out, _ = cli(capsys, "verify")
    assert code == 0, out
    disposed = re.findall(r"^disposed\t(\S+)\tdisposed, retention ended (\d{4}-\d\d-\d\d)$", out, re.M)
    assert len(disposed) == 2 and {d for _, d in disposed} == {"2022-03-01"}
    assert "2 disposed" in out
    (kept,) = thread_names(svc, HELD)
    svc.store.container.delete_blob(kept)  # by anyone else: tampering
    code, out, _ = cli(capsys, "verify")
    assert code == 1 and re.search(rf"^deleted\t{re.escape(svc.settings.container + '/' + kept)}\t", out, re.M)


def test_a_forged_disposition_record_does_not_excuse_a_deletion(svc, capsys):
    from archiving.integrity.seal import seal
    from archiving.retention.audit import write

    archive(svc, [chat(HELD, utcnow() - timedelta(days=2), 0)])
    seal(svc)
    (victim,) = thread_names(svc, HELD)
    doc = {"schema_version": 1, "kind": "disposition", "run_id": uuid.uuid4().hex, "part": 1,
           "at": iso(utcnow()), "retention_days": 1, "cutoff": iso(utcnow()),
           "counts": {"listed": 1, "expired": 1, "held": 0, "immutable": 0, "no_time": 0, "disposed": 1},
           "holds": [], "disposed": [{"name": victim, "sha256": None, "at": iso(utcnow()),
                                      "retention_ended": iso(utcnow())}]}
    write(svc.store, "dispositions/20300101T000000000000Z-0001", doc, {"kind": "disposition", "at": doc["at"]})
    svc.store.container.delete_blob(victim)
    code, out, _ = cli(capsys, "verify")
    assert code == 1 and re.search(rf"^deleted\t\S*{re.escape(victim)}\t", out, re.M)  # unsigned: not accepted


# -- Archive tier and rehydration -------------------------------------------------------------------------


def _to_archive(svc, blob_names) -> None:
    for name in blob_names:
        svc.store.container.get_blob_client(name).set_standard_blob_tier("Archive")


def _printed_command(err: str) -> list[str]:
    (line,) = [ln.strip() for ln in err.splitlines() if ln.strip().startswith("python -m archiving rehydrate")]
    return shlex.split(line)[4:]  # after "python -m archiving rehydrate"


def test_archive_tier_blocks_show_and_export_with_the_exact_command_then_rehydrate_wait_unblocks(svc, capsys,
                                                                                                   tmp_path):
    archive(svc, [chat(HELD, OLD, i) for i in range(3)] + [chat(UNHELD, OLD, 0)])
    _to_archive(svc, thread_names(svc, HELD))
    code, _, err = cli(capsys, "show", HELD)
    assert code == 1 and "3 blob(s) in the Archive tier" in err
    command = _printed_command(err)
    assert command == ["--thread", HELD, "--wait"]
    out_file = tmp_path / "march.jsonl"
    code, _, err = cli(capsys, "export", "--from", "2021-03-01", "--to", "2021-03-31", "--format", "jsonl",
                       "--out", str(out_file))
    assert code == 1 and _printed_command(err) == ["--from", "2021-03-01", "--to", "2021-03-31", "--wait"]

    code, out, _ = cli(capsys, "rehydrate", *command[:-1], "--priority", "High")
    assert code == 0 and "3 asked to rehydrate now" in out and "rehydration record: rehydrations/" in out
    code, out, _ = cli(capsys, "rehydrate", *command, "--interval", "0.05", "--timeout", "30")
    assert code == 0 and "0 asked to rehydrate now" in out  # again: nothing left to ask (Azurite is instant)
    assert cli(capsys, "show", HELD)[0] == 0
    assert cli(capsys, "export", "--from", "2021-03-01", "--to", "2021-03-31", "--format", "jsonl",
               "--out", str(out_file))[0] == 0
    assert len(out_file.read_text().splitlines()) == 4
    (record,) = names(svc, "rehydrations/")
    doc = svc.store.read_document(record)
    assert doc["priority"] == "High" and len(doc["blobs"]) == 3 and doc["by"] == "records.officer"


def test_rehydrate_wait_polls_until_readable(svc):
    """--wait as Azure behaves: pending first, readable later (the clock and the tier change are driven here)."""
    from archiving.retention.rehydrate import wait

    archive(svc, [chat(HELD, OLD, i) for i in range(2)])
    blobs = sorted(thread_names(svc, HELD))
    _to_archive(svc, blobs)

    class Clock:
        def __init__(self, finish_after: int | None = 2):
            self.t, self.sleeps, self.finish_after = 0.0, 0, finish_after

        def monotonic(self):
            return self.t

        def sleep(self, s):
            self.t += s
            self.sleeps += 1
            if self.sleeps == self.finish_after:  # Azure finishes between the second and third poll
                for name in blobs:
                    svc.store.container.get_blob_client(name).set_standard_blob_tier("Cool")

    clock = Clock()
    polls = []
    assert wait(svc, blobs, interval=60, clock=clock, on_poll=lambda n, total: polls.append((n, total))) == []
    assert clock.sleeps == 2 and polls == [(0, 2), (0, 2)]
    _to_archive(svc, blobs)
    assert wait(svc, blobs, interval=60, timeout=120, clock=Clock(None)) == blobs  # gives up, names what is left


def test_verify_names_archive_tier_blobs_and_goes_on(svc, capsys):
    from archiving.integrity.seal import seal

    archive(svc, [chat(HELD, OLD, i) for i in range(2)])
    seal(svc)
    (first, second) = sorted(thread_names(svc, HELD))
    _to_archive(svc, [first])
    code, out, err = cli(capsys, "verify")
    assert code == 1  # the records' check could not read it: not verified
    assert re.search(rf"^archived\t\S*{re.escape(first)}\tin the Archive tier", out, re.M)
    assert "1 archived" in out and "python -m archiving rehydrate --from 2021-03-01 --wait" in err
    assert "service failed" not in err


def test_status_shows_rehydrations_in_flight(svc, capsys):
    from archiving.retention.rehydrate import in_flight
    from archiving.retention.scope import Scope

    archive(svc, [chat(HELD, OLD, 0)])
    _to_archive(svc, thread_names(svc, HELD))
    from archiving.retention.rehydrate import rehydrate

    rehydrate(svc, [Scope(thread=HELD)])
    assert in_flight(svc) == []  # Azurite rehydrates at once: nothing in flight
    _to_archive(svc, thread_names(svc, HELD))  # as if still pending
    (item,) = in_flight(svc)
    assert item.blobs == 1 and item.pending == 1 and item.priority == "Standard"


def test_status_reports_holds_rehydrations_and_the_last_dispose(svc, capsys):
    archive(svc, [chat(HELD, OLD, 0)])
    assert cli(capsys, "hold", "place", "--matter", "M", "--reason", "r", "--thread", HELD)[0] == 0
    assert cli(capsys, "dispose")[0] == 0
    _to_archive(svc, thread_names(svc, HELD))
    assert cli(capsys, "rehydrate", "--thread", HELD)[0] == 0
    _to_archive(svc, thread_names(svc, HELD))  # as if Azure were still at it
    code, out, _ = cli(capsys, "status", "--format", "json")
    (check,) = [c for c in json.loads(out)["checks"] if c["name"] == "records management"]
    assert check["state"] == "OK" and check["values"]["matters_on_hold"] == 1
    assert check["values"]["rehydrations_in_flight"] == 1 and check["values"]["blobs_rehydrating"] == 1
    assert check["values"]["last_dispose"] is not None


# -- export --matter ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "rsmf"])
def test_export_matter_is_exactly_what_the_holds_cover(svc, capsys, tmp_path, fmt):
    party_raw = "8:acs:00000000-0000-0000-0000-0000000000bb"
    archive(svc, [chat(HELD, OLD, i) for i in range(2)] + [chat(UNHELD, OLD, 0)]
            + [chat(PARTY_THREAD, OLD, 0, sender=party_raw)] + [sms(PARTY, BUSINESS, OLD, 0)]
            + [sms("+14255550999", BUSINESS, OLD, 1)])
    assert cli(capsys, "hold", "place", "--matter", "M-1", "--reason", "r", "--thread", HELD)[0] == 0
    assert cli(capsys, "hold", "place", "--matter", "M-1", "--reason", "r", "--party", PARTY)[0] == 0
    assert cli(capsys, "hold", "place", "--matter", "Other", "--reason", "r", "--thread", UNHELD)[0] == 0
    out = tmp_path / ("matter" if fmt == "rsmf" else f"matter.{fmt}")
    code, stdout, err = cli(capsys, "export", "--matter", "M-1", "--format", fmt, "--out", str(out))
    assert code == 0, err
    assert "3 blobs covered by 2 hold(s)" in stdout
    manifest_path = out / "matter.manifest.json" if fmt == "rsmf" else Path(f"{out}.manifest.json")
    manifest = json.loads(manifest_path.read_text())
    assert manifest["matter"] == "M-1" and len(manifest["hold_audit_records"]) == 2
    assert all(n.startswith("holds/") for n in manifest["hold_audit_records"])
    if fmt == "jsonl":
        sources = {json.loads(line)["source"] for line in out.read_text().splitlines()}
        assert sources == {n for n in names(svc) if f"/{HELD}/" in n} | {
            n for n in names(svc, "sms/") if svc.store.read_document(n)["from"]["hash"] == manifest["holds"][1]["party_hash"]}
    elif fmt == "rsmf":
        assert {p["thread_or_conversation"] for p in manifest["parts"]} >= {HELD}
        assert len(manifest["parts"]) == 2
    assert cli(capsys, "export", "--matter", "Nobody", "--out", str(tmp_path / "x.jsonl"))[0] == 3
    assert cli(capsys, "export", "--matter", "M-1", "--from", "2021-01-01", "--out", str(tmp_path / "y"))[0] == 2


def test_export_matter_in_the_archive_tier_prints_the_matter_rehydrate_command(svc, capsys, tmp_path):
    archive(svc, [chat(HELD, OLD, i) for i in range(2)])
    assert cli(capsys, "hold", "place", "--matter", "M-2", "--reason", "r", "--thread", HELD)[0] == 0
    _to_archive(svc, thread_names(svc, HELD))
    code, _, err = cli(capsys, "export", "--matter", "M-2", "--out", str(tmp_path / "m.jsonl"))
    assert code == 1 and _printed_command(err) == ["--matter", "M-2", "--wait"]
    code, out, _ = cli(capsys, "rehydrate", "--matter", "M-2", "--wait", "--interval", "0.05")
    assert code == 0 and "2 asked to rehydrate now" in out
    assert cli(capsys, "export", "--matter", "M-2", "--out", str(tmp_path / "m.jsonl"))[0] == 0


# -- infra: the lifecycle tiers records but no longer deletes them ------------------------------------------


def test_lifecycle_tiers_records_without_deleting_them_and_leaves_audit_records_online():
    from archiving.retention.scope import RECORD_ROOTS

    from .test_infra import INFRA, parse, resources

    tree = parse(INFRA / "modules" / "archive-storage.bicep")
    (policy,) = resources(tree, "Microsoft.Storage/storageAccounts/managementPolicies")
    rules = {r["name"]: r for r in policy["properties"]["policy"]["rules"]}
    records = rules["archive-records-tiering"]["definition"]
    chosen = records["actions"]["baseBlob"]["operator"]["operands"]  # none at all when nothing is tiered
    assert chosen["true_value"] is None
    base = tree["variables"][chosen["false_value"]]["value"]["function"]["parameters"]
    assert "deleteAction" not in base.values() and "archiveAction" in base.values()
    version = tree["variables"][records["actions"]["version"]]["value"]["function"]["parameters"]
    assert "deleteAction" in version.values()  # what a disposal leaves as a previous version goes too
    loop = records["filters"]["prefixMatch"]["loop_type"]["detail"]
    roots = tree["variables"][loop["array_name"]]["value"]
    assert tuple(roots) == RECORD_ROOTS  # holds/, dispositions/, rehydrations/ are never archived
    rejected = rules["rejected-and-dead-letter-retention"]["definition"]["actions"]["baseBlob"]
    assert "deleteAction" in rejected["function"]["parameters"].values()


def test_dispose_settings_are_deployed():
    from .test_infra import bicep_app_settings

    settings = bicep_app_settings()
    assert {"ARCHIVE_RETENTION_DAYS", "DISPOSE_SCHEDULE", "ARCHIVE_LEGAL_HOLD"} <= set(settings)


def test_default_tiering_is_the_one_docs_cost_chose():
    """The lifecycle defaults are bench/cost.py's: no tiering of per-message records."""
    from bench.cost import Params

    from .test_infra import INFRA, parse

    params = parse(INFRA / "main.bicep")["parameters"]
    defaults = {name: params[name]["default"] for name in ("coolAfterDays", "coldAfterDays", "archiveAfterDays")}
    assert defaults == {"coolAfterDays": Params.cool_after, "coldAfterDays": Params.cold_after,
                        "archiveAfterDays": Params.archive_after}


def test_cost_table_is_the_one_in_docs():
    """docs/cost.md shows what `python -m bench.cost` prints (no figure the command does not reproduce)."""
    from bench.cost import Params, render

    from .conftest import ROOT

    assert render(Params()) in (ROOT / "docs" / "cost.md").read_text(encoding="utf-8")


def test_a_party_hold_covers_outbound_messages_sent_to_it(svc, capsys):
    """Outbound records carry no recipient tag: the hold reads each outbound message's recipients."""
    from archiving.outbound import layout
    from archiving.outbound.core import OutboundArchive

    archive_ = OutboundArchive(svc.store.container, svc.settings.hash_key, outcomes="sync")

    def send(to: str) -> str:
        archive_id = layout.new_archive_id()
        fields = {"sender": layout.party(archive_.hash_key, "sms", BUSINESS, "from"),
                  "recipients": [layout.party(archive_.hash_key, "sms", to, "to")], "subject": None,
                  "body": {"text": "hello"}, "template": None, "attachments": [], "options": {}, "correlation": {}}
        begun = archive_.begin("sms", archive_id, fields, sender=BUSINESS)
        archive_.record_failure(begun, RuntimeError("not sent in this test"))
        return f"outbound/sms/{archive_id}/"

    to_party, to_other = send(PARTY), send("+14255550999")
    assert len(names(svc, to_party)) == 2  # the message and its failure record
    code, out, _ = cli(capsys, "hold", "place", "--matter", "M", "--reason", "r", "--party", PARTY)
    assert code == 0 and "2 record(s) covered now" in out
    from archiving.retention.matter import matter_set

    ms = matter_set(svc, "M")
    assert {b.name for b in ms.blobs} == names(svc, to_party) and not names(svc, to_other) & {b.name for b in ms.blobs}


def test_find_and_show_of_a_conversation_print_the_rehydrate_command_for_their_scope(svc, capsys):
    party_raw = "8:acs:00000000-0000-0000-0000-0000000000bb"
    archive(svc, [chat(PARTY_THREAD, OLD, 0, sender=party_raw), sms(PARTY, BUSINESS, OLD, 0)])
    _to_archive(svc, names(svc, "chat/") | names(svc, "sms/"))
    code, _, err = cli(capsys, "find", "--sender", party_raw, "--from", "2021-01-01")
    assert code == 1 and _printed_command(err) == ["--party", party_raw, "--from", "2021-01-01", "--wait"]
    (conversation,) = {n.split("/")[2] for n in names(svc, "sms/")}
    code, _, err = cli(capsys, "show", conversation)
    assert _printed_command(err) == ["--conversation", conversation, "--wait"]
    code, out, _ = cli(capsys, "rehydrate", "--conversation", conversation, "--wait", "--interval", "0.05")
    assert code == 0 and "1 asked to rehydrate now" in out
    code, _, err = cli(capsys, "show", conversation)
    assert code == 0 and "Archive tier" not in err


def test_audit_records_pass_verify(svc, capsys):
    archive(svc, [chat(UNHELD, OLD, 0)])
    assert cli(capsys, "hold", "place", "--matter", "M", "--reason", "r", "--thread", HELD)[0] == 0
    assert cli(capsys, "dispose")[0] == 0
    for prefix in ("holds/", "dispositions/"):
        code, out, _ = cli(capsys, "verify", "--prefix", prefix)
        assert code == 0 and "1 blobs verified" in out and ": 1 ok" in out, out


def test_audit_records_come_out_of_every_door_that_is_theirs(svc, capsys, tmp_path):
    """The hold, disposition and rehydration records (docs/archive-format.md, section 14): read and passed by a
    whole-archive verify (damage named), sealed (a rewrite named by the seal's verify), never disposed
    however old, named by `hold list` and the matter export; not communications, so find, range exports and
    roll-ups leave them out."""
    from archiving.integrity.seal import seal
    from archiving.integrity.verify import verify_log
    from archiving.rollup.store import RollupStore
    from archiving.rollup.writer import rollup_days

    from .test_rollup import query

    archive(svc, [chat(UNHELD, OLD, 0), chat(HELD, OLD, 1), sms(PARTY, BUSINESS, OLD, 2)])
    assert cli(capsys, "hold", "place", "--matter", "M", "--reason", "r", "--party", PARTY)[0] == 0
    _to_archive(svc, thread_names(svc, HELD))
    assert cli(capsys, "rehydrate", "--thread", HELD)[0] == 0
    assert cli(capsys, "dispose")[0] == 0
    audit_blobs = {root: names(svc, root) for root in audit.ROOTS}
    assert [len(audit_blobs[r]) for r in audit.ROOTS] == [1, 1, 1]
    every = set().union(*audit_blobs.values())
    shown_by_audit(svc, capsys, audit_blobs)

    code, out, err = cli(capsys, "verify")  # the whole archive: its audit records too
    assert code == 0, out + err
    assert all(f"{root} 1" in err for root in audit.ROOTS), err

    # Never disposed, however old: they are the proof of what was held and disposed.
    set_tags(svc, every, lambda tags: {**tags, "at": iso(OLD)})
    assert cli(capsys, "dispose")[0] == 0
    assert every <= set().union(*(names(svc, root) for root in audit.ROOTS))

    # Sealed like every blob; a rewritten one is named by both verifies.
    assert seal(svc).status == "sealed" and verify_log(svc).problems == []
    disposition = next(iter(audit_blobs[audit.DISPOSITION_ROOT]))
    data, metadata = svc.store.read_raw(disposition)
    svc.store.container.upload_blob(disposition, data[:-5], overwrite=True, metadata=metadata,
                                    tags=svc.store.container.get_blob_client(disposition).get_blob_tags())
    assert any(p.subject.endswith(disposition) for p in verify_log(svc).problems)
    code, out, _ = cli(capsys, "verify")
    assert code == 1 and f"unreadable\t{disposition}" in out, out

    # Not communications: no find, range export or roll-up row holds them; hold list names the hold.
    code, out, _ = cli(capsys, "find", "--sender", PARTY, "--format", "jsonl")
    sources = {json.loads(line)["source"] for line in out.splitlines()}
    assert sources and not sources & every
    code, out, _ = cli(capsys, "export", "--from", "2020-01-01", "--to", f"{utcnow():%Y-%m-%d}", "--out", "all.jsonl")
    assert not {json.loads(line)["source"] for line in Path("all.jsonl").read_text().splitlines()} & every
    code, out, _ = cli(capsys, "hold", "list", "--format", "json")
    assert [r["audit"] for r in json.loads(out)] == sorted(audit_blobs[audit.HOLD_ROOT])
    rollup = RollupStore(svc.store.container._get_blob_service_client().get_container_client(
        f"rollup-{svc.settings.container}"))
    rollup_days(svc.store, rollup, [utcnow().date()])
    rows = query(rollup, tmp_path, "SELECT source FROM records")
    assert not {r["source"] for r in rows} & every


def shown_by_audit(svc, capsys, audit_blobs) -> None:
    """The shown door: `audit` lists one hold, one rehydration and one disposition in time order, each with its
    summary and blob name; --kind, --from/--to and --blobs; json has each whole document and its sha256."""
    (hold,), (disposition,), (rehydration,) = (audit_blobs[r] for r in audit.ROOTS)
    docs = {n: svc.store.read_document(n) for n in (hold, disposition, rehydration)}
    code, out, err = cli(capsys, "audit")
    assert code == 0, err
    lines = [line.split("\t") for line in out.splitlines()]
    assert [(f[1], f[-1]) for f in lines] == [("hold", hold), ("rehydration", rehydration),
                                              ("disposition", disposition)]
    assert [f[0] for f in lines] == [docs[n]["at"] for n in (hold, rehydration, disposition)]
    h, r, d = lines
    assert h[2:8] == ["place", "matter M", f"party #{docs[hold]['scope']['party_hash'][:12]}", "1 records",
                      "by records.officer", "reason r"]
    assert r[2:7] == ["by records.officer", f"thread {HELD}", "Standard priority", "to Cool", "1 blobs"]
    disposed = docs[disposition]["disposed"]
    assert d[2:8] == [f"run {docs[disposition]['run_id']} part 1", f"retention {RETENTION_DAYS} days",
                      f"cutoff {docs[disposition]['cutoff']}", f"{len(disposed)} disposed",
                      f"kept by holds: {audit.matter_id('M')} 1", "signature valid"]

    code, out, _ = cli(capsys, "audit", "--format", "json")
    rows = json.loads(out)
    assert code == 0 and [(x["kind"], x["record"]) for x in rows] == [
        ("hold", hold), ("rehydration", rehydration), ("disposition", disposition)]
    assert all(x["document"] == docs[x["record"]] for x in rows)
    assert all(x["sha256"] == svc.store.read_raw(x["record"])[1]["sha256"] for x in rows)
    assert [x.get("signature") for x in rows] == [None, None, "valid"]

    code, out, _ = cli(capsys, "audit", "--kind", "rehydration")
    assert code == 0 and out.splitlines() == ["\t".join(r)]
    code, out, _ = cli(capsys, "audit", "--from", docs[rehydration]["at"], "--to", f"{utcnow():%Y-%m-%d}")
    assert code == 0 and [line.split("\t")[1] for line in out.splitlines()] == ["rehydration", "disposition"]
    code, out, _ = cli(capsys, "audit", "--to", docs[rehydration]["at"])  # exclusive
    assert code == 0 and [line.split("\t")[1] for line in out.splitlines()] == ["hold"]
    code, _, err = cli(capsys, "audit", "--to", "2020-01-01")
    assert code == 3 and "no audit record in the range" in err
    code, _, err = cli(capsys, "audit", "--from", "2026-13-01")
    assert code == 2 and "not a date" in err

    code, out, _ = cli(capsys, "audit", "--blobs")
    assert code == 0 and disposed
    for item in disposed:
        assert (f"  disposed\t{item['name']}\tsha256 {item['sha256']}\tretention ended {item['retention_ended']}"
                in out.splitlines())
    (rehydrated,) = docs[rehydration]["blobs"]
    assert f"  rehydrated\t{rehydrated}" in out.splitlines()


def test_audit_names_a_damaged_record_and_lists_the_others(svc, capsys):
    code, out, err = cli(capsys, "audit")
    assert code == 3 and out == "" and "no audit record" in err  # an empty archive
    archive(svc, [chat(UNHELD, OLD, 0)])
    assert cli(capsys, "hold", "place", "--matter", "M", "--reason", "r", "--thread", HELD)[0] == 0
    assert cli(capsys, "dispose")[0] == 0
    (disposition,), (hold,) = names(svc, audit.DISPOSITION_ROOT), names(svc, audit.HOLD_ROOT)
    data, metadata = svc.store.read_raw(disposition)
    svc.store.container.upload_blob(disposition, data[:-5], overwrite=True, metadata=metadata)  # truncated
    code, out, err = cli(capsys, "audit")
    assert code == 1 and f"unreadable\t{disposition}\t" in err, err
    assert [line.split("\t")[-1] for line in out.splitlines()] == [hold]
    code, out, err = cli(capsys, "audit", "--format", "json")
    assert code == 1 and [x["record"] for x in json.loads(out)] == [hold] and disposition in err
    # Of the right shape for its schema, but no real instant: named, the others listed.
    impossible = dict(svc.store.read_document(hold), at="2026-02-30T00:00:00.000000Z")
    odd = audit.write(svc.store, f"{audit.HOLD_ROOT}x/20260230T000000000000Z-place", impossible, {"kind": "hold"})
    code, out, err = cli(capsys, "audit", "--kind", "hold")
    assert code == 1 and f"invalid\t{odd}\t" in err and [line.split("\t")[-1] for line in out.splitlines()] == [hold]


def test_audit_text_neutralizes_hostile_stored_text(svc, capsys):
    hostile = "evil\x1b]0;owned\x07\x1b[2J\u202eexe.txt\x00\nforged line\tforged column"
    assert cli(capsys, "hold", "place", "--matter", hostile, "--reason", hostile, "--thread", HELD)[0] == 0
    code, out, _ = cli(capsys, "audit")
    assert code == 0 and len(out.splitlines()) == 1
    assert not set(out) & {"\x1b", "\x07", "\u202e", "\x00"}
    assert "matter evil\\x1b]0;owned\\x07\\x1b[2J\\u202eexe.txt\\x00 forged line" in out
    assert out.count("\t") == 8  # at, kind, action, matter, scope, records, by, reason, name: no forged column


def test_audit_shows_each_disposition_signature(svc, capsys, monkeypatch):
    """Signed by the configured seal key: valid; its document rewritten (sha256 recomputed, so only the signature
    can tell): named, exit 1; unsigned: said, not a finding; no key configured: not checked."""
    from archiving.store import codec

    archive(svc, [chat(UNHELD, OLD, 0)])
    assert cli(capsys, "dispose")[0] == 0
    (signed,) = names(svc, audit.DISPOSITION_ROOT)
    code, out, _ = cli(capsys, "audit", "--kind", "disposition")
    assert code == 0 and "\tsignature valid\t" in out
    unsigned = {k: v for k, v in svc.store.read_document(signed).items() if k != "signature"}
    audit.write(svc.store, f"{audit.DISPOSITION_ROOT}20300101T000000000000Z-0001", unsigned,
                {"kind": "disposition", "at": unsigned["at"]})
    code, out, _ = cli(capsys, "audit", "--kind", "disposition")
    assert code == 0 and "\tsignature valid\t" in out and "\tsignature unsigned\t" in out

    forged = dict(svc.store.read_document(signed), retention_days=1)
    encoded = codec.encode(forged)
    client = svc.store.container.get_blob_client(signed)
    client.upload_blob(encoded.data, overwrite=True, metadata={"sha256": encoded.sha256})
    code, out, err = cli(capsys, "audit", "--kind", "disposition")
    assert code == 1 and "\tsignature INVALID: the signature does not verify\t" in out
    assert f"signature\t{signed}\tthe signature does not verify" in err
    code, out, _ = cli(capsys, "audit", "--format", "json")
    assert code == 1 and {x["record"]: x["signature"] for x in json.loads(out)}[signed] == "the signature does not verify"

    monkeypatch.delenv("ARCHIVE_SEAL_KEY_FILE")
    bootstrap.reset()
    code, out, _ = cli(capsys, "audit", "--kind", "disposition")
    assert code == 0 and "\tsignature not checked (no seal key configured)\t" in out
    assert "\tsignature unsigned\t" in out


def call_event(name: str, call: str, at: datetime, party: str | None = None) -> dict:
    """A call event of the published example's shape, for call ``call`` (a party, when given, joins it)."""
    e = copy.deepcopy(load_vector(f"eventgrid/event-grid-schema/{name}.json"))
    e = {"id": str(uuid.uuid4()), "topic": e["source"], "subject": f"call/{call}", "eventType": e["type"],
         "eventTime": iso(at), "dataVersion": "1.0", "data": e["data"]}
    e["data"].update(serverCallId=call, correlationId=f"corr-{call}")
    if party:
        e["data"]["user"] = {"communicationIdentifier": {"kind": "phoneNumber", "rawId": "4:" + party,
                                                         "phoneNumber": {"value": party}}}
    return e


def test_a_party_hold_keeps_the_whole_call_and_dispose_removes_an_unheld_one(svc, capsys):
    """Calls are held and disposed like every record: a party hold covers every record of the calls the party
    took part in (start and end name no party), and an unheld call past retention is disposed."""
    archive(svc, [call_event("call_started", "held-call", OLD), call_event("call_participant_added", "held-call",
                  OLD + timedelta(seconds=2), party=PARTY), call_event("call_ended", "held-call", OLD + timedelta(minutes=1)),
                  call_event("call_started", "other-call", OLD), call_event("call_ended", "other-call",
                                                                          OLD + timedelta(minutes=1))])
    calls = names(svc, "call/")
    assert len(calls) == 5
    code, out, _ = cli(capsys, "hold", "place", "--matter", "Call matter", "--reason", "complaint", "--party", PARTY)
    assert code == 0 and "3 record(s) covered now" in out, out
    code, out, _ = cli(capsys, "dispose")
    assert code == 0 and "disposed 2 record(s)" in out, out
    left = names(svc, "call/")
    assert len(left) == 3 and {n.split("/")[2] for n in left} == {n.split("/")[2] for n in left if "participants" in n}


# -- a thread's hold and the outbound chat messages sent to it -------------------------------------------------


def chat_sender(acs, svc, topic: str):
    """A new chat thread and the archive-before-send chat client (the real SDK) of the ACS user who made it."""
    from azure.communication.chat import CommunicationTokenCredential

    from archiving.outbound.clients import ArchivingChatThreadClient
    from archiving.outbound.core import OutboundArchive

    user = acs.create_user()
    thread_id = acs.create_thread(topic, user, [])
    archive_ = OutboundArchive(svc.store.container, svc.settings.hash_key, outcomes="sync")
    return thread_id, ArchivingChatThreadClient(acs.endpoint, CommunicationTokenCredential(acs.issue_token(user)), thread_id,
                                     archive=archive_, sender_id=user, **acs.client_kwargs())


def outbound_chat(svc, thread_id: str) -> set[str]:
    """Every blob of the outbound chat messages sent to the thread (found by reading each message record)."""
    folders = {n.rsplit("/", 1)[0] + "/" for n in names(svc, "outbound/chat/")
               if n.endswith("/message.json.lz4") and svc.store.read_document(n)["recipients"][0]["address"] == thread_id}
    return {n for n in names(svc, "outbound/chat/") if n.rsplit("/", 1)[0] + "/" in folders}


def set_tags(svc, blob_names, change) -> None:
    """Rewrite each blob's index tags with ``change(tags)``."""
    for name in blob_names:
        client = svc.store.container.get_blob_client(name)
        client.set_blob_tags(change(dict(client.get_blob_tags())))


def age(svc, blob_names, when: datetime = OLD) -> None:
    """Records sent now, made past retention the way dispose tells age: their ``at`` tag."""
    set_tags(svc, blob_names, lambda tags: {**tags, "at": iso(when)})


def test_a_thread_hold_keeps_outbound_chat_sent_to_the_thread_until_released(acs, svc, capsys):
    from archiving.store import keys

    (held, to_held), (other, to_other) = chat_sender(acs, svc, "held"), chat_sender(acs, svc, "other")
    sent = to_held.send_message("the offer stands until Friday")
    rule = acs.faults.add(400, path=r"^/chat/threads/.+/messages$", method="POST", times=1, retry_after=None)
    from azure.core.exceptions import HttpResponseError

    with pytest.raises(HttpResponseError):
        to_held.send_message("this one ACS refused")
    acs.faults.remove(rule)
    to_other.send_message("unrelated")
    folder_blobs = outbound_chat(svc, held)
    # message and sent; message and failed-<ms>; beside them, the link from the ACS message id
    assert len(folder_blobs) == 4 and any("/failed-" in n for n in folder_blobs)
    from archiving.outbound import layout

    link = layout.by_acs_id_key("chat", sent.id, svc.settings.hash_key)
    held_blobs = folder_blobs | {link}
    # Tagged at send time with the thread, as the thread's inbound records are.
    for name in held_blobs:
        assert svc.store.container.get_blob_client(name).get_blob_tags()["thread"] == keys.thread_tag(held), name
    age(svc, names(svc, "outbound/"))

    code, out, _ = cli(capsys, "hold", "place", "--matter", "Chat matter", "--reason", "r", "--thread", held)
    assert code == 0 and "5 record(s) covered now" in out
    code, out, _ = cli(capsys, "hold", "list", "--format", "json")
    assert code == 0 and [r["records"] for r in json.loads(out)] == [5]
    code, out, _ = cli(capsys, "rehydrate", "--thread", held)
    assert code == 0 and out.startswith("5 blob(s) in scope: 5 online"), out
    code, out, err = cli(capsys, "export", "--matter", "Chat matter", "--out", "matter.jsonl")
    assert code == 0 and "5 blobs covered by 1 hold(s)" in out, err
    lines = [json.loads(line) for line in Path("matter.jsonl").read_text().splitlines()]
    assert {line["source"] for line in lines} == held_blobs  # message, sent, link; message, failed: one item each
    # Each under the chat thread it was sent to, as what the business sent, the messages with their outcome.
    assert {(line["thread_id"], line["direction"]) for line in lines} == {(held, "outbound")}
    messages = sorted((line["content"], line["outcome"]) for line in lines if line["kind"] == "outbound-message")
    assert messages == [("the offer stands until Friday", "sent"), ("this one ACS refused", "failed")]
    code, out, err = cli(capsys, "export", "--matter", "Chat matter", "--format", "csv", "--out", "matter.csv")
    rows = list(csv.DictReader(Path("matter.csv").read_text(encoding="utf-8-sig").splitlines()))
    assert code == 0 and {(r["thread_id"], r["direction"]) for r in rows} == {(held, "outbound")}, err
    assert sorted(r["content"] for r in rows if r["kind"] == "outbound-message") == [m[0] for m in messages]

    code, out, _ = cli(capsys, "dispose")
    assert code == 0 and "5 kept by a hold" in out, out
    assert held_blobs <= names(svc, "outbound/") and not outbound_chat(svc, other)

    assert cli(capsys, "hold", "release", "--matter", "Chat matter", "--reason", "closed")[0] == 0
    assert cli(capsys, "dispose")[0] == 0
    assert not names(svc, "outbound/chat/") and link not in names(svc, "outbound/")


def test_a_party_hold_keeps_outbound_chat_sent_to_the_threads_it_wrote_in(acs, svc, capsys):
    """A party's hold covers every blob of each chat thread it wrote in, and what the business sent to those
    threads through the archive-before-send client: tagged (the message, its outcome and its link), and
    written before the thread tag (found by reading the message record)."""
    customer = "8:acs:00000000-0000-0000-0000-0000000000cc"
    (held, to_held), (other, to_other) = chat_sender(acs, svc, "held"), chat_sender(acs, svc, "other")
    archive(svc, [chat(held, OLD, 1, sender=customer), chat(other, OLD, 2)])
    to_held.send_message("answer to the customer")
    to_other.send_message("to someone else")
    first = outbound_chat(svc, held)
    to_held.send_message("sent before the thread tag")
    older = outbound_chat(svc, held) - first  # its message and outcome, as the client wrote them before
    set_tags(svc, older, lambda tags: {k: v for k, v in tags.items() if k != "thread"})
    age(svc, names(svc, "outbound/"))
    links = {n for n in names(svc, "outbound/by-acs-id/chat/")
             if svc.store.container.get_blob_client(n).get_blob_tags().get("thread") == keys.thread_tag(held)}
    held_blobs = thread_names(svc, held) | first | older | links
    assert len(first) == len(older) == 2 and len(links) == 2

    code, out, _ = cli(capsys, "hold", "place", "--matter", "Customer", "--reason", "r", "--party", customer)
    assert code == 0 and f"{len(held_blobs)} record(s) covered now" in out, (out, sorted(held_blobs))
    code, out, _ = cli(capsys, "dispose")
    assert code == 0 and f"{len(held_blobs)} kept by a hold" in out, out
    left = names(svc, "chat/") | names(svc, "outbound/chat/") | names(svc, "outbound/by-acs-id/chat/")
    assert left == held_blobs  # the other thread's are disposed


def test_a_thread_hold_covers_outbound_chat_written_before_the_thread_tag(acs, svc, capsys):
    """Records of the archive-before-send chat client written before it tagged the thread carry kind, channel,
    at and sender only: the hold reads their message record; one it cannot read is kept."""
    (held, to_held), (other, to_other) = chat_sender(acs, svc, "held"), chat_sender(acs, svc, "other")
    to_held.send_message("sent before the thread tag")
    to_other.send_message("so was this")
    old_held, old_other = outbound_chat(svc, held), outbound_chat(svc, other)
    set_tags(svc, names(svc, "outbound/"), lambda tags: {k: v for k, v in tags.items() if k != "thread"})
    age(svc, names(svc, "outbound/"))
    damaged = f"outbound/chat/{uuid.uuid4()}/message.json.lz4"  # no thread can be read from it
    svc.store.container.upload_blob(damaged, b"not an lz4 frame", tags={"kind": "outbound-message",
                                                                       "channel": "chat", "at": iso(OLD)})

    code, out, _ = cli(capsys, "hold", "place", "--matter", "Old chat", "--reason", "r", "--thread", held)
    assert code == 0 and "3 record(s) covered now" in out  # message, sent, and the damaged one
    code, out, _ = cli(capsys, "dispose")
    assert code == 0 and "3 kept by a hold" in out, out
    left = names(svc, "outbound/chat/")
    assert left == old_held | {damaged} and not left & old_other

    # outbound index adds the tag to what is left: the hold then finds them by it
    code, out, err = cli(capsys, "outbound", "index")  # the damaged one is named
    assert code == 1 and out.startswith("1 outbound records without conversation or thread tags (indexed; 2 blobs"), out
    assert damaged in err
    from archiving.store import keys

    for name in old_held:
        assert svc.store.container.get_blob_client(name).get_blob_tags()["thread"] == keys.thread_tag(held)
    assert cli(capsys, "outbound", "index")[1].startswith("0 outbound records")
    assert cli(capsys, "hold", "release", "--matter", "Old chat", "--reason", "closed")[0] == 0
    assert cli(capsys, "dispose")[0] == 0 and not names(svc, "outbound/chat/")


def test_outbound_index_tags_the_links_of_older_outbound_chat_so_a_thread_hold_keeps_them(acs, svc, capsys):
    """A message's by-acs-id link (its ACS id -> its archive id) written before the thread tag gets it from
    ``outbound index`` with the message, so a hold on the thread keeps it past retention."""
    (held, to_held), (other, to_other) = chat_sender(acs, svc, "held"), chat_sender(acs, svc, "other")
    to_held.send_message("sent before the thread tag")
    to_other.send_message("so was this")
    links = names(svc, "outbound/by-acs-id/chat/")
    assert len(links) == 2
    set_tags(svc, names(svc, "outbound/"), lambda tags: {k: v for k, v in tags.items() if k != "thread"})
    age(svc, names(svc, "outbound/"))

    code, out, _ = cli(capsys, "outbound", "index")
    assert code == 0 and out.startswith("2 outbound records without conversation or thread tags (indexed; 6 blobs"), out
    threads = {svc.store.container.get_blob_client(n).get_blob_tags().get("thread") for n in links}
    assert threads == {keys.thread_tag(held), keys.thread_tag(other)}
    code, out, _ = cli(capsys, "hold", "place", "--matter", "Links", "--reason", "r", "--thread", held)
    assert code == 0 and "3 record(s) covered now" in out, out  # message, sent, link
    assert cli(capsys, "dispose")[0] == 0
    assert len(names(svc, "outbound/by-acs-id/chat/")) == 1 and outbound_chat(svc, held) and not outbound_chat(svc, other)


# -- Azure's legal hold (ARCHIVE_LEGAL_HOLD), through a server that implements it in front of Azurite -----------


@pytest.fixture
def legal(azurite, env, monkeypatch):
    """(storage, svc): Azure's legal hold in front of this test's Azurite (tests/legalhold.py) and
    ARCHIVE_LEGAL_HOLD on; the CLI and ``svc`` go through it."""
    from .legalhold import LegalHoldStorage

    with LegalHoldStorage(azurite) as storage:
        values = dict(env, ArchiveStorage=storage.connection_string(), ARCHIVE_LEGAL_HOLD="true")
        for name in ("ArchiveStorage", "ARCHIVE_LEGAL_HOLD"):
            monkeypatch.setenv(name, values[name])
        bootstrap.reset()
        s = bootstrap.Services(settings=Settings.from_env(values), profile=bootstrap.BATCH_PROFILE)
        yield storage, s
        s.close()
        bootstrap.reset()


def legally_held(svc) -> set[str]:
    """The blobs under Azure's legal hold, as the service lists them (include=legalhold)."""
    return {b.name for b in svc.store.container.list_blobs(include=["legalhold"]) if b.has_legal_hold}


def test_azure_legal_hold_follows_the_holds_and_keeps_dispose_away(legal, capsys):
    storage, svc = legal
    archive(svc, [chat(HELD, OLD, i) for i in range(3)] + [chat(UNHELD, OLD, 0), chat("19:byhand@thread.v2", OLD, 0)])
    (by_hand,) = thread_names(svc, "19:byhand@thread.v2")
    svc.store.container.get_blob_client(by_hand).set_legal_hold(True)  # by someone, outside the product

    code, out, _ = cli(capsys, "hold", "place", "--matter", "Smith", "--reason", "r", "--thread", HELD)
    assert code == 0 and "3 record(s) covered now" in out and "Azure legal hold set on 3 blob(s)" in out
    assert legally_held(svc) == thread_names(svc, HELD) | {by_hand}
    archive(svc, [chat(HELD, OLD, 9)])  # written after the hold: no legal hold yet
    late = thread_names(svc, HELD) - storage.held_names()
    assert len(late) == 1 and late.isdisjoint(legally_held(svc))

    code, out, _ = cli(capsys, "dispose", "--dry-run")
    assert code == 0 and late.isdisjoint(legally_held(svc))  # a dry run changes nothing
    code, out, _ = cli(capsys, "dispose")
    assert code == 0 and "disposed 1 record(s)" in out, out
    assert "4 kept by a hold, 1 kept by Azure immutability" in out and "Azure legal hold set on 1 held blob(s)" in out
    assert legally_held(svc) == thread_names(svc, HELD) | {by_hand} and len(thread_names(svc, HELD)) == 4
    assert not thread_names(svc, UNHELD) and storage.calls["delete refused"] == 0  # never asked to delete a held one

    # A second matter covers the first record: releasing Smith leaves that one's legal hold on.
    code, out, _ = cli(capsys, "hold", "place", "--matter", "Other", "--reason", "r", "--thread", HELD,
                       "--from", iso(OLD), "--to", iso(OLD + timedelta(milliseconds=1)))
    assert code == 0 and "1 record(s) covered now" in out and "Azure legal hold set on 0 blob(s)" in out
    (first,) = {n for n in thread_names(svc, HELD) if svc.store.read_document(n)["composed_at"] == iso(OLD)}
    code, out, _ = cli(capsys, "hold", "release", "--matter", "Smith", "--reason", "settled")
    assert code == 0 and "Azure legal hold cleared on 3 blob(s)" in out
    assert legally_held(svc) == {first, by_hand}
    assert cli(capsys, "dispose")[0] == 0
    assert thread_names(svc, HELD) == {first}
    code, out, _ = cli(capsys, "hold", "release", "--matter", "Other", "--reason", "closed")
    assert code == 0 and "Azure legal hold cleared on 1 blob(s)" in out and legally_held(svc) == {by_hand}
    assert cli(capsys, "dispose")[0] == 0 and not thread_names(svc, HELD)
    assert thread_names(svc, "19:byhand@thread.v2") == {by_hand}  # Azure's hold, not the product's: kept


def test_azure_refusing_a_legal_hold_is_named_and_changes_nothing(legal, capsys):
    storage, svc = legal
    archive(svc, [chat(HELD, OLD, i) for i in range(2)] + [chat(UNHELD, OLD, 0)])
    storage.refuse(403, "AuthorizationPermissionMismatch")
    code, out, err = cli(capsys, "hold", "place", "--matter", "M", "--reason", "r", "--thread", HELD)
    assert code == 2 and "Traceback" not in err, err
    assert "ARCHIVE_LEGAL_HOLD" in err and "403 AuthorizationPermissionMismatch" in err and "Storage Blob Data Owner" in err
    assert not names(svc, "holds/") and not legally_held(svc)  # nothing recorded as placed

    storage.refuse(None)
    assert cli(capsys, "hold", "place", "--matter", "M", "--reason", "r", "--thread", HELD)[0] == 0
    archive(svc, [chat(HELD, OLD, 9)])
    storage.refuse(403, "AuthorizationPermissionMismatch")
    code, _, err = cli(capsys, "dispose")  # the record written since cannot get Azure's hold: nothing is deleted
    assert code == 2 and "403 AuthorizationPermissionMismatch" in err and thread_names(svc, UNHELD)
    assert not names(svc, "dispositions/")
    code, _, err = cli(capsys, "hold", "release", "--matter", "M", "--reason", "r")
    assert code == 2 and "cleared" in err and "Traceback" not in err
    assert legally_held(svc) == storage.held_names() and len(storage.held_names()) == 2
    assert [r["matter"] for r in json.loads(cli(capsys, "hold", "list", "--format", "json")[1])] == ["M"]  # still on


def test_a_recent_record_a_party_hold_covers_through_its_thread_gets_azure_legal_hold_at_dispose(legal, capsys):
    """Covered only once the party's own record, later in the listing, was seen: still given Azure's hold."""
    storage, svc = legal
    party_raw = "8:acs:00000000-0000-0000-0000-0000000000bb"
    recent = utcnow() - timedelta(days=3)
    archive(svc, [chat(PARTY_THREAD, recent, 5, sender=party_raw)])
    code, out, _ = cli(capsys, "hold", "place", "--matter", "P", "--reason", "r", "--party", party_raw)
    assert code == 0 and "Azure legal hold set on 1 blob(s)" in out
    archive(svc, [chat(PARTY_THREAD, recent, 1)])  # another sender, listed before the party's record
    assert len(thread_names(svc, PARTY_THREAD)) == 2 and len(legally_held(svc)) == 1
    code, out, _ = cli(capsys, "dispose")
    assert code == 0 and "Azure legal hold set on 1 held blob(s)" in out, out
    assert legally_held(svc) == thread_names(svc, PARTY_THREAD) == storage.held_names()
