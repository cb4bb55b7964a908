"""Finding archive blobs: tag queries, listings with tags, bounded parallel work, date bounds.

Shared by the read-side commands (show, export, find, verify, reconcile).  Memory stays bounded:
at most ``window`` downloads are in flight or waiting to be consumed, whatever the number of blobs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from archiving.store import keys
from archiving.errors import InvalidEvent
from archiving.timefmt import UTC, iso, parse_time

T = TypeVar("T")
R = TypeVar("R")

WORKERS = 8  # parallel downloads; the SDK's connection pool holds 10


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int = WORKERS, window: int | None = None) -> Iterator[R]:
    """fn(item) for each item, in order, with at most ``window`` calls in flight (bounded memory)."""
    window = window or workers * 4
    with ThreadPoolExecutor(workers) as pool:
        pending: deque = deque()
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


# Reading blobs: through archiving.read.verified.read_verified only (every read checked), never here.


# -- blob index tags ------------------------------------------------------------------------------


def _quote(value: str) -> str:
    # Tag values the archiver writes hold only letters, digits, space and + - . / : = _ (keys.tag_value).
    if "'" in value:
        raise ValueError("a tag value cannot contain a single quote")
    return f"'{value}'"


def tag_filter(*, kind: str | None = None, thread_id: str | None = None, sender: str | None = None,
               participant: str | None = None, start: str | None = None, end: str | None = None) -> str:
    """A Find Blobs by Tags expression: equality on the given tags, ``start <= at < end``."""
    terms = []
    if kind:
        terms.append(f'"kind" = {_quote(kind)}')
    if thread_id is not None:
        terms.append(f'"thread" = {_quote(keys.thread_tag(thread_id))}')
    if sender:
        terms.append(f'"sender" = {_quote(sender)}')
    if participant:
        terms.append(f'"participant" = {_quote(participant)}')
    if start:
        terms.append(f'"at" >= {_quote(start)}')
    if end:
        terms.append(f'"at" < {_quote(end)}')
    if not terms:
        raise ValueError("a tag filter needs at least one condition")
    return " AND ".join(terms)


def find_names(store: Any, expression: str) -> Iterator[str]:
    """Names of the blobs of the store's container whose tags match (paged; a missing container is empty)."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        for item in store.container.find_blobs_by_tags(expression):
            yield item.name
    except ResourceNotFoundError as exc:
        if getattr(exc, "error_code", None) != "ContainerNotFound":
            raise


# -- dates on the command line --------------------------------------------------------------------


def parse_bound(text: str, *, end: bool = False) -> str:
    """A command-line date or time as the archive's time text (it compares with the ``at`` tag).

    ``2026-11-01`` is that day at 00:00 UTC; as an end bound (exclusive) it means the end of the day,
    so ``--from 2026-11-01 --to 2026-11-30`` covers all of November.  A time without an offset is UTC.
    """
    value = text.strip()
    if len(value) == 10:
        try:
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or an ISO-8601 time") from None
        try:
            return iso(day + timedelta(days=1) if end else day)  # type: ignore[return-value]
        except OverflowError:
            raise ValueError(f"{text!r} is out of range (the last day is 9999-12-30)") from None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            return iso(parse_time(value, "time"))  # type: ignore[return-value]
        except InvalidEvent:
            raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or an ISO-8601 time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return iso(parsed)  # type: ignore[return-value]


def in_range(at: str | None, start: str | None, end: str | None) -> bool:
    if at is None:
        return False
    return (start is None or at >= start) and (end is None or at < end)


# -- listing: what the tag index may miss ---------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    """A blob as the container listing shows it, with its index tags and metadata (one listing call per 5,000)."""

    name: str
    tags: Mapping[str, str] | None
    metadata: Mapping[str, str]

    @property
    def indexed(self) -> bool:
        """Has the tags the read side searches by (``kind``, ``thread``, ``at``)."""
        return bool(self.tags) and all(self.tags.get(t) for t in ("kind", "thread", "at"))


def list_indexed(store: Any, prefix: str) -> Iterator[Listed]:
    """Every blob under the prefix with its tags and metadata (a missing container lists as empty)."""
    from archiving.store.listing import list_blobs, missing_is_empty

    for blob in missing_is_empty(list_blobs(store.container, prefix, ahead=True)):  # read as they come: ahead
        yield Listed(blob.name, blob.tags, blob.metadata)


def months_of(store: Any, start: str | None, end: str | None) -> list[str]:
    """The archive's month folders (yyyymm) from the month of ``start`` to the month of ``end`` (exclusive bound)."""
    first = start[:7].replace("-", "") if start else None
    if end:
        last_day = datetime.fromisoformat(end.replace("Z", "+00:00")) - timedelta(microseconds=1)
        last = f"{last_day.year:04d}{last_day.month:02d}"
    else:
        last = None
    return [m for m in store.months() if (first is None or m >= first) and (last is None or m <= last)]
