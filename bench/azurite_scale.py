"""What Azurite does at the benchmarks' sizes, as it is and with bench/azurite_scale.js preloaded (the fix the
benchmarks of 10,000+ blobs start their Azurite with; the tests never use it):

(1) Put Blob rate (800-byte blobs with three index tags, 16 threads) as the emulator fills, per 2,000 blobs;
(2) Find Blobs by Tags over --find blobs, every other one matching: how many matches come back, over how
    many pages;
(3) Delete Blob rate: every 20th of the --find blobs (16 threads).

    .venv/bin/python bench/azurite_scale.py [--blobs 40000] [--find 12000]
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

from tests.azurite import Azurite  # noqa: E402

FIX = Path(__file__).with_name("azurite_scale.js")
STEP = 2000


def container(azurite: Azurite, name: str):
    from azure.storage.blob import ContainerClient

    client = ContainerClient.from_connection_string(azurite.connection_string, name)
    client.create_container()
    return client


def put_rates(azurite: Azurite, blobs: int) -> list[float]:
    c, data = container(azurite, "puts"), os.urandom(800)

    def one(i: int) -> None:
        c.upload_blob(f"chat/202103/t{i // 100}/messages/{i}/1-received.json.lz4", data,
                      metadata={"sha256": "0" * 64},
                      tags={"kind": "message", "thread": f"t{i // 100}", "at": "2021-03-01T09:00:00.000000Z"})

    rates = []
    with ThreadPoolExecutor(16) as pool:
        for start in range(0, blobs, STEP):
            began = time.perf_counter()
            list(pool.map(one, range(start, start + STEP)))
            rates.append(STEP / (time.perf_counter() - began))
    return rates


def find_matches(azurite: Azurite, blobs: int) -> tuple[int, int]:
    c = container(azurite, "find")
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: c.upload_blob(f"b/{i:06d}", b"x", tags={"x": "1" if i % 2 else "0"}), range(blobs)))
    found = pages = 0
    for page in c.find_blobs_by_tags("\"x\" = '1'").by_page():
        found += sum(1 for _ in page)
        pages += 1
    doomed = [f"b/{i:06d}" for i in range(0, blobs, 20)]
    began = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(c.delete_blob, doomed))
    return found, pages, len(doomed) / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blobs", type=int, default=40_000)
    parser.add_argument("--find", type=int, default=12_000)
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}", flush=True)
    for label, preload in (("Azurite as it is", None), ("with bench/azurite_scale.js", FIX)):
        azurite = Azurite(preload=preload).start()
        try:
            found, pages, deletes = find_matches(azurite, args.find)
            print(f"{label}: Find Blobs by Tags over {args.find} blobs, {args.find // 2} matching: {found} found "
                  f"in {pages} page(s); then Delete Blob {deletes:.0f}/s", flush=True)
            rates = put_rates(azurite, args.blobs)
            shown = ", ".join(f"{(i + 1) * STEP}: {r:.0f}/s" for i, r in enumerate(rates) if (i + 1) % 5 == 0 or i == 0)
            print(f"{label}: Put Blob rate as the emulator fills ({shown})", flush=True)
        finally:
            azurite.stop()


if __name__ == "__main__":
    main()
