"""Benchmark of the seal (issue 14): what it costs to seal new blobs, and verify's rate beside a raw read.

(a) Write path: records per second through ArchiveStore with the write journal (an intent, then the record)
    beside the same store without it, 8 writers.
(b) Seal cost per 10,000 new blobs: the first seal (lists every container) and a later one (the journal).
(c) verify (the seal log's part: every manifest, signature and sealed blob) beside a raw list-and-download of
    the same blobs with the same parallelism, in the same run: blobs per second and their ratio.
(d) Memory: peak Python allocations (tracemalloc) of verify at N and at 2N sealed blobs.

Run by hand:  .venv/bin/python bench/seal.py [--blobs 10000]
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

from archiving.bootstrap import BATCH_PROFILE, Services  # noqa: E402
from archiving.integrity.seal import seal  # noqa: E402
from archiving.integrity.signing import generate  # noqa: E402
from archiving.integrity.verify import verify_log  # noqa: E402
from archiving.read.scan import WORKERS, ordered_map  # noqa: E402
from archiving.settings import Settings  # noqa: E402
from archiving.store.archive import ArchiveStore  # noqa: E402
from tests.azurite import Azurite  # noqa: E402

RECORD = os.urandom(800)  # about the size of a stored message record


def write(store: ArchiveStore, prefix: str, n: int, workers: int = 8) -> float:
    """Blobs per second creating n record-sized blobs through the store."""
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda i: store.create_blob(f"chat/202612/{prefix}/messages/{i}/1-received.json.lz4",
                                                  RECORD, {"sha256": "0" * 64}), range(n)))
    return n / (time.perf_counter() - started)


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
    args = parser.parse_args()
    n = args.blobs
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    azurite = Azurite().start()
    key = Path(tempfile.mkdtemp()) / "seal.pem"
    generate(key)
    env = {"ArchiveStorage": azurite.connection_string, "ARCHIVE_HASH_KEY": "bench",
           "ARCHIVE_CONTAINER": "bench-archive", "ARCHIVE_SEAL_KEY_FILE": str(key)}
    svc = Services(settings=Settings.from_env(env), profile=BATCH_PROFILE)
    try:
        # (a) the write path, with and without the journal (alternating, best of 3)
        plain = ArchiveStore(svc.blob_service.get_container_client("bench-plain"))
        with_journal, without = [], []
        for r in range(3):
            with_journal.append(write(svc.store, f"warm{r}", 500))
            without.append(write(plain, f"warm{r}", 500))
        print(f"(a) write path, 8 writers: {max(with_journal):,.0f} blobs/s with the journal, "
              f"{max(without):,.0f} without (ratio {max(with_journal) / max(without):.2f})")

        # (b) seal cost per n new blobs
        write(svc.store, "first", n - 1500)  # with the 1,500 above: n blobs
        print(f"    wrote {max(n, 1500):,} blobs", flush=True)
        started = time.perf_counter()
        first = seal(svc)
        t_first = time.perf_counter() - started
        write(svc.store, "second", n)
        started = time.perf_counter()
        second = seal(svc)
        t_second = time.perf_counter() - started
        print(f"(b) first seal (lists the containers): {first.leaves:,} blobs in {t_first:.1f} s "
              f"({t_first / first.leaves * 10_000:.1f} s per 10,000)")
        print(f"(b) later seal (the journal): {second.leaves:,} blobs in {t_second:.1f} s "
              f"({t_second / second.leaves * 10_000:.1f} s per 10,000)")

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
