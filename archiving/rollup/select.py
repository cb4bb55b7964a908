"""Which archive blobs belong to a day: the blob index tag ``at`` (archive-format.md, section 8).

One tag query per day finds every kind of every channel (``"at" >= day AND "at" < next day``); only
JSON records (``*.json.lz4``) are rows (CSV transcripts repeat their JSON twin; media are not
records).  Blobs the tag index misses (a copy that dropped its tags) are not found here yet: the
read side (issue 10) lists the months of a range for untagged blobs (``read.scan.list_indexed`` and
``months_of``, used by export); the roll-up is to use the same functions once both are merged, listing
each month once per run rather than once per day (a month of a busy tenant is many listing pages).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from archiving.read.scan import tag_filter
from archiving.rollup import layout
from archiving.store.keys import RECORD_SUFFIX


def find_tagged(store: Any, expression: str) -> dict[str, str | None]:
    """name -> its ``at`` tag, for the blobs of the store's container that match (a missing container is empty)."""
    from azure.core.exceptions import ResourceNotFoundError

    found: dict[str, str | None] = {}
    try:
        for item in store.container.find_blobs_by_tags(expression):
            found[item.name] = (item.tags or {}).get("at")
    except ResourceNotFoundError as exc:
        if getattr(exc, "error_code", None) != "ContainerNotFound":
            raise
    return found


def day_names(store: Any, day: date) -> dict[str, str | None]:
    start, end = layout.bounds(day)
    found = find_tagged(store, tag_filter(start=start, end=end))
    return {name: at for name, at in found.items() if name.endswith(RECORD_SUFFIX)}


# Before any record an archive can hold (ACS went public in 2020): where the search for the first day starts.
EARLIEST_DAY = date(2000, 1, 1)


def any_before(store: Any, day: date) -> bool:
    """Whether the archive holds a blob whose ``at`` tag is before the day (one tag query, first page only)."""
    from azure.core.exceptions import ResourceNotFoundError

    start, _ = layout.bounds(day)
    try:
        pages = store.container.find_blobs_by_tags(tag_filter(end=start), results_per_page=1).by_page()
        return any(True for _ in next(pages, []))
    except ResourceNotFoundError as exc:
        if getattr(exc, "error_code", None) != "ContainerNotFound":
            raise
        return False


def first_archived_day(store: Any, last: date, known: date | None = None) -> date | None:
    """The first day (at or before ``last``) that holds a record, or None when none does.

    ``known`` is a day the caller knows to be at or after it (the oldest roll-up): one query says
    whether anything is older; otherwise a binary search over the days, about 14 tag queries."""
    after_last = last + timedelta(days=1)
    if known is not None and known <= last and not any_before(store, known):
        return known if any_before(store, after_last) else None
    if not any_before(store, after_last):
        return None
    low, high = EARLIEST_DAY, min(known, last) if known is not None else last  # answer in [low, high]
    if not any_before(store, low + timedelta(days=1)):
        while low < high:
            mid = low + timedelta(days=(high - low).days // 2)
            if any_before(store, mid + timedelta(days=1)):
                high = mid
            else:
                low = mid + timedelta(days=1)
    return low
