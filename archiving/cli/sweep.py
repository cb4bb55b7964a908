"""CLI commands of the sweep side: ``sweep --once`` (backfill) and ``identity create``."""

from __future__ import annotations

import sys


def cmd_sweep(args) -> int:
    from tqdm import tqdm

    from archiving.cli.common import FINDINGS, OK, cli_services
    from archiving.threads.sweep import select_threads
    from archiving.threads.transcripts import archive_thread

    svc = cli_services(args)
    selected, stats = select_threads(svc)
    # Summaries on stderr, data (the --dry-run list) on stdout: `… --dry-run | cut -f1` gets thread ids only.
    print(f"{stats.listed} threads listed: {stats.selected} to archive, {stats.archived_already} archived already, "
          f"{stats.active} active, {stats.deleted} deleted, {stats.no_messages} without messages", file=sys.stderr)
    if args.dry_run:
        for item in selected:
            print(f"{item.thread_id}\t{item.last_message_at.isoformat()}")
        return OK
    failed = 0
    with tqdm(total=len(selected), unit="thread", disable=args.quiet or None, file=sys.stderr) as bar:  # a known total
        for item in selected:
            try:
                result = archive_thread(item.thread_id, svc, item.last_message_at)
                bar.set_postfix_str(f"{result.message_count} messages")
            except Exception as exc:  # noqa: BLE001 - one thread's failure must not stop the backfill
                failed += 1
                print(f"failed: {item.thread_id}: {type(exc).__name__}", file=sys.stderr)
            bar.update(1)
    print(f"{len(selected) - failed} threads archived, {failed} failed", file=sys.stderr)
    return FINDINGS if failed else OK


REDRIVE_VISIBILITY = 30  # seconds a received poison message stays invisible if moving it fails


def cmd_redrive(args) -> int:
    """Move messages from <SWEEP_QUEUE>-poison back to <SWEEP_QUEUE>, content unchanged.

    Counts what it moved and what remains; a poison queue that does not exist holds nothing (0 moved).
    """
    from azure.core.exceptions import ResourceNotFoundError

    from archiving.cli.common import FINDINGS, OK, cli_services

    svc = cli_services(args)
    name = svc.settings.sweep_queue
    poison = svc.queue_service.get_queue_client(f"{name}-poison")
    target = svc.queue_service.get_queue_client(name)
    try:
        waiting = poison.get_queue_properties().approximate_message_count or 0
    except ResourceNotFoundError:
        print(f"0 messages moved: there is no queue {name}-poison (nothing has failed)")
        return OK
    moved = 0
    while args.limit is None or moved < args.limit:
        want = 32 if args.limit is None else max(1, min(32, args.limit - moved))
        batch = list(poison.receive_messages(max_messages=want, visibility_timeout=REDRIVE_VISIBILITY))
        if not batch:
            break
        for message in batch:
            if args.limit is not None and moved >= args.limit:
                break  # received but not moved: visible again after REDRIVE_VISIBILITY seconds
            target.send_message(message.content)  # the host wrote it in the queue's encoding: keep it
            poison.delete_message(message)
            moved += 1
    # The count includes messages still invisible (received by an earlier attempt that failed, or just now).
    remaining = poison.get_queue_properties().approximate_message_count or 0
    print(f"{moved} messages moved from {name}-poison to {name}; {remaining} remain in {name}-poison "
          f"(of {waiting} at the start)")
    if remaining and moved == 0:
        print(f"the {remaining} remaining are invisible for now (a failed or parallel redrive received them): "
              f"run redrive again in {REDRIVE_VISIBILITY} s", file=sys.stderr)
    return FINDINGS if remaining and args.limit is None else OK


def cmd_identity_create(args) -> int:
    from archiving.threads.acs import AcsAccess
    from archiving.cli.common import OK, USAGE
    from archiving.settings import Settings, load_local_settings

    env = load_local_settings(args.settings)
    if (env.get("ARCHIVER_USER_ID") or "").strip() and not args.force:
        # A second user would not see the threads the first one was added to: the sweep reads only
        # the threads of whichever id is set.
        print("error: ARCHIVER_USER_ID is already set: the archiver has an ACS user. A new one would not be a "
              "participant of the threads the current one was added to. To create another user anyway, run "
              "`identity create --force`.", file=sys.stderr)
        return USAGE
    # Only the ACS settings matter here: a first-time user has no archive storage or hash key yet.
    settings = Settings.from_env({"ArchiveStorage": "UseDevelopmentStorage=true", "ARCHIVE_HASH_KEY": "(unused)",
                                  **{k: v for k, v in env.items() if v.strip()},
                                  "ARCHIVER_USER_ID": env.get("ARCHIVER_USER_ID") or "(new)"})
    user = AcsAccess(settings).identity_client().create_user()
    print(user.properties["id"])
    print("Set it as ARCHIVER_USER_ID and add this user to every thread to be archived.", file=sys.stderr)
    return OK


def register(sub) -> None:
    """Add this module's subcommands to the CLI's subparsers."""
    from archiving.cli.common import add_command

    p = add_command(
        sub, "sweep", "select inactive threads and write their transcripts inline (backfill)",
        "Run the sweep's selection (threads of ARCHIVER_USER_ID, not deleted, quiet for INACTIVE_AFTER_MINUTES, "
        "without a transcript for their last activity) and archive each selected thread inline, as "
        "archive_thread does. Safe to repeat. --dry-run prints the selected threads on stdout (thread id, tab, "
        "last message time); the summary goes to stderr. Needs ACS_CONNECTION_STRING (or ACS_ENDPOINT) and "
        "ARCHIVER_USER_ID.",
        ["python -m archiving sweep --once --dry-run", "python -m archiving sweep --once"],
        "  0 done (or listed, with --dry-run); 1 some threads failed (named on stderr; the others are archived);\n"
        "  2 usage or setting error; 4 ACS or storage failed\n",
    )
    p.add_argument("--once", action="store_true", required=True, help="one pass, then exit")
    p.add_argument("--dry-run", action="store_true", help="list what would be archived, write nothing")
    p.set_defaults(func=cmd_sweep)

    p = add_command(
        sub, "redrive", "move failed threads from the poison queue back to the sweep queue",
        "archive_thread gives up on a thread after maxDequeueCount attempts (host.json) and the host moves its "
        "message to <SWEEP_QUEUE>-poison. Once the cause is fixed, move them back.",
        ["python -m archiving redrive", "python -m archiving redrive --limit 10"],
        "  0 done (also: no poison queue, 0 moved); 1 messages remain that could not be received now\n"
        "  (invisible after a failed attempt); 2 usage or setting error; 4 storage failed\n",
    )
    from archiving.cli.common import positive_int

    p.add_argument("--limit", type=positive_int, default=None, help="move at most this many (at least 1)")
    p.set_defaults(func=cmd_redrive)

    identity_codes = ("  0 created (the id on stdout); 2 usage or setting error, or ARCHIVER_USER_ID is already set\n"
                      "  (use --force to create another user); 4 ACS failed\n")
    p = add_command(
        sub, "identity", "the archiver's ACS identity",
        "The archiver's own ACS user: the sweep lists the threads it is a participant of.",
        ["python -m archiving identity create"], identity_codes,
    )
    isub = p.add_subparsers(dest="identity_command", required=True, metavar="ACTION")
    c = add_command(
        isub, "create", "create the archiver's ACS user and print its id",
        "Create an ACS user for the archiver and print its id (8:acs:…) on stdout; set it as ARCHIVER_USER_ID "
        "and add that user to every thread to be archived. Refused when ARCHIVER_USER_ID is already set, "
        "unless --force. Needs ACS_CONNECTION_STRING (or ACS_ENDPOINT with a managed identity).",
        ["python -m archiving identity create", "python -m archiving identity create --force"], identity_codes,
    )
    c.add_argument("--force", action="store_true", help="create a new user even though ARCHIVER_USER_ID is set")
    c.set_defaults(func=cmd_identity_create)
