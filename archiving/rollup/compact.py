"""Monthly compaction: a closed month's small day parts merged into one part per channel.

Days of a quiet tenant give small files (a few hundred KB), and engines that read a folder pay per
file.  Compaction reads the parts the month's day manifests name (each only for the days that name
it), writes one ``month-<build>.parquet`` per channel in the same folder, switches every day's
manifest to it (conditionally, like a roll-up) and removes the parts no manifest names any more.
The rows are the same; only the files change.  It is skipped when the days are big already.

A later roll-up of one day of a compacted month gives that day its own part again; the month is
compacted again right after (``rollup_days``), so engines reading the folder never see the day twice
for longer than the run.
"""

from __future__ import annotations

import logging
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from archiving.rollup import layout, rows
from archiving.rollup.store import ManifestConflict, RollupStore, file_sha256
from archiving.timefmt import iso, utcnow

log = logging.getLogger("archiving.rollup.compact")

# Days whose parts average this size or more are left as they are.
SMALL_PART_BYTES = 32 * 2**20


@dataclass(frozen=True)
class CompactResult:
    year: int
    month: int
    days: int  # days switched to the month's parts
    parts_before: int
    parts_after: int
    records: int
    removed: int
    skipped: str | None = None  # why nothing was done


def _month_manifests(rollup: RollupStore, year: int, month: int) -> list[tuple[str, dict, str]]:
    found = []
    for item in rollup.list(f"{layout.MANIFESTS}{year:04d}/{month:02d}/"):
        if layout.manifest_day(item.name) is None:
            continue
        manifest, etag = rollup.read_manifest(item.name)
        if manifest is not None:
            found.append((item.name, manifest, etag))
    return found


def compact_month(rollup: RollupStore, year: int, month: int, *, force: bool = False,
                  now: datetime | None = None) -> CompactResult:
    manifests = _month_manifests(rollup, year, month)
    current: dict[str, dict[str, Any]] = {}  # part name -> its manifest entry
    days_of: dict[str, set[str]] = defaultdict(set)
    for _, manifest, _ in manifests:
        for part in manifest.get("parts") or []:
            current[part["name"]] = part
            days_of[part["name"]].add(manifest["day"])
    total_bytes = sum(int(p.get("bytes") or 0) for p in current.values())
    by_channel: dict[str, list[str]] = defaultdict(list)
    for name, part in sorted(current.items()):
        by_channel[part["channel"]].append(name)
    if not current:
        return CompactResult(year, month, 0, 0, 0, 0, 0, skipped="nothing rolled up in that month")
    if all(len(names) == 1 for names in by_channel.values()):
        return CompactResult(year, month, 0, len(current), len(current), 0, 0, skipped="one part per channel already")
    if not force and total_bytes / len(current) >= SMALL_PART_BYTES:
        return CompactResult(year, month, 0, len(current), len(current), 0, 0,
                             skipped=f"parts average {total_bytes / len(current) / 2**20:.0f} MB: big enough")

    from archiving.rollup.parquet import ROW_GROUP_SIZE, duckdb_connection, sql_path

    now = now or utcnow()
    build = layout.new_build(now)
    new_parts: dict[str, dict[str, Any]] = {}  # channel -> entry
    rows_by_day: dict[str, dict[str, int]] = defaultdict(dict)  # channel -> day -> rows
    names = ", ".join('"' + n + '"' for n in rows.NAMES)
    with tempfile.TemporaryDirectory(prefix="rollup-compact-") as tmp:
        folder = Path(tmp)
        con = duckdb_connection()
        try:
            for channel, parts in sorted(by_channel.items()):
                local = []
                for name in parts:
                    path = folder / name
                    rollup.download_file(name, path)
                    local.append((name, path))
                con.execute("CREATE OR REPLACE TABLE _current (filename VARCHAR, day DATE)")
                con.executemany("INSERT INTO _current VALUES (?, ?)",
                                [(str(path), d) for name, path in local for d in sorted(days_of[name])])
                files = "[" + ", ".join(f"'{sql_path(p)}'" for _, p in local) + "]"
                target = folder / f"{channel}.parquet"
                con.execute(
                    f"COPY (SELECT {names} FROM read_parquet({files}, filename = true, hive_partitioning = false, "
                    f"union_by_name = true) r SEMI JOIN _current c ON r.filename = c.filename AND r.day = c.day) "
                    f"TO '{sql_path(target)}' (FORMAT parquet, COMPRESSION zstd, "
                    f"ROW_GROUP_SIZE {ROW_GROUP_SIZE})")
                counts = con.execute(f"SELECT CAST(day AS VARCHAR), count(*) FROM read_parquet('{sql_path(target)}') "
                                     "GROUP BY day").fetchall()
                rows_by_day[channel] = {d: n for d, n in counts}
                name = layout.month_part(channel, year, month, build)
                rollup.upload_file(name, target)
                new_parts[channel] = {"name": name, "channel": channel, "rows": sum(rows_by_day[channel].values()),
                                      "bytes": target.stat().st_size, "sha256": file_sha256(target)}
                for _, path in local:
                    path.unlink()
        finally:
            con.close()

    switched = 0
    still_named: set[str] = set()
    for manifest_name, manifest, etag in manifests:
        day = manifest["day"]
        parts = []
        for channel in sorted({p["channel"] for p in manifest.get("parts") or []}):
            entry = dict(new_parts[channel], day_rows=rows_by_day[channel].get(day, 0))
            parts.append(entry)
        updated = dict(manifest, parts=parts, compacted={"build": build, "at": iso(now),
                                                         "parts_before": [p["name"] for p in manifest.get("parts") or []]})
        try:
            rollup.switch_manifest(manifest_name, updated, etag)
            switched += 1
        except ManifestConflict:
            # A roll-up of that day ran meanwhile: it keeps its own part; compact again later.
            log.warning("compaction: %s changed meanwhile, left as it is", manifest_name)
            still_named.update(p["name"] for p in (rollup.read_manifest(manifest_name)[0] or {}).get("parts") or [])
    removed = 0
    for name in sorted(set(current) - still_named):
        if rollup.delete(name):
            removed += 1
    records = sum(p["rows"] for p in new_parts.values())
    log.info("compaction month=%04d-%02d days=%d parts_before=%d parts_after=%d records=%d", year, month, switched,
             len(current), len(new_parts), records)
    return CompactResult(year, month, switched, len(current), len(new_parts), records, removed)


def compact_if_closed(rollup: RollupStore, day: date) -> CompactResult | None:
    """After the timer rolled up the last day of a month: compact that month."""
    from datetime import timedelta

    if (day + timedelta(days=1)).month == day.month:
        return None
    return compact_month(rollup, day.year, day.month)
