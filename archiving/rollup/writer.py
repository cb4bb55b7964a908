"""Rolling up one UTC day: read its records (verified), write one zstd Parquet part per channel,
then switch the day's manifest to the new parts and remove the parts it replaced.

Re-runs are safe: parts get a new build id in their name, the manifest switch is conditional on
the manifest read at the start (ETag), and readers that go through the manifests never see a
day twice.  Parts written by a run that failed before the switch are removed by the next run of
that day.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from archiving.read.scan import WORKERS
from archiving.read.verified import Damage, Findings, read_verified
from archiving.rollup import layout, rows
from archiving.rollup.parquet import MAX_LINE, duckdb_connection, write_parquet
from archiving.rollup.select import day_names
from archiving.rollup.store import RollupStore, file_sha256
from archiving.timefmt import iso, utcnow

log = logging.getLogger("archiving.rollup")

MAX_CATCH_UP_DAYS = 7  # the timer fills at most this many missed days per run; the CLI backfills


@dataclass(frozen=True)
class Part:
    name: str
    channel: str
    rows: int
    bytes: int
    sha256: str  # of the file: `query` checks a cached copy against it

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "channel": self.channel, "rows": self.rows, "bytes": self.bytes,
                "sha256": self.sha256}


@dataclass(frozen=True)
class DayResult:
    day: date
    records: int
    by_channel: Mapping[str, Mapping[str, int]]
    damaged: tuple[Damage, ...]
    parts: tuple[Part, ...]
    replaced: int  # parts of earlier runs removed
    built_at: str
    was_compacted: bool = False  # the day was part of a compacted month: compact it again


@dataclass
class _Sink:
    """One channel's rows, as JSON lines in a local file until the Parquet part is written."""

    path: Path
    file: Any
    rows: int = 0
    kinds: Counter = field(default_factory=Counter)


def rollup_day(store: Any, rollup: RollupStore, day: date, *, findings: Findings | None = None,
               progress: Any = None, workers: int = WORKERS, now: datetime | None = None,
               source_container: str | None = None, partial: bool = False) -> DayResult:
    """Build the day's parts from the archive and make them current.  ``partial``: the day is not due
    yet (late events may still arrive): its manifest says so, and the timer builds it again when due."""
    findings = findings if findings is not None else Findings()
    damaged_before = len(findings.items)
    now = now or utcnow()
    build = layout.new_build(now)
    manifest_name = layout.manifest_name(day)
    previous, etag = rollup.read_manifest(manifest_name)
    tagged = day_names(store, day)
    if progress is not None and hasattr(progress, "reset"):
        progress.reset(total=len(tagged))
    sinks: dict[str, _Sink] = {}
    parts: list[Part] = []
    oversized: list[str] = []
    with tempfile.TemporaryDirectory(prefix="rollup-") as tmp:
        workdir = Path(tmp)
        try:
            for blob in read_verified(store, sorted(tagged), findings, workers=workers):
                channel, values = rows.row(blob, tagged.get(blob.name))
                channel = layout.channel_dir(channel)
                sink = sinks.get(channel)
                if sink is None:
                    path = workdir / f"{channel}.jsonl"
                    sink = sinks[channel] = _Sink(path, open(path, "wb"))
                line = orjson.dumps(values)
                if len(line) >= MAX_LINE:
                    oversized.append(blob.name)
                    line = orjson.dumps(dict(values, document=None))
                sink.file.write(line + b"\n")
                sink.rows += 1
                sink.kinds[values["kind"] or "unknown"] += 1
                if progress is not None:
                    progress.update(1)
        finally:
            for sink in sinks.values():
                sink.file.close()
        if progress is not None and len(findings.items) > damaged_before:
            progress.update(len(findings.items) - damaged_before)
        if sinks:
            con = duckdb_connection()
            try:
                for channel, sink in sorted(sinks.items()):
                    target = workdir / f"{channel}.parquet"
                    write_parquet(con, sink.path, target)
                    sink.path.unlink()
                    name = layout.day_part(channel, day, build)
                    rollup.upload_file(name, target)
                    parts.append(Part(name, channel, sink.rows, target.stat().st_size, file_sha256(target)))
                    target.unlink()
            finally:
                con.close()
    damaged = tuple(findings.items[damaged_before:])
    by_channel = {c: dict(sorted(s.kinds.items())) for c, s in sorted(sinks.items())}
    records = sum(p.rows for p in parts)
    built_at = iso(now)
    manifest = {
        "rollup_format": layout.ROLLUP_FORMAT,
        "day": day.isoformat(),
        "built_at": built_at,
        "build": build,
        "partial": partial,
        "records": records,
        "by_channel": by_channel,
        "parts": [p.as_json() for p in parts],
        "damaged": [{"name": d.name, "reason": d.reason} for d in damaged],
        "oversized": oversized,
        "source": {
            "container": source_container,
            "selection": "blobs *.json.lz4 of the archive container whose index tag `at` is in the day "
                         "[day 00:00Z, next day 00:00Z), each read through read_verified: damaged ones are "
                         "listed here and left out",
            "found": len(tagged),
            "seal_checkpoint": None,  # the sealed log of the archive, once it exists
        },
        "columns": [{"name": n, "type": t, "doc": d} for n, t, d in rows.COLUMNS],
    }
    try:
        rollup.switch_manifest(manifest_name, manifest, etag)
    except Exception:
        for part in parts:  # not current: never let a reader of the folder see them
            rollup.delete(part.name)
        raise
    current = {p.name for p in parts}
    stale = set(_parts_of(previous)) | set(_orphans(rollup, day))
    replaced = sum(1 for name in sorted(stale - current) if layout.owned_by_day(name, day) and rollup.delete(name))
    log.info("rollup day=%s records=%d damaged=%d parts=%d replaced=%d build=%s", day, records, len(damaged),
             len(parts), replaced, build)
    return DayResult(day, records, by_channel, damaged, tuple(parts), replaced, built_at,
                     was_compacted=bool((previous or {}).get("compacted")))


def _parts_of(manifest: Mapping[str, Any] | None) -> list[str]:
    return [p["name"] for p in (manifest or {}).get("parts") or [] if isinstance(p, dict) and "name" in p]


def _orphans(rollup: RollupStore, day: date) -> Iterable[str]:
    """The day's parts in every channel's folder (those of failed runs included)."""
    for channel_prefix in rollup.prefixes(layout.RECORDS):
        prefix = f"{channel_prefix}year={day.year:04d}/month={day.month:02d}/day-{day.day:02d}-"
        for item in rollup.list(prefix):
            yield item.name


def rollup_days(store: Any, rollup: RollupStore, days: Iterable[date], *, findings: Findings | None = None,
                progress: Any = None, workers: int = WORKERS, source_container: str | None = None,
                on_day: Any = None, last_due: date | None = None) -> list[DayResult]:
    """Each day in turn; days after ``last_due`` (when given) are built as partial."""
    from archiving.rollup.compact import compact_month

    results = []
    for day in days:
        result = rollup_day(store, rollup, day, findings=findings, progress=progress, workers=workers,
                            source_container=source_container, partial=last_due is not None and day > last_due)
        if on_day is not None:
            on_day(result)
        results.append(result)
    # A compacted month whose day was rebuilt holds that day twice in its folder: compact it again.
    for year, month in sorted({(r.day.year, r.day.month) for r in results if r.was_compacted}):
        compact_month(rollup, year, month, force=True)
    return results


# -- the timer -----------------------------------------------------------------------------------


def last_due_day(now: datetime, grace_hours: int) -> date:
    """The latest day whose end is more than the grace period ago (late events have arrived)."""
    return (now - timedelta(hours=grace_hours)).date() - timedelta(days=1)


@dataclass(frozen=True)
class Backlog:
    """The roll-ups against the archive: what is due and not (completely) rolled up."""

    last_due: date
    first_day: date | None  # the first day holding a record (None: nothing archived up to last_due)
    missing: tuple[date, ...]  # due days without a complete roll-up (none, or a partial one), oldest first
    partial: tuple[date, ...]  # days whose roll-up is partial (due or not)
    newest_complete: date | None


def backlog(store: Any, rollup: RollupStore, now: datetime, grace_hours: int) -> Backlog:
    """Every day from the first archived day to the last due day that has no complete roll-up,
    whatever was rolled up by hand before (a later day rolled up does not hide earlier gaps)."""
    from archiving.rollup.select import first_archived_day

    last = last_due_day(now, grace_hours)
    listed = {layout.manifest_day(m.name): m for m in rollup.manifests()}
    complete = {d for d, m in listed.items() if d is not None and not m.partial}
    partial = tuple(sorted(d for d, m in listed.items() if d is not None and m.partial))
    first = first_archived_day(store, last, min(listed, default=None))
    missing = tuple(d for d in layout.days(first, last) if d not in complete) if first and first <= last else ()
    newest = max((d for d in complete if d <= last), default=None)
    return Backlog(last, first, missing, partial, newest)


def due_days(store: Any, rollup: RollupStore, now: datetime, grace_hours: int) -> list[date]:
    """Days the timer rolls up: the backlog's missing days, the newest ``MAX_CATCH_UP_DAYS`` of them
    per run (the days people query first; the next runs take the older ones), oldest first."""
    return list(backlog(store, rollup, now, grace_hours).missing[-MAX_CATCH_UP_DAYS:])


def run_due(svc: Any, now: datetime | None = None) -> list[DayResult]:
    """What the timer function does."""
    now = now or utcnow()
    rollup = RollupStore(svc.rollup_container)
    days = due_days(svc.store, rollup, now, svc.settings.rollup_grace_hours)
    findings = Findings()
    results = rollup_days(svc.store, rollup, days, findings=findings, source_container=svc.settings.container)
    if days:
        log.info("rollup timer: %d due days rolled up (%s to %s)", len(days), days[0], days[-1])
    for damage in findings.items:
        log.warning("rollup left out a damaged blob: %s (%s)", damage.name, damage.reason)
    from archiving.rollup.compact import compact_if_closed

    for result in results:
        compact_if_closed(rollup, result.day)  # the month just closed: small days become one file
    return results


# -- for the status command ----------------------------------------------------------------------


@dataclass(frozen=True)
class RollupInfo:
    day: date
    built_at: str
    records: int
    damaged: int
    manifest: str


def last_rollup(rollup: RollupStore) -> RollupInfo | None:
    """The most recently built day (by the manifest's write time), or None if nothing is rolled up."""
    listed = [m for m in rollup.manifests() if m.last_modified is not None]
    if not listed:
        return None
    newest = max(listed, key=lambda m: (m.last_modified, m.name))
    manifest, _ = rollup.read_manifest(newest.name)
    if not manifest:
        return None
    return RollupInfo(date.fromisoformat(manifest["day"]), manifest["built_at"], int(manifest["records"]),
                      len(manifest.get("damaged") or []), newest.name)


def last_rollup_of(svc: Any) -> RollupInfo | None:
    """``last_rollup`` of the deployment's roll-up container (for the status command)."""
    return last_rollup(RollupStore(svc.rollup_container))
