"""The ACS test server in a process of its own, seeded for a benchmark, so that its memory and CPU
are not counted as the archiver's.  Prints one JSON line (connection string, CA file, archiver user,
thread ids), then serves until its standard input closes."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.acs_server import AcsTestServer  # noqa: E402


def main() -> None:
    mode, count = sys.argv[1], int(sys.argv[2])
    old = datetime.now(timezone.utc) - timedelta(days=7)
    acs = AcsTestServer().start()
    archiver, alice = acs.create_user(), acs.create_user()
    threads = []
    if mode == "messages":  # one thread of `count` messages
        tid = acs.create_thread("Benchmark", created_by=alice, participants=[alice, archiver], created_on=old)
        acs.add_messages(tid, alice, count, start=old, step=timedelta(milliseconds=10),
                         content_fn=lambda i: f"Message {i}: the quick brown fox jumps over the lazy dog, \"twice\".")
        threads.append(tid)
    else:  # `count` quiet threads of one message each
        for i in range(count):
            tid = acs.create_thread(f"t{i}", created_by=alice, participants=[alice, archiver], created_on=old)
            acs.send_message(tid, alice, "hello", created_on=old)
            threads.append(tid)
    print(json.dumps({"connection_string": acs.connection_string, "ca_file": acs.ca_file, "archiver": archiver,
                      "threads": threads if len(threads) < 10 else threads[:3]}), flush=True)
    sys.stdin.read()
    acs.stop()


if __name__ == "__main__":
    main()
