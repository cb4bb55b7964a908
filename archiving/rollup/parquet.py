"""Parquet through DuckDB, for the roll-up writer and the monthly compaction: one connection profile and
one way to write a part.  Below both (writer imports compact, compact imports this): no import cycle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archiving.rollup import rows

# DuckDB writes the parts: bounded memory whatever the day's size (docs/analytics.md, "Writer").
# One thread: the part is written in a few seconds either way, and each thread buffers its own row group.
DUCKDB_CONFIG = {"threads": "1", "memory_limit": "128MB", "preserve_insertion_order": "true"}
ROW_GROUP_SIZE = 5_000  # rows; a row group is buffered whole while it is written: keeps memory flat
# DuckDB's JSON reader needs a buffer of twice the largest line.  A larger row (only a transcript of
# tens of thousands of messages comes near) keeps its columns but not its `document` (named in the
# manifest under "oversized"; the blob itself is the original).
MAX_LINE = 16 * 2**20


def duckdb_connection():
    import duckdb

    con = duckdb.connect(config=dict(DUCKDB_CONFIG))
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # it would print into the output on stdout
    return con


def write_parquet(con: Any, source: Path, target: Path) -> None:
    """JSON lines (one row each) to a zstd Parquet file with the typed columns of ``rows``."""
    columns = ", ".join(f"'{name}': '{type_}'" for name, type_, _ in rows.COLUMNS)
    names = ", ".join('"' + n + '"' for n in rows.NAMES)
    con.execute(
        f"COPY (SELECT {names} FROM read_json(?, format = 'newline_delimited', "
        f"columns = {{{columns}}}, maximum_object_size = {MAX_LINE})) "
        f"TO '{sql_path(target)}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_SIZE})",
        [str(source)],
    )


def sql_path(path: Path) -> str:
    """A path as a DuckDB string literal's text."""
    return str(path).replace("'", "''")
