"""Benchmark of archive-before-send (issue: archive before send).

Added latency of ``ArchivingSmsClient.send`` over a raw ``SmsClient.send`` against the same HTTPS
ACS test server (in a process of its own), with the archive in Azurite, p50 and p99; beside it
one create-only ``Put Blob`` of a record of the same size (the round trip the target is counted
in) and the CPU the wrapper adds (thread CPU time, wrapped minus raw).

Target: p50 added latency <= one Put Blob round trip + 2 ms of CPU.

Run by hand:  .venv/bin/python bench/outbound.py [--sends N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archiving.outbound import OutboundArchive, layout  # noqa: E402
from archiving.outbound.clients import ArchivingSmsClient  # noqa: E402
from archiving.store import codec  # noqa: E402
from tests.azurite import Azurite  # noqa: E402

HASH_KEY = b"bench-hash-key"
TEXT = "Your appointment on Monday 10:30 is confirmed. Reply STOP to opt out."


def serve() -> None:
    from tests.acs_server import AcsTestServer

    acs = AcsTestServer().start()
    print(json.dumps({"connection_string": acs.connection_string, "ca_file": acs.ca_file}), flush=True)
    sys.stdin.read()
    acs.stop()


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def timed(fn, n: int, between=None) -> tuple[list[float], list[float]]:
    """Wall and calling-thread CPU milliseconds per call; ``between`` runs untimed after each call."""
    wall, cpu = [], []
    for i in range(n):
        c0, t0 = time.thread_time(), time.perf_counter()
        fn(i)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
        if between is not None:
            between()
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sends", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    from azure.communication.sms import SmsClient

    proc = subprocess.Popen([sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    info = json.loads(proc.stdout.readline())
    azurite = Azurite().start()
    try:
        options = {"connection_verify": info["ca_file"]}
        raw = SmsClient.from_connection_string(info["connection_string"], **options)
        container = f"bench-{uuid.uuid4().hex[:8]}"
        archive = OutboundArchive.from_connection_string(azurite.connection_string, container, HASH_KEY)
        wrapped = ArchivingSmsClient.from_connection_string(info["connection_string"], archive=archive, **options)
        archive_sync = OutboundArchive.from_connection_string(azurite.connection_string, container, HASH_KEY,
                                                              outcomes="sync")
        wrapped_sync = ArchivingSmsClient.from_connection_string(info["connection_string"], archive=archive_sync,
                                                                 **options)
        record = codec.encode(layout.document(layout.MESSAGE, "sms", str(uuid.uuid4()), "2026-12-01T00:00:00.000000Z",
                                              body={"text": TEXT}, recipients=[{"address": "+14255550123"}]))
        # warm up: connections, token, container
        for _ in range(20):
            raw.send("+18005550100", "+14255550123", TEXT)
            wrapped.send("+18005550100", "+14255550123", TEXT)
            wrapped_sync.send("+18005550100", "+14255550123", TEXT)
        archive.flush()
        rows = []
        for r in range(args.rounds):
            order = ["raw", "wrapped", "burst", "sync", "put"]
            if r % 2:
                order.reverse()
            res = {}
            for what in order:
                if what == "raw":
                    res[what] = timed(lambda i: raw.send("+18005550100", "+14255550123", TEXT), args.sends)
                elif what == "wrapped":  # one send at a time: its outcome is written before the next send
                    res[what] = timed(lambda i: wrapped.send("+18005550100", "+14255550123", TEXT), args.sends,
                                      between=archive.flush)
                elif what == "burst":  # back to back: the outcome writes compete with the next sends
                    res[what] = timed(lambda i: wrapped.send("+18005550100", "+14255550123", TEXT), args.sends)
                    archive.flush()
                elif what == "sync":
                    res[what] = timed(lambda i: wrapped_sync.send("+18005550100", "+14255550123", TEXT), args.sends)
                else:
                    res[what] = timed(lambda i: archive.store.create_blob(
                        f"bench/{uuid.uuid4()}.json.lz4", record.data, {"sha256": record.sha256},
                        {"kind": "outbound-message", "channel": "sms", "at": "2026-12-01T00:00:00.000000Z"}),
                        args.sends)
            rows.append(res)
            raw_w, put_w = res["raw"][0], res["put"][0]
            print(f"round {r + 1}: raw send p50 {pct(raw_w, .5):.2f} p99 {pct(raw_w, .99):.2f} ms | Put Blob p50 "
                  f"{pct(put_w, .5):.2f} p99 {pct(put_w, .99):.2f} ms, CPU {statistics.median(res['put'][1]):.2f} ms",
                  flush=True)
            for name, label in (("wrapped", "archive-before-send, default (outcomes in the background), paced"),
                                ("burst", "archive-before-send, default, back to back"),
                                ("sync", "archive-before-send, outcomes=sync (the send endpoint)")):
                w = res[name][0]
                added_cpu = statistics.median(res[name][1]) - statistics.median(res["raw"][1])
                print(f"  {label}: p50 {pct(w, .5):.2f} p99 {pct(w, .99):.2f} ms | added p50 "
                      f"{pct(w, .5) - pct(raw_w, .5):.2f} p99 {pct(w, .99) - pct(raw_w, .99):.2f} ms | added CPU "
                      f"(median) {added_cpu:.2f} ms", flush=True)
        print(f"{platform.platform()}, {platform.python_version()}, sends per contestant per round: {args.sends}")
    finally:
        azurite.stop()
        proc.stdin.close()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
