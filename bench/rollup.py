"""Benchmark of the daily Parquet roll-ups (issue 15).

(a) The writer: DuckDB and pyarrow side by side on the same 100,000 rows (JSON lines -> zstd
    Parquet), each in a fresh process: import time, write time, peak RSS of the process.
(b) `python -m archiving rollup` of one day of N records (default 100,000) in Azurite: wall time
    and peak RSS of the CLI process (target <= 256 MB).
(c) 30 days back: `python -m archiving query` over the roll-ups beside `python -m archiving
    export` of the same range, both as a user runs them (a process each), target >= 20x.

Records are written with the archiver's own `prepare` (the same names, bytes, metadata and tags
as `archive_chat_event`), uploaded straight with the SDK to fill Azurite quickly.

Run by hand:  .venv/bin/python bench/rollup.py [--records 100000] [--days 30 --per-day 150]
Azurite's tag queries are complete only up to 5,000 blobs per container when matches are sparse
(docs/performance.md): (c) with --skip-day keeps under that.
It starts its own Azurite (from .tools/) on free loopback ports.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archiving.ingest.archiver import prepare  # noqa: E402
from tests.azurite import Azurite  # noqa: E402

UTC = timezone.utc
HASH_KEY = "bench-hash-key"
SAMPLE = json.loads((ROOT / "samples" / "conversation.json").read_text(encoding="utf-8"))
TEMPLATE = next(e for e in SAMPLE if e["eventType"].endswith("ChatMessageReceivedInThread"))


def event(i: int, composed: datetime, thread: int) -> dict:
    e = copy.deepcopy(TEMPLATE)
    ms = int(composed.timestamp() * 1000)
    e["id"] = str(uuid.uuid4())
    e["data"]["threadId"] = f"19:bench{thread:05d}@thread.v2"
    e["subject"] = f"thread/{e['data']['threadId']}"
    e["data"]["messageId"] = str(ms * 1000 + i % 1000)
    e["data"]["version"] = ms
    e["data"]["composeTime"] = composed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    e["data"]["messageBody"] = f"Message {i}: " + TEMPLATE["data"]["messageBody"]
    return e


def fill(container, day: date, count: int, start: int = 0, workers: int = 16) -> None:
    """count message records composed through the day (spread over 200 threads)."""
    base = datetime(day.year, day.month, day.day, tzinfo=UTC)
    step = 86_400 / max(count, 1)

    def upload(i: int) -> None:
        record = prepare(event(start + i, base + timedelta(seconds=i * step), i % 200), HASH_KEY.encode())
        encoded = record.encoded
        container.upload_blob(record.key, encoded.data, overwrite=False, metadata={"sha256": encoded.sha256},
                              tags=dict(record.tags))

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(upload, range(count)))


def timed(args: list[str], env: dict, cwd: Path) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall seconds and peak RSS (MB) of one child process (its own rusage, through wait4)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err, text=True, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(args, proc.returncode, out.read(), err.read())
    if result.returncode not in (0, 1, 3):
        raise SystemExit(f"{args[3:5]} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024, result


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "archiving", "--quiet", *args]


# -- (a) the writers ------------------------------------------------------------------------------

WRITER = r"""
import json, resource, sys, time
t0 = time.perf_counter()
if sys.argv[1] == "duckdb":
    import duckdb
else:
    import pyarrow, pyarrow.json, pyarrow.parquet
t1 = time.perf_counter()
sys.path.insert(0, sys.argv[4])
from archiving.rollup import rows
src, dst = sys.argv[2], sys.argv[3]
if sys.argv[1] == "duckdb":
    from archiving.rollup.parquet import duckdb_connection, write_parquet
    from pathlib import Path
    con = duckdb_connection()
    write_parquet(con, Path(src), Path(dst))
else:
    types = {"VARCHAR": pyarrow.string(), "INTEGER": pyarrow.int32(), "DATE": pyarrow.date32(),
             "TIMESTAMPTZ": pyarrow.timestamp("us", tz="UTC")}
    schema = pyarrow.schema([(n, types[t]) for n, t, _ in rows.COLUMNS])
    # The JSON reader parses timestamps, not dates: read `day` as text and cast each batch.
    parse = pyarrow.schema([(f.name, pyarrow.string() if f.name == "day" else f.type) for f in schema])
    # Streaming: one block of JSON lines at a time into one Parquet writer.
    reader = pyarrow.json.open_json(src, parse_options=pyarrow.json.ParseOptions(explicit_schema=parse),
                                    read_options=pyarrow.json.ReadOptions(block_size=8 << 20))
    with pyarrow.parquet.ParquetWriter(dst, schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch.cast(schema))
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "write_s": t2 - t1,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def bench_writers(rows_count: int) -> None:
    from archiving.read.verified import VerifiedBlob
    from archiving.rollup import rows
    from archiving.store import codec

    import orjson

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "rows.jsonl"
        with open(src, "wb") as f:
            for i in range(rows_count):
                record = prepare(event(i, datetime(2026, 11, 18, tzinfo=UTC) + timedelta(seconds=i * 0.8), i % 200),
                                 HASH_KEY.encode())
                doc = codec.loads(codec.dumps(record.document))
                blob = VerifiedBlob(record.key, doc, record.encoded.sha256, len(record.encoded.data), {})
                _, values = rows.row(blob, record.tags["at"])
                f.write(orjson.dumps(values) + b"\n")
        print(f"(a) writers, {rows_count:,} rows ({src.stat().st_size / 2**20:.0f} MB of JSON lines) -> zstd Parquet, "
              f"one fresh process each:")
        for writer in ("duckdb", "pyarrow"):
            dst = Path(tmp) / f"{writer}.parquet"
            out = subprocess.run([sys.executable, "-c", WRITER, writer, str(src), str(dst), str(ROOT)],
                                 capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(out.stderr)
            m = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"    {writer:8} import {m['import_s'] * 1000:5.0f} ms, write {m['write_s']:5.2f} s, "
                  f"peak RSS {m['peak_mb']:5.0f} MB, file {dst.stat().st_size / 2**20:.1f} MB")


# -- (b) and (c) against Azurite --------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000, help="records in the one day of (b)")
    parser.add_argument("--days", type=int, default=30, help="days of (c)")
    parser.add_argument("--per-day", type=int, default=150, help="records per day in (c)")
    parser.add_argument("--skip-writers", action="store_true")
    parser.add_argument("--only-writers", action="store_true")
    parser.add_argument("--skip-day", action="store_true", help="skip (b)")
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, python {platform.python_version()}")
    if not args.skip_writers:
        bench_writers(args.records)
    if args.only_writers:
        return
    azurite = Azurite().start()
    try:
        suffix = uuid.uuid4().hex[:10]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("Archive", "ARCHIVE", "ROLLUP"))}
        env.update({"ArchiveStorage": azurite.connection_string, "ARCHIVE_HASH_KEY": HASH_KEY,
                    "ARCHIVE_CONTAINER": f"bench-{suffix}", "ROLLUP_CONTAINER": f"rollup-{suffix}",
                    "PYTHONPATH": str(ROOT)})
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient.from_connection_string(azurite.connection_string)
        container = service.get_container_client(env["ARCHIVE_CONTAINER"])
        container.create_container()
        work = Path(tempfile.mkdtemp(prefix="bench-rollup-"))

        # (b) one big day
        big = date(2026, 10, 15)
        if args.skip_day:
            args.records = 0
        started = time.perf_counter()
        if args.records:
            fill(container, big, args.records)
            print(f"(b) {args.records:,} records archived into one day in {time.perf_counter() - started:.0f} s (setup)")
            elapsed, peak, result = timed(cli("rollup", "--from", big.isoformat(), "--to", big.isoformat()), env, work)
            print(f"    rollup of {args.records:,} records: {elapsed:.1f} s ({args.records / elapsed:,.0f} records/s), "
                  f"peak RSS {peak:.0f} MB (target <= 256)")
            print(f"    {result.stdout.strip().splitlines()[0]}")

        # (c) 30 days back
        if args.days <= 0:
            return
        first = date(2026, 11, 1)
        last = first + timedelta(days=args.days - 1)
        started = time.perf_counter()
        for i in range(args.days):
            fill(container, first + timedelta(days=i), args.per_day, start=10_000_000 + i * args.per_day)
        total = args.days * args.per_day
        print(f"(c) {total:,} records over {args.days} days archived in {time.perf_counter() - started:.0f} s (setup)")
        elapsed, peak, r = timed(cli("rollup", "--from", first.isoformat(), "--to", last.isoformat()), env, work)
        print(f"    rollup of the {args.days} days: {elapsed:.1f} s, peak RSS {peak:.0f} MB: {r.stdout.strip().splitlines()[-1]}")
        q_s, q_peak, q = timed(cli("query", "SELECT * FROM records ORDER BY at", "--from", first.isoformat(),
                                   "--to", last.isoformat(), "--format", "jsonl", "--out", str(work / "q.jsonl")),
                               env, work)
        e_s, e_peak, e = timed(cli("export", "--from", first.isoformat(), "--to", last.isoformat(),
                                   "--format", "jsonl", "--out", str(work / "e.jsonl")), env, work)
        q_rows = sum(1 for _ in open(work / "q.jsonl"))
        e_rows = sum(1 for _ in open(work / "e.jsonl"))
        print(f"    query  (every row, JSON lines): {q_s:6.1f} s, {q_rows:,} rows")
        print(f"    export (same range, JSON lines): {e_s:6.1f} s, {e_rows:,} items")
        print(f"    query is {e_s / q_s:.0f}x faster than export (target >= 20)")
        if q_rows != total or e_rows != total:
            # Azurite's Find Blobs by Tags scans 5,000 blobs and gives no continuation marker when
            # the matches are sparse (docs/performance.md): keep (b) + (c) under 5,000 blobs.
            print(f"    WARNING: {total:,} records archived, query {q_rows:,}, export {e_rows:,}: not comparable")
        c_s, _, c = timed(cli("query", "SELECT day, count(*) AS n FROM records GROUP BY day ORDER BY day",
                              "--from", first.isoformat(), "--to", last.isoformat()), env, work)
        print(f"    query  (counts per day):        {c_s:6.1f} s ({e_s / c_s:.0f}x)")
    finally:
        azurite.stop()


if __name__ == "__main__":
    main()
