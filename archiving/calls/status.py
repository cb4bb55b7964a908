"""The ``recordings`` check of ``status``: recordings ACS announced more than 12 hours ago whose download
has not succeeded yet (an ``announced`` record without its ``archived`` twin).  ACS keeps a recording
24 hours: past that it is lost unless it was archived.  One tag query over the last 7 days."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from archiving.calls import layout
from archiving.timefmt import iso, parse_time

WARN_HOURS, LOOKBACK_DAYS, LISTED = 12, 7, 10
ACTION = ("see docs/operations.md, 'A call recording that is not archived': check the archive_event failures "
          "for RecordingFileStatusUpdated, fix the cause, and replay the event before ACS's 24 hours end")


def pending_recordings(store: Any, now, hours: int = WARN_HOURS, days: int = LOOKBACK_DAYS) -> list[tuple[str, str]]:
    """(announced record, its at) of recordings announced between ``days`` days and ``hours`` hours ago
    and not archived."""
    from archiving.read.conversations import _tag_query
    from archiving.read.scan import find_names

    query = _tag_query(kind="call-recording-announced", start=iso(now - timedelta(days=days)),
                       end=iso(now - timedelta(hours=hours)))
    pending = []
    for name in find_names(store, query):
        archived = name.replace(f"/{layout.ANNOUNCED}.", f"/{layout.ARCHIVED}.")
        if not store.exists(archived):
            at = store.container.get_blob_client(name).get_blob_tags().get("at")
            pending.append((name, at))
    return sorted(pending, key=lambda p: p[1] or "")


def check_recordings(ctx: Any) -> Any:
    from archiving.ops.status import FAIL, OK, WARN, Check

    hours = int(ctx.limits.extra.get("recording_warn_hours", WARN_HOURS))
    pending = pending_recordings(ctx.services.store, ctx.now, hours)
    if not pending:
        return Check("recordings", OK, f"no recording announced more than {hours} h ago is waiting", {"pending": 0})
    oldest = parse_time(pending[0][1], "at") if pending[0][1] else None
    expired = oldest is not None and ctx.now - oldest >= timedelta(hours=24)
    values = {"pending": len(pending), "oldest": pending[0][1], "records": [n for n, _ in pending[:LISTED]]}
    summary = (f"{len(pending)} recordings announced more than {hours} h ago are not archived "
               f"(oldest {pending[0][1]}{': past ACS 24 h, likely lost' if expired else ''})")
    return Check("recordings", FAIL if expired else WARN, summary, values, ACTION)
