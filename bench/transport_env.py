"""What reading the environment on every request costs the storage client.

requests, when its session trusts the environment, looks for proxies, a CA bundle and a .netrc on every
request, scanning every environment variable. ``archiving.bootstrap`` tells the transport not to look when
the environment configures none of them (read once, when the clients are made). This bench reads the same
--records blobs (the real archive_event path) with the store's transport trusting the environment and not,
alternating, in --rounds rounds, 8 downloads at a time as the read side reads, and prints the client's CPU
and the wall time of each.

    .venv/bin/python bench/transport_env.py                  # defaults: --records 2000 --rounds 3
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archiving.read.scan import ordered_map  # noqa: E402
from bench.read_verify import archived, records_and_rounds  # noqa: E402


def main() -> None:
    args = records_and_rounds()
    with archived(args.records) as (svc, names):
        store = svc.store
        session = svc.blob_service._pipeline._transport.session  # noqa: SLF001 - the transport bootstrap made
        print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
              f"{len(os.environ)} environment variables; the transport as bootstrap made it trusts the "
              f"environment: {session.trust_env}")
        results: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        for _ in range(args.rounds):
            for trust in (True, False):
                session.trust_env = trust
                cpu, wall = time.process_time(), time.perf_counter()
                assert sum(1 for _ in ordered_map(store.read_raw, names)) == len(names)
                results[trust].append((time.process_time() - cpu, time.perf_counter() - wall))
    print(f"{len(names)} downloads, 8 at a time, {args.rounds} rounds, alternating")
    for trust, label in ((True, "reading the environment per request"), (False, "not reading it (bootstrap)")):
        cpu = statistics.median(c for c, _ in results[trust])
        wall = statistics.median(w for _, w in results[trust])
        print(f"{label:38s} client CPU {cpu:5.2f} s ({1000 * cpu / len(names):.2f} ms a blob), wall {wall:5.2f} s "
              f"(rounds: {', '.join(f'{w:.2f}' for _, w in results[trust])})")
    saved = 1 - statistics.median(c for c, _ in results[False]) / statistics.median(c for c, _ in results[True])
    print(f"client CPU saved: {saved:.0%}")


if __name__ == "__main__":
    main()
