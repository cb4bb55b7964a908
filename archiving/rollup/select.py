"""Which archive blobs belong to a day: the blob index tag ``at`` (archive-format.md, section 8).

One tag query per day finds every kind of every channel (``"at" >= day AND "at" < next day``); only
JSON records (``*.json.lz4``) are rows (CSV transcripts repeat their JSON twin; media are not
records).  Blobs the tag index misses (a copy that dropped its tags) are not found here yet: the
read side (issue 10) lists the months of a range for untagged blobs (``read.scan.list_indexed`` and
``months_of``, used by export); the roll-up is to use the same functions once both are merged, listing
each month once per run rather than once per day (a month of a busy tenant is many listing pages).
"""

from __future__ import annotations

from datetime import date
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
