"""CLI commands of the roll-ups: ``rollup --from D --to D`` (build or rebuild days) and
``query "SQL"`` (DuckDB over the roll-ups, as the table ``records``)."""

from __future__ import annotations

import sys
import tempfile
from datetime import timedelta
from pathlib import Path


def _rollup_store(svc):
    from archiving.rollup.store import RollupStore

    return RollupStore(svc.rollup_container)


def cmd_rollup(args) -> int:
    from archiving.cli.common import FINDINGS, OK, cli_services, progress_bar
    from archiving.read.verified import Findings
    from archiving.rollup import layout
    from archiving.rollup.writer import last_due_day, rollup_days
    from archiving.timefmt import utcnow

    first, last = layout.parse_day(args.start), layout.parse_day(args.end)
    days = layout.days(first, last)
    now = utcnow()
    if last > now.date():
        raise ValueError(f"--to {last} is in the future (today is {now.date()} UTC): nothing to roll up yet")
    svc = cli_services(args)
    due = last_due_day(now, svc.settings.rollup_grace_hours)
    if last > due and not args.partial:
        raise ValueError(f"{max(due + timedelta(days=1), first)} to {last} not due yet: events of a day may arrive "
                         f"until {svc.settings.rollup_grace_hours} h after it ends (ROLLUP_GRACE_HOURS; due up to "
                         f"{due}). Add --partial to roll them up now: they are marked partial and rolled up "
                         f"again by the timer when due")
    rollup = _rollup_store(svc)
    findings = Findings()

    def report(result) -> None:
        channels = ", ".join(f"{c} {sum(k.values())}" for c, k in result.by_channel.items()) or "none"
        print(f"{result.day}: {result.records} records ({channels}), {len(result.damaged)} damaged left out, "
              f"{len(result.parts)} parts, {result.replaced} replaced{', partial' if result.day > due else ''}",
              flush=True)
        for damage in result.damaged:
            print(f"damaged: {damage.name}: {damage.reason}", file=sys.stderr, flush=True)

    with progress_bar(args, unit="blob", desc="rollup") as bar:
        results = rollup_days(svc.store, rollup, days, findings=findings, progress=bar, workers=args.workers,
                              source_container=svc.settings.container, on_day=report, last_due=due)
    total = sum(r.records for r in results)
    damaged = sum(len(r.damaged) for r in results)
    print(f"{len(results)} days rolled up into {rollup.name}: {total} records, {damaged} damaged blobs left out")
    return FINDINGS if damaged else OK


def cmd_query(args) -> int:
    from azure.core.exceptions import ResourceNotFoundError

    from archiving.cli.common import FINDINGS, OK, cli_services, open_output, progress_bar
    from archiving.rollup import layout
    from archiving.rollup.query import (PartMismatch, check_sql, connect, download_parts, load_manifests,
                                        write_result)

    check_sql(args.sql)  # empty or not a SELECT: exit 2 before anything is downloaded
    first = layout.parse_day(args.start) if args.start else None
    last = layout.parse_day(args.end) if args.end else None
    if first and last and last < first:
        raise ValueError(f"--from {first} is after --to {last}")
    svc = cli_services(args)
    rollup = _rollup_store(svc)
    with tempfile.TemporaryDirectory(prefix="rollup-query-") as tmp:
        folder = Path(args.cache_dir).resolve() if args.cache_dir else Path(tmp) / "parts"
        for attempt in (1, 2):
            selection = load_manifests(rollup, first, last)
            try:
                with progress_bar(args, unit="part", desc="download", total=len(selection.parts)) as bar:
                    download_parts(rollup, selection.parts, folder, progress=bar, sha256=selection.sha256)
                break
            except ResourceNotFoundError:
                # A re-run replaced a day while we read it: its manifest names the new parts now.
                if attempt == 2:
                    raise
            except PartMismatch as exc:
                print(f"damaged: {exc}", file=sys.stderr)
                print("error: a roll-up part is not the one its manifest names: rebuild its day with "
                      "`python -m archiving rollup --from D --to D`", file=sys.stderr)
                return FINDINGS
        days = len(selection.manifests)
        records = sum(int(m.get("records") or 0) for m in selection.manifests)
        print(f"{days} days rolled up ({records} records, {len(selection.parts)} parts) in {rollup.name}",
              file=sys.stderr)
        if not days:
            print("no roll-ups in that range: run `python -m archiving rollup --from D --to D` first",
                  file=sys.stderr)
        import duckdb

        spill = Path(tmp) / "spill"
        spill.mkdir()
        con = connect(selection, folder, spill)
        try:
            with open_output(args.out) as out:
                count = write_result(con, args.sql, out, args.format)
        except duckdb.Error as exc:
            raise ValueError(f"query: {str(exc).splitlines()[0]}") from None
        finally:
            con.close()
    print(f"{count} rows", file=sys.stderr)
    return OK


def cmd_compact(args) -> int:
    from archiving.cli.common import OK, cli_services
    from archiving.rollup.compact import compact_month

    try:
        year, month = (int(x) for x in args.month.split("-"))
        if not (1 <= month <= 12 and len(args.month) == 7):
            raise ValueError
    except ValueError:
        raise ValueError(f"--month {args.month!r} is not a month (YYYY-MM)") from None
    svc = cli_services(args)
    result = compact_month(_rollup_store(svc), year, month, force=args.force)
    if result.skipped:
        print(f"{args.month}: not compacted: {result.skipped}")
    else:
        print(f"{args.month}: {result.days} days, {result.parts_before} parts -> {result.parts_after}, "
              f"{result.records} records, {result.removed} old parts removed")
    return OK


def register(sub) -> None:
    """Add this module's subcommands to the CLI's subparsers."""
    from archiving.cli.common import add_command, positive_int

    p = add_command(
        sub, "rollup", "build (or rebuild) the daily Parquet roll-ups of a range of days",
        "For each UTC day from --from to --to (both included): read every record whose index tag `at` is in "
        "that day (every channel; each blob verified, damaged ones named on stderr and left out), write one "
        "zstd Parquet part per channel into the roll-up container (ROLLUP_CONTAINER), then switch the day's "
        "manifest to the new parts and remove the old ones. Safe to repeat: a re-run replaces the day, it "
        "never adds rows twice. The timer function rollup_archive does the same every day for every due day "
        "without a complete roll-up. A day is due once ROLLUP_GRACE_HOURS have passed since its end: a day "
        "not due yet needs --partial (marked partial, rolled up again by the timer when due); future days "
        "are refused.",
        ["python -m archiving rollup --from 2026-11-18 --to 2026-11-19",
         "python -m archiving rollup --from 2026-01-01 --to 2026-11-30   # backfill",
         "python -m archiving rollup --from 2026-12-06 --to 2026-12-06 --partial   # today, so far"],
        "  0 done; 1 done, some damaged blobs were left out (named on stderr, listed in the manifests);\n"
        "  2 usage or setting error (a day not due without --partial, a future day); 4 storage failed\n",
    )
    p.add_argument("--from", dest="start", required=True, metavar="DAY", help="first day, YYYY-MM-DD (UTC)")
    p.add_argument("--to", dest="end", required=True, metavar="DAY", help="last day, YYYY-MM-DD (UTC), included")
    p.add_argument("--workers", type=positive_int, default=8, help="parallel downloads (default: %(default)s)")
    p.add_argument("--partial", action="store_true",
                   help="also roll up days that are not due yet (marked partial; rebuilt by the timer when due)")
    p.set_defaults(func=cmd_rollup)

    p = add_command(
        sub, "query", "SQL over the roll-ups (DuckDB), as the table `records`",
        "Download the roll-up parts named by the day manifests (all days, or --from/--to) through the Blob "
        "SDK and run DuckDB SQL over them as the table `records` (one row per archived record version: source, "
        "source_sha256, channel, kind, action, thread_id, message_id, version, message_type, sender_hash, "
        "content, at, day, archived_at, schema_version, document, year, month). Output: CSV with a header row, "
        "or JSON lines; progress and counts on stderr. The output holds message content: handle it as "
        "personal data.",
        ["python -m archiving query \"SELECT channel, kind, count(*) AS n FROM records GROUP BY ALL ORDER BY n DESC\"",
         "python -m archiving query \"SELECT at, thread_id, content FROM records WHERE content ILIKE '%refund%'\" "
         "--from 2026-11-01 --to 2026-11-30 --format jsonl --out refunds.jsonl"],
        "  0 done (an empty result too); 1 a part is not the one its manifest names (named on stderr);\n"
        "  2 usage or setting error, an invalid query, or a statement that does more than read the roll-ups\n"
        "    (only one SELECT runs: no COPY, ATTACH, EXPORT, INSTALL/LOAD, SET, no local files or URLs);\n"
        "  4 storage failed\n",
    )
    p.add_argument("sql", metavar="SQL")
    p.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    p.add_argument("--from", dest="start", metavar="DAY", help="only days from this one (YYYY-MM-DD)")
    p.add_argument("--to", dest="end", metavar="DAY", help="only days up to this one, included")
    p.add_argument("--out", metavar="PATH", help="write to this file instead of stdout")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="keep downloaded parts here and reuse them next time when their sha256 is still the "
                        "manifest's (otherwise downloaded again)")
    p.set_defaults(func=cmd_query)

    p = add_command(
        sub, "compact", "merge a month's daily roll-up parts into one part per channel",
        "Monthly compaction of the roll-ups: read the parts the month's day manifests name, write one Parquet "
        "part per channel for the whole month, switch every day's manifest to it and remove the day parts. "
        "The rows do not change, only the number of files (engines that read the folder pay per file). "
        "Skipped when the parts are big already (32 MB on average) unless --force. The timer does it by "
        "itself after rolling up the last day of a month.",
        ["python -m archiving compact --month 2026-11"],
        "  0 done (or nothing to do); 2 usage or setting error; 4 storage failed\n",
    )
    p.add_argument("--month", required=True, metavar="YYYY-MM")
    p.add_argument("--force", action="store_true", help="compact even when the parts are big already")
    p.set_defaults(func=cmd_compact)
