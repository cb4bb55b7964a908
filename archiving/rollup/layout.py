"""Names in the roll-up container (docs/analytics.md), and UTC days.

    records/channel=<channel>/year=<yyyy>/month=<mm>/day-<dd>-<build>.parquet   one day's rows
    records/channel=<channel>/year=<yyyy>/month=<mm>/month-<build>.parquet      a compacted month
    manifests/<yyyy>/<mm>/<dd>.json                                             the day's current parts

Hive partitions stop at the month so that a month's small days can be compacted into one file
(``compact``); a day is selected by the ``day`` column, whose row-group statistics let every engine
skip the other days' data.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta

from archiving.timefmt import UTC, iso

ROLLUP_FORMAT = 1
RECORDS = "records/"
MANIFESTS = "manifests/"
_CHANNEL = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_MANIFEST = re.compile(r"^manifests/(\d{4})/(\d{2})/(\d{2})\.json$")


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a day (YYYY-MM-DD)") from None


def days(first: date, last: date) -> list[date]:
    """Every day from first to last, both included."""
    if last < first:
        raise ValueError(f"--from {first} is after --to {last}")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def bounds(day: date) -> tuple[str, str]:
    """The day as archive time text, [start, end): it compares with the ``at`` index tag."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return iso(start), iso(start + timedelta(days=1))  # type: ignore[return-value]


def channel_dir(channel: str) -> str:
    # A channel goes into a path: anything unexpected is filed under "other" (the row keeps the document).
    return channel if _CHANNEL.match(channel or "") else "other"


def month_dir(channel: str, year: int, month: int) -> str:
    return f"{RECORDS}channel={channel_dir(channel)}/year={year:04d}/month={month:02d}/"


def day_part(channel: str, day: date, build: str) -> str:
    return f"{month_dir(channel, day.year, day.month)}day-{day.day:02d}-{build}.parquet"


def month_part(channel: str, year: int, month: int, build: str) -> str:
    return f"{month_dir(channel, year, month)}month-{build}.parquet"


def is_month_part(name: str) -> bool:
    return name.rsplit("/", 1)[-1].startswith("month-")


def owned_by_day(name: str, day: date) -> bool:
    """A part written for this day alone (not a compacted month's)."""
    return f"/year={day.year:04d}/month={day.month:02d}/day-{day.day:02d}-" in name


def manifest_name(day: date) -> str:
    return f"{MANIFESTS}{day.year:04d}/{day.month:02d}/{day.day:02d}.json"


def manifest_day(name: str) -> date | None:
    m = _MANIFEST.match(name)
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def new_build(now: datetime) -> str:
    """Unique per run, sortable by time: parts of a new run never collide with the current ones."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
