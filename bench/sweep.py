"""Benchmark of the sweep side (issue: inactive-thread sweep and transcripts).

(1) One thread of 100,000 messages: memory growth and time of archive_thread (JSON + CSV
    transcripts into Azurite), beside the raw SDK listing of the same thread in the same run.
(2) 10,000 quiet threads: time for one sweep to select them (list every page, check transcripts).

Run by hand:  .venv/bin/python bench/sweep.py [--messages N] [--threads N]
The ACS test server runs in its own process (bench/acs_process.py); Azurite is started here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archiving.bootstrap import BATCH_PROFILE, Services  # noqa: E402
from archiving.settings import Settings  # noqa: E402
from archiving.threads.sweep import select_threads  # noqa: E402
from archiving.threads.transcripts import archive_thread  # noqa: E402
from tests.azurite import Azurite  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class PeakRss:
    """Samples this process's resident memory every 10 ms while running."""

    def __enter__(self):
        self.base = rss()
        self.peak = self.base
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self):
        while not self.stop.wait(0.01):
            self.peak = max(self.peak, rss())

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, rss())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 2**20


def acs_process(mode: str, count: int):
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "acs_process.py"), mode, str(count)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    info = json.loads(proc.stdout.readline())
    return proc, info


def services(azurite: Azurite, info: dict) -> Services:
    env = {"ArchiveStorage": azurite.connection_string, "ARCHIVE_HASH_KEY": "bench",
           "ARCHIVE_CONTAINER": f"bench-{uuid.uuid4().hex[:12]}", "ACS_CONNECTION_STRING": info["connection_string"],
           "ARCHIVER_USER_ID": info["archiver"], "INACTIVE_AFTER_MINUTES": "60"}
    return Services(settings=Settings.from_env(env), profile=BATCH_PROFILE,
                    acs_options={"connection_verify": info["ca_file"]})


def bench_thread(azurite: Azurite, messages: int) -> None:
    proc, info = acs_process("messages", messages)
    try:
        (tid,) = info["threads"]
        for round_ in range(2):
            svc = services(azurite, info)
            client = svc.acs.thread_client(tid)
            started = time.perf_counter()
            listed = sum(1 for _ in client.list_messages(results_per_page=200))
            raw_s = time.perf_counter() - started
            with PeakRss() as mem:
                started = time.perf_counter()
                result = archive_thread(tid, svc, None)
                ours_s = time.perf_counter() - started
            assert result.message_count == listed, (result.message_count, listed)
            print(f"(1) round {round_ + 1}: {listed:,} messages: raw SDK listing {listed / raw_s:,.0f} msg/s "
                  f"({raw_s:.1f} s); archive_thread {listed / ours_s:,.0f} msg/s ({ours_s:.1f} s); "
                  f"ratio {raw_s / ours_s:.2f} (target >= 0.8); memory growth {mem.growth_mb:.1f} MB (target <= 64)")
            svc.close()
    finally:
        proc.stdin.close()
        proc.wait()


def bench_sweep(azurite: Azurite, threads: int) -> None:
    proc, info = acs_process("threads", threads)
    try:
        svc = services(azurite, info)
        svc.store.ensure_container()
        started = time.perf_counter()
        selected, stats = select_threads(svc)
        took = time.perf_counter() - started
        print(f"(2) sweep of {stats.listed:,} threads: {len(selected):,} selected in {took:.1f} s "
              f"({stats.listed / took:,.0f} threads/s)")
        svc.close()
    finally:
        proc.stdin.close()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=10_000)
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, python {platform.python_version()}")
    azurite = Azurite().start()
    try:
        bench_thread(azurite, args.messages)
        bench_sweep(azurite, args.threads)
    finally:
        azurite.stop()


if __name__ == "__main__":
    main()
