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


class _NullContainer:
    """A container client that accepts every upload at once: the wrapper's own CPU, without I/O."""

    def upload_blob(self, *args, **kwargs):
        return None


def wrapper_cpu(n: int) -> float:
    """Median CPU microseconds of the archive-then-send flow itself (record and outcome built, encoded
    and handed to a storage client that costs nothing; the SDK's send replaced by a stub)."""
    from types import SimpleNamespace

    archive = OutboundArchive(_NullContainer(), HASH_KEY, outcomes="sync")
    fields = {"sender": layout.party(HASH_KEY, "sms", "+18005550100", "from"),
              "recipients": [layout.party(HASH_KEY, "sms", "+14255550123", "to")], "subject": None,
              "body": {"text": TEXT}, "template": None, "attachments": [], "options": {},
              "correlation": {"sms_tag": "t"}}
    answer = [SimpleNamespace(to="+14255550123", message_id=f"Outgoing_{uuid.uuid4()}", successful=True,
                              http_status_code=202, error_message=None)]

    def results(value):
        return [{"recipient": r.to, "acs_message_id": r.message_id, "successful": True, "http_status": 202,
                 "error": None} for r in value], {}

    samples = []
    for _ in range(n):
        c0 = time.thread_time()
        archive.send("sms", layout.new_archive_id(), fields, sender="+18005550100", transmit=lambda b: answer,
                     results=results, replay=lambda b: answer)
        samples.append((time.thread_time() - c0) * 1e6)
    return statistics.median(samples)


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
        put_n = iter(range(10**9))
        begin_ms: list[float] = []
        original_begin = archive.begin

        def timed_begin(*a, **k):  # the record write inside each wrapped send
            t0 = time.perf_counter()
            try:
                return original_begin(*a, **k)
            finally:
                begin_ms.append((time.perf_counter() - t0) * 1000)

        archive.begin = timed_begin

        def put(i):
            archive.store.create_blob(f"bench/{next(put_n)}-{uuid.uuid4()}.json.lz4", record.data,
                                      {"sha256": record.sha256},
                                      {"kind": "outbound-message", "channel": "sms", "at": "2026-12-01T00:00:00.000000Z"})

        calls = {
            "raw": lambda i: raw.send("+18005550100", "+14255550123", TEXT),
            "wrapped": lambda i: wrapped.send("+18005550100", "+14255550123", TEXT),
            "sync": lambda i: wrapped_sync.send("+18005550100", "+14255550123", TEXT),
            "put": put,
        }
        for r in range(args.rounds):
            # Interleaved, one call of each in turn, so that every contestant meets the same moments of
            # a shared machine; the background outcome writes of "wrapped" are drained (untimed)
            # before the next call, i.e. sends one at a time.
            res = {name: ([], []) for name in calls}
            begin_ms.clear()
            names = list(calls) if r % 2 == 0 else list(reversed(calls))
            for i in range(args.sends):
                for name in names:
                    w, c = timed(calls[name], 1)
                    res[name][0].extend(w)
                    res[name][1].extend(c)
                    if name == "wrapped":
                        archive.flush()
            record_ms = list(begin_ms)
            burst = timed(calls["wrapped"], args.sends)  # back to back: outcome writes compete with sends
            archive.flush()
            raw_w, put_w = res["raw"][0], res["put"][0]
            print(f"round {r + 1}: raw send p50 {pct(raw_w, .5):.2f} p99 {pct(raw_w, .99):.2f} ms | Put Blob p50 "
                  f"{pct(put_w, .5):.2f} p99 {pct(put_w, .99):.2f} ms, CPU {statistics.median(res['put'][1]):.2f} ms",
                  flush=True)
            print(f"  inside the default wrapper: the record write p50 {pct(record_ms, .5):.2f} p99 "
                  f"{pct(record_ms, .99):.2f} ms; the rest (ACS send, bookkeeping) p50 "
                  f"{pct([w - b for w, b in zip(res['wrapped'][0], record_ms)], .5):.2f} ms", flush=True)
            for label, (w, c) in (("archive-before-send, default (outcomes in the background)", res["wrapped"]),
                                  ("archive-before-send, outcomes=sync (the send endpoint)", res["sync"]),
                                  ("default, back to back (not interleaved)", burst)):
                added_cpu = statistics.median(c) - statistics.median(res["raw"][1])
                print(f"  {label}: p50 {pct(w, .5):.2f} p99 {pct(w, .99):.2f} ms | added p50 "
                      f"{pct(w, .5) - pct(raw_w, .5):.2f} p99 {pct(w, .99) - pct(raw_w, .99):.2f} ms | added CPU "
                      f"(median) {added_cpu:.2f} ms", flush=True)
        print(f"wrapper CPU without I/O (record + outcome + link built, encoded, handed over): median "
              f"{wrapper_cpu(3000):.0f} us per send")
        print(f"{platform.platform()}, {platform.python_version()}, sends per contestant per round: {args.sends}")
    finally:
        azurite.stop()
        proc.stdin.close()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
