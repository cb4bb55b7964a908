"""Benchmark of the operations side (issue 16): the outcome log line and `python -m archiving status`.

(a) CPU microseconds per event of the parseable outcome line (archiving/ops/logfields.event_line,
    lag included), beside the record it describes (prepare: parse, build, JSON, lz4, sha256).
(b) Wall time of the status checks against Azurite with N records tagged in the last day (records
    and newest record: one Find Blobs by Tags query), and the number of tag-query pages it read.

Run by hand:  .venv/bin/python bench/status.py [--records N]
It starts its own Azurite (from .tools/, as `make test` installs it) on free loopback ports.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archiving.bootstrap import Services  # noqa: E402
from archiving.ingest.archiver import Outcome, prepare  # noqa: E402
from archiving.ops.logfields import event_line  # noqa: E402
from archiving.ops.status import STATUS_PROFILE, run_checks  # noqa: E402
from archiving.settings import Settings  # noqa: E402
from archiving.timefmt import iso, utcnow  # noqa: E402
from tests.azurite import Azurite  # noqa: E402

SAMPLE = json.loads((ROOT / "samples" / "conversation.json").read_text(encoding="utf-8"))
HASH_KEY = b"bench-hash-key"


def event(i: int, when) -> dict:
    template = next(e for e in SAMPLE if e["eventType"].endswith("ChatMessageReceivedInThread"))
    e = copy.deepcopy(template)
    e["id"] = str(uuid.uuid4())
    e["eventTime"] = iso(when)
    e["data"].update(messageId=str(1761955100000 + i), version=1761955100000 + i, composeTime=iso(when))
    return e


def cpu(records: list, rounds: int = 5) -> tuple[float, float]:
    """(µs per event_line, µs per prepare), best of `rounds`."""
    best_line = best_prepare = float("inf")
    raws = [event(i, utcnow()) for i in range(len(records))]
    for _ in range(rounds):
        started = time.perf_counter()
        for record in records:
            event_line(Outcome("archived", "id", "type", record.key), record.document)
        best_line = min(best_line, (time.perf_counter() - started) / len(records))
        started = time.perf_counter()
        for raw in raws:
            prepare(raw, HASH_KEY)
        best_prepare = min(best_prepare, (time.perf_counter() - started) / len(raws))
    return best_line * 1e6, best_prepare * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=12_000, help="records tagged within the last day")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {platform.python_version()}")

    now = utcnow()
    records = [prepare(event(i, now - timedelta(seconds=i)), HASH_KEY) for i in range(2_000)]
    line_us, prepare_us = cpu(records)
    print(f"(a) event_line {line_us:.1f} µs per event, prepare {prepare_us:.1f} µs per event "
          f"(+{100 * line_us / prepare_us:.0f} %)")

    azurite = Azurite().start()
    try:
        suffix = uuid.uuid4().hex[:8]
        env = {"ArchiveStorage": azurite.connection_string, "ARCHIVE_HASH_KEY": "bench",
               "ARCHIVE_CONTAINER": f"archive-{suffix}", "ARCHIVE_REJECTED_CONTAINER": f"rejected-{suffix}",
               "SWEEP_QUEUE": f"sweep-{suffix}"}
        svc = Services(settings=Settings.from_env(env), profile=STATUS_PROFILE)
        spread = timedelta(hours=23) / max(args.records, 1)
        started = time.perf_counter()

        def put(i: int) -> None:
            record = prepare(event(10_000 + i, now - spread * i), HASH_KEY)
            svc.store.put_record(record)

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(put, range(args.records)))
        print(f"loaded {args.records} records in {time.perf_counter() - started:.1f} s")
        timings = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            report = run_checks(svc, dead_letter_container=f"deadletter-{suffix}", optional={})
            timings.append(time.perf_counter() - started)
            records_check = next(c for c in report.checks if c.name == "records")
            assert records_check.values["last_day"] == args.records, records_check
        pages = sum(1 for _ in svc.store.container.find_blobs_by_tags(
            f"\"at\" >= '{iso(now - timedelta(days=1))}'").by_page())
        print(f"(b) status with {args.records} records in the last day: "
              f"{', '.join(f'{t:.2f}' for t in timings)} s; the day's tag query reads {pages} pages")
        svc.close()
    finally:
        azurite.stop()


if __name__ == "__main__":
    main()
