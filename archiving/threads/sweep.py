"""Selecting inactive threads for transcripts; the timer only selects and enqueues."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from archiving.store import keys
from archiving.errors import InvalidEvent
from archiving.timefmt import epoch_ms, iso, parse_time, utcnow

log = logging.getLogger("archiving.threads.sweep")

THREAD_PAGE_SIZE = 200
# Existence checks of transcripts run in parallel: one HEAD per candidate thread.
CHECK_WORKERS = 16


@dataclass(frozen=True)
class ThreadToArchive:
    thread_id: str
    last_message_at: datetime

    def to_message(self) -> str:
        return json.dumps({"thread_id": self.thread_id, "last_message_received_on": iso(self.last_message_at)})

    @classmethod
    def from_message(cls, text: str) -> "ThreadToArchive":
        """Raises ValueError (InvalidEvent) on a malformed queue message; after maxDequeueCount it
        lands in the poison queue, where it is kept."""
        try:
            doc = json.loads(text)
        except ValueError:
            raise InvalidEvent("queue message is not JSON") from None
        if not isinstance(doc, dict):
            raise InvalidEvent("queue message is not a JSON object")
        thread_id = keys.check_id(doc.get("thread_id"), "thread_id")
        return cls(thread_id, parse_time(doc.get("last_message_received_on"), "last_message_received_on"))


@dataclass(frozen=True)
class SweepStats:
    listed: int = 0
    deleted: int = 0
    active: int = 0
    no_messages: int = 0
    archived_already: int = 0
    unsafe: int = 0
    selected: int = 0


def _candidates(services: Any, cutoff: datetime, stats: dict[str, int]) -> Iterator[ThreadToArchive]:
    chat = services.acs.chat_client()
    for item in chat.list_chat_threads(results_per_page=THREAD_PAGE_SIZE):
        stats["listed"] += 1
        if item.deleted_on is not None:
            stats["deleted"] += 1
            continue
        last = item.last_message_received_on
        if last is None:
            stats["no_messages"] += 1
            continue
        if last > cutoff:
            stats["active"] += 1
            continue
        try:
            keys.check_id(item.id, "thread id")
        except InvalidEvent:
            stats["unsafe"] += 1
            log.warning("thread id unsafe for a blob name, skipped")
            continue
        yield ThreadToArchive(item.id, last)


def _archived(services: Any, item: ThreadToArchive) -> bool:
    ms = epoch_ms(item.last_message_at)
    return all(
        services.store.exists(keys.transcript_key(item.thread_id, item.last_message_at, ms, fmt))
        for fmt in services.settings.transcript_formats
    )


def select_threads(services: Any, now: datetime | None = None) -> tuple[list[ThreadToArchive], SweepStats]:
    """Threads of the archiver's user that are not deleted, quiet for INACTIVE_AFTER_MINUTES, and
    without a transcript for their last activity.  Lists every page."""
    cutoff = (now or utcnow()) - timedelta(minutes=services.settings.inactive_after_minutes)
    stats = dict.fromkeys(SweepStats.__dataclass_fields__, 0)
    selected: list[ThreadToArchive] = []
    with ThreadPoolExecutor(CHECK_WORKERS) as pool:
        candidates = _candidates(services, cutoff, stats)
        for item, done in zip_checks(pool, candidates, lambda c: _archived(services, c)):
            if done:
                stats["archived_already"] += 1
            else:
                selected.append(item)
    stats["selected"] = len(selected)
    result = SweepStats(**stats)
    log.info("sweep listed=%d selected=%d deleted=%d active=%d archived_already=%d no_messages=%d unsafe=%d",
             result.listed, result.selected, result.deleted, result.active, result.archived_already,
             result.no_messages, result.unsafe)
    return selected, result


def zip_checks(pool: ThreadPoolExecutor, items: Iterator[Any], check) -> Iterator[tuple[Any, Any]]:
    """(item, check(item)) in order, with at most a bounded window of checks in flight."""
    from collections import deque

    window: deque = deque()
    for item in items:
        window.append((item, pool.submit(check, item)))
        if len(window) >= CHECK_WORKERS * 4:
            first, future = window.popleft()
            yield first, future.result()
    while window:
        first, future = window.popleft()
        yield first, future.result()
