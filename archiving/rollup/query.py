"""SQL over the roll-ups: DuckDB on the parts named by the day manifests, as a table ``records``.

The parts are downloaded through the Blob SDK (so a managed identity and Azurite work the same),
into a local folder that keeps the Hive layout; only parts named by a manifest are read, so rows of
replaced builds are never seen, and a part shared by several days (a compacted month) is read only
for the days whose manifest names it.

Least power (docs/analytics.md, "What `query` refuses"): one SELECT statement, run after the parts
are attached, with DuckDB's external access off (only the part files are readable), its
configuration locked and no extension installed or loaded; a cached part is used only when its
sha256 is the one its manifest names.
"""

from __future__ import annotations

import csv
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson

from archiving.read.scan import WORKERS, ordered_map
from archiving.rollup import layout, rows
from archiving.rollup.store import RollupStore, file_sha256

log = logging.getLogger("archiving.rollup.query")

QUERY_CONFIG = {"threads": "2", "memory_limit": "512MB", "autoinstall_known_extensions": "false",
                "autoload_known_extensions": "false", "allow_community_extensions": "false"}
FORMATS = ("csv", "jsonl")
READS_ROLLUPS_ONLY = "`query` reads the roll-ups only (one SELECT over the table `records`)"


class Refused(ValueError):
    """A statement that would do more than read the roll-ups (write, attach, load, read a local file)."""


class PartMismatch(Exception):
    """A part whose content is not the one its manifest names (sha256), even freshly downloaded."""

    def __init__(self, name: str, expected: str, got: str):
        super().__init__(f"{name}: sha256 {got} is not the manifest's {expected}")
        self.name = name


def check_sql(sql: str) -> str:
    """The statement to run (``at`` quoted), or ``ValueError`` (empty) / ``Refused`` (not one SELECT).

    Checked before anything is downloaded; DuckDB's own sandbox (``connect``) is the second wall."""
    import duckdb

    if not sql or not sql.strip():
        raise ValueError("query: the SQL is empty")
    sql = quote_at(sql)
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise ValueError(f"query: {str(exc).splitlines()[0]}") from None
    if not statements:
        raise ValueError("query: the SQL holds no statement")
    if len(statements) > 1:
        raise Refused(f"query: {len(statements)} statements: {READS_ROLLUPS_ONLY}")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise Refused(f"query: {kind.name} refused: {READS_ROLLUPS_ONLY}")
    return sql


@dataclass(frozen=True)
class Selection:
    manifests: list[dict]
    parts: dict[str, set[str]]  # part name -> days (ISO) whose manifest names it
    sha256: dict[str, str] = field(default_factory=dict)  # part name -> its manifest's sha256 (when named)

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
    sums: dict[str, str] = {}
    for manifest in manifests:
        for part in manifest.get("parts") or []:
            parts[part["name"]].add(manifest["day"])
            if isinstance(part.get("sha256"), str):
                sums[part["name"]] = part["sha256"]
    return Selection(manifests, dict(parts), sums)


def download_parts(rollup: RollupStore, names: Iterable[str], folder: Path, progress: Any = None,
                   workers: int = WORKERS, sha256: dict[str, str] | None = None) -> list[Path]:
    """Each part into ``folder`` at its own path.  A part already there (``--cache-dir``) is used only
    when its sha256 is the manifest's; otherwise (changed, or a manifest older than the sums) it is
    downloaded again.  A download whose sha256 is not the manifest's raises ``PartMismatch``."""
    sums = sha256 or {}

    def one(name: str) -> Path:
        path = folder / name
        expected = sums.get(name)
        if expected and path.is_file() and file_sha256(path) == expected:
            return path
        rollup.download_file(name, path)
        if expected:
            got = file_sha256(path)
            if got != expected:
                path.unlink()
                raise PartMismatch(name, expected, got)
        return path

    paths = []
    for path in ordered_map(one, list(names), workers):
        paths.append(path)
        if progress is not None:
            progress.update(1)
    return paths


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def connect(selection: Selection, folder: Path, spill: Path | None = None):
    """A DuckDB connection with the view ``records`` over the downloaded parts, sandboxed: only the
    part files can be read, nothing written (``spill`` is where DuckDB may spill a large sort, not
    the current folder), no extension loaded, and the configuration locked."""
    import duckdb

    con = duckdb.connect(config=dict(QUERY_CONFIG))
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # it would print into the output on stdout
    try:
        _define_records(con, selection, folder)
        con.execute("SET allowed_paths = ?", [[str(folder / name) for name in sorted(selection.parts)]])
        if spill is not None:
            con.execute("SET temp_directory = ?", [str(spill)])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def _define_records(con: Any, selection: Selection, folder: Path) -> None:
    columns = rows.COLUMNS + rows.PARTITIONS
    if not selection.parts:
        empty = ", ".join(f'CAST(NULL AS {t}) AS "{n}"' for n, t, _ in columns)
        con.execute(f"CREATE VIEW records AS SELECT {empty} WHERE false")
        return
    files = "[" + ", ".join(_literal(str(folder / name)) for name in sorted(selection.parts)) + "]"
    hive = "{'channel': 'VARCHAR', 'year': 'INTEGER', 'month': 'INTEGER'}"
    scan = f"read_parquet({files}, hive_partitioning = true, hive_types = {hive}, union_by_name = true"
    order = ", ".join(f'"{n}"' for n, _, _ in columns)
    if not selection.shared:
        con.execute(f"CREATE VIEW records AS SELECT {order} FROM {scan})")
        return
    # A compacted month's part holds several days: read each only for the days whose manifest names it.
    con.execute("CREATE TABLE _current (filename VARCHAR, day DATE)")
    con.executemany("INSERT INTO _current VALUES (?, ?)",
                    [(str(folder / name), d) for name, days in sorted(selection.parts.items()) for d in sorted(days)])
    picked = ", ".join(f'r."{n}"' for n, _, _ in columns)
    con.execute(f"CREATE VIEW records AS SELECT {picked} "
                f"FROM {scan}, filename = true) r SEMI JOIN _current c ON r.filename = c.filename AND r.day = c.day")


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
    import duckdb

    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: choose from {', '.join(FORMATS)}")
    sql = check_sql(sql)
    try:
        return _stream(con.execute(sql), out, fmt, batch)
    except duckdb.PermissionException:
        # External access is off: a file, a URL or an extension other than the roll-ups' parts.
        raise Refused(f"query: refused: {READS_ROLLUPS_ONLY}") from None


def _stream(cursor: Any, out: Any, fmt: str, batch: int) -> int:
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
