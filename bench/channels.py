"""Benchmark of SMS, WhatsApp and email events (issue 11), beside chat.

(a) CPU microseconds per event, per type: parse -> record -> JSON -> lz4 + sha256, no I/O (``prepare``).
(b) One WhatsApp media item archived (``archive_media``: download with azure-communication-messages,
    sha256, lz4, create-only upload into Azurite) beside a raw SDK download of the same bytes
    (``b"".join(client.download_media(id))``), and beside raw download + raw ``upload_blob``.

Run by hand:  .venv/bin/python bench/channels.py [--sizes 102400,1048576,5242880] [--rounds 5]
It starts its own Azurite (from .tools/) and the HTTPS ACS test server (in this process; both
contestants download from it alike).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archiving.ingest.archiver import prepare  # noqa: E402

HASH_KEY = b"bench-hash-key"
VECTORS = ROOT / "tests" / "vectors" / "eventgrid" / "event-grid-schema"
SAMPLE = json.loads((ROOT / "samples" / "conversation.json").read_text(encoding="utf-8"))


def _vector(name: str) -> dict:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def templates() -> dict[str, dict]:
    chat = next(e for e in SAMPLE if e["eventType"].endswith("ChatMessageReceivedInThread"))
    whatsapp = _vector("advanced_message_received.json")
    whatsapp["data"] = {k: v for k, v in whatsapp["data"].items() if k not in ("media", "error", "button",
                                                                              "interactive")}
    engagement = _vector("email_delivery_report_received.json")
    engagement["eventType"] = "Microsoft.Communication.EmailEngagementTrackingReportReceived"
    engagement["data"] = {"sender": "noreply@contoso.com", "recipient": "Customer@Example.com",
                          "messageId": "950850f5-bcdf-4315-b77a-6447cf56fac9",
                          "userActionTimeStamp": "2023-02-09T19:50:12.2480265+00:00", "engagement": "click",
                          "engagementContext": "https://contoso.com/offer", "userAgent": "Mozilla/5.0"}
    return {
        "chat message (ChatMessageReceivedInThread)": chat,
        "SMSReceived": _vector("sms_received.json"),
        "SMSDeliveryReportReceived": _vector("sms_delivery_report_received.json"),
        "AdvancedMessageReceived (text, no media)": whatsapp,
        "AdvancedMessageDeliveryStatusUpdated": _vector("advanced_message_delivery_status_updated.json"),
        "EmailDeliveryReportReceived": _vector("email_delivery_report_received.json"),
        "EmailEngagementTrackingReportReceived": engagement,
    }


def distinct(template: dict, n: int) -> list[dict]:
    """n events of one type that differ in id and message id (so no cache makes them cheaper)."""
    out = []
    for i in range(n):
        e = copy.deepcopy(template)
        e["id"] = str(uuid.uuid4())
        d = e["data"]
        for key in ("messageId", "MessageId"):
            if key in d:
                d[key] = f"{d[key]}-{i}"
        out.append(e)
    return out


def cpu_per_event(batches: dict[str, list[dict]], rounds: int = 7) -> dict[str, float]:
    """Best time per event of each type; the types take turns within each round (a shared machine's
    slow phases then hit them alike)."""
    best = {name: float("inf") for name in batches}
    for _ in range(rounds):
        for name, batch in batches.items():
            started = time.process_time()
            for raw in batch:
                prepare(raw, HASH_KEY)
            best[name] = min(best[name], (time.process_time() - started) / len(batch))
    return {name: t * 1e6 for name, t in best.items()}


def media_benchmark(sizes: list[int], rounds: int) -> None:
    from archiving.bootstrap import Services
    from archiving.ingest.media import archive_media
    from archiving.ingest.whatsapp import MediaRef
    from archiving.settings import Settings
    from tests.acs_server import AcsTestServer
    from tests.acs_server.media import add_media
    from tests.azurite import Azurite

    azurite = Azurite().start()
    acs = AcsTestServer().start()
    try:
        env = {"ArchiveStorage": azurite.connection_string, "ARCHIVE_HASH_KEY": HASH_KEY.decode(),
               "ARCHIVE_CONTAINER": f"bench-{uuid.uuid4().hex[:12]}", "ACS_CONNECTION_STRING": acs.connection_string}
        svc = Services(settings=Settings.from_env(env), acs_options=acs.client_kwargs())
        svc.store.ensure_container()
        twin = svc.blob_service.get_container_client(f"raw-{uuid.uuid4().hex[:12]}")
        twin.create_container()
        client = svc.media.client()
        at = datetime.now(timezone.utc)
        print("(b) one media item: archive_media vs raw SDK download (median of rounds, ms)")
        for size in sizes:
            ours, raw_down, raw_both = [], [], []
            for r in range(rounds):
                data = os.urandom(size)  # incompressible, like a photo; new bytes each round (no dedup)
                media_id = f"m-{size}-{r}"
                add_media(acs, media_id, data, "image/jpeg")
                contestants = [("ours", lambda: archive_media(MediaRef(media_id, "image/jpeg", "p.jpg", None, None),
                                                                svc.media, svc.store, at, 100 * 1024 * 1024)),
                               ("down", lambda: b"".join(client.download_media(media_id))),
                               ("both", lambda: twin.upload_blob(f"{media_id}", b"".join(client.download_media(media_id)),
                                                                 overwrite=False))]
                if r % 2:
                    contestants.reverse()
                for name, fn in contestants:
                    started = time.perf_counter()
                    fn()
                    elapsed = (time.perf_counter() - started) * 1000
                    {"ours": ours, "down": raw_down, "both": raw_both}[name].append(elapsed)
            m_ours, m_down, m_both = (statistics.median(x) for x in (ours, raw_down, raw_both))
            print(f"    {size:>9} bytes: archive_media {m_ours:7.1f} ms | raw download {m_down:7.1f} ms "
                  f"(overhead {m_ours - m_down:+.1f} ms, x{m_ours / m_down:.2f}) | raw download + raw upload "
                  f"{m_both:7.1f} ms (x{m_ours / m_both:.2f})")
        svc.close()
    finally:
        acs.stop()
        azurite.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--sizes", default="102400,1048576,5242880")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, python {platform.python_version()}")
    print(f"(a) parse -> record -> lz4, CPU us/event (best of 7 x {args.events}, types in turn; target <= 25)")
    figures = cpu_per_event({name: distinct(t, args.events) for name, t in templates().items()})
    chat = next(iter(figures.values()))
    for name, us in figures.items():
        print(f"    {name:<45} {us:6.1f}   x{us / chat:.2f} of chat")
    media_benchmark([int(s) for s in args.sizes.split(",")], args.rounds)


if __name__ == "__main__":
    main()
