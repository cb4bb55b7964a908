"""Roll-ups catch up by themselves (issue 21, item 3): the due days are every day from the first
archived day to the last due day without a complete roll-up, whatever was rolled up by hand; a day
rolled up before it was due is partial and rolled up again when due; `status` counts both.  Real
Azurite; the CLI through its entry point, the timer through function_app.app."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from azure.functions.timer import TimerRequest

from archiving.cli.main import main
from archiving.rollup import layout
from archiving.rollup.writer import backlog, due_days, last_due_day
from archiving.timefmt import utcnow

from .test_rollup import UTC, archive, env, message, rollup, svc  # noqa: F401 - fixtures


def noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


@pytest.fixture
def days(svc):  # noqa: F811
    """Records on the last due day, three days before it, and today (not due)."""
    now = utcnow()
    due = last_due_day(now, svc.settings.rollup_grace_hours)
    today = now.date()
    archive(svc, message(noon(due - timedelta(days=3)), "older"), message(noon(due), "last due"),
            message(now - timedelta(seconds=5), "today"))
    return due, today


def manifest(rollup, day):  # noqa: F811
    return rollup.read_manifest(layout.manifest_name(day))[0]


def rollup_status(capsys) -> dict:
    import json

    capsys.readouterr()
    assert main(["--quiet", "status", "--format", "json"]) in (0, 1)
    return next(c for c in json.loads(capsys.readouterr().out)["checks"] if c["name"] == "roll-up")


def test_a_day_rolled_up_by_hand_hides_no_gap(svc, rollup, days, capsys):  # noqa: F811
    due, today = days
    assert main(["--quiet", "rollup", "--from", due.isoformat(), "--to", due.isoformat()]) == 0
    # The newest day is rolled up; the three days before it are still due, and the timer does them.
    assert due_days(svc.store, rollup, utcnow(), svc.settings.rollup_grace_hours) == layout.days(
        due - timedelta(days=3), due - timedelta(days=1))
    check = rollup_status(capsys)
    assert check["values"]["missing_days"] == 3 and check["state"] != "OK"
    assert f"3 due days missing (oldest {due - timedelta(days=3)})" in check["summary"], check


def test_the_timer_fills_every_gap(app_functions, svc, rollup, days):  # noqa: F811
    due, _ = days
    fn = app_functions["rollup_archive"].get_user_function()
    fn(timer=TimerRequest(past_due=False))
    assert [layout.manifest_day(m.name) for m in rollup.manifests()] == layout.days(due - timedelta(days=3), due)
    assert backlog(svc.store, rollup, utcnow(), svc.settings.rollup_grace_hours).missing == ()


def test_a_day_not_due_needs_partial_and_is_redone_when_due(svc, rollup, days, capsys):  # noqa: F811
    due, today = days
    code = main(["--quiet", "rollup", "--from", today.isoformat(), "--to", today.isoformat()])
    err = capsys.readouterr().err
    assert code == 2 and "not due yet" in err and "--partial" in err and "Traceback" not in err
    assert manifest(rollup, today) is None
    assert main(["--quiet", "rollup", "--from", today.isoformat(), "--to", today.isoformat(), "--partial"]) == 0
    assert ", partial" in capsys.readouterr().out
    assert manifest(rollup, today)["partial"] is True
    found = backlog(svc.store, rollup, utcnow(), svc.settings.rollup_grace_hours)
    assert found.partial == (today,) and today not in found.missing  # not due yet: not missing
    # Once today is due, its partial roll-up is due again.
    later = utcnow() + timedelta(days=3)
    assert today in due_days(svc.store, rollup, later, svc.settings.rollup_grace_hours)
    assert main(["--quiet", "rollup", "--from", today.isoformat(), "--to", due.isoformat()]) == 2  # reversed
    check = rollup_status(capsys)
    assert check["values"]["partial_days"] == 1 and "1 partial" in check["summary"]


@pytest.mark.parametrize("first, last", [("9999-12-30", "9999-12-30"), ("9999-12-30", "9999-12-31"),
                                         ("2026-11-18", "9999-12-31")])
def test_future_days_are_refused_before_anything_is_written(first, last, svc, rollup, capsys):  # noqa: F811
    assert main(["--quiet", "rollup", "--from", first, "--to", last]) == 2
    err = capsys.readouterr().err
    assert "future" in err and "Traceback" not in err
    assert rollup.manifests() == []
