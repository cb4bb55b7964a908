"""python -m archiving status on Azurite: healthy, a rejection, a poison message, a stale newest record,
dead letters, optional checks (seal, roll-up) absent or present; in-process and through the CLI."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest

from archiving.ingest.archiver import archive_event
from archiving.ingest.replay import replay
from archiving.ops import logfields
from archiving.ops.status import (FAIL, OK, SKIP, WARN, Check, Limits, NotDeployed, age_text, grade, run_checks)
from archiving.timefmt import iso, utcnow

from .conftest import HASH_KEY, ROOT, load_vector

NO_OPTIONAL: dict[str, str] = {}


def chat_event(when, message_id: str | None = None) -> dict:
    """A ChatMessageReceivedInThread (the published vector) composed and sent at ``when``."""
    event = load_vector("eventgrid/event-grid-schema/chat_message_received_in_thread.json")
    message_id = message_id or str(int(when.timestamp() * 1000))
    event["id"] = str(uuid.uuid4())
    event["eventTime"] = iso(when + timedelta(milliseconds=300))
    event["data"].update(messageId=message_id, version=message_id, composeTime=iso(when))
    return event


def archive_now(services, ago=timedelta(0)):
    outcome = archive_event(chat_event(utcnow() - ago), services.store, HASH_KEY.encode())
    assert outcome.status == "archived"
    return outcome


def by_name(report) -> dict[str, Check]:
    return {c.name: c for c in report.checks}


@pytest.fixture
def dead_letters(services):
    """A dead-letter container of this test's own (the deployment's is chat-archive-deadletter)."""
    name = f"deadletter-{uuid.uuid4().hex[:12]}"
    services.blob_service.create_container(name)
    return name


# -- in process --------------------------------------------------------------------------------------


def test_healthy_archive_is_ok(services, dead_letters):
    for n in range(3):
        archive_now(services, timedelta(minutes=n))
    report = run_checks(services, dead_letter_container=dead_letters, optional=NO_OPTIONAL)
    checks = by_name(report)
    assert report.state == OK, report.checks
    assert checks["records"].values["last_hour"] == 3 and checks["records"].values["last_day"] == 3
    assert checks["newest record"].state == OK and checks["newest record"].values["age_minutes"] < 5
    assert checks["rejections"].values["last_day"] == 0
    assert checks["poison queue"].values["messages"] == 0
    assert checks["dead letters"].values == {**checks["dead letters"].values, "blobs": 0, "exists": True}
    assert all(c.action is None for c in report.checks)


def test_a_rejection_warns(services, dead_letters):
    archive_now(services)
    bad = chat_event(utcnow())
    bad["data"]["threadId"] = "bad/thread"
    counts = replay([bad], services.store, services.rejected_store, HASH_KEY.encode())
    assert counts["rejected"] == 1
    report = run_checks(services, dead_letter_container=dead_letters, optional=NO_OPTIONAL)
    rejections = by_name(report)["rejections"]
    assert (rejections.state, rejections.values["last_hour"], rejections.values["last_day"]) == (WARN, 1, 1)
    assert services.settings.rejected_container in rejections.action
    assert report.state == WARN
    # The threshold is the operator's: a FAIL from the first one with --rejections-fail 1.
    strict = run_checks(services, Limits(rejections_fail=1), dead_letter_container=dead_letters, optional=NO_OPTIONAL)
    assert by_name(strict)["rejections"].state == FAIL and strict.state == FAIL


def test_a_poison_message_warns(services, dead_letters):
    archive_now(services)
    poison = services.queue_service.get_queue_client(f"{services.settings.sweep_queue}-poison")
    poison.create_queue()
    poison.send_message('{"thread_id": "19:x@thread.v2", "last_message_received_on": "2026-11-01T00:00:00Z"}')
    report = run_checks(services, dead_letter_container=dead_letters, optional=NO_OPTIONAL)
    check = by_name(report)["poison queue"]
    assert (check.state, check.values["messages"], check.values["exists"]) == (WARN, 1, True)
    assert "redrive" in check.action and report.state == WARN


def test_a_stale_newest_record_warns_then_fails(services, dead_letters):
    archive_now(services, timedelta(hours=5))
    report = run_checks(services, dead_letter_container=dead_letters, optional=NO_OPTIONAL)
    checks = by_name(report)
    assert checks["newest record"].state == WARN, checks["newest record"]
    assert 295 <= checks["newest record"].values["age_minutes"] <= 305
    assert checks["records"].values["last_hour"] == 0 and checks["records"].values["last_day"] == 1
    tight = run_checks(services, Limits(newest_warn_minutes=60, newest_fail_minutes=240),
                       dead_letter_container=dead_letters, optional=NO_OPTIONAL)
    assert by_name(tight)["newest record"].state == FAIL


def test_nothing_for_a_day_is_found_in_the_wider_window(services, dead_letters):
    archive_now(services, timedelta(days=3))
    checks = by_name(run_checks(services, dead_letter_container=dead_letters, optional=NO_OPTIONAL))
    newest = checks["newest record"]
    assert newest.state == FAIL and newest.summary.startswith("3 d 0 h old"), newest
    assert checks["records"].values["last_day"] == 0


def test_an_empty_archive_fails_on_the_newest_record(services, dead_letters):
    checks = by_name(run_checks(services, dead_letter_container=dead_letters, optional=NO_OPTIONAL))
    assert checks["newest record"].state == FAIL
    assert checks["newest record"].summary == "no record in the last 31 d"
    # No container, no queue: reported as such, not as errors.
    assert checks["rejections"].state == OK and checks["poison queue"].values["exists"] is False


def test_dead_letter_blobs_waiting_warn(services, dead_letters):
    archive_now(services)
    container = services.blob_service.get_container_client(dead_letters)
    container.upload_blob("TOPIC/SUB/2026/12/1/10/x.json", b"[]")
    check = by_name(run_checks(services, dead_letter_container=dead_letters, optional=NO_OPTIONAL))["dead letters"]
    assert (check.state, check.values["blobs"]) == (WARN, 1)
    assert f"--container {dead_letters}" in check.action
    missing = by_name(run_checks(services, dead_letter_container="no-such-deadletter", optional=NO_OPTIONAL))
    assert missing["dead letters"].state == OK and missing["dead letters"].values["exists"] is False


# -- optional checks: the seal and the roll-ups -------------------------------------------------------


def seal_fine(ctx):
    return Check("seal", OK, "last seal 3 min ago", {"unsealed": 0})


def seal_absent(ctx):
    raise NotDeployed("no seal container")


def test_optional_checks_skip_cleanly_when_not_deployed(services, dead_letters):
    archive_now(services)
    report = run_checks(services, dead_letter_container=dead_letters)  # the real OPTIONAL_CHECKS
    checks = by_name(report)
    for name in ("seal", "roll-up", "recordings"):
        assert checks[name].state in (SKIP, OK, WARN, FAIL)
        if checks[name].state == SKIP:
            assert checks[name].summary.startswith("not deployed")
    optional = {"seal": f"{__name__}:seal_absent", "roll-up": "archiving.no_such_feature.status:check"}
    checks = by_name(run_checks(services, dead_letter_container=dead_letters, optional=optional))
    assert checks["seal"].state == SKIP and checks["seal"].summary == "not deployed (no seal container)"
    assert checks["roll-up"].state == SKIP and checks["roll-up"].summary == "not deployed (not in this build)"
    assert run_checks(services, dead_letter_container=dead_letters, optional=optional).state == OK


def test_a_feature_in_the_build_without_its_check_is_a_fail(services, dead_letters):
    # The module is there (the feature is deployed) but the function is not: a wiring mistake, not "not deployed".
    report = run_checks(services, dead_letter_container=dead_letters, optional={"seal": f"{__name__}:no_such_function"})
    seal = by_name(report)["seal"]
    assert seal.state == FAIL and seal.summary == f"not wired: {__name__} has no no_such_function"


def test_every_optional_check_is_absent_or_wired():
    """Fails once a feature's module is merged without its check function (see OPTIONAL_CHECKS)."""
    import importlib.util

    from archiving.ops.status import OPTIONAL_CHECKS

    for name, target in OPTIONAL_CHECKS.items():
        module_name, _, function_name = target.partition(":")
        package = module_name.rsplit(".", 1)[0]
        if importlib.util.find_spec(package) is None or importlib.util.find_spec(module_name) is None:
            continue
        assert hasattr(importlib.import_module(module_name), function_name), f"{name}: {target} is missing"


def ctx_at(now, **limits):
    from archiving.ops.status import Context

    return Context(services=None, now=now, limits=Limits(**limits))


def test_seal_check_from_its_figures():
    from archiving.ops.status import seal_check

    now = utcnow()
    fresh = seal_check(ctx_at(now), now - timedelta(minutes=7), 12, now - timedelta(minutes=3), tree_size=4096)
    assert fresh.state == OK and fresh.summary == "last seal 7 min ago (tree size 4096), 12 blobs unsealed, oldest 3 min ago"
    assert seal_check(ctx_at(now), now - timedelta(minutes=90), 0, None).state == WARN
    assert seal_check(ctx_at(now), now - timedelta(hours=5), 0, None).state == FAIL
    # Seals run, but one blob has waited two hours for one: as late as a missed seal.
    stuck = seal_check(ctx_at(now), now - timedelta(minutes=5), 1, now - timedelta(hours=2))
    assert stuck.state == WARN and "Seal or roll-up missing" in stuck.action
    never = seal_check(ctx_at(now), None, 30, None)
    assert never.state == WARN and never.summary == "never sealed; 30 blobs waiting"
    assert seal_check(ctx_at(now, seal_warn_minutes=5, seal_fail_minutes=6), now - timedelta(minutes=7), 0, None).state == FAIL


def test_rollup_check_from_its_figures():
    from datetime import date

    from archiving.ops.status import rollup_check
    from archiving.rollup import layout

    now = utcnow()
    due = date(2026, 11, 30)
    assert rollup_check(ctx_at(now), date(2026, 11, 30), due).state == OK
    late = rollup_check(ctx_at(now), date(2026, 11, 29), due, missing=[due])
    assert late.state == WARN and late.summary == ("newest complete day 2026-11-29, 1 due days missing (oldest "
                                                   "2026-11-30) (due up to 2026-11-30)")
    assert rollup_check(ctx_at(now), date(2026, 11, 20), due, missing=layout.days(date(2026, 11, 21), due)).state == FAIL
    assert rollup_check(ctx_at(now), None, due, missing=[due]).state == WARN
    # A day rolled up far ahead by hand does not hide the gaps before it: they are counted.
    gaps = rollup_check(ctx_at(now), due, due, missing=layout.days(date(2026, 11, 1), date(2026, 11, 10)),
                        partial=[date(2026, 12, 2)])
    assert gaps.state == FAIL and "10 due days missing (oldest 2026-11-01), 1 partial" in gaps.summary
    assert gaps.values["missing_days"] == 10 and gaps.values["partial_days"] == 1
    assert rollup_check(ctx_at(now), None, due).state == OK  # nothing archived: nothing to roll up


def test_optional_checks_report_when_present(services, dead_letters):
    archive_now(services)
    report = run_checks(services, dead_letter_container=dead_letters, optional={"seal": f"{__name__}:seal_fine"})
    assert by_name(report)["seal"].values == {"unsealed": 0} and report.state == OK


def test_a_broken_optional_check_is_a_fail_not_a_skip(services, dead_letters):
    # A module that exists but whose own import fails (a missing dependency) is not "not deployed".
    report = run_checks(services, dead_letter_container=dead_letters,
                        optional={"seal": "tests.status_plugin_broken:check"})
    seal = by_name(report)["seal"]
    assert seal.state == FAIL and "could not check" in seal.summary and "ModuleNotFoundError" in seal.summary


def test_thresholds_and_ages():
    assert [grade(v, 1, 10) for v in (0, 1, 9, 10, 11)] == [OK, WARN, WARN, FAIL, FAIL]
    now = utcnow()
    assert age_text(None, now) == "never"
    assert age_text(now - timedelta(seconds=42), now) == "42 s"
    assert age_text(now - timedelta(minutes=17), now) == "17 min"
    assert age_text(now - timedelta(hours=5, minutes=3), now) == "5 h 3 min"
    assert age_text(now - timedelta(days=2, hours=4), now) == "2 d 4 h"


# -- the event log line the alerts parse ---------------------------------------------------------------


def test_event_line_carries_the_fields_and_lag(services, caplog):
    sent = utcnow() - timedelta(seconds=90)
    with caplog.at_level(logging.INFO, logger="archiving.ingest"):
        outcome = archive_event(chat_event(sent), services.store, HASH_KEY.encode())
    (line,) = [r.getMessage() for r in caplog.records if r.name == "archiving.ingest.events"]
    fields = logfields.parse(line)
    assert list(fields) == ["event", "type", "channel", "thread", "message", "outcome", "lag_ms", "blob"]
    assert fields["outcome"] == "archived" and fields["channel"] == "chat" and fields["blob"] == outcome.key
    assert 89_000 <= int(fields["lag_ms"]) <= 95_000  # eventTime is composeTime + 0.3 s


def test_values_that_are_not_plain_tokens_are_quoted():
    text = logfields.line(("event", 'a b="c"'), ("outcome", "rejected"), ("reason", "x=1\nline"), ("gone", None))
    assert text == r'event="a b=\"c\"" outcome=rejected reason="x=1\nline"'
    assert logfields.parse(text) == {"event": 'a b="c"', "outcome": "rejected", "reason": "x=1\nline"}
    assert logfields.line(("empty", "")) == 'empty=""'


# -- through the command line ---------------------------------------------------------------------------


def cli(*args, env):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("Archive", "ARCHIVE"))}
    full_env.update(env)
    full_env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "archiving", "--quiet", "status", *args], capture_output=True,
                          text=True, env=full_env, cwd=ROOT, timeout=120)


def test_cli_healthy_then_poison(archive_env, services, dead_letters):
    archive_now(services)
    healthy = cli("--dead-letter-container", dead_letters, "--format", "json", env=archive_env)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    doc = json.loads(healthy.stdout)
    core = [c for c in doc["checks"] if c["name"] not in ("seal", "roll-up", "records management", "recordings")]  # optional checks
    assert doc["status"] == "OK" and {c["state"] for c in core} == {"OK"}
    assert [c["name"] for c in core] == ["records", "newest record", "rejections", "poison queue", "dead letters"]

    poison = services.queue_service.get_queue_client(f"{archive_env['SWEEP_QUEUE']}-poison")
    poison.create_queue()
    poison.send_message("x")
    sick = cli("--dead-letter-container", dead_letters, env=archive_env)
    assert sick.returncode == 1, sick.stderr
    lines = sick.stdout.splitlines()
    assert lines[0].startswith("archive status at ")
    assert any(line.startswith("WARN  poison queue") and "1 messages in" in line for line in lines), sick.stdout
    assert lines[-1].startswith("status: WARN")
    assert "Traceback" not in sick.stderr


def test_cli_setting_and_usage_errors(archive_env):
    missing = cli(env={k: v for k, v in archive_env.items() if k != "ArchiveStorage"})
    assert missing.returncode == 2 and "ArchiveStorage" in missing.stderr
    bad = cli("--poison-warn", "0", env=archive_env)
    assert bad.returncode == 2 and "less than 1" in bad.stderr
    inverted = cli("--newest-warn", "100", "--newest-fail", "50", env=archive_env)
    assert inverted.returncode == 2 and "--newest-warn" in inverted.stderr


def test_cli_unreachable_storage_is_a_fail_not_a_traceback(archive_env):
    from .azurite import free_port

    port = free_port()  # nothing listens there
    conn = (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={'A' * 86}==;"
            f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")
    result = cli("--format", "json", env={**archive_env, "ArchiveStorage": conn})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    doc = json.loads(result.stdout)
    assert doc["status"] == "FAIL"
    assert all(c["summary"].startswith("could not check") for c in doc["checks"] if c["name"] != "seal"
               and c["name"] != "roll-up")


def test_lag_from_the_event_time_to_archived_at():
    archived = "2026-11-01T01:00:01.000000Z"
    assert logfields.lag_ms({"event": {"time": "2026-11-01T01:00:00.1234567Z"}, "archived_at": archived}) == 877
    assert logfields.lag_ms({"event": {"time": "2026-10-31T17:00:00-08:00"}, "archived_at": archived}) == 1000
    assert logfields.lag_ms({"event": {"time": "nonsense"}, "archived_at": archived}) is None
    assert logfields.lag_ms({"event": {"time": "2026-11-01T01:00:00"}, "archived_at": archived}) is None  # no offset
    assert logfields.lag_ms({"archived_at": archived}) is None
