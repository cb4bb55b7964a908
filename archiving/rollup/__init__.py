"""Daily Parquet roll-ups of the archive, and SQL over them (DuckDB).

Owns the roll-up container (derived data: rebuilt at will, not immutable, not covered by any seal
of the archive): its layout (``layout``), one row per archived record version (``rows``), the
writer of a day's parts and the per-day manifest that names them (``writer``), the monthly
compaction (``compact``) and the query path (``query``).  DuckDB is imported only inside the
functions that write or query, so the Event Grid function's cold start does not grow.
"""
