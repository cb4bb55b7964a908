"""Benchmarks of issue 19 (two-way conversations), each against its own Azurite:

(a) verified reads at the per-blob limit again: --chat message records (the real archive_event path), read
    back, alternating in each round: a raw listing + 8-thread download; ``verify`` as the command reads
    (listing with include=tags,metadata, every check, no tag request per blob); ``export`` of the day.
    Target: verify and export >= 0.9 of the raw rate.  Also: the listing alone (the SDK's, and the commands'
    own, archiving/store/listing.py), and the CPU this process and the emulator used while reading.
(b) ``show`` of one SMS conversation of --messages messages, half of them outbound (message record +
    ``sent`` outcome, as ``OutboundArchive`` writes them), against the same conversation all inbound.
    Target: <= 1.2x.
(c) requests of a one-day export: three days of SMS records in one month, the middle day exported; every
    HTTP request the export makes is counted by a pipeline policy, beside the records of that day.

    .venv/bin/python bench/two_way.py                      # defaults: --chat 3000 --messages 10000 --rounds 3

Its Azurite has bench/azurite_scale.js preloaded: as it is, Find Blobs by Tags loses the matches past the first
5,000 blobs of a container (a 10,000-message conversation is 20,000 blobs) and Put Blob slows as N^2.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archiving.ingest.archiver import archive_event  # noqa: E402
from archiving.outbound import OutboundArchive, layout  # noqa: E402
from archiving.read import conversations as conv  # noqa: E402
from archiving.read.scan import ordered_map, parse_bound  # noqa: E402
from archiving.store.archive import ArchiveStore  # noqa: E402
from bench.read_verify import events as chat_events  # noqa: E402 (chat message events)
from tests.azurite import Azurite  # noqa: E402

KEY = b"bench"
BUSINESS, CUSTOMER = "+18005550100", "+14255550123"
T0 = datetime(2026, 11, 10, tzinfo=UTC)


def container(azurite: Azurite, name: str, policies: list | None = None):
    from azure.storage.blob import ContainerClient

    client = ContainerClient.from_connection_string(azurite.connection_string, name,
                                                    per_call_policies=policies or [])
    client.create_container()
    return client


def sms_event(i: int, at: datetime) -> dict:
    return {"id": str(uuid.uuid4()), "eventType": "Microsoft.Communication.SMSReceived", "subject": "/phonenumber/x",
            "eventTime": at.isoformat(), "dataVersion": "1.0", "metadataVersion": "1", "topic": "/x",
            "data": {"messageId": f"Incoming_{i:08d}", "from": CUSTOMER, "to": BUSINESS,
                     "message": f"inbound {i} " + "x" * 100, "receivedTimestamp": at.isoformat()}}


def parallel(fn, items, workers: int = 16) -> None:
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(fn, items))


def bench_reads(azurite: Azurite, records: int,
                rounds: int) -> tuple[dict[str, list[float]], dict[str, list[tuple[float, float]]]]:
    """Rates per way and round, and per way and round the CPU (this process, the emulator) over the wall time."""
    from archiving.read.export import export_items
    from archiving.read.scan import list_indexed
    from archiving.read.verify import verify

    store = ArchiveStore(container(azurite, f"reads-{uuid.uuid4().hex[:8]}"))
    parallel(lambda e: archive_event(e, store, KEY), chat_events(records))

    def raw() -> int:  # the reference: the SDK's listing, as a user's script lists
        names = [b.name for b in store.container.list_blobs(name_starts_with="chat/")]
        return sum(1 for _ in ordered_map(store.read_raw, names))

    def raw_own_listing() -> int:  # the same with the archive's own listing (archiving/store/listing.py), plain
        return sum(1 for _ in ordered_map(store.read_raw, list(store.list_names("chat/"))))

    def verified() -> int:
        n = 0
        for _, problems in verify(store, list_indexed(store, "chat/"), hash_key=KEY):
            assert not problems, problems
            n += 1
        return n

    def export() -> int:
        return sum(1 for _ in export_items(store, parse_bound("2020-01-01"), parse_bound("2030-12-31", end=True),
                                           hash_key=KEY))
    def listing(include: list[str] | None) -> int:  # what the SDK's List Blobs costs, by what it includes
        return sum(1 for _ in store.container.list_blobs(name_starts_with="chat/", include=include))

    ways = {"raw list + 8-thread download": raw, "verify (listing with tags)": verified, "export (all of them)": export,
            "(raw, the archive's own plain listing)": raw_own_listing,
            "(listing alone, SDK, plain)": lambda: listing(None),
            "(listing alone, SDK, with tags and metadata)": lambda: listing(["tags", "metadata"]),
            "(listing alone, as the commands list: tags and metadata)": lambda: sum(1 for _ in list_indexed(store, "chat/"))}
    rates: dict[str, list[float]] = {k: [] for k in ways}
    shares: dict[str, list[tuple[float, float]]] = {k: [] for k in ways}
    for _ in range(rounds):
        for label, fn in ways.items():
            started, cpu, emulator = time.perf_counter(), time.process_time(), emulator_cpu(azurite)
            count = fn()
            assert count == records, (label, count)
            wall = time.perf_counter() - started
            rates[label].append(count / wall)
            shares[label].append(((time.process_time() - cpu) / wall, (emulator_cpu(azurite) - emulator) / wall))
    return rates, shares


def emulator_cpu(azurite: Azurite) -> float:
    """CPU seconds the emulator's process has used (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{azurite.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


def bench_show(azurite: Azurite, messages: int, rounds: int) -> dict[str, list[float]]:
    from archiving.outbound.core import Begun

    stores = {}
    for label, outbound_share in (("all inbound", 0), ("half outbound", 2)):
        client = container(azurite, f"show-{uuid.uuid4().hex[:8]}")
        store = ArchiveStore(client)
        archive = OutboundArchive(client, KEY, outcomes="sync")
        sender = layout.party(KEY, "sms", BUSINESS, "from")
        recipient = layout.party(KEY, "sms", CUSTOMER, "to")

        def one(i: int, store=store, archive=archive, share=outbound_share) -> None:
            at = T0 + timedelta(seconds=i)
            if share and i % share:
                fields = {"sender": sender, "recipients": [recipient], "subject": None,
                          "body": {"text": f"outbound {i} " + "x" * 100}, "template": None, "attachments": [],
                          "options": {}, "correlation": {}}
                begun = archive.begin("sms", str(uuid.uuid4()), fields, BUSINESS)
                archive.record_sent(Begun(begun.channel, begun.archive_id, begun.document, None, True,
                                          begun.sender_hash),
                                    [{"recipient": CUSTOMER, "acs_message_id": f"Outgoing_{i}", "successful": True,
                                      "http_status": 202, "error": None}], {}, 0.0)
            else:
                assert archive_event(sms_event(i, at), store, KEY).status == "archived"

        parallel(one, range(messages))
        stores[label] = store
    ids = conv.conversation_ids_between(KEY, CUSTOMER, BUSINESS)
    times: dict[str, list[float]] = {k: [] for k in stores}
    for _ in range(rounds):
        for label, store in stores.items():
            started = time.perf_counter()
            view = conv.load_conversation(store, ids, hash_key=KEY)
            conv.render_text(view)
            times[label].append(time.perf_counter() - started)
            assert len(view.messages) == messages and not view.findings, (label, len(view.messages))
    return times


def bench_one_day_export(azurite: Azurite, per_day: int) -> dict[str, int]:
    from azure.core.pipeline.transport import RequestsTransport

    from archiving.read.export import ExportRequest, export

    counts = {"requests": 0, "downloads": 0}

    class Count(RequestsTransport):
        def send(self, request, **kwargs):
            counts["requests"] += 1
            if request.method == "GET" and "comp=" not in request.url:
                counts["downloads"] += 1
            return super().send(request, **kwargs)

    name = f"day-{uuid.uuid4().hex[:8]}"
    writer = ArchiveStore(container(azurite, name))
    events = [sms_event(d * per_day + i, T0 + timedelta(days=d, seconds=i * 10)) for d in range(3) for i in range(per_day)]
    parallel(lambda e: archive_event(e, writer, KEY), events)
    from azure.storage.blob import ContainerClient

    store = ArchiveStore(ContainerClient.from_connection_string(azurite.connection_string, name, transport=Count()))
    day = (T0 + timedelta(days=1)).strftime("%Y-%m-%d")
    with tempfile.TemporaryDirectory() as tmp:
        result = export(store, ExportRequest(parse_bound(day), parse_bound(day, end=True), Path(tmp) / "day.jsonl"))
    return {**counts, "records of the day": result.items, "records archived": len(events)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chat", type=int, default=3000)
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--per-day", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=("reads", "show", "day"))
    args = parser.parse_args()
    azurite = Azurite(preload=ROOT / "bench" / "azurite_scale.js").start()  # sizes Azurite cannot serve as it is
    try:
        print(f"machine: {platform.platform()}, {os.cpu_count()} cores (shared with other developers' jobs), "
              f"Python {platform.python_version()}", flush=True)
        if args.only in (None, "reads"):
            rates, cpu_shares = bench_reads(azurite, args.chat, args.rounds)
            base = statistics.median(rates["raw list + 8-thread download"])
            print(f"(a) {args.chat} chat records, {args.rounds} rounds, alternating")
            for label, values in rates.items():
                median = statistics.median(values)
                raw_rounds = rates["raw list + 8-thread download"]
                per_round = statistics.median(v / r for v, r in zip(values, raw_rounds))  # raw measured beside it
                print(f"    {label:30s} {median:7.0f} blobs/s (rounds: {', '.join(f'{v:.0f}' for v in values)}); "
                      f"{median / base:.2f} of raw (median of the rounds' own ratios: {per_round:.2f})", flush=True)
            print("    CPU while reading, as a share of one core (median of the rounds): this process (Python, "
                  "one GIL) / the emulator")
            for label, shares in cpu_shares.items():
                print(f"    {label:30s} {statistics.median(p for p, _ in shares):5.0%} / "
                      f"{statistics.median(e for _, e in shares):5.0%}", flush=True)
        if args.only in (None, "show"):
            times = bench_show(azurite, args.messages, args.rounds)
            a, b = statistics.median(times["all inbound"]), statistics.median(times["half outbound"])
            print(f"(b) show of a {args.messages}-message SMS conversation, {args.rounds} rounds")
            for label, values in times.items():
                print(f"    {label:14s} median {statistics.median(values):6.2f} s (rounds: "
                      f"{', '.join(f'{v:.2f}' for v in values)})")
            print(f"    half outbound / all inbound: {b / a:.2f}", flush=True)
        if args.only in (None, "day"):
            got = bench_one_day_export(azurite, args.per_day)
            print(f"(c) one-day export of 3 days x {args.per_day} SMS records: {got}", flush=True)
    finally:
        azurite.stop()


if __name__ == "__main__":
    main()
