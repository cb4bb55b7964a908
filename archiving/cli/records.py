"""The record commands: replay events into the archive, and read it back (show, export, find, verify,
reconcile). Each command's checks live in ``archiving.read``; this module parses and prints."""

from __future__ import annotations

import sys
from pathlib import Path

from archiving.cli.common import (
    FINDINGS,
    NOT_FOUND,
    OK,
    SERVICE,
    THREAD_EXAMPLE,
    USAGE,
    add_command,
    bom_options,
    cli_services,
    open_output,
    positive_int,
    progress_bar,
    report_findings,
    time_range,
)

# -- replay ------------------------------------------------------------------------------------------


def _recordings(svc) -> dict:
    """Call recordings are downloaded on replay as in archive_event (archiving/calls)."""
    return {"recordings": svc.recordings, "delete_recordings": svc.settings.delete_recording_after_archive}


def cmd_replay(args) -> int:
    import os
    from collections import Counter

    from archiving.ingest.replay import STILL_REJECTED, Problems, read_files, replay

    svc = cli_services(args)
    problems = Problems()
    counts: Counter = Counter()  # filled as events are replayed: the summary holds even if a failure stops it
    if args.files and args.container:
        raise ValueError("give FILEs or --container, not both")
    if not args.files and not args.container:
        raise ValueError("give FILEs to replay, or --container NAME for Event Grid dead letters")
    try:
        if args.container:
            from archiving.ingest.deadletter import dead_letter_container, dead_letter_items
            from archiving.settings import load_local_settings

            client = dead_letter_container(svc, args.container, args.connection_setting,
                                           load_local_settings(args.settings))
            # The rejected container holds rejection documents: read them with the rejection schema.
            profile = "rejected" if args.container == svc.settings.rejected_container else "deadletter"
            with progress_bar(args, unit="blob", desc="blobs") as bar:
                replay(dead_letter_items(client, args.prefix, progress=bar, problems=problems, profile=profile),
                       svc.store, svc.rejected_store, svc.settings.hash_key, media=svc.media,
                       media_max_bytes=svc.settings.media_max_bytes, counts=counts, **_recordings(svc))
        else:
            total = 0
            for path in args.files:
                try:
                    total += os.path.getsize(path)
                except OSError:
                    pass  # named by read_files
            with progress_bar(args, total=total, unit="B", unit_scale=True, desc="replay") as bar:
                replay((event for _, event in read_files(args.files, problems, progress=bar)), svc.store,
                       svc.rejected_store, svc.settings.hash_key, media=svc.media,
                       media_max_bytes=svc.settings.media_max_bytes, counts=counts, **_recordings(svc))
    except BaseException:
        _replay_summary(counts, problems, svc, stopped=True)
        raise
    total = _replay_summary(counts, problems, svc)
    if counts.get("rejected") or counts.get(STILL_REJECTED) or problems:
        return FINDINGS
    if args.container and total == 0:
        print(f"no dead-letter blobs under {args.container}/{args.prefix}", file=sys.stderr)
        return NOT_FOUND
    return OK


def _replay_summary(counts, problems, svc, stopped: bool = False) -> int:
    """What was replayed (also when a failure stopped the replay: then on stderr, before the error)."""
    from archiving.ingest.replay import STILL_REJECTED

    out = sys.stderr if stopped else sys.stdout
    for problem in problems.items:
        print(f"unreadable: {problem}", file=sys.stderr)
    shown = {k: n for k, n in counts.items() if k != "dead-lettered"}
    total = sum(shown.values())
    summary = ", ".join(f"{n} {status}" for status, n in sorted(shown.items()))
    if stopped:
        print(f"replay stopped by the error below; before it, {total} events: {summary or 'none'} "
              "(run it again: events archived already are found, not written twice)", file=out)
    else:
        print(f"{total} events: {summary or 'none'}", file=out)
    if counts.get("dead-lettered"):
        print(f"{counts['dead-lettered']} of them were dead-lettered by Event Grid", file=out)
    if problems:
        print(f"{len(problems)} inputs could not be read (named on stderr)"
              + ("" if stopped else "; everything else was replayed"), file=out)
    if counts.get("rejected"):
        print(f"rejected events are kept with their reason in container {svc.settings.rejected_container}", file=out)
    if counts.get(STILL_REJECTED):
        print(f"{counts[STILL_REJECTED]} rejection documents hold events that are still malformed: left as they are",
              file=out)
    return total


# -- show --------------------------------------------------------------------------------------------


def cmd_show(args) -> int:
    from archiving.cli.conversations import show_channels, wants_channels
    from archiving.read.reader import load_thread, render_csv, render_json, render_text

    svc = cli_services(args)
    if getattr(args, "call", None):  # a call: cli/calls.py
        from archiving.cli.calls import show_call

        return show_call(args, svc)
    if wants_channels(args):  # SMS, WhatsApp, email
        return show_channels(args, svc)
    if not args.thread_id:
        raise ValueError("give a THREAD_ID, a conversation id, --between PARTY PARTY or --message MESSAGE_ID")
    hash_key = svc.settings.hash_key
    with progress_bar(args, unit="blob", desc="show") as bar:
        view = load_thread(svc.store, args.thread_id, progress=bar, hash_key=hash_key)
    if view.empty:
        print(f"nothing archived for thread {args.thread_id}", file=sys.stderr)
        return NOT_FOUND
    if args.format == "json":
        text = render_json(view)
    elif args.format == "csv":
        # A byte-order mark for spreadsheets by default when writing a file; --bom / --no-bom decide.
        bom = args.bom if args.bom is not None else bool(args.out and args.out != "-")
        text = render_csv(view, history=args.history, bom=bom)
    elif args.format == "html":
        from archiving.read.html import render_html
        from archiving.timefmt import iso, utcnow

        text = render_html(view, history=args.history, generated_at=iso(utcnow()), hash_key=hash_key,
                           raw_ids=args.raw_ids)
    else:
        text = render_text(view, history=args.history)
    with open_output(args.out) as out:
        out.write(text)
    if args.out:
        print(f"wrote {args.out}: {len(view.messages)} messages of thread {args.thread_id}", file=sys.stderr)
    report_findings(view.findings, " in this thread")
    from archiving.cli.retention import archive_tier_hint

    archive_tier_hint(view.findings, ["--thread", args.thread_id])
    return FINDINGS if view.findings.any else OK


# -- export ------------------------------------------------------------------------------------------


def cmd_export(args) -> int:
    if getattr(args, "matter", None):  # a matter's set: archiving/cli/retention.py
        from archiving.cli.retention import export_matter_command

        return export_matter_command(args)
    if args.format == "rsmf":  # a directory of RSMF files: archiving/cli/rsmf.py
        from archiving.cli import rsmf

        return rsmf.run(args)
    from archiving.read.export import ExportRequest, export

    start, end = time_range(args, required=True)
    svc = cli_services(args)
    request = ExportRequest(start=start, end=end, out=Path(args.out), fmt=args.format, thread_id=args.thread,
                            bom=args.bom if args.bom is not None else True)
    with progress_bar(args, unit="blob", desc="export") as bar:
        result = export(svc.store, request, progress=bar, container=svc.settings.container,
                        hash_key=svc.settings.hash_key)
    c = result.counts
    channel_records = sum(n for k, n in c.items() if k not in ("message", "thread", "transcript-message"))
    channels = f", {channel_records} SMS, WhatsApp, email and call records" if channel_records else ""
    print(f"exported {result.items} items ({c['message']} message records, {c['thread']} thread records, "
          f"{c['transcript-message']} transcript messages{channels}) from {start} to {end} (exclusive)")
    print(f"file: {result.path} ({result.size} bytes, sha256 {result.sha256})")
    print(f"manifest: {result.manifest_path}")
    if result.untagged:
        print(f"{result.untagged} blobs without index tags were found by listing and included", file=sys.stderr)
    report_findings(result.findings, " (listed in the manifest)")
    from archiving.cli.retention import archive_tier_hint, scope_args

    archive_tier_hint(result.findings, scope_args(args))
    if result.findings.any:
        return FINDINGS
    if result.items == 0:
        print("nothing archived in that range", file=sys.stderr)
        return NOT_FOUND
    return OK


# -- find --------------------------------------------------------------------------------------------


def cmd_find(args) -> int:
    from collections import Counter

    from archiving.read.export import ItemWriter, TextOut
    from archiving.read.find import FindStats, WrongKey, check_sender, find_user, text_line

    sender = check_sender(args.sender)
    start, end = time_range(args, required=False)
    svc = cli_services(args)
    stats = FindStats()
    counts: Counter = Counter()
    try:
        with progress_bar(args, unit="blob", desc="find") as bar, open_output(args.out) as out:
            items = find_user(svc.store, svc.settings.hash_key, sender, start, end, stats=stats, progress=bar)
            if args.format == "text":
                for item in items:
                    out.write(text_line(item) + "\n")
                    counts[item.kind] += 1
            else:
                bom = args.bom if args.bom is not None else bool(args.out and args.out != "-")
                writer = ItemWriter(TextOut(out), args.format, bom=bom and args.format == "csv")
                for item in items:
                    writer.write(item)
                    counts[item.kind] += 1
    except WrongKey as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE
    total = sum(counts.values())
    channel_records = total - counts["message"] - counts["thread"] - counts["transcript-message"]
    channels = f", {channel_records} SMS, WhatsApp, email and call records" if channel_records else ""
    print(f"{total} items: {counts['message']} message records, {counts['thread']} thread records, "
          f"{counts['transcript-message']} transcript messages, in {len(stats.threads)} threads "
          f"({stats.transcripts} transcripts read){channels}", file=sys.stderr)
    if stats.untagged:
        print(f"{stats.untagged} of them found by listing only (blobs without index tags)", file=sys.stderr)
    if stats.other_keys:
        print(f"warning: {stats.other_keys} records were written with another ARCHIVE_HASH_KEY (hash_key_id differs "
              f"from {stats.our_key_id}): find cannot match them", file=sys.stderr)
    elif total == 0 and not any(stats.key_ids):
        print("note: the archive's records do not say which hash key wrote them (written before hash_key_id): "
              "with a wrong ARCHIVE_HASH_KEY this answer would also be 0 items", file=sys.stderr)
    report_findings(stats.findings)
    from archiving.cli.retention import archive_tier_hint

    archive_tier_hint(stats.findings, ["--party", args.sender] + [a for o, v in (("--from", args.start),
                                                                             ("--to", args.end)) if v for a in (o, v)])
    if stats.findings.any or stats.other_keys:
        return FINDINGS
    return OK if total else NOT_FOUND


# -- verify ------------------------------------------------------------------------------------------


def cmd_verify(args) -> int:
    from collections import Counter

    from archiving.read.verify import KINDS, verify

    svc = cli_services(args)
    store = svc.rejected_store if args.rejected else svc.store
    container = svc.settings.rejected_container if args.rejected else svc.settings.container
    from itertools import chain

    # Every root the archive writes: chat, the channels and calls (media included), what the business sent
    # (records, outcomes, links, index blobs, attachments), and the audit records of holds, disposals and
    # rehydrations.
    from archiving.retention import audit
    from archiving.retention.scope import RECORD_ROOTS

    roots = (*RECORD_ROOTS, *audit.ROOTS)
    prefixes = [args.prefix] if args.prefix is not None else ([""] if args.rejected else list(roots))
    prefix = ", ".join(prefixes)
    counts: Counter = Counter()
    areas: Counter = Counter()
    archived: list[str] = []  # named, counted, and the command to bring them online printed
    with progress_bar(args, unit="blob", desc="verify") as bar:
        if args.rejected:
            names = chain.from_iterable(store.list_names(p) for p in prefixes)
        else:  # listed with their tags and metadata: one listing call per 5,000 blobs, no tag request per blob
            from archiving.read.scan import list_indexed

            names = chain.from_iterable(list_indexed(store, p) for p in prefixes)
        for name, problems in verify(store, names, rejected=args.rejected, hash_key=svc.settings.hash_key):
            bar.update(1)
            counts[problems[0].kind if problems else "ok"] += 1
            areas[name.split("/", 1)[0] + "/" if "/" in name else name] += 1
            for problem in problems:
                print(problem.line(), flush=True)
                if "Archive tier" in problem.line():
                    archived.append(name)
    if archived:
        from archiving.cli.retention import print_rehydrate_hint

        print_rehydrate_hint(len(archived), archived, "blob(s) in the Archive tier could not be verified")
    total = sum(counts.values())
    if not args.rejected:  # each area read, with its count (0: listed, empty); stderr: stdout's lines stay as they are
        print("areas read: " + ", ".join(f"{root} {areas[root]}" for root in dict.fromkeys(
            [*(p for p in prefixes if p.count("/") == 1 and p.endswith("/")), *sorted(areas)])), file=sys.stderr)
    print(f"{total} blobs verified in {container}/{prefix}: {counts['ok']} ok, "
          + ", ".join(f"{counts[kind]} {kind}" for kind in KINDS[:3])
          + (f", {counts['tags']} with missing or wrong index tags" if counts["tags"] else ""))
    if total == 0:
        return NOT_FOUND
    return FINDINGS if total != counts["ok"] else OK


# -- reconcile ---------------------------------------------------------------------------------------


def _reconcile_one(args, svc, thread_id: str, last_message_at=None):
    from archiving.read.reconcile import fill, reconcile_thread

    hash_key = svc.settings.hash_key
    from archiving.read.safe import terminal

    with progress_bar(args, unit="msg", desc=terminal(thread_id[:24]), leave=False) as bar:
        report = reconcile_thread(svc.store, svc.acs, thread_id, progress=bar, hash_key=hash_key)
    if args.fill and report.error is None and any(g.fillable for g in report.gaps):
        before = report
        result = fill(thread_id, svc, last_message_at)
        with progress_bar(args, unit="msg", desc=terminal(thread_id[:24]), leave=False) as bar:
            report = reconcile_thread(svc.store, svc.acs, thread_id, progress=bar, hash_key=hash_key)
        filled = len(before.gaps) - len(report.gaps)
        print(f"thread {thread_id}: filled {filled} of {len(before.gaps)} gaps with a transcript "
              f"({result.status}: {', '.join(result.keys) or 'nothing written'})")
    return report


def _print_report(report) -> None:
    from archiving.read.safe import terminal

    print(terminal(report.summary()), flush=True)
    for line in report.lines():
        print("  " + terminal(line), flush=True)


def cmd_reconcile(args) -> int:
    if args.ack:
        return _reconcile_ack(args)
    if args.reason:
        raise ValueError("--reason goes with --ack THREAD_ID")
    if args.inactive == bool(args.thread_id):
        raise ValueError("give a THREAD_ID or --inactive")
    svc = cli_services(args)
    svc.settings.require_acs()
    if args.thread_id:
        report = _reconcile_one(args, svc, args.thread_id)
        _print_report(report)
        if report.error:
            return NOT_FOUND if "404" in report.error else SERVICE
        return OK if report.complete else FINDINGS

    from archiving.read.reconcile import InactiveStats, inactive_threads

    minutes = args.inactive_after if args.inactive_after is not None else svc.settings.inactive_after_minutes
    stats = InactiveStats()
    compared = incomplete = 0
    with progress_bar(args, unit="thread", desc="threads") as bar:
        for thread in inactive_threads(svc.acs, minutes, stats):
            report = _reconcile_one(args, svc, thread.thread_id, thread.last_message_at)
            compared += 1
            bar.update(1)
            if not report.complete:
                incomplete += 1
                _print_report(report)
            elif not args.quiet or report.acknowledged:
                _print_report(report)
    print(f"{compared} inactive threads compared: {compared - incomplete} complete, {incomplete} with gaps "
          f"({stats.listed} listed by the service: {stats.active} active, {stats.deleted} deleted, "
          f"{stats.no_messages} without messages, not compared)")
    if compared == 0:
        return NOT_FOUND
    return FINDINGS if incomplete else OK


def _reconcile_ack(args) -> int:
    """--ack THREAD_ID --reason TEXT: keep the thread's permanent gaps as acknowledged, with the reason."""
    from archiving.read.reconcile import acknowledge, reconcile_thread

    if args.thread_id or args.inactive or args.fill:
        raise ValueError("--ack THREAD_ID goes alone (with --reason), not with a THREAD_ID, --inactive or --fill")
    if not args.reason or not args.reason.strip():
        raise ValueError("--ack needs --reason TEXT: why the gaps cannot be filled (kept in the archive)")
    svc = cli_services(args)
    svc.settings.require_acs()
    report = reconcile_thread(svc.store, svc.acs, args.ack, hash_key=svc.settings.hash_key)
    if report.error:
        print(report.summary())
        return NOT_FOUND if "404" in report.error else SERVICE
    permanent = tuple(g for g in report.gaps if not g.fillable)
    fillable = [g for g in report.gaps if g.fillable]
    if fillable:
        print(f"thread {args.ack}: {len(fillable)} gaps can still be filled: run reconcile --fill first; "
              "they are not acknowledged", file=sys.stderr)
    if not permanent:
        print(f"thread {args.ack}: no open gap that cannot be filled: nothing to acknowledge", file=sys.stderr)
        _print_report(report)
        return NOT_FOUND if not fillable else FINDINGS
    name = acknowledge(svc.store, args.ack, permanent, args.reason)
    print(f"thread {args.ack}: acknowledged {len(permanent)} gaps ({name})")
    report = reconcile_thread(svc.store, svc.acs, args.ack, hash_key=svc.settings.hash_key)
    _print_report(report)
    return OK if report.complete else FINDINGS


# -- the parser --------------------------------------------------------------------------------------


def register(sub) -> None:
    p = add_command(
        sub, "replay", "archive events from files or Event Grid dead letters, exactly as the function does",
        "Archive events from files (an Event Grid JSON array, a single event, CloudEvents 1.0 JSON, JSON lines, "
        "Event Grid dead-letter files) or from the dead-letter blobs of a container (--container). Idempotent: "
        "run it as often as you like; events archived already count as duplicates.",
        ["python -m archiving replay samples/conversation.json",
         "python -m archiving replay --container chat-archive-deadletter --prefix CONTOSO-CHAT/ARCHIVE-EVENTS/2026/11/"],
        "  0 done; 1 some events were rejected (kept with the reason in the rejected container), or some\n"
        "  input could not be read (named on stderr; the rest was replayed);\n"
        "  2 usage or setting error; 3 no dead-letter blob under the prefix; 4 storage failed\n",
    )
    p.add_argument("files", nargs="*", metavar="FILE")
    p.add_argument("--container", help="read Event Grid dead-letter blobs from this container")
    p.add_argument("--prefix", default="", help="only blobs whose name starts with this (e.g. TOPIC/SUBSCRIPTION/2026/11/)")
    p.add_argument("--connection-setting", default=None, metavar="NAME",
                   help="setting holding the dead-letter storage connection string (default: ArchiveStorage)")
    p.set_defaults(func=cmd_replay)

    p = add_command(
        sub, "show", "reassemble a thread from the archive",
        "Reassemble a thread from everything archived for it (real-time records and transcripts, all months), "
        "merged by message id: the newest version of each message in compose order, edits and deletions "
        "marked. --format json prints thread_id, topic, participants and messages [message_id, sender_id, "
        "created_at, content, edited_at, deleted_at, versions]; --format html writes a self-contained page "
        "(text escaped, html messages sanitized, nothing loaded from elsewhere). SMS, WhatsApp and email: a "
        "conversation by its id or by the two parties (--between), both directions in time order (inbound, and "
        "what the business sent with its send outcome and delivery status), or one message with every delivery "
        "and engagement report of it (--message); --format text, json, csv or html (one self-contained page as "
        "for a thread: each entry's direction, outcome, delivery status, source blob and sha256; media and "
        "attachments by name and sha256, never loaded; with --between the calls of the two parties are "
        "entries too).",
        [f"python -m archiving show '{THREAD_EXAMPLE}' --history",
         f"python -m archiving show '{THREAD_EXAMPLE}' --format html --out thread.html",
         "python -m archiving show --between +15555555555 +14255550123",
         "python -m archiving show --between +15555555555 +14255550123 --format html --out conversation.html",
         "python -m archiving show --message 950850f5-bcdf-4315-b77a-6447cf56fac9"],
        "  0 done; 1 done, with damaged blobs left out (or mistagged ones) named on stderr and on the page;\n"
        "  2 usage or setting error; 3 nothing archived for the thread or conversation; 4 storage failed\n",
    )
    p.add_argument("thread_id", nargs="?", metavar="THREAD_ID",
                   help="a chat thread id, or an SMS / WhatsApp / email conversation id (as show prints it)")
    from archiving.cli.conversations import add_show_options

    add_show_options(p)
    from archiving.cli.calls import add_show_call

    add_show_call(p)
    p.add_argument("--format", choices=("text", "json", "csv", "html"), default="text")
    p.add_argument("--history", action="store_true", help="list every version of each message")
    p.add_argument("--out", metavar="PATH", help="write to this file instead of stdout")
    p.add_argument("--raw-ids", action="store_true",
                   help="html: show each person's raw id (default: the id's kind and a short hash; phone numbers and "
                        "addresses of SMS, WhatsApp and email are shown as the text view shows them)")
    bom_options(p)
    p.set_defaults(func=cmd_show)

    p = add_command(
        sub, "export", "eDiscovery export of everything archived in a time range",
        "Export every message record, thread record and transcript message of a time range, found through the "
        "blob index tags and streamed to JSON lines or CSV, with a manifest beside it (PATH.manifest.json: "
        "counts by kind, the range, the sha256 and size of the export). A date (YYYY-MM-DD) as --to includes "
        "that whole day; times are UTC unless they carry an offset. Each item names its source blob and the "
        "sha256 computed from what was read. Every blob is checked as it is read; damaged ones are named on "
        "stderr and in the manifest and left out; the range's month folders are listed to include blobs "
        "without index tags (with a warning). CSV cells that a spreadsheet would run as a formula are "
        "neutralized.",
        ["python -m archiving export --from 2026-11-01 --to 2026-11-30 --format jsonl --out november.jsonl",
         f"python -m archiving export --from 2026-10-01 --to 2026-12-31 --thread '{THREAD_EXAMPLE}' "
         "--format csv --out thread.csv",
         "python -m archiving export --from 2026-11-01 --to 2026-11-02 --format rsmf --out review/"],
        "  0 done; 1 done, with damaged or untagged blobs named on stderr and in the manifest (rsmf: damaged\n"
        "  blobs left out, the rest exported);\n"
        "  2 usage or setting error; 3 nothing in the range (empty export and manifest written);\n"
        "  4 storage failed\n",
    )
    p.add_argument("--from", dest="start", metavar="DATE", help="required, unless --matter")
    p.add_argument("--to", dest="end", metavar="DATE", help="required, unless --matter")
    p.add_argument("--thread", metavar="THREAD_ID",
                   help="only this thread (or SMS / WhatsApp / email conversation id, as show prints it)")
    p.add_argument("--matter", metavar="NAME",
                   help="exactly what the matter's active holds cover (no --from/--to); the manifest names the matter "
                        "and its hold audit records (docs/operations.md, 'Records management')")
    p.add_argument("--format", choices=("jsonl", "csv", "rsmf"), default="jsonl",
                   help="rsmf: RSMF 2.0 for review platforms, one file per conversation per UTC day (docs/rsmf.md)")
    p.add_argument("--out", required=True, metavar="PATH", help="the export file; with rsmf, a directory")
    bom_options(p, default_note="default: on")
    p.set_defaults(func=cmd_export)

    p = add_command(
        sub, "find", "every archived record of one user (data subject access request)",
        "Find everything archived about one user through the HMAC hash of the raw id and the blob index tags "
        "(the month folders are listed too, so that blobs without index tags are not missed): messages the user "
        "sent, thread changes the user made, the user added or removed, and the user's messages in the "
        "transcripts of those threads. Every blob is checked as it is read; damaged ones are named on stderr and "
        "left out. Printed to stdout (it holds message content and raw ids: handle it as personal data); the "
        "summary goes to stderr.",
        ["python -m archiving find --sender '8:acs:7b5e2f4c-1d3a-4c8e-9f60-2a1b3c4d5e6f_00000020-0002-4e2a-8c1b-0a1b2c3d4e5f'",
         "python -m archiving find --sender '8:acs:…' --from 2026-01-01 --to 2026-12-31 --format jsonl --out dsar.jsonl"],
        "  0 found; 1 found, with damaged, untagged or other-key records named on stderr; 2 usage or setting\n"
        "  error (also: --sender not a raw id, ARCHIVE_HASH_KEY not the archive's key); 3 nothing found;\n"
        "  4 storage failed\n",
    )
    p.add_argument("--sender", required=True, metavar="RAW_ID",
                   help="the user's ACS raw id (8:acs:…, 4:+…, 8:orgid:…), a phone number (any format) or an email "
                        "address (SMS, WhatsApp, email records sent by or to it)")
    p.add_argument("--from", dest="start", metavar="DATE")
    p.add_argument("--to", dest="end", metavar="DATE")
    p.add_argument("--format", choices=("text", "jsonl", "csv"), default="text")
    p.add_argument("--out", metavar="PATH", help="write to this file instead of stdout")
    bom_options(p)
    p.set_defaults(func=cmd_find)

    p = add_command(
        sub, "verify", "read every blob back and check its sha256, lz4 frame and JSON Schema",
        "Read every blob under the prefix and check it: the sha256 metadata against the content (corrupt), the "
        "lz4 frame and the JSON or CSV (unreadable), the JSON Schema and the agreement of document and name "
        "(invalid), the blob index tags against the document (tags: missing or wrong tags hide a blob from "
        "export and find). The same checks every read makes. Prints one tab-separated line per problem (kind, "
        "blob, detail), then a summary. --rejected checks the rejected container instead (plain JSON "
        "rejections); --prefix acks/ the acknowledged reconcile gaps.",
        ["python -m archiving verify", "python -m archiving verify --prefix chat/202611/"],
        "  0 every blob is sound; 1 some are corrupt, unreadable, invalid or mistagged; 2 usage or setting error;\n"
        "  3 no blob under the prefix; 4 storage failed\n",
    )
    p.add_argument("--prefix", default=None,
                   help="only blobs whose name starts with this (default: chat/, sms/, whatsapp/, email/, outbound/)")
    p.add_argument("--rejected", action="store_true", help="verify the rejected container")
    p.set_defaults(func=cmd_verify)

    p = add_command(
        sub, "reconcile", "compare the archive with the service's listing of a thread; report what is missing",
        "List a thread in ACS (as the archiver's user) and report each message, message version or system "
        "message (topic, participants) that the archive does not hold, and each edit or deletion whose earlier "
        "text was never archived. --inactive does so for every thread the sweep considers inactive. --fill "
        "archives what is missing as a transcript of the thread as it is now, then compares again. Needs "
        "ACS_CONNECTION_STRING (or ACS_ENDPOINT) and ARCHIVER_USER_ID.",
        [f"python -m archiving reconcile '{THREAD_EXAMPLE}'",
         "python -m archiving reconcile --inactive --fill"],
        "  0 complete (acknowledged gaps aside); 1 something is missing (or could not be compared, or a blob\n"
        "  is damaged); 2 usage or setting error;\n"
        "  3 the service does not know the thread, or no inactive thread; 4 ACS or storage failed\n"
        "  (including 403: the archiver's user is not a participant)\n",
    )
    p.add_argument("thread_id", nargs="?", metavar="THREAD_ID")
    p.add_argument("--inactive", action="store_true", help="every inactive thread of the archiver's user")
    p.add_argument("--inactive-after", type=positive_int, metavar="MINUTES",
                   help="quiet for this long, at least 1 (default: INACTIVE_AFTER_MINUTES)")
    p.add_argument("--fill", action="store_true", help="archive what is missing (a transcript), then compare again")
    p.add_argument("--ack", metavar="THREAD_ID",
                   help="acknowledge the thread's gaps that cannot be filled (kept in the archive under acks/; "
                        "later runs show them as acknowledged, not as findings); needs --reason")
    p.add_argument("--reason", metavar="TEXT", help="why the gaps are acknowledged (with --ack)")
    p.set_defaults(func=cmd_reconcile)
