"""``python -m archiving``: the operator's command line over the same core as the functions.

Exit codes: 0 done; 1 done, with findings (rejected events, verification failures, gaps); 2 usage
or setting error; 3 nothing found; 4 a service (storage, ACS) failed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

from archiving.settings import SettingError

OK, FINDINGS, USAGE, NOT_FOUND, SERVICE = 0, 1, 2, 3, 4

EXIT_CODES = textwrap.dedent(
    """\
    Exit codes: 0 done, 1 done with findings, 2 usage or setting error, 3 nothing found,
    4 a service failed.
    """
)

EPILOG = textwrap.dedent(
    """\
    Settings come from the environment, else from local.settings.json in the current directory
    (the same names as the Functions app; see README).

    examples:
      python -m archiving replay samples/conversation.json
      python -m archiving show '19:3f2504e0d4f14c7a9b1c6e2a5d7f8a90@thread.v2' --format html --out thread.html
      python -m archiving export --from 2026-11-01 --to 2026-11-30 --format jsonl --out november.jsonl
      python -m archiving find --sender '8:acs:…' --format jsonl > access-request.jsonl
      python -m archiving verify --prefix chat/202611/
      python -m archiving reconcile --inactive
    """
) + "\n" + EXIT_CODES

THREAD_EXAMPLE = "19:3f2504e0d4f14c7a9b1c6e2a5d7f8a90@thread.v2"


def _services(args):
    from archiving.bootstrap import BATCH_PROFILE, Services
    from archiving.settings import load_local_settings

    return Services(env=load_local_settings(args.settings), profile=BATCH_PROFILE)


def _bar(args, **kwargs):
    """A progress bar on stderr; off with --quiet, and when stderr is not a terminal."""
    from tqdm import tqdm

    return tqdm(disable=args.quiet or None, file=sys.stderr, **kwargs)


@contextmanager
def _output(path: str | None):
    """The file at ``path`` (written whole, then renamed), or stdout."""
    if not path or path == "-":
        yield sys.stdout
        return
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    with open(partial, "w", encoding="utf-8", newline="") as f:
        yield f
    partial.replace(target)


# -- replay ------------------------------------------------------------------------------------------


def cmd_replay(args) -> int:
    from archiving.ingest.replay import read_files, replay

    svc = _services(args)
    if args.container:
        if args.files:
            raise ValueError("give FILEs or --container, not both")
        from archiving.ingest.deadletter import dead_letter_container, dead_letter_items
        from archiving.settings import load_local_settings

        client = dead_letter_container(svc, args.container, args.connection_setting, load_local_settings(args.settings))
        with _bar(args, unit="blob", desc="dead-letter blobs") as bar:
            counts = replay(dead_letter_items(client, args.prefix, progress=bar), svc.store, svc.rejected_store,
                            svc.settings.hash_key)
    elif args.files:
        with _bar(args, unit="event") as bar:
            counts = replay((event for _, event in read_files(args.files)), svc.store, svc.rejected_store,
                            svc.settings.hash_key, progress=bar)
    else:
        raise ValueError("give FILEs to replay, or --container NAME for Event Grid dead letters")
    total = sum(n for status, n in counts.items() if status != "dead-lettered")
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()) if status != "dead-lettered")
    print(f"{total} events: {summary or 'none'}")
    if counts.get("dead-lettered"):
        print(f"{counts['dead-lettered']} of them were dead-lettered by Event Grid")
    if counts.get("rejected"):
        print(f"rejected events are kept with their reason in container {svc.settings.rejected_container}")
        return FINDINGS
    if args.container and total == 0:
        print(f"no dead-letter blobs under {args.container}/{args.prefix}", file=sys.stderr)
        return NOT_FOUND
    return OK


# -- show --------------------------------------------------------------------------------------------


def cmd_show(args) -> int:
    from archiving.read.reader import load_thread, render_csv, render_json, render_text

    svc = _services(args)
    with _bar(args, unit="blob", desc="show") as bar:
        view = load_thread(svc.store, args.thread_id, progress=bar)
    if view.empty:
        print(f"nothing archived for thread {args.thread_id}", file=sys.stderr)
        return NOT_FOUND
    if args.format == "json":
        text = render_json(view)
    elif args.format == "csv":
        text = render_csv(view, history=args.history)
    elif args.format == "html":
        from archiving.read.html import render_html
        from archiving.timefmt import iso, utcnow

        text = render_html(view, history=args.history, generated_at=iso(utcnow()))
    else:
        text = render_text(view, history=args.history)
    with _output(args.out) as out:
        out.write(text)
    if args.out:
        print(f"wrote {args.out}: {len(view.messages)} messages of thread {args.thread_id}", file=sys.stderr)
    return OK


# -- export ------------------------------------------------------------------------------------------


def _range(args, required: bool) -> tuple[str | None, str | None]:
    from archiving.read.scan import parse_bound

    start = parse_bound(args.start) if args.start else None
    end = parse_bound(args.end, end=True) if args.end else None
    if required and (start is None or end is None):
        raise ValueError("--from and --to are both required")
    if start and end and start >= end:
        raise ValueError(f"--from {args.start} is not before --to {args.end}")
    return start, end


def cmd_export(args) -> int:
    from archiving.read.export import ExportRequest, export

    start, end = _range(args, required=True)
    svc = _services(args)
    request = ExportRequest(start=start, end=end, out=Path(args.out), fmt=args.format, thread_id=args.thread)
    with _bar(args, unit="blob", desc="export") as bar:
        result = export(svc.store, request, progress=bar, container=svc.settings.container)
    c = result.counts
    print(f"exported {result.items} items ({c['message']} message records, {c['thread']} thread records, "
          f"{c['transcript-message']} transcript messages) from {start} to {end} (exclusive)")
    print(f"file: {result.path} ({result.size} bytes, sha256 {result.sha256})")
    print(f"manifest: {result.manifest_path}")
    if result.items == 0:
        print("nothing archived in that range", file=sys.stderr)
        return NOT_FOUND
    return OK


# -- find --------------------------------------------------------------------------------------------


def cmd_find(args) -> int:
    from collections import Counter

    from archiving.read.export import ItemWriter, TextOut
    from archiving.read.find import FindStats, find_user, text_line

    start, end = _range(args, required=False)
    svc = _services(args)
    stats = FindStats()
    counts: Counter = Counter()
    with _bar(args, unit="blob", desc="find") as bar, _output(args.out) as out:
        items = find_user(svc.store, svc.settings.hash_key, args.sender, start, end, stats=stats, progress=bar)
        if args.format == "text":
            for item in items:
                out.write(text_line(item) + "\n")
                counts[item.kind] += 1
        else:
            writer = ItemWriter(TextOut(out), args.format)
            for item in items:
                writer.write(item)
                counts[item.kind] += 1
    total = sum(counts.values())
    print(f"{total} items: {counts['message']} message records, {counts['thread']} thread records, "
          f"{counts['transcript-message']} transcript messages, in {len(stats.threads)} threads "
          f"({stats.transcripts} transcripts read)", file=sys.stderr)
    return OK if total else NOT_FOUND


# -- verify ------------------------------------------------------------------------------------------


def cmd_verify(args) -> int:
    from collections import Counter

    from archiving.read.verify import verify

    svc = _services(args)
    store = svc.rejected_store if args.rejected else svc.store
    container = svc.settings.rejected_container if args.rejected else svc.settings.container
    prefix = args.prefix if args.prefix is not None else ("" if args.rejected else "chat/")
    counts: Counter = Counter()
    with _bar(args, unit="blob", desc="verify") as bar:
        for _, finding in verify(store, store.list_names(prefix), rejected=args.rejected):
            bar.update(1)
            counts[finding.problem if finding else "ok"] += 1
            if finding:
                print(finding.line(), flush=True)
    total = sum(counts.values())
    print(f"{total} blobs verified in {container}/{prefix}: {counts['ok']} ok, {counts['corrupt']} corrupt, "
          f"{counts['unreadable']} unreadable, {counts['invalid']} invalid")
    if total == 0:
        return NOT_FOUND
    return FINDINGS if total != counts["ok"] else OK


# -- reconcile ---------------------------------------------------------------------------------------


def _reconcile_one(args, svc, thread_id: str, last_message_at=None):
    from archiving.read.reconcile import fill, reconcile_thread

    with _bar(args, unit="msg", desc=thread_id[:24], leave=False) as bar:
        report = reconcile_thread(svc.store, svc.acs, thread_id, progress=bar)
    if args.fill and report.error is None and any(g.fillable for g in report.gaps):
        before = report
        result = fill(thread_id, svc, last_message_at)
        with _bar(args, unit="msg", desc=thread_id[:24], leave=False) as bar:
            report = reconcile_thread(svc.store, svc.acs, thread_id, progress=bar)
        filled = len(before.gaps) - len(report.gaps)
        print(f"thread {thread_id}: filled {filled} of {len(before.gaps)} gaps with a transcript "
              f"({result.status}: {', '.join(result.keys) or 'nothing written'})")
    return report


def cmd_reconcile(args) -> int:
    if args.inactive == bool(args.thread_id):
        raise ValueError("give a THREAD_ID or --inactive")
    svc = _services(args)
    svc.settings.require_acs()
    if args.thread_id:
        report = _reconcile_one(args, svc, args.thread_id)
        print(report.summary())
        for gap in report.gaps:
            print("  " + gap.line())
        if report.error:
            return NOT_FOUND if "404" in report.error else SERVICE
        return OK if report.complete else FINDINGS

    from archiving.read.reconcile import InactiveStats, inactive_threads

    minutes = args.inactive_after or svc.settings.inactive_after_minutes
    stats = InactiveStats()
    compared = incomplete = 0
    with _bar(args, unit="thread", desc="threads") as bar:
        for thread in inactive_threads(svc.acs, minutes, stats):
            report = _reconcile_one(args, svc, thread.thread_id, thread.last_message_at)
            compared += 1
            bar.update(1)
            if not report.complete:
                incomplete += 1
                print(report.summary(), flush=True)
                for gap in report.gaps:
                    print("  " + gap.line(), flush=True)
            elif not args.quiet:
                print(report.summary(), flush=True)
    print(f"{compared} inactive threads compared: {compared - incomplete} complete, {incomplete} with gaps "
          f"({stats.listed} listed by the service: {stats.active} active, {stats.deleted} deleted, "
          f"{stats.no_messages} without messages, not compared)")
    if compared == 0:
        return NOT_FOUND
    return FINDINGS if incomplete else OK


# -- the parser --------------------------------------------------------------------------------------


def _command(sub, name: str, help_text: str, description: str, examples: Sequence[str], codes: str):
    epilog = "example:\n" + "\n".join(f"  {e}" for e in examples) + "\n\nexit codes:\n" + codes
    return sub.add_parser(name, help=help_text, description=description, epilog=epilog,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m archiving",
        description="Archive of Azure Communication Services chat: replay events, read, export, search, "
                    "verify and reconcile the archive.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--settings", default="local.settings.json", help="settings file (default: %(default)s)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _command(
        sub, "replay", "archive events from files or Event Grid dead letters, exactly as the function does",
        "Archive events from files (an Event Grid JSON array, a single event, CloudEvents 1.0 JSON, JSON lines, "
        "Event Grid dead-letter files) or from the dead-letter blobs of a container (--container). Idempotent: "
        "run it as often as you like; events archived already count as duplicates.",
        ["python -m archiving replay samples/conversation.json",
         "python -m archiving replay --container chat-archive-deadletter --prefix CONTOSO-CHAT/ARCHIVE-EVENTS/2026/11/"],
        "  0 done; 1 some events were rejected (kept with the reason in the rejected container);\n"
        "  2 usage or setting error; 3 no dead-letter blob under the prefix; 4 storage failed\n",
    )
    p.add_argument("files", nargs="*", metavar="FILE")
    p.add_argument("--container", help="read Event Grid dead-letter blobs from this container")
    p.add_argument("--prefix", default="", help="only blobs whose name starts with this (e.g. TOPIC/SUBSCRIPTION/2026/11/)")
    p.add_argument("--connection-setting", default=None, metavar="NAME",
                   help="setting holding the dead-letter storage connection string (default: ArchiveStorage)")
    p.set_defaults(func=cmd_replay)

    p = _command(
        sub, "show", "reassemble a thread from the archive",
        "Reassemble a thread from everything archived for it (real-time records and transcripts, all months), "
        "merged by message id: the newest version of each message in compose order, edits and deletions "
        "marked. --format json prints thread_id, topic, participants and messages [message_id, sender_id, "
        "created_at, content, edited_at, deleted_at, versions]; --format html writes a self-contained page "
        "(text escaped, html messages sanitized, nothing loaded from elsewhere).",
        [f"python -m archiving show '{THREAD_EXAMPLE}' --history",
         f"python -m archiving show '{THREAD_EXAMPLE}' --format html --out thread.html"],
        "  0 done; 2 usage or setting error; 3 nothing archived for the thread; 4 storage failed\n",
    )
    p.add_argument("thread_id", metavar="THREAD_ID")
    p.add_argument("--format", choices=("text", "json", "csv", "html"), default="text")
    p.add_argument("--history", action="store_true", help="list every version of each message")
    p.add_argument("--out", metavar="PATH", help="write to this file instead of stdout")
    p.set_defaults(func=cmd_show)

    p = _command(
        sub, "export", "eDiscovery export of everything archived in a time range",
        "Export every message record, thread record and transcript message of a time range, found through the "
        "blob index tags and streamed to JSON lines or CSV, with a manifest beside it (PATH.manifest.json: "
        "counts by kind, the range, the sha256 and size of the export). A date (YYYY-MM-DD) as --to includes "
        "that whole day; times are UTC unless they carry an offset. Each item names its source blob and that "
        "blob's sha256.",
        ["python -m archiving export --from 2026-11-01 --to 2026-11-30 --format jsonl --out november.jsonl",
         f"python -m archiving export --from 2026-10-01 --to 2026-12-31 --thread '{THREAD_EXAMPLE}' "
         "--format csv --out thread.csv"],
        "  0 done; 2 usage or setting error; 3 nothing in the range (empty export and manifest written);\n"
        "  4 storage failed\n",
    )
    p.add_argument("--from", dest="start", required=True, metavar="DATE")
    p.add_argument("--to", dest="end", required=True, metavar="DATE")
    p.add_argument("--thread", metavar="THREAD_ID", help="only this thread")
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    p.add_argument("--out", required=True, metavar="PATH")
    p.set_defaults(func=cmd_export)

    p = _command(
        sub, "find", "every archived record of one user (data subject access request)",
        "Find everything archived about one user through the HMAC hash of the raw id and the blob index tags, "
        "without listing the container: messages the user sent, thread changes the user made, the user added "
        "or removed, and the user's messages in the transcripts of those threads. Printed to stdout (it holds "
        "message content and raw ids: handle it as personal data); the summary goes to stderr.",
        ["python -m archiving find --sender '8:acs:7b5e2f4c-1d3a-4c8e-9f60-2a1b3c4d5e6f_00000020-0002-4e2a-8c1b-0a1b2c3d4e5f'",
         "python -m archiving find --sender '8:acs:…' --from 2026-01-01 --to 2026-12-31 --format jsonl --out dsar.jsonl"],
        "  0 found; 2 usage or setting error; 3 nothing found; 4 storage failed\n",
    )
    p.add_argument("--sender", required=True, metavar="RAW_ID", help="the user's ACS raw id (8:acs:…, 4:+…, 8:orgid:…)")
    p.add_argument("--from", dest="start", metavar="DATE")
    p.add_argument("--to", dest="end", metavar="DATE")
    p.add_argument("--format", choices=("text", "jsonl", "csv"), default="text")
    p.add_argument("--out", metavar="PATH", help="write to this file instead of stdout")
    p.set_defaults(func=cmd_find)

    p = _command(
        sub, "verify", "read every blob back and check its sha256, lz4 frame and JSON Schema",
        "Read every blob under the prefix and check it: the sha256 metadata against the content (corrupt), the "
        "lz4 frame and the JSON or CSV (unreadable), the JSON Schema and the agreement of document and name "
        "(invalid). Prints one tab-separated line per problem (kind, blob, detail), then a summary. --rejected "
        "checks the rejected container instead (plain JSON rejections).",
        ["python -m archiving verify", "python -m archiving verify --prefix chat/202611/"],
        "  0 every blob is sound; 1 some are corrupt, unreadable or invalid; 2 usage or setting error;\n"
        "  3 no blob under the prefix; 4 storage failed\n",
    )
    p.add_argument("--prefix", default=None, help="only blobs whose name starts with this (default: chat/)")
    p.add_argument("--rejected", action="store_true", help="verify the rejected container")
    p.set_defaults(func=cmd_verify)

    p = _command(
        sub, "reconcile", "compare the archive with the service's listing of a thread; report what is missing",
        "List a thread in ACS (as the archiver's user) and report each message, message version or system "
        "message (topic, participants) that the archive does not hold, and each edit or deletion whose earlier "
        "text was never archived. --inactive does so for every thread the sweep considers inactive. --fill "
        "archives what is missing as a transcript of the thread as it is now, then compares again. Needs "
        "ACS_CONNECTION_STRING (or ACS_ENDPOINT) and ARCHIVER_USER_ID.",
        [f"python -m archiving reconcile '{THREAD_EXAMPLE}'",
         "python -m archiving reconcile --inactive --fill"],
        "  0 complete; 1 something is missing (or could not be compared); 2 usage or setting error;\n"
        "  3 the service does not know the thread, or no inactive thread; 4 ACS or storage failed\n"
        "  (including 403: the archiver's user is not a participant)\n",
    )
    p.add_argument("thread_id", nargs="?", metavar="THREAD_ID")
    p.add_argument("--inactive", action="store_true", help="every inactive thread of the archiver's user")
    p.add_argument("--inactive-after", type=int, metavar="MINUTES",
                   help="quiet for this long (default: INACTIVE_AFTER_MINUTES)")
    p.add_argument("--fill", action="store_true", help="archive what is missing (a transcript), then compare again")
    p.set_defaults(func=cmd_reconcile)

    # Each further command group lives in its own module of archiving.cli with a register(sub).
    from archiving.cli import rollup, sweep

    for module in (sweep, rollup):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("azure", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.func(args)
    except SettingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE
    except Exception as exc:  # noqa: BLE001 - the operator needs the cause, not a traceback
        from azure.core.exceptions import AzureError

        if isinstance(exc, AzureError):
            print(f"error: service failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                  file=sys.stderr)
            return SERVICE
        raise
