"""The CLI's edges (issue 21, item 4): usage errors are exit 2 (dates out of range, negative durations),
--settings before or after every command, the top-level help names every channel, replay prints its
summary on every exit path.  Through the real entry point; storage is a real Azurite."""

from __future__ import annotations

import argparse
import json

import pytest

from archiving.cli.main import build_parser, main

from .conftest import ROOT, VECTORS


def leaf_parsers(parser: argparse.ArgumentParser, path=()):
    """Every command's parser (outbound's actions included), with its words."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, child in subs[0].choices.items():
        yield from leaf_parsers(child, (*path, name))


def test_settings_is_accepted_after_every_command():
    leaves = list(leaf_parsers(build_parser()))
    assert len(leaves) > 15
    missing = [" ".join(path) for path, p in leaves if "--settings" not in p._option_string_actions]
    assert missing == []


@pytest.mark.parametrize("argv", [["status"], ["outbound", "reconcile"], ["outbound", "show", "sms", "x"]])
def test_settings_after_status_and_outbound(argv, tmp_path, capsys):
    missing = tmp_path / "nope.json"
    assert main([*argv, "--settings", str(missing)]) == 2
    assert "nope.json: not found" in capsys.readouterr().err  # parsed, then checked as before the command


def test_top_level_help_names_every_channel(capsys):
    from archiving.calls.layout import CHANNEL as CALL
    from archiving.outbound.layout import CHANNELS as SENT
    from archiving.store.keys import CHANNELS as RECEIVED

    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out.lower()
    for channel in {"chat", CALL, *RECEIVED, *SENT}:
        assert channel in text, channel
    assert "archive of azure communication services chat:" not in text


@pytest.mark.parametrize("argv, fragment", [
    (["export", "--from", "9999-12-31", "--to", "9999-12-31", "--out", "x.jsonl"], "out of range"),
    (["export", "--from", "2026-11-01", "--to", "9999-12-31", "--out", "x.jsonl"], "out of range"),
    (["find", "--sender", "+14255550123", "--from", "2026-11-01", "--to", "9999-12-31"], "out of range"),
    (["outbound", "reconcile", "--older-than", "-1"], "not at least 0"),
    (["rollup", "--from", "2026-11-01", "--to", "2026-11-01", "--workers", "0"], "not at least 1"),
    (["query", "SELECT 1", "--from", "2026-11-19", "--to", "2026-11-18"], "after"),
])
def test_usage_errors_exit_2(argv, fragment, archive_env, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        code = main(["--quiet", *argv])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and "Traceback" not in err, err


def test_replay_prints_its_summary_when_a_media_download_stops_it(acs, archive_env, monkeypatch, tmp_path, capsys):
    """Chat events are archived, then a WhatsApp event's media answers 503: the replay stops (exit 4,
    run it again later), and says what it archived before."""
    from archiving import bootstrap

    for name, value in {"ACS_CONNECTION_STRING": acs.connection_string, **acs.trust_env()}.items():
        monkeypatch.setenv(name, value)
    bootstrap.reset()
    chat = json.loads((ROOT / "samples" / "conversation.json").read_text(encoding="utf-8"))
    media_event = json.loads((VECTORS / "eventgrid" / "cloud-events-schema" / "advanced_message_received.json")
                             .read_text(encoding="utf-8"))
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(e) for e in [*chat, media_event]) + "\n", encoding="utf-8")
    acs.faults.add(503, path=r"^/messages/streams/", times=1000, retry_after=None)
    code = main(["--quiet", "replay", str(events)])
    out, err = capsys.readouterr()
    assert code == 4, err
    assert "replay stopped by the error below; before it, 30 events: 12 archived, 17 duplicate, 1 skipped" in err \
        or "replay stopped by the error below; before it, 30 events:" in err, err
    assert err.index("replay stopped") < err.index("error: service failed")


@pytest.mark.parametrize("argv", [["show", "19:x@thread.v2"], ["export", "--from", "2026-11-01", "--to",
                                                                "2026-11-02", "--out", "x.jsonl"]])
def test_a_command_against_hung_storage_fails_within_30_s(argv, archive_env, monkeypatch, tmp_path, capsys):
    """Storage that accepts and never answers: each retry announced, exit 4, under 30 s (docs/operations.md)."""
    import time

    from archiving import bootstrap

    from .badstorage import Hung, connection_string

    server = Hung(lifetime=90)
    monkeypatch.chdir(tmp_path)
    try:
        monkeypatch.setenv("ArchiveStorage", connection_string(server.port))
        bootstrap.reset()
        started = time.monotonic()
        code = main(["--quiet", *argv])
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    err = capsys.readouterr().err
    assert code == 4 and elapsed < 30, (code, elapsed, err)
    assert "storage did not answer" in err and "retrying in" in err
