"""`query` reads the roll-ups and nothing else (issue 21, item 1): hostile statements through the real
CLI entry point against a real Azurite roll-up; each fails with exit 2, none creates or reads a file."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from archiving.cli.main import main
from archiving.rollup import layout
from archiving.rollup.writer import rollup_days

from .test_rollup import D18, D19, env, rollup, svc, two_days  # noqa: F401 - fixtures

SECRET = "SEAL-PRIVATE-KEY-6f1d"

# {tmp}: the test's folder (the current folder of the command); {part}: a cached roll-up part.
HOSTILE = [
    "SELECT * FROM read_blob('seal-key.pem')",
    "SELECT * FROM read_text('{tmp}/seal-key.pem')",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_csv_auto('/etc/hostname')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM glob('*')",
    "SELECT * FROM read_text('/proc/self/environ')",
    "SELECT * FROM read_text('file:///etc/passwd')",
    "SELECT * FROM read_text('{part}/../../../../../../../seal-key.pem')",
    "SELECT * FROM read_json('seal-key.pem')",
    "SELECT * FROM read_ndjson_objects('/etc/passwd')",
    "SELECT * FROM sniff_csv('/etc/passwd')",
    "SELECT * FROM parquet_metadata('/etc/passwd')",
    "SELECT * FROM records, read_text('/etc/passwd')",
    "WITH x AS (SELECT * FROM read_text('seal-key.pem')) SELECT * FROM x",
    "SELECT * FROM query('SELECT * FROM read_text(''seal-key.pem'')')",
    "DESCRIBE SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')",
    "SELECT * FROM duckdb_secrets()",
    "COPY (SELECT * FROM records) TO '/tmp/x.csv'",
    "COPY (SELECT * FROM records) TO 'x.csv'",
    "COPY records TO '{tmp}/x.parquet' (FORMAT parquet)",
    "COPY (SELECT 'forged' AS content) TO '{part}' (FORMAT parquet)",
    "ATTACH '{tmp}/e.db' AS e; CREATE TABLE e.t AS SELECT 1",
    "ATTACH '{tmp}/e.db' AS e",
    "ATTACH ':memory:' AS m",
    "EXPORT DATABASE '{tmp}/exported'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "FORCE INSTALL httpfs FROM 'http://127.0.0.1:9/'",
    "SET enable_external_access = true",
    "RESET lock_configuration",
    "SET temp_directory = '{tmp}'",
    "PRAGMA enable_profiling = 'json'",
    "CREATE TABLE t AS SELECT * FROM records",
    "CREATE SECRET s (TYPE azure, CONNECTION_STRING 'x')",
    "CALL pragma_version()",
    "SELECT 1; COPY (SELECT 1) TO 'y.csv'",
    "PIVOT records ON channel",
]


@pytest.fixture
def rolled_up(svc, rollup, tmp_path, monkeypatch):  # noqa: F811
    two_days(svc)
    rollup_days(svc.store, rollup, [D18, D19])
    monkeypatch.chdir(tmp_path)
    (tmp_path / "seal-key.pem").write_text(SECRET + "\n")
    cache = tmp_path / "cache"
    assert main(["--quiet", "query", "SELECT count(*) AS n FROM records", "--cache-dir", str(cache)]) == 0
    return cache


def files(root: Path) -> set[str]:
    return {str(p) for p in root.rglob("*")}


@pytest.mark.parametrize("statement", HOSTILE)
def test_a_hostile_statement_is_refused_and_touches_no_file(statement, rolled_up, tmp_path, capsys,
                                                             monkeypatch):
    capsys.readouterr()
    scratch = tmp_path / "scratch"  # the command's temporary folders (downloads, DuckDB's spill) go here
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    part = next(p for p in rolled_up.rglob("*.parquet"))
    sql = statement.format(tmp=tmp_path, part=part)
    before = files(tmp_path)
    outside = [Path("/tmp/x.csv")]
    existed = {p: p.exists() for p in outside}
    stamp = {p: p.stat().st_mtime_ns for p in rolled_up.rglob("*.parquet")}
    code = main(["--quiet", "query", sql, "--cache-dir", str(rolled_up)])
    out, err = capsys.readouterr()
    assert code == 2, (sql, out, err)
    assert "reads the roll-ups only" in err, err
    assert SECRET not in out + err and "root:" not in out
    assert files(tmp_path) == before  # nothing created here (no spill folder, export, database)
    assert {p: p.exists() for p in outside} == existed
    assert {p: p.stat().st_mtime_ns for p in rolled_up.rglob("*.parquet")} == stamp  # no part overwritten


def test_reading_the_rollups_still_works_in_every_form(rolled_up, capsys):
    for sql in ("SELECT count(*) AS n FROM records", "FROM records SELECT count(*) AS n",
                "WITH r AS (SELECT * FROM records) SELECT count(*) AS n FROM r", "SUMMARIZE records",
                "SELECT at FROM records ORDER BY at LIMIT 1"):
        capsys.readouterr()
        assert main(["--quiet", "query", sql, "--cache-dir", str(rolled_up)]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["query", ""], "empty"),
    (["query", "   \n"], "empty"),
    (["query", "-- only a comment"], "no statement"),
    (["query", "SELECT 1", "--from", "2026-11-19", "--to", "2026-11-18"], "after"),
    (["query", "SELECT 1", "--from", "9999-99-99"], "not a day"),
])
def test_usage_errors_exit_2_before_any_download(args, message, env, tmp_path, monkeypatch, capsys):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    assert main(["--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert files(tmp_path) == set()


def test_a_cached_part_is_checked_against_its_manifest(svc, rollup, rolled_up, capsys):  # noqa: F811
    manifest, _ = rollup.read_manifest(layout.manifest_name(D18))
    (entry,) = manifest["parts"]
    assert len(entry["sha256"]) == 64
    cached = rolled_up / entry["name"]
    original = cached.read_bytes()
    # Forged content over a cached part (as a COPY of an unsandboxed engine would do): downloaded again.
    import duckdb

    duckdb.sql(f"COPY (SELECT 'forged' AS content) TO '{cached}' (FORMAT parquet)")
    capsys.readouterr()
    assert main(["--quiet", "query", "SELECT count(*) AS n FROM records WHERE content = 'forged'",
                 "--cache-dir", str(rolled_up), "--format", "jsonl"]) == 0
    assert capsys.readouterr().out.strip() == '{"n":0}'
    assert cached.read_bytes() == original

    # The stored part itself differs from its manifest: named, exit 1, no rows printed.
    svc.rollup_container.upload_blob(entry["name"], b"not the part", overwrite=True)
    cached.unlink()
    code = main(["--quiet", "query", "SELECT count(*) AS n FROM records", "--cache-dir", str(rolled_up)])
    out, err = capsys.readouterr()
    assert code == 1 and entry["name"] in err and "sha256" in err and out == ""
    assert not cached.exists()
