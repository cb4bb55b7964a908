"""CLI commands of archive-before-send: ``outbound show`` and ``outbound reconcile``."""

from __future__ import annotations

import argparse
import json
import sys

EXAMPLE_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"


def cmd_show(args) -> int:
    from archiving.cli.common import FINDINGS, NOT_FOUND, OK, cli_services, open_output
    from archiving.outbound import layout
    from archiving.outbound.read import find_by_acs_id, load, render_text
    from archiving.read.verified import Findings

    svc = cli_services(args)
    findings = Findings()
    if args.acs_id:
        view = find_by_acs_id(svc.store, args.channel, args.id, findings, svc.settings.hash_key)
    else:
        layout.check_archive_id(args.id)
        view = load(svc.store, args.channel, args.id, findings, svc.settings.hash_key)
        if view.message is None and not (view.sent or view.failures or view.marker):
            view = None
    for damage in findings.items:
        print(damage.line(), file=sys.stderr)
    if view is None:
        print(f"nothing archived for {args.channel} {'ACS message id' if args.acs_id else 'archive id'} {args.id}",
              file=sys.stderr)
        return NOT_FOUND
    text = json.dumps(view.as_json(), ensure_ascii=False, indent=2) + "\n" if args.format == "json" else render_text(view)
    with open_output(args.out) as out:
        out.write(text)
    return FINDINGS if findings else OK


def cmd_reconcile(args) -> int:
    from datetime import timedelta

    from archiving.cli.common import FINDINGS, OK, cli_services
    from archiving.outbound import layout
    from archiving.outbound.read import outcome_unknown

    svc = cli_services(args)
    unknown = outcome_unknown(svc.store, args.channel, older_than=timedelta(minutes=args.older_than))
    for item in unknown:
        marker = " (not archived before send)" if item.not_archived_before_send else ""
        print(f"{layout.STATUS_UNKNOWN}\t{item.channel}\t{item.archive_id}{marker}", flush=True)
    print(f"{len(unknown)} outbound messages archived with no send outcome (older than {args.older_than} min)")
    return FINDINGS if unknown else OK


def cmd_index(args) -> int:
    from archiving.cli.common import FINDINGS, OK, cli_services
    from archiving.outbound.backfill import backfill

    svc = cli_services(args)
    stats = backfill(svc.store, dry_run=args.dry_run)
    for damage in stats.findings.items:
        print(damage.line(), file=sys.stderr)
    verb = "would index" if args.dry_run else "indexed"
    print(f"{stats.messages} outbound records without conversation or thread tags ({verb}; {stats.tagged} blobs tagged, "
          f"{stats.index_blobs} index blobs written); {stats.already} indexed already")
    return FINDINGS if stats.findings else OK


def register(sub) -> None:
    """Add ``outbound`` and its actions to the CLI's subparsers."""
    from archiving.cli.common import non_negative_int, settings_option
    from archiving.outbound.layout import CHANNELS

    p = sub.add_parser("outbound", help="archive-before-send records: show one, list those without outcome",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=f"examples:\n  python -m archiving outbound show sms {EXAMPLE_ID}\n"
                              "  python -m archiving outbound reconcile\n\n"
                              "exit codes:\n  as each action says (python -m archiving outbound ACTION --help): 0 done;\n"
                              "  1 findings; 2 usage or setting error; 3 nothing found; 4 storage failed\n")
    osub = p.add_subparsers(dest="outbound_command", required=True, metavar="ACTION")

    s = osub.add_parser(
        "show", help="one outbound message with its send outcome and delivery reports",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Show what was archived before sending (recipients, sender, subject, bodies, template, "
                    "attachments by hash), each failed attempt, the send outcome (ACS id per recipient) and the "
                    "delivery and engagement reports of those ids. ID is the archive id (SMS tag, email operation "
                    "id), or with --acs-id the ACS message id of a delivery report.",
        epilog=f"examples:\n  python -m archiving outbound show sms {EXAMPLE_ID}\n"
               "  python -m archiving outbound show sms --acs-id Outgoing_20261201120000_noam --format json\n\n"
               "exit codes:\n  0 found; 1 found, some blobs damaged (named on stderr); 2 usage or setting error;\n"
               "  3 nothing archived under that id; 4 storage failed\n")
    s.add_argument("channel", choices=CHANNELS)
    s.add_argument("id", metavar="ID")
    s.add_argument("--acs-id", action="store_true", help="ID is an ACS message id (from a delivery report)")
    s.add_argument("--format", choices=("text", "json"), default="text")
    s.add_argument("--out", metavar="PATH", help="write to this file instead of stdout")
    settings_option(s)
    s.set_defaults(func=cmd_show)

    r = osub.add_parser(
        "reconcile", help='list messages "archived, send outcome unknown"',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="List outbound messages whose record was written but whose send has no outcome: the process "
                    "stopped between archiving and sending (or before the outcome was written). Such a message "
                    "may or may not have gone out: retry it with the same archive id (ACS repeatability ids keep "
                    "an SMS or WhatsApp message from going out twice; chat finds its message by the archive id in "
                    "its metadata), or check the delivery reports.",
        epilog="examples:\n  python -m archiving outbound reconcile\n"
               "  python -m archiving outbound reconcile --channel email --older-than 60\n\n"
               "exit codes:\n  0 every record has an outcome; 1 some have none; 2 usage or setting error;\n"
               "  4 storage failed\n")
    r.add_argument("--channel", choices=CHANNELS, help="only this channel (default: all)")
    r.add_argument("--older-than", type=non_negative_int, default=2, metavar="MINUTES",
                   help="only records older than this (a send in flight has no outcome yet; default %(default)s)")
    settings_option(r)
    r.set_defaults(func=cmd_reconcile)

    i = osub.add_parser(
        "index", help="index outbound records written before conversations and chat threads were (one-time backfill)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Add the conversation, recipient and direction tags to SMS, WhatsApp and email outbound records "
                    "written before they were set at send time, and write the index blobs of further recipients, "
                    "so that show and find see them (docs/outbound.md, \"Conversations\"); add the thread tag to chat "
                    "outbound records written before it was set, so that a thread's hold sees them by tag. Idempotent.",
        epilog="examples:\n  python -m archiving outbound index --dry-run\n  python -m archiving outbound index\n\n"
               "exit codes:\n  0 done; 1 some records damaged (named on stderr); 2 usage or setting error;\n"
               "  4 storage failed\n")
    i.add_argument("--dry-run", action="store_true", help="count only, change nothing")
    settings_option(i)
    i.set_defaults(func=cmd_index)
