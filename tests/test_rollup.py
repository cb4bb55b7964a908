"""Daily Parquet roll-ups on a real Azurite: records archived through the real event path, rolled up,
read back with DuckDB and pyarrow; the timer through function_app.app; the CLI in a subprocess."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from azure.functions.timer import TimerRequest

from archiving import bootstrap
from archiving.ingest.archiver import archive_event
from archiving.read.verified import Findings
from archiving.rollup import layout
from archiving.rollup.query import connect, download_parts, load_manifests, write_result
from archiving.rollup.store import RollupStore
from archiving.rollup.writer import due_days, last_due_day, last_rollup, rollup_day, rollup_days
from archiving.settings import Settings, SettingError
from archiving.store import codec
from archiving.store.records import user_hash

from .conftest import HASH_KEY, ROOT

UTC = timezone.utc
P = "Microsoft.Communication."
THREAD = "19:3f2504e0d4f14c7a9b1c6e2a5d7f8a90@thread.v2"
ALICE = "8:acs:7b5e2f4c-1d3a-4c8e-9f60-2a1b3c4d5e6f_00000020-0001-4e2a-8c1b-0a1b2c3d4e5f"
D18, D19 = date(2026, 11, 18), date(2026, 11, 19)
CONTRACT = ["source", "source_sha256", "channel", "kind", "thread_id", "message_id", "content", "at"]


def stamp(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ident(raw: str) -> dict:
    return {"rawId": raw, "communicationUser": {"id": raw}}


def message(composed: datetime, text: str, *, edited: datetime | None = None, thread: str = THREAD,
            message_id: str | None = None) -> dict:
    ms = int(composed.timestamp() * 1000)
    data = {"messageId": message_id or str(ms), "senderCommunicationIdentifier": ident(ALICE),
            "senderDisplayName": "Alice", "composeTime": stamp(composed), "type": "Text",
            "version": ms, "threadId": thread, "messageBody": text, "metadata": {}}
    kind = "ChatMessageReceivedInThread"
    if edited is not None:
        kind = "ChatMessageEditedInThread"
        data.update(editTime=stamp(edited), version=int(edited.timestamp() * 1000))
    return {"id": str(uuid.uuid4()), "topic": "/subscriptions/x/resourceGroups/rg/providers/"
            "Microsoft.Communication/communicationServices/contoso", "subject": f"thread/{thread}",
            "eventType": P + kind, "eventTime": stamp(edited or composed), "dataVersion": "1.0",
            "metadataVersion": "1", "data": data}


def thread_created(when: datetime, thread: str = THREAD) -> dict:
    return {"id": str(uuid.uuid4()), "topic": "/subscriptions/x", "subject": f"thread/{thread}",
            "eventType": P + "ChatThreadCreated", "eventTime": stamp(when), "dataVersion": "1.0",
            "metadataVersion": "1",
            "data": {"createdByCommunicationIdentifier": ident(ALICE), "properties": {"topic": "Orders"},
                     "metadata": {}, "participants": [], "createTime": stamp(when),
                     "version": int(when.timestamp() * 1000), "threadId": thread}}


@pytest.fixture
def env(archive_env, monkeypatch):
    values = dict(archive_env, ROLLUP_CONTAINER=f"rollup-{uuid.uuid4().hex[:12]}")
    monkeypatch.setenv("ROLLUP_CONTAINER", values["ROLLUP_CONTAINER"])
    bootstrap.reset()
    yield values
    bootstrap.reset()


@pytest.fixture
def svc(env):
    services = bootstrap.Services(settings=Settings.from_env(env))
    yield services
    services.close()


@pytest.fixture
def rollup(svc):
    return RollupStore(svc.rollup_container)


def archive(svc, *events) -> None:
    for event in events:
        outcome = archive_event(event, svc.store, svc.settings.hash_key)
        assert outcome.status == "archived", outcome


def two_days(svc) -> dict[str, dict]:
    """Records of 17 to 20 November, boundaries included; returns the events by label."""
    t = datetime(2026, 11, 18, tzinfo=UTC)
    events = {
        "before": message(t - timedelta(microseconds=1), "last of the 17th"),
        "created": thread_created(t),
        "first": message(t, "first of the 18th: café ☕, \"quotes\", comma, and\nnew line"),
        "noon": message(t + timedelta(hours=12), "noon on the 18th"),
        "edited": message(t + timedelta(hours=20), "edited text", edited=t + timedelta(days=1, hours=1),
                          message_id=str(int((t + timedelta(hours=13)).timestamp() * 1000))),
        "late19": message(t + timedelta(days=2) - timedelta(microseconds=1), "last of the 19th"),
        "after": message(t + timedelta(days=2), "first of the 20th"),
    }
    for i in range(25):
        events[f"bulk{i}"] = message(t + timedelta(hours=1, seconds=i), f"bulk message {i}")
    archive(svc, *events.values())
    return events


def archived_by_day(svc) -> dict[str, dict[str, str]]:
    """Independently of the roll-up: every JSON record's `at` tag by UTC day -> {name: at}."""
    days: dict[str, dict[str, str]] = {}
    for blob in svc.store.container.list_blobs(include=["tags"]):
        if blob.name.endswith(".json.lz4"):
            days.setdefault(blob.tags["at"][:10], {})[blob.name] = blob.tags["at"]
    return days


def query(rollup, tmp_path, sql: str, first=None, last=None) -> list[dict]:
    selection = load_manifests(rollup, first, last)
    folder = tmp_path / f"q-{uuid.uuid4().hex[:6]}"
    download_parts(rollup, selection.parts, folder)
    con = connect(selection, folder)
    out = io.StringIO()
    write_result(con, sql, out, "jsonl")
    con.close()
    return [json.loads(line) for line in out.getvalue().splitlines()]


# -- what a roll-up holds --------------------------------------------------------------------------


def test_counts_per_day_equal_the_records_archived_that_day(svc, rollup):
    two_days(svc)
    expected = archived_by_day(svc)
    results = rollup_days(svc.store, rollup, [D18, D19], source_container=svc.settings.container)
    assert [r.records for r in results] == [len(expected["2026-11-18"]), len(expected["2026-11-19"])]
    assert results[0].records == 28 and results[1].records == 2  # created, first, noon, 25 bulk | edit, late19
    assert results[0].by_channel == {"chat": {"message": 27, "thread": 1}}
    for result in results:
        manifest, _ = rollup.read_manifest(layout.manifest_name(result.day))
        assert manifest["records"] == result.records and manifest["damaged"] == []
        assert [p["name"] for p in manifest["parts"]] == [p.name for p in result.parts]
        assert manifest["source"]["container"] == svc.settings.container
        assert manifest["parts"][0]["name"].startswith("records/channel=chat/year=2026/month=11/day-")


def test_content_and_times_equal_the_records(svc, rollup, tmp_path):
    two_days(svc)
    rollup_days(svc.store, rollup, [D18, D19])
    got = {r["source"]: r for r in query(rollup, tmp_path, "SELECT * FROM records")}
    expected = {**archived_by_day(svc)["2026-11-18"], **archived_by_day(svc)["2026-11-19"]}
    assert set(got) == set(expected)
    for name, at in expected.items():
        data, metadata = svc.store.read_raw(name)
        raw = codec.decompress(data)
        doc = json.loads(raw)
        row = got[name]
        assert row["source_sha256"] == metadata["sha256"] == codec.sha256_hex(raw)
        assert row["channel"] == "chat" and row["kind"] == doc["kind"] and row["action"] == doc["action"]
        assert row["thread_id"] == THREAD and row["message_id"] == doc.get("message_id")
        assert row["content"] == doc.get("content")
        assert datetime.fromisoformat(row["at"]) == datetime.fromisoformat(at.replace("Z", "+00:00"))
        assert datetime.fromisoformat(row["archived_at"]) == datetime.fromisoformat(doc["archived_at"].replace("Z", "+00:00"))
        assert row["day"] == at[:10] and (row["year"], row["month"]) == (2026, 11)
        assert json.loads(row["document"]) == doc
    edited = [r for r in got.values() if r["action"] == "edited"]
    assert len(edited) == 1 and edited[0]["day"] == "2026-11-19" and edited[0]["content"] == "edited text"
    assert edited[0]["sender_hash"] == user_hash(HASH_KEY.encode(), ALICE)


def test_late_arrival_and_rerun_give_no_duplicate(svc, rollup, tmp_path):
    two_days(svc)
    first = rollup_day(svc.store, rollup, D18)
    assert rollup_day(svc.store, rollup, D18).records == first.records  # a plain re-run replaces
    late = message(datetime(2026, 11, 18, 23, 0, tzinfo=UTC), "arrived two days late")
    archive(svc, late)
    again = rollup_day(svc.store, rollup, D18)
    assert again.records == first.records + 1 and again.replaced == 1
    rows = query(rollup, tmp_path, "SELECT source, content FROM records")
    assert len(rows) == first.records + 1 == len({r["source"] for r in rows})
    assert [r["content"] for r in rows].count("arrived two days late") == 1
    # Only the current parts remain in the folder, so engines that read the folder see no duplicate.
    listed = [b.name for b in rollup.list(layout.RECORDS)]
    assert listed == [p.name for p in again.parts]


def test_parts_of_a_run_that_did_not_switch_are_never_read(svc, rollup, tmp_path):
    two_days(svc)
    done = rollup_day(svc.store, rollup, D18)
    # A run that died after uploading its part, before switching the manifest.
    orphan = layout.day_part("chat", D18, "20261121T000000Z-deadbeef")
    svc.rollup_container.upload_blob(orphan, svc.rollup_container.download_blob(done.parts[0].name).readall())
    assert len(query(rollup, tmp_path, "SELECT * FROM records")) == done.records
    again = rollup_day(svc.store, rollup, D18)
    assert again.replaced == 2  # the previous current part and the orphan
    assert [b.name for b in rollup.list(layout.RECORDS)] == [p.name for p in again.parts]


def test_a_concurrent_switch_loses_cleanly(svc, rollup):
    from archiving.rollup.store import ManifestConflict

    two_days(svc)
    rollup_day(svc.store, rollup, D18)
    name = layout.manifest_name(D18)
    manifest, etag = rollup.read_manifest(name)
    rollup.switch_manifest(name, manifest, etag)  # another run switched in between
    with pytest.raises(ManifestConflict):
        rollup.switch_manifest(name, manifest, etag)


def test_a_damaged_blob_is_named_and_left_out(svc, rollup, env, tmp_path):
    events = two_days(svc)
    names = sorted(archived_by_day(svc)["2026-11-18"])
    victim = next(n for n in names if n.endswith(f"/{events['noon']['data']['messageId']}-received.json.lz4"))
    client = svc.store.container.get_blob_client(victim)
    data, metadata = svc.store.read_raw(victim)
    tags = client.get_blob_tags()
    client.upload_blob(data[: len(data) // 2], overwrite=True, metadata=metadata, tags=tags)  # truncated frame
    findings = Findings()
    result = rollup_day(svc.store, rollup, D18, findings=findings)
    assert result.records == len(names) - 1
    assert [d.name for d in result.damaged] == [victim] == [d.name for d in findings.items]
    manifest, _ = rollup.read_manifest(layout.manifest_name(D18))
    assert [d["name"] for d in manifest["damaged"]] == [victim] and manifest["damaged"][0]["reason"]
    assert victim not in {r["source"] for r in query(rollup, tmp_path, "SELECT source FROM records")}
    # The CLI names it on stderr and exits 1.
    result = cli(env, tmp_path, "rollup", "--from", "2026-11-18", "--to", "2026-11-18")
    assert result.returncode == 1, result.stderr
    assert f"damaged: {victim}: " in result.stderr
    assert "1 damaged blobs left out" in result.stdout


def test_any_channel_and_kind_fits_without_code(svc, rollup, tmp_path):
    """A record of another channel (an inbound SMS, archived by the real path) becomes a row like any other."""
    from .conftest import load_vector

    event = load_vector("eventgrid/event-grid-schema/sms_received.json")
    event["data"].update(From="+14255550123", To="+18005550100", ReceivedTimestamp="2026-11-18T09:30:00Z",
                         Message="Is my order shipped?")
    assert archive_event(event, svc.store, svc.settings.hash_key).status == "archived"
    (name,) = list(svc.store.list_names("sms/"))
    doc = codec.loads(codec.decompress(svc.store.read_raw(name)[0]))
    result = rollup_day(svc.store, rollup, D18)
    assert result.by_channel == {"sms": {"sms-message": 1}}
    assert result.parts[0].name.startswith("records/channel=sms/year=2026/month=11/day-18-")
    (row,) = query(rollup, tmp_path, "SELECT * FROM records")
    assert (row["channel"], row["kind"], row["thread_id"], row["message_id"], row["content"], row["source"]) == \
        ("sms", "sms-message", doc["conversation_id"], doc["message_id"], "Is my order shipped?", name)
    assert row["sender_hash"] == doc["from"]["hash"]


def test_an_empty_day_has_a_manifest_and_no_part(svc, rollup, tmp_path):
    result = rollup_day(svc.store, rollup, D18)
    assert (result.records, result.parts) == (0, ())
    manifest, _ = rollup.read_manifest(layout.manifest_name(D18))
    assert manifest["records"] == 0 and manifest["parts"] == []
    assert query(rollup, tmp_path, "SELECT count(*) AS n FROM records") == [{"n": 0}]


# -- monthly compaction ----------------------------------------------------------------------------


def folder_rows(rollup, tmp_path) -> list[dict]:
    """What Spark, Fabric or Synapse see: every Parquet file under records/, Hive-partitioned."""
    import pyarrow.dataset as ds

    folder = tmp_path / f"folder-{uuid.uuid4().hex[:6]}"
    for item in rollup.list(layout.RECORDS):
        rollup.download_file(item.name, folder / item.name)
    return ds.dataset(folder / "records", format="parquet", partitioning="hive").to_table().to_pylist()


def test_compaction_keeps_the_rows_and_merges_the_files(svc, rollup, env, tmp_path):
    from archiving.rollup.compact import compact_month

    two_days(svc)
    rollup_days(svc.store, rollup, [date(2026, 11, 17), D18, D19, date(2026, 11, 20)])
    before = sorted((r["source"], r["at"]) for r in query(rollup, tmp_path, "SELECT source, at FROM records"))
    assert len(before) == 32 and len(list(rollup.list(layout.RECORDS))) == 4
    compacted = compact_month(rollup, 2026, 11)
    assert (compacted.skipped, compacted.days, compacted.parts_before, compacted.parts_after) == (None, 4, 4, 1)
    assert compacted.records == 32 and compacted.removed == 4
    result = compact_month(rollup, 2026, 11)
    assert result.skipped == "one part per channel already"
    (part,) = [b.name for b in rollup.list(layout.RECORDS)]
    assert part.startswith("records/channel=chat/year=2026/month=11/month-")
    after = sorted((r["source"], r["at"]) for r in query(rollup, tmp_path, "SELECT source, at FROM records"))
    assert after == before
    assert len(query(rollup, tmp_path, "SELECT source FROM records", D18, D18)) == 28
    manifest, _ = rollup.read_manifest(layout.manifest_name(D18))
    assert [(p["name"], p["day_rows"]) for p in manifest["parts"]] == [(part, 28)] and manifest["records"] == 28
    assert len(folder_rows(rollup, tmp_path)) == 32

    # A late arrival rebuilt into a compacted month: still one file, no day twice, for the query and the folder.
    archive(svc, message(datetime(2026, 11, 18, 23, 0, tzinfo=UTC), "late"))
    rollup_days(svc.store, rollup, [D18])
    (again,) = [b.name for b in rollup.list(layout.RECORDS)]
    assert again != part and again.split("/")[-1].startswith("month-")
    assert len(query(rollup, tmp_path, "SELECT source FROM records")) == 33
    rows = folder_rows(rollup, tmp_path)
    assert len(rows) == 33 == len({r["source"] for r in rows})
    assert {r["channel"] for r in rows} == {"chat"} and {r["month"] for r in rows} == {11}

    done = cli(env, tmp_path, "compact", "--month", "2026-11")
    assert done.returncode == 0 and "not compacted: one part per channel already" in done.stdout
    assert cli(env, tmp_path, "compact", "--month", "2026-13").returncode == 2


# -- the files themselves --------------------------------------------------------------------------


def test_parquet_is_readable_by_duckdb_and_pyarrow(svc, rollup, tmp_path):
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    two_days(svc)
    result = rollup_day(svc.store, rollup, D18)
    path = tmp_path / "part.parquet"
    rollup.download_file(result.parts[0].name, path)

    table = pq.read_table(path)
    assert table.num_rows == result.records
    schema = table.schema
    assert schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("archived_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("day").type == pa.date32()
    assert schema.field("source").type == pa.string() and schema.field("schema_version").type == pa.int32()
    assert "channel" not in schema.names  # a partition column: from the path, never twice (Spark refuses that)
    meta = pq.ParquetFile(path).metadata
    assert {meta.row_group(0).column(i).compression for i in range(meta.num_columns)} == {"ZSTD"}
    by_source = {r["source"]: r for r in table.to_pylist()}
    noon = next(r for r in by_source.values() if r["content"] == "noon on the 18th")
    assert noon["at"] == datetime(2026, 11, 18, 12, tzinfo=UTC)

    con = duckdb.connect()
    n, first, last = con.execute("SELECT count(*), min(\"at\"), max(\"at\") FROM read_parquet(?)", [str(path)]).fetchone()
    assert n == result.records
    assert first == datetime(2026, 11, 18, tzinfo=UTC) and last < datetime(2026, 11, 19, tzinfo=UTC)


# -- the timer, as the host calls it ---------------------------------------------------------------


def test_timer_bindings_as_the_host_indexes_them(indexed, app_functions):
    (timer,) = indexed["rollup_archive"]["bindings"]
    assert timer == {"direction": "IN", "type": "timerTrigger", "name": "timer", "schedule": "%ROLLUP_SCHEDULE%",
                     "runOnStartup": False, "useMonitor": True}
    retry = app_functions["rollup_archive"].get_settings_dict("retry_policy")
    assert retry["strategy"] == "exponential_backoff" and int(retry["max_retry_count"]) >= 1


def test_timer_rolls_up_the_day_whose_grace_period_passed(app_functions, svc, rollup, env):
    from archiving.timefmt import utcnow

    due = last_due_day(utcnow(), svc.settings.rollup_grace_hours)
    noon = datetime(due.year, due.month, due.day, 12, tzinfo=UTC)
    archive(svc, message(noon, "rolled up by the timer"), message(noon + timedelta(days=1), "not due yet"))
    fn = app_functions["rollup_archive"].get_user_function()
    fn(timer=TimerRequest(past_due=False))
    manifests = [m.name for m in rollup.manifests()]
    assert manifests == [layout.manifest_name(due)]
    info = last_rollup(rollup)
    assert (info.day, info.records, info.damaged) == (due, 1, 0)
    fn(timer=TimerRequest(past_due=False))  # nothing new is due: nothing is rebuilt
    assert last_rollup(rollup).built_at == info.built_at


def test_due_days(rollup, svc):
    now = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
    # 36 h after the end of the 18th is 20 Nov 12:00: at 11:00 only the 17th is due.
    assert last_due_day(now, 36) == date(2026, 11, 17)
    assert last_due_day(now + timedelta(hours=1), 36) == D18
    assert due_days(svc.store, rollup, now, 36) == []  # nothing archived: nothing due
    archive(svc, message(datetime(2026, 11, 9, 12, tzinfo=UTC), "first day"),
            message(datetime(2026, 11, 15, 12, tzinfo=UTC), "a later day"))
    # From the first archived day: 9 to 17 November; the newest 7 per run, the next run the rest.
    assert due_days(svc.store, rollup, now, 36) == layout.days(date(2026, 11, 11), date(2026, 11, 17))
    rollup_days(svc.store, rollup, layout.days(date(2026, 11, 11), date(2026, 11, 17)))
    assert due_days(svc.store, rollup, now, 36) == [date(2026, 11, 9), date(2026, 11, 10)]
    rollup_days(svc.store, rollup, [date(2026, 11, 9), date(2026, 11, 10)])
    assert due_days(svc.store, rollup, now, 36) == []
    from archiving.rollup.compact import compact_if_closed

    assert compact_if_closed(rollup, date(2026, 11, 29)) is None  # the month is not over
    assert compact_if_closed(rollup, date(2026, 11, 30)).days == 9  # over: compacted


def test_last_rollup_is_none_before_any(rollup, svc):
    from archiving.rollup.writer import last_rollup_of

    assert last_rollup(rollup) is None and last_rollup_of(svc) is None
    rollup_day(svc.store, rollup, D18)
    assert last_rollup_of(svc).day == D18


def test_grace_period_must_outlast_event_grid_retries(env):
    with pytest.raises(SettingError, match="ROLLUP_GRACE_HOURS"):
        Settings.from_env(dict(env, ROLLUP_GRACE_HOURS="24"))
    assert Settings.from_env(dict(env)).rollup_grace_hours == 36


def test_cold_start_does_not_load_duckdb_or_pyarrow():
    code = ("import sys, function_app; bad = [m for m in ('duckdb', 'pyarrow', 'archiving.rollup.writer') "
            "if m in sys.modules]; print(bad)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- the command line, as the outside checks run it ------------------------------------------------


def cli(env_values, tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("Archive", "ARCHIVE", "ACS_", "ROLLUP"))}
    env.update(env_values, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "archiving", "--quiet", *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=180)


def test_cli_contract(svc, env, tmp_path):
    two_days(svc)
    done = cli(env, tmp_path, "rollup", "--from", "2026-11-18", "--to", "2026-11-19")
    assert done.returncode == 0, done.stderr
    assert "2026-11-18: 28 records (chat 28), 0 damaged left out" in done.stdout
    assert "2 days rolled up" in done.stdout and "30 records" in done.stdout

    sql = f"SELECT {', '.join(CONTRACT)} FROM records ORDER BY at, kind DESC, source"
    result = cli(env, tmp_path, "query", sql, "--format", "csv")
    assert result.returncode == 0, result.stderr
    table = list(csv.reader(io.StringIO(result.stdout)))
    assert table[0] == CONTRACT and len(table) == 31
    assert table[1][CONTRACT.index("content")] == "" and table[1][CONTRACT.index("kind")] == "thread"
    assert "first of the 18th: café ☕" in table[2][CONTRACT.index("content")]
    assert "2 days rolled up (30 records" in result.stderr

    counted = cli(env, tmp_path, "query", "SELECT day, count(*) AS n FROM records GROUP BY day ORDER BY day",
                  "--format", "jsonl")
    assert counted.returncode == 0, counted.stderr
    assert [json.loads(x) for x in counted.stdout.splitlines()] == [{"day": "2026-11-18", "n": 28},
                                                                     {"day": "2026-11-19", "n": 2}]
    one_day = cli(env, tmp_path, "query", "SELECT count(*) AS n FROM records", "--from", "2026-11-19", "--to",
                  "2026-11-19")
    assert one_day.stdout.splitlines() == ["n", "2"]

    bad = cli(env, tmp_path, "query", "SELECT nope FROM records")
    assert bad.returncode == 2 and "error: query:" in bad.stderr and "Traceback" not in bad.stderr
    usage = cli(env, tmp_path, "rollup", "--from", "2026-11-19", "--to", "2026-11-18")
    assert usage.returncode == 2 and "after" in usage.stderr


def test_cli_query_before_any_rollup_prints_the_header(env, tmp_path):
    result = cli(env, tmp_path, "query", f"SELECT {', '.join(CONTRACT)} FROM records")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [",".join(CONTRACT)]
    assert "no roll-ups" in result.stderr


def test_docs_list_every_column_as_the_code_writes_it():
    from archiving.rollup import rows

    text = (ROOT / "docs" / "analytics.md").read_text(encoding="utf-8")
    table = text.split("### Columns", 1)[1].split("\n\n")[2]
    documented = [tuple(cell.strip().strip("`") for cell in line.strip("|").split("|"))
                  for line in table.splitlines()[2:]]
    assert documented == [(n, t, d) for n, t, d in rows.COLUMNS + rows.PARTITIONS]
