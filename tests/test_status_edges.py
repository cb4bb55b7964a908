"""`status` against storage that never answers, and a seal key that is configured but missing (issue 21,
item 4): within 30 s, announcing the wait; the seal a FAIL.  Through the CLI's entry point."""

from __future__ import annotations

import json
import time

from archiving import bootstrap
from archiving.cli.main import main

from .badstorage import Hung, connection_string


def test_status_against_hung_storage_answers_within_30_s_and_says_it_waits(archive_env, monkeypatch, capsys):
    server = Hung(lifetime=90)
    try:
        monkeypatch.setenv("ArchiveStorage", connection_string(server.port))
        bootstrap.reset()
        started = time.monotonic()
        code = main(["--quiet", "status", "--format", "json"])
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    out, err = capsys.readouterr()
    assert elapsed < 30, elapsed
    assert code == 1
    assert "waiting for storage:" in err and "giving up after 25 s" in err
    checks = json.loads(out)["checks"]
    assert checks and all(c["state"] in ("FAIL", "SKIP") for c in checks), checks
    assert any("did not answer" in c["summary"] or "could not check" in c["summary"] for c in checks)


def test_a_configured_seal_key_that_is_missing_is_a_fail(archive_env, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("ARCHIVE_SEAL_KEY_FILE", str(tmp_path / "nonexistent.pem"))
    bootstrap.reset()
    main(["--quiet", "status", "--format", "json"])
    seal = next(c for c in json.loads(capsys.readouterr().out)["checks"] if c["name"] == "seal")
    assert seal["state"] == "FAIL" and "nonexistent.pem: no readable file" in seal["summary"], seal
