"""``show`` for SMS, WhatsApp and email: a conversation (by its id or by the two parties) or one
message's delivery history (by its message id).  ``cli/main.py``'s ``show`` dispatches here."""

from __future__ import annotations

import sys


def add_show_options(p) -> None:
    p.add_argument("--between", nargs=2, metavar=("PARTY", "PARTY"),
                   help="SMS / WhatsApp / email: the conversation of these two parties (phone numbers in any "
                        "format, email addresses, channel ids), whichever is the business")
    p.add_argument("--message", metavar="MESSAGE_ID",
                   help="one SMS, WhatsApp or email message and every delivery or engagement report of it, any month")
    p.add_argument("--channel", choices=("sms", "whatsapp", "email"), help="only this channel (with --between "
                   "or a conversation id)")


def wants_channels(args) -> bool:
    from archiving.store import keys

    return bool(getattr(args, "between", None) or getattr(args, "message", None)
                or keys.is_conversation_id(args.thread_id or ""))


def show_channels(args, services) -> int:
    from archiving.cli.common import FINDINGS, NOT_FOUND, OK, open_output, report_findings
    from archiving.read import conversations as conv

    if args.message:
        view = conv.load_message(services.store, args.message, args.channel, hash_key=services.settings.hash_key)
        what = f"message {args.message}"
    elif args.between:
        ids = conv.conversation_ids_between(services.settings.hash_key, *args.between)
        view = conv.load_conversation(services.store, ids, args.channel, hash_key=services.settings.hash_key)
        what = "conversation of the two parties"
    else:
        view = conv.load_conversation(services.store, [args.thread_id], args.channel,
                                      hash_key=services.settings.hash_key)
        what = f"conversation {args.thread_id}"
    from archiving.cli.calls import between_calls

    calls = between_calls(args, services)  # calls of the two parties (--between): cli/calls.py
    if view.empty and not view.findings and not calls:
        print(f"nothing archived for the {what}", file=sys.stderr)
        return NOT_FOUND
    if args.format == "json":
        text = conv.render_json(view)
    elif args.format == "csv":
        text = conv.render_csv(view, bom=args.bom if args.bom is not None else bool(args.out and args.out != "-"))
    elif args.format == "html":  # the calls are entries of the page, in time order
        from archiving.read.conversation_html import render_conversation_html
        from archiving.timefmt import iso, utcnow

        text = render_conversation_html(view, calls, args.between or (), generated_at=iso(utcnow()),
                                        hash_key=services.settings.hash_key, raw_ids=args.raw_ids)
    else:
        text = conv.render_text(view)
    if calls and args.format == "csv":  # the CSV has a message's columns: calls are shown by text and json
        print(f"{len(calls)} call(s) between the two parties are not in the CSV: --format text, json or html lists them",
              file=sys.stderr)
    elif calls and args.format != "html":
        text = calls.add_to(text, args.format)
    with open_output(args.out) as out:
        out.write(text)
    # As show's help says (and chat threads and calls do): damaged blobs left out are named on stderr, exit 1.
    report_findings(view.findings, " in this conversation")
    for call in calls:
        report_findings(call.findings, " of a call between the two parties")
    if view.findings:
        from archiving.cli.retention import archive_tier_hint

        ids = [args.thread_id] if not (args.message or args.between) else ids if args.between else []
        archive_tier_hint(view.findings, ["--conversation", ids[0]] if len(ids) == 1 else None)
    damaged = view.findings.any or any(c.findings.any for c in calls)
    return FINDINGS if damaged else OK
