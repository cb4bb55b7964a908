"""Benchmark of the seal (issues 14 and 20): what it costs to seal new blobs, and verify's rate beside a raw read.

(a) The seal from the change feed (issue 20): N new blobs a round, their BlobCreated records written as Azure writes
    the feed (tests/changefeed.py) into Azurite's $blobchangefeed, sealed by `seal`; beside a raw parallel download
    of the same blobs (same number of threads), alternating which goes first: blobs per second and their ratio.
(b) Seal cost per 10,000 new blobs when the account has no change feed (the listing: Azurite, `make demo`).
(c) verify (the seal log's part: every manifest, signature and sealed blob) beside a raw list-and-download of
    the same blobs with the same parallelism, in the same run: blobs per second and their ratio.
(d) Memory: peak Python allocations (tracemalloc) of verify at N and at 2N sealed blobs.

Run by hand:  .venv/bin/python bench/seal.py [--blobs 10000] [--rounds 2] [--feed-only]
It starts its own Azurite (from .tools/) on free loopback ports.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from datetime import UTC

from archiving.bootstrap import BATCH_PROFILE, Services
from archiving.integrity.seal import seal
from archiving.integrity.signing import generate
from archiving.integrity.verify import verify_log
from archiving.read.scan import WORKERS, ordered_map
from archiving.settings import Settings
from archiving.store.archive import ArchiveStore
from tests.azurite import Azurite
from tests.changefeed import FeedWriter

RECORD = os.urandom(800)  # about the size of a stored message record


def write(store: ArchiveStore, prefix: str, n: int, workers: int = 8) -> float:
    """Blobs per second creating n record-sized blobs through the store."""
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda i: store.create_blob(f"chat/202612/{prefix}/messages/{i}/1-received.json.lz4",
                                                  RECORD, {"sha256": "0" * 64}), range(n)))
    return n / (time.perf_counter() - started)


def raw_download(container, names: list[str]) -> float:
    """Blobs per second downloading (and hashing) these blobs, WORKERS at a time: the seal's ceiling."""
    def one(name: str) -> int:
        return len(hashlib.sha256(container.download_blob(name).readall()).digest())

    started = time.perf_counter()
    count = sum(1 for _ in ordered_map(one, names, WORKERS))
    return count / (time.perf_counter() - started)


def feed_round(svc: Services, feed: FeedWriter, hour, prefix: str, n: int, shards: int = 4) -> list[str]:
    """n new blobs and the hourly segment of their records (``shards`` shards, chunks of 5,000 records)."""
    write(svc.store, prefix, n)
    names = sorted(svc.store.list_names(f"chat/202612/{prefix}/"))
    records = feed.created(svc.store.container, names)
    per = [records[i::shards] for i in range(shards)]
    feed.segment(hour, [[shard[j:j + 5000] for j in range(0, len(shard), 5000)] or [[]] for shard in per])
    feed.consumable(hour)
    return names


def raw_read(svc: Services) -> int:
    """List every blob of the archive container and download each, as verify does (same parallelism)."""
    container = svc.store.container

    def one(name: str) -> int:
        return len(hashlib.sha256(container.download_blob(name).readall()).digest())

    return sum(1 for _ in ordered_map(one, (b.name for b in container.list_blobs()), WORKERS))


def main() -> None:
    import faulthandler

    faulthandler.dump_traceback_later(600, repeat=True)  # where it waits, should the emulator stall
    parser = argparse.ArgumentParser()
    parser.add_argument("--blobs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--feed-only", action="store_true", help="(b) and (a) only, not verify's (c) and (d)")
    args = parser.parse_args()
    if args.rounds > 2:
        # Round r's records go in the segment of hour H0 + r (H0: the hour 76 minutes before the start); a cut-off is
        # its segment's end less 16 minutes, so from the third round on it would pass the clock and the blobs
        # written next would count as older than the cut-off (in Azure a segment is final only after its hour).
        parser.error("--rounds is at most 2 (the feed's segments are hourly; see the comment)")
    n = args.blobs
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    azurite = Azurite().start()
    key = Path(tempfile.mkdtemp()) / "seal.pem"
    generate(key)
    env = {"ArchiveStorage": azurite.connection_string, "ARCHIVE_HASH_KEY": "bench",
           "ARCHIVE_CONTAINER": "bench-archive", "ARCHIVE_SEAL_KEY_FILE": str(key)}
    svc = Services(settings=Settings.from_env(env), profile=BATCH_PROFILE)
    try:
        # (b) without a change feed: the listing
        seal(svc)  # the empty log's first seal (nothing yet)
        write(svc.store, "second", n)
        started = time.perf_counter()
        second = seal(svc)
        t_second = time.perf_counter() - started
        print(f"(b) seal without a change feed (lists every container, {second.leaves:,} new of "
              f"{second.tree_size:,}): {t_second:.1f} s ({t_second / max(second.leaves, 1) * 10_000:.1f} s per "
              "10,000 new)")

        # (a) the seal from the change feed, beside a raw parallel download of the same blobs
        from datetime import datetime, timedelta

        container = svc.blob_service.get_container_client("$blobchangefeed")
        container.create_container()
        feed = FeedWriter(svc.blob_service)
        # the feed takes over from the cut-off of the listing above
        hour = (datetime.now(UTC) - timedelta(minutes=76)).replace(minute=0, second=0, microsecond=0)
        for r in range(args.rounds):
            names = feed_round(svc, feed, hour + timedelta(hours=r), f"feed{r}", n)
            print(f"    round {r + 1}: wrote {n:,} blobs and their change feed", flush=True)
            raw_first = r % 2 == 1
            if raw_first:
                raw = raw_download(svc.store.container, names)
            started = time.perf_counter()
            result = seal(svc, budget=float("inf"))  # the rate, not the budget of a timer run
            elapsed = time.perf_counter() - started
            if not raw_first:
                raw = raw_download(svc.store.container, names)
            assert result.source == "change-feed" and result.leaves == n, result
            rate = n / elapsed
            print(f"(a) seal from the change feed: {n:,} blobs in {elapsed:.1f} s, {rate:,.0f} blobs/s; raw parallel "
                  f"download ({WORKERS} threads) {raw:,.0f} blobs/s; ratio {rate / raw:.2f} "
                  f"({'raw' if raw_first else 'seal'} first); a 10-minute budget of "
                  f"{360:.0f} s reads {rate * 360:,.0f} blobs", flush=True)
        container.delete_container()

        if args.feed_only:
            return
        # (c) verify vs raw list-and-download, alternating, 2 rounds each
        rates = []
        for _ in range(2):
            started = time.perf_counter()
            report = verify_log(svc)
            v = report.leaves / (time.perf_counter() - started)
            assert not report.problems, report.problems[:3]
            started = time.perf_counter()
            count = raw_read(svc)
            r = count / (time.perf_counter() - started)
            rates.append((v, r))
            print(f"(c) verify {report.leaves:,} sealed blobs: {v:,.0f} blobs/s; raw list-and-download "
                  f"{count:,}: {r:,.0f} blobs/s; ratio {v / r:.2f}")

        # (d) memory of verify at 2n sealed blobs, then 3n
        for label in ("2n", "3n"):
            tracemalloc.start()
            report = verify_log(svc)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"(d) verify of {report.leaves:,} sealed blobs: peak Python allocations {peak / 1e6:.1f} MB")
            if label == "2n":
                write(svc.store, "third", n)
                seal(svc)
    finally:
        svc.close()
        azurite.stop()



if __name__ == "__main__":
    main()
