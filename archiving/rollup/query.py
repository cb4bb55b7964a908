"""SQL over the roll-ups: DuckDB on the parts named by the day manifests, as a table ``records``.

The parts are downloaded through the Blob SDK (so a managed identity and Azurite work the same),
into a local folder that keeps the Hive layout; only parts named by a manifest are read, so rows of
replaced builds are never seen, and a part shared by several days (a compacted month) is read only
for the days whose manifest names it.
"""

from __future__ import annotations

import csv
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson

from archiving.read.scan import WORKERS, ordered_map
from archiving.rollup import layout, rows
from archiving.rollup.store import RollupStore

log = logging.getLogger("archiving.rollup.query")

QUERY_CONFIG = {"threads": "2", "memory_limit": "512MB", "autoinstall_known_extensions": "false"}
FORMATS = ("csv", "jsonl")


@dataclass(frozen=True)
class Selection:
    manifests: list[dict]
    parts: dict[str, set[str]]  # part name -> days (ISO) whose manifest names it

    @property
    def shared(self) -> bool:
        """Some part holds several days (a compacted month): rows must be picked by day."""
        return any(len(days) > 1 or layout.is_month_part(name) for name, days in self.parts.items())


def load_manifests(rollup: RollupStore, first: date | None = None, last: date | None = None,
                   workers: int = WORKERS) -> Selection:
    """The current manifests of the days in [first, last] (every day when not given)."""
    names = []
    for item in rollup.manifests():
        day = layout.manifest_day(item.name)
        if day is None or (first and day < first) or (last and day > last):
            continue
        names.append(item.name)
    manifests = [m for m, _ in ordered_map(rollup.read_manifest, names, workers) if m]
    parts: dict[str, set[str]] = defaultdict(set)
    for manifest in manifests:
        for part in manifest.get("parts") or []:
            parts[part["name"]].add(manifest["day"])
    return Selection(manifests, dict(parts))


def download_parts(rollup: RollupStore, names: Iterable[str], folder: Path, progress: Any = None,
                   workers: int = WORKERS) -> list[Path]:
    """Each part into ``folder`` at its own path (kept when already there: a part never changes)."""

    def one(name: str) -> Path:
        path = folder / name
        if not path.exists():
            rollup.download_file(name, path)
        return path

    paths = []
    for path in ordered_map(one, list(names), workers):
        paths.append(path)
        if progress is not None:
            progress.update(1)
    return paths


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def connect(selection: Selection, folder: Path):
    """A DuckDB connection with the view ``records`` over the downloaded parts."""
    import duckdb

    con = duckdb.connect(config=dict(QUERY_CONFIG))
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # it would print into the output on stdout
    columns = rows.COLUMNS + rows.PARTITIONS
    if not selection.parts:
        empty = ", ".join(f'CAST(NULL AS {t}) AS "{n}"' for n, t, _ in columns)
        con.execute(f"CREATE VIEW records AS SELECT {empty} WHERE false")
        return con
    files = "[" + ", ".join(_literal(str(folder / name)) for name in sorted(selection.parts)) + "]"
    hive = "{'channel': 'VARCHAR', 'year': 'INTEGER', 'month': 'INTEGER'}"
    scan = f"read_parquet({files}, hive_partitioning = true, hive_types = {hive}, union_by_name = true"
    order = ", ".join(f'"{n}"' for n, _, _ in columns)
    if not selection.shared:
        con.execute(f"CREATE VIEW records AS SELECT {order} FROM {scan})")
        return con
    # A compacted month's part holds several days: read each only for the days whose manifest names it.
    con.execute("CREATE TABLE _current (filename VARCHAR, day DATE)")
    con.executemany("INSERT INTO _current VALUES (?, ?)",
                    [(str(folder / name), d) for name, days in sorted(selection.parts.items()) for d in sorted(days)])
    picked = ", ".join(f'r."{n}"' for n, _, _ in columns)
    con.execute(f"CREATE VIEW records AS SELECT {picked} "
                f"FROM {scan}, filename = true) r SEMI JOIN _current c ON r.filename = c.filename AND r.day = c.day")
    return con


def quote_at(sql: str) -> str:
    """``at`` is a keyword in DuckDB (``AT TIME ZONE``, time travel), so ``SELECT at FROM records`` does
    not parse: quote each bare ``at`` that is not followed by ``TIME`` or ``(``, so the column can be
    named as the contract names it.  Strings, quoted identifiers and comments are left alone."""
    import duckdb

    tokens = duckdb.tokenize(sql)
    spans = []
    for i, (start, kind) in enumerate(tokens):
        end = tokens[i + 1][0] if i + 1 < len(tokens) else len(sql)
        spans.append((start, sql[start:end].rstrip(), kind))
    out, last = [], 0
    for i, (start, text, kind) in enumerate(spans):
        if kind != duckdb.token_type.keyword or text.lower() != "at":
            continue
        following = next((t for _, t, k in spans[i + 1:] if k != duckdb.token_type.comment), "")
        if following.lower() == "time" or following.startswith("("):
            continue
        out.append(sql[last:start])
        out.append('"at"')
        last = start + len(text)
    out.append(sql[last:])
    return "".join(out)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode("utf-8")
    return str(value)


def _json_default(value: Any) -> Any:
    return str(value)


def write_result(con: Any, sql: str, out: Any, fmt: str, batch: int = 2048) -> int:
    """Run ``sql`` and stream its result to ``out`` (text) as CSV with a header row, or JSON lines."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: choose from {', '.join(FORMATS)}")
    cursor = con.execute(quote_at(sql))
    if cursor.description is None:
        return 0
    names = [d[0] for d in cursor.description]
    writer = csv.writer(out, lineterminator="\r\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(names)
    count = 0
    while True:
        chunk = cursor.fetchmany(batch)
        if not chunk:
            break
        for values in chunk:
            if writer is not None:
                writer.writerow([_cell(v) for v in values])
            else:
                out.write(orjson.dumps(dict(zip(names, values)), default=_json_default,
                                       option=orjson.OPT_NON_STR_KEYS).decode("utf-8") + "\n")
        count += len(chunk)
    return count
