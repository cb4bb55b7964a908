"""Peak memory of ``python -m archiving replay`` on a large JSON-lines file (replay streams).

Writes a JSON-lines file of about --mb megabytes (Event Grid events: 1 chat message in --every archived,
the others typing indicators, which replay parses, checks and skips without I/O), starts its own Azurite,
runs ``python -m archiving --quiet replay FILE`` in a child process and reports the child's peak resident
set (VmHWM from /proc, sampled every 20 ms; getrusage as a cross-check) against the file size.

    .venv/bin/python bench/replay_memory.py                 # defaults: --mb 200 --every 200
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.azurite import Azurite  # noqa: E402

P = "Microsoft.Communication."


def event(n: int, archived: bool) -> dict:
    thread = f"19:bench{n % 97:04d}@thread.v2"
    sender = {"rawId": f"8:acs:bench_{n % 31:08d}", "communicationUser": {"id": f"8:acs:bench_{n % 31:08d}"}}
    data = {"threadId": thread, "transactionId": uuid.uuid4().hex, "senderCommunicationIdentifier": sender,
            "senderDisplayName": "Bench User", "composeTime": "2026-11-01T10:00:00.000Z", "metadata": {},
            "receiveTime" if not archived else "messageBody": "x" * 600 if archived else "2026-11-01T10:00:00Z"}
    if archived:
        data.update(messageId=str(1761990000000 + n), type="Text", version=1761990000000 + n)
    return {"id": str(uuid.uuid4()), "topic": "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Communication/"
            "communicationServices/bench", "subject": f"thread/{thread}",
            "eventType": P + ("ChatMessageReceivedInThread" if archived else "ChatTypingIndicatorReceivedInThread"),
            "eventTime": "2026-11-01T10:00:00.5Z", "dataVersion": "1.0", "metadataVersion": "1", "data": data,
            "padding": "p" * 300}


def write_file(path: Path, megabytes: int, every: int) -> tuple[int, int]:
    target = megabytes * 1_000_000
    events = archived = 0
    with open(path, "w", encoding="utf-8") as f:
        while f.tell() < target:
            is_archived = events % every == 0
            f.write(json.dumps(event(events, is_archived)) + "\n")
            events += 1
            archived += is_archived
    return events, archived


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--every", type=int, default=200, help="one archived message per this many events")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="replay-bench-"))
    path = workdir / "events.jsonl"
    events, archived = write_file(path, args.mb, args.every)
    size_mb = path.stat().st_size / 1e6
    azurite = Azurite().start()
    try:
        suffix = uuid.uuid4().hex[:8]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("Archive", "ARCHIVE"))}
        env.update(PYTHONPATH=str(ROOT), ArchiveStorage=azurite.connection_string, ARCHIVE_HASH_KEY="bench",
                   ARCHIVE_CONTAINER=f"bench-{suffix}", ARCHIVE_REJECTED_CONTAINER=f"bench-rejected-{suffix}")
        started = time.monotonic()
        child = subprocess.Popen([sys.executable, "-m", "archiving", "--quiet", "replay", str(path)], cwd=workdir,
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peak = 0.0
        while child.poll() is None:
            peak = max(peak, peak_rss_mb(child.pid) or 0.0)
            time.sleep(0.02)
        out, err = child.communicate()
        elapsed = time.monotonic() - started
        rusage_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    finally:
        azurite.stop()
        path.unlink(missing_ok=True)
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"file: {size_mb:.0f} MB of JSON lines, {events} events ({archived} archived, the rest skipped)")
    print(f"replay: exit {child.returncode} in {elapsed:.0f} s; stdout: {out.strip().splitlines()[:1]}")
    if err.strip():
        print(f"stderr: {err.strip()[-500:]}")
    print(f"peak RSS of the replay process: {max(peak, rusage_mb):.0f} MB (VmHWM sampled {peak:.0f} MB, "
          f"getrusage {rusage_mb:.0f} MB)")


if __name__ == "__main__":
    main()
