"""What checking every read costs: read_verified with and without the tag check, against raw downloads.

Archives --records message records (the real archive_event path) into its own Azurite, then reads them
all back, alternately, in --rounds rounds:

- raw: ``store.read_raw`` of every blob (download only, 8 in parallel, as the read side does);
- verified, no tags: ``read_verified(..., check_tags=False)``: lz4 frame, sha256, JSON Schema, name;
- verified: ``read_verified(...)`` as every command reads: the above plus one Get Blob Tags per blob.

    .venv/bin/python bench/read_verify.py                   # defaults: --records 2000 --rounds 3
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archiving.bootstrap import BATCH_PROFILE, Services  # noqa: E402
from archiving.ingest.archiver import archive_event  # noqa: E402
from archiving.read.scan import ordered_map  # noqa: E402
from archiving.read.verified import Findings, read_verified  # noqa: E402
from archiving.settings import Settings  # noqa: E402
from tests.azurite import Azurite  # noqa: E402


def events(n: int) -> list[dict]:
    sample = json.loads((ROOT / "samples/conversation.json").read_text(encoding="utf-8"))
    template = next(e for e in sample if e["eventType"].endswith("ChatMessageReceivedInThread"))
    out = []
    for i in range(n):
        e = copy.deepcopy(template)
        e["id"] = str(uuid.uuid4())
        e["data"]["threadId"] = f"19:bench{i % 50:04d}@thread.v2"
        e["data"]["messageId"] = str(1761955100000 + i)
        e["data"]["version"] = 1761955100000 + i
        e["data"]["messageBody"] = f"message {i} " + "x" * 300
        out.append(e)
    return out


def records_and_rounds() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    return parser.parse_args()


@contextmanager
def archived(records: int) -> Iterator[tuple[Services, list[str]]]:
    """An Azurite of its own and the app's services on it, holding ``records`` message records; their names."""
    azurite = Azurite().start()
    try:
        env = {"ArchiveStorage": azurite.connection_string, "ARCHIVE_HASH_KEY": "bench",
               "ARCHIVE_CONTAINER": f"bench-{uuid.uuid4().hex[:8]}", "ARCHIVE_REJECTED_CONTAINER": "bench-rejected"}
        svc = Services(settings=Settings.from_env(env), profile=BATCH_PROFILE)
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda e: archive_event(e, svc.store, b"bench"), events(records)))
        names = sorted(svc.store.list_names("chat/"))
        assert len(names) == records, len(names)
        yield svc, names
        svc.close()
    finally:
        azurite.stop()


def main() -> None:
    args = records_and_rounds()
    with archived(args.records) as (svc, names):
        store = svc.store

        def raw() -> None:
            for _ in ordered_map(store.read_raw, names):
                pass

        def verified(check_tags: bool) -> None:
            findings = Findings()
            count = sum(1 for _ in read_verified(store, names, findings, check_tags=check_tags))
            assert count == len(names) and not findings.any

        contestants = {"raw download": raw, "verified, no tag check": lambda: verified(False),
                       "verified (every command)": lambda: verified(True)}
        rates: dict[str, list[float]] = {k: [] for k in contestants}
        for _ in range(args.rounds):
            for label, fn in contestants.items():
                started = time.perf_counter()
                fn()
                rates[label].append(len(names) / (time.perf_counter() - started))
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{args.records} message records, {args.rounds} rounds, alternating")
    base = statistics.median(rates["raw download"])
    for label, values in rates.items():
        median = statistics.median(values)
        print(f"{label:28s} {median:8.0f} blobs/s (rounds: {', '.join(f'{v:.0f}' for v in values)}); "
              f"{median / base:.2f} of raw")


if __name__ == "__main__":
    main()
