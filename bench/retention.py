"""Benchmark of records management (issue 22): a hold, a rehydration and a dispose pass, each beside the raw
requests of the same blobs in the same run (the ratio is raw time / command time: 1.0 means no overhead).

(a) ``hold place`` on a thread of N records (default 10,000) beside a raw listing with tags of the same blobs
    (a hold lists the record roots once; with ARCHIVE_LEGAL_HOLD it would also send one Set Blob Legal Hold per
    blob, which Azurite does not implement);
(b) ``rehydrate`` of the same N records in the Archive tier beside raw Set Blob Tier requests of them
    (same parallelism), the listing included in the command;
(c) ``dispose`` over M records (default 100,000; 10% past retention and unheld, some held) beside a raw listing
    with tags of the M blobs plus raw Delete Blob requests of the due ones (recreated for it).

Run by hand:  .venv/bin/python bench/retention.py [--hold 10000] [--dispose 100000]
It starts its own Azurite (from .tools/) on free loopback ports, with bench/azurite_scale.js preloaded
(without it Azurite's Put Blob slows as N^2 and Find Blobs by Tags loses matches past 5,000 blobs).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archiving.bootstrap import BATCH_PROFILE, Services  # noqa: E402
from archiving.read.scan import ordered_map  # noqa: E402
from archiving.retention.dispose import dispose  # noqa: E402
from archiving.retention.holds import place  # noqa: E402
from archiving.retention.rehydrate import WORKERS, rehydrate  # noqa: E402
from archiving.retention.scope import Scope  # noqa: E402
from archiving.settings import Settings  # noqa: E402
from archiving.store import keys  # noqa: E402
from tests.azurite import Azurite  # noqa: E402

RECORD = os.urandom(800)  # about the size of a stored message record
OLD, NEW = "2021-03-01T09:00:00.000000Z", "2026-11-30T09:00:00.000000Z"


def create(container, names_tags: list[tuple[str, dict]], workers: int = 16) -> float:
    started = time.perf_counter()

    def one(item):
        name, tags = item
        container.upload_blob(name, RECORD, overwrite=True, metadata={"sha256": "0" * 64}, tags=tags)

    with ThreadPoolExecutor(workers) as pool:
        for i, _ in enumerate(pool.map(one, names_tags), 1):
            if i % 10_000 == 0:  # Azurite's put rate falls as the container grows: show how it goes
                print(f"  created {i} of {len(names_tags)} ({time.perf_counter() - started:.0f} s)", flush=True)
    return len(names_tags) / (time.perf_counter() - started)


def record(thread: str, i: int, at: str) -> tuple[str, dict]:
    return (f"chat/{at[:4]}{at[5:7]}/{thread}/messages/{i}/1-received.json.lz4",
            {"kind": "message", "thread": keys.thread_tag(thread), "at": at})


def raw_listing(container) -> tuple[float, int]:
    started = time.perf_counter()
    n = sum(1 for _ in container.list_blobs(name_starts_with="chat/", include=["tags", "metadata"],
                                            results_per_page=5000))
    return time.perf_counter() - started, n


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def hold_and_rehydrate(svc: Services, n: int, rounds: int) -> None:
    """(a) and (b)."""
    c = svc.store.container
    c.create_container()
    rate = create(c, [record("19:held@thread.v2", i, OLD) for i in range(n)])
    print(f"created {n} records at {rate:.0f}/s")
    raws, holds = [], []
    for _ in range(3):  # alternating, best of 3 each: the machine is shared
        raw_t, listed = raw_listing(c)
        hold_t, result = timed(lambda: place(svc, "bench", "benchmark", Scope(thread="19:held@thread.v2"),
                                             by="bench"))
        raws.append(raw_t)
        holds.append(hold_t)
        assert result.records == n == listed
    raw, hold_t = min(raws), min(holds)
    print(f"(a) hold place on {n} records: {hold_t:.2f} s ({n / hold_t:.0f} records/s); raw listing with tags "
          f"{raw:.2f} s; ratio {raw / hold_t:.2f}")
    names = [b.name for b in c.list_blobs(name_starts_with="chat/")]

    def tier(name: str, to: str) -> int:
        c.get_blob_client(name).set_standard_blob_tier(to)
        return 1

    rehs, raw_tiers = [], []
    for _ in range(rounds):  # alternating, best of each: the machine is shared
        list(ordered_map(lambda nm: tier(nm, "Archive"), names, WORKERS))
        reh_t, r = timed(lambda: rehydrate(svc, [Scope(thread="19:held@thread.v2")], priority="High", by="bench"))
        assert r.requested == n
        list(ordered_map(lambda nm: tier(nm, "Archive"), names, WORKERS))
        raw_tier_t, _ = timed(lambda: sum(ordered_map(
            lambda nm: c.get_blob_client(nm).set_standard_blob_tier("Cool", rehydrate_priority="High") or 1,
            names, WORKERS)))
        rehs.append(reh_t)
        raw_tiers.append(raw_tier_t)
    reh_t, raw_tier_t = min(rehs), min(raw_tiers)
    raw_b = raw_tier_t + raw
    print(f"(b) rehydrate {n} Archive-tier records: {reh_t:.2f} s; raw listing + Set Blob Tier {raw_b:.2f} s "
          f"({raw:.2f} + {raw_tier_t:.2f}); ratio {raw_b / reh_t:.2f}")
    svc.close()


def main() -> None:
    import faulthandler

    faulthandler.dump_traceback_later(1800, repeat=True)
    parser = argparse.ArgumentParser()
    parser.add_argument("--hold", type=int, default=10_000)
    parser.add_argument("--dispose", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2, help="(b): alternating rounds, best of each")
    parser.add_argument("--skip-dispose", action="store_true")
    parser.add_argument("--skip-hold", action="store_true", help="only (c)")
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores (shared with other developers' work), "
          f"Python {platform.python_version()}")
    azurite = Azurite(preload=ROOT / "bench" / "azurite_scale.js").start()  # sizes Azurite cannot serve as it is
    try:
        def services(container: str) -> Services:
            env = {"ArchiveStorage": azurite.connection_string, "ARCHIVE_HASH_KEY": "bench",
                   "ARCHIVE_CONTAINER": container, "ARCHIVE_RETENTION_DAYS": "365"}
            return Services(settings=Settings.from_env(env), profile=BATCH_PROFILE)

        if not args.skip_hold:  # (a) hold, (b) rehydrate
            hold_and_rehydrate(services("bench-hold"), args.hold, args.rounds)
        # (c) dispose
        if args.skip_dispose:
            return
        m = args.dispose
        svc = services("bench-dispose")
        c = svc.store.container
        c.create_container()
        due_n, held_n = m // 10, m // 20
        due = [record(f"19:old{i // 100}@thread.v2", i, OLD) for i in range(due_n)]
        held = [record("19:held@thread.v2", i, OLD) for i in range(held_n)]
        fresh = [record(f"19:new{i // 100}@thread.v2", i, NEW) for i in range(m - due_n - held_n)]
        started = time.perf_counter()
        rate = create(c, due + held + fresh)
        print(f"created {m} records at {rate:.0f}/s ({time.perf_counter() - started:.0f} s)")
        place(svc, "bench", "benchmark", Scope(thread="19:held@thread.v2"), by="bench")
        list_t, listed = raw_listing(c)
        disp_t, res = timed(lambda: dispose(svc))
        assert res.counts["disposed"] == due_n and res.counts["held"] == held_n and listed == m
        create(c, due)  # the same blobs again, for the raw deletes
        list_t2, _ = raw_listing(c)
        del_t, _ = timed(lambda: sum(ordered_map(lambda it: c.delete_blob(it[0]) or 1, due, 16)))
        raw_c = min(list_t, list_t2) + del_t
        print(f"(c) dispose over {m} records ({due_n} disposed, {held_n} held): {disp_t:.2f} s "
              f"({m / disp_t:.0f} records listed/s); raw listing with tags + Delete Blob {raw_c:.2f} s "
              f"({min(list_t, list_t2):.2f} + {del_t:.2f}); ratio {raw_c / disp_t:.2f}")
        svc.close()
    finally:
        azurite.stop()


if __name__ == "__main__":
    main()
