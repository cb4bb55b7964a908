"""Benchmark of the RSMF export (issue 13): one thread of 100,000 messages, streamed day by day.

The thread is archived as production does it (each event through ``archive_event``): N messages
spread over D UTC days, every 20th edited once, every 100th deleted.  Then ``export_rsmf`` writes it
as RSMF files (one per day, split at 10,000 events) with a tqdm progress bar whose total is the
number of blobs to read.  Reported: time, files, events, and the growth of resident memory during
the export (sampled every 10 ms), which must not grow with N: compare ``--messages 10000`` with
``--messages 100000``.

Storage: ``--store azurite`` (default) is the real blob API; ``--store disk`` keeps the blobs in a
local directory behind the same ``ArchiveStore`` (a container stand-in with upload, download,
listing), for N too large for Azurite on a busy machine: every byte still goes through the real
store, ``read_verified`` (lz4, sha256, JSON), the merge and the RSMF writer.

Run by hand:  .venv/bin/python bench/rsmf.py [--messages N] [--days D] [--store azurite|disk]
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
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archiving.bootstrap import BATCH_PROFILE, Services  # noqa: E402
from archiving.store.archive import ArchiveStore  # noqa: E402
from archiving.ingest.archiver import archive_event  # noqa: E402
from archiving.ingest.replay import read_files  # noqa: E402
from archiving.read.rsmf import RsmfRequest  # noqa: E402
from archiving.read.rsmf_export import export_rsmf  # noqa: E402
from archiving.read.scan import parse_bound  # noqa: E402
from archiving.read.verified import Findings  # noqa: E402
from archiving.settings import Settings  # noqa: E402
from bench.sweep import PeakRss  # noqa: E402
from tests.azurite import Azurite  # noqa: E402
from tqdm import tqdm  # noqa: E402

THREAD = "19:be0c4f1e5a7d4b6c8e9f0a1b2c3d4e5f@thread.v2"
START = datetime(2026, 11, 1, tzinfo=timezone.utc)


def stamp(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def events(messages: int, days: int):
    """Received events for N messages over D days, plus edits and deletions, from the sample's shapes."""
    sample = [e for _, e in read_files([ROOT / "samples" / "conversation.json"])]
    created = copy.deepcopy(next(e for e in sample if e["eventType"].endswith("ChatThreadCreated")))
    created["data"].update(threadId=THREAD, createTime=stamp(START - timedelta(minutes=1)))
    created["data"]["version"] = int((START - timedelta(minutes=1)).timestamp() * 1000)
    yield created
    template = next(e for e in sample if e["eventType"].endswith("ChatMessageReceivedInThread"))
    step = timedelta(days=days) / messages
    for i in range(messages):
        composed = START + step * i
        ms = int(composed.timestamp() * 1000) * 1000 + i % 1000  # unique ids even when two share a millisecond
        event = copy.deepcopy(template)
        data = event["data"]
        data.update(threadId=THREAD, messageId=str(ms), version=ms, composeTime=stamp(composed),
                    messageBody=f"Message {i}: the parcel left the warehouse at dock {i % 40}.")
        event["id"] = f"bench-{i}"
        yield event
        if i % 20 == 0:
            edit = copy.deepcopy(event)
            edit["id"] = f"bench-{i}-edit"
            edit["eventType"] = "Microsoft.Communication.ChatMessageEditedInThread"
            edit["data"].update(version=ms + 1, messageBody=f"Message {i} (edited).", editTime=stamp(composed + step / 2))
            yield edit
        if i % 100 == 50:
            gone = copy.deepcopy(event)
            gone["id"] = f"bench-{i}-delete"
            gone["eventType"] = "Microsoft.Communication.ChatMessageDeletedInThread"
            gone["data"].pop("messageBody")
            gone["data"].update(version=ms + 2, deleteTime=stamp(composed + step / 2))
            yield gone


class _Item:
    def __init__(self, name: str):
        self.name = name


class _Download:
    def __init__(self, path: str):
        self.path = path
        self.properties = _Item(path)
        with open(path + ".sha256") as f:
            self.properties.metadata = {"sha256": f.read()}

    def readall(self) -> bytes:
        with open(self.path, "rb") as f:
            return f.read()


class DiskContainer:
    """The few container calls the archiver and the export make, on a local directory (bench only).

    Plain strings and os.path, not pathlib: pathlib interns every path part, which would count
    100,000 message ids against the export's memory."""

    def __init__(self, root: Path):
        self.root = str(root)

    def create_container(self) -> None:
        os.makedirs(self.root, exist_ok=True)

    def upload_blob(self, name, data, overwrite=False, metadata=None, tags=None):
        path = os.path.join(self.root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".sha256", "w") as f:
            f.write(metadata["sha256"])
        with open(path, "wb") as f:
            f.write(data)

    def download_blob(self, name):
        return _Download(os.path.join(self.root, name))

    def list_blobs(self, name_starts_with=""):
        # Lazily, like the service's pages: no list of a folder's 100,000 entries is held.
        skip = len(self.root) + 1

        def walk(folder: str):
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_dir():
                        yield from walk(entry.path)
                    elif not entry.name.endswith(".sha256"):
                        yield _Item(entry.path[skip:])

        folder = os.path.join(self.root, name_starts_with)
        if os.path.isdir(folder):
            yield from walk(folder)

    def walk_blobs(self, name_starts_with="", delimiter="/"):
        folder = os.path.join(self.root, name_starts_with)
        for entry in sorted(os.listdir(folder)) if os.path.isdir(folder) else ():
            if os.path.isdir(os.path.join(folder, entry)):
                yield _Item(f"{name_starts_with}{entry}/")


def export_child(spec: dict) -> None:
    """The export alone, in this (fresh) process: time, files, resident memory."""
    svc = None
    if spec["store"] == "azurite":
        env = {"ArchiveStorage": spec["connection"], "ARCHIVE_HASH_KEY": "bench", "ARCHIVE_CONTAINER": spec["container"]}
        svc = Services(settings=Settings.from_env(env), profile=BATCH_PROFILE)
        store = svc.store
        store.list_names("chat/").__next__()  # the SDK and its connection pool, before the baseline
    else:
        store = ArchiveStore(DiskContainer(Path(spec["root"])))
    with open("/proc/self/status") as f:
        base = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024
    with tempfile.TemporaryDirectory() as out, PeakRss() as mem, \
            tqdm(unit="blob", desc="rsmf", file=sys.stderr, mininterval=5) as bar:
        started = time.perf_counter()
        request = RsmfRequest(parse_bound("2026-11-01"), parse_bound("2026-12-31", end=True), Path(out),
                              thread_id=THREAD)
        findings = Findings()
        result = export_rsmf(store, request, hash_key=b"bench", findings=findings, progress=bar,
                             container=spec["container"])
        took = time.perf_counter() - started
        size = sum(p.stat().st_size for p in Path(out).glob("*.rsmf"))
        largest = max(f["events"] for f in result.files)
        total = bar.total
    assert not findings and result.counts["message"] == spec["messages"], (findings.items, result.counts)
    # VmHWM: this process image's peak (ru_maxrss would include the parent's, kept across fork and exec).
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    print(f"export: {total:,} blobs read (progress total), {result.events:,} events into {len(result.files)} "
          f"RSMF files (largest {largest:,} events; {size / 2**20:.1f} MB in all) in {took:.0f} s "
          f"({total / took:,.0f} blobs/s); resident memory: growth {mem.growth_mb:.1f} MB during the export, "
          f"peak {peak:.0f} MB for the whole process ({base:.0f} MB before the export)", flush=True)
    if svc is not None:
        svc.close()


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        export_child(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--store", choices=("azurite", "disk"), default="azurite")
    parser.add_argument("--scratch", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                        help="where --store disk keeps the blobs (default: /dev/shm, memory-backed, outside this "
                             "process's resident set)")
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, python {platform.python_version()}; "
          f"store: {args.store}", flush=True)
    azurite = Azurite().start() if args.store == "azurite" else None
    scratch = tempfile.TemporaryDirectory(prefix="bench-rsmf-", dir=args.scratch)
    svc = None
    container = f"bench-{uuid.uuid4().hex[:12]}"
    try:
        if azurite is not None:
            env = {"ArchiveStorage": azurite.connection_string, "ARCHIVE_HASH_KEY": "bench",
                   "ARCHIVE_CONTAINER": container}
            svc = Services(settings=Settings.from_env(env), profile=BATCH_PROFILE)
            store = svc.store
        else:
            store = ArchiveStore(DiskContainer(Path(scratch.name) / container))
        store.ensure_container()
        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            outcomes = list(tqdm(pool.map(lambda e: archive_event(e, store, b"bench").status,
                                          events(args.messages, args.days), chunksize=64),
                                 desc="archive", unit="event", file=sys.stderr, mininterval=5))
        took = time.perf_counter() - started
        print(f"archived {len(outcomes):,} records ({args.messages:,} messages over {args.days} days) "
              f"in {took:.0f} s", flush=True)

        # The export runs in a fresh process: this one's heap still holds (freed) memory of the archiving
        # above, which the export would reuse without growing, hiding its real footprint.
        spec = {"store": args.store, "container": container, "messages": args.messages,
                "root": str(Path(scratch.name) / container),
                "connection": azurite.connection_string if azurite is not None else None}
        subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], check=True)
    finally:
        if svc is not None:
            svc.close()
        if azurite is not None:
            azurite.stop()
        scratch.cleanup()


if __name__ == "__main__":
    main()
