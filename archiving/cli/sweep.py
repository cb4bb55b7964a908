"""CLI commands of the sweep side: ``sweep --once`` (backfill) and ``identity create``."""

from __future__ import annotations

import argparse
import sys


def cmd_sweep(args) -> int:
    from tqdm import tqdm

    from archiving.cli.main import FINDINGS, OK, _services
    from archiving.threads.sweep import select_threads
    from archiving.threads.transcripts import archive_thread

    svc = _services(args)
    selected, stats = select_threads(svc)
    print(f"{stats.listed} threads listed: {stats.selected} to archive, {stats.archived_already} archived already, "
          f"{stats.active} active, {stats.deleted} deleted, {stats.no_messages} without messages")
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
    print(f"{len(selected) - failed} threads archived, {failed} failed")
    return FINDINGS if failed else OK


REDRIVE_VISIBILITY = 30  # seconds a received poison message stays invisible if moving it fails


def cmd_redrive(args) -> int:
    """Move messages from <SWEEP_QUEUE>-poison back to <SWEEP_QUEUE>, content unchanged.

    Counts what it moved and what remains; a poison queue that does not exist holds nothing (0 moved).
    """
    from azure.core.exceptions import ResourceNotFoundError

    from archiving.cli.main import FINDINGS, OK, _services

    svc = _services(args)
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
    from archiving.cli.main import OK
    from archiving.settings import Settings, load_local_settings

    env = load_local_settings(args.settings)
    settings = Settings.from_env({**env, "ARCHIVER_USER_ID": env.get("ARCHIVER_USER_ID") or "(new)"})
    user = AcsAccess(settings).identity_client().create_user()
    print(user.properties["id"])
    print("Set it as ARCHIVER_USER_ID and add this user to every thread to be archived.", file=sys.stderr)
    return OK


def register(sub) -> None:
    """Add this module's subcommands to the CLI's subparsers."""
    p = sub.add_parser(
        "sweep", help="select inactive threads and write their transcripts inline (backfill)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the sweep's selection (threads of ARCHIVER_USER_ID, not deleted, quiet for "
                    "INACTIVE_AFTER_MINUTES, without a transcript for their last activity) and archive each "
                    "selected thread inline, as archive_thread does. Safe to repeat.",
        epilog="examples:\n  python -m archiving sweep --once --dry-run\n  python -m archiving sweep --once",
    )
    p.add_argument("--once", action="store_true", required=True, help="one pass, then exit")
    p.add_argument("--dry-run", action="store_true", help="list what would be archived, write nothing")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser(
        "redrive", help="move failed threads from the poison queue back to the sweep queue",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="archive_thread gives up on a thread after maxDequeueCount attempts (host.json) and the host "
                    "moves its message to <SWEEP_QUEUE>-poison. Once the cause is fixed, move them back.",
        epilog="example:\n  python -m archiving redrive\n\nexit codes:\n  0 done (also: no poison queue, 0 moved); "
               "1 messages remain that could not be received now (invisible after a failed attempt);\n"
               "  2 usage or setting error; 4 storage failed\n",
    )
    from archiving.cli.main import positive_int

    p.add_argument("--limit", type=positive_int, default=None, help="move at most this many (at least 1)")
    p.set_defaults(func=cmd_redrive)

    p = sub.add_parser("identity", help="the archiver's ACS identity",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example:\n  python -m archiving identity create")
    isub = p.add_subparsers(dest="identity_command", required=True, metavar="ACTION")
    c = isub.add_parser("create", help="create the archiver's ACS user and print its id",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog="example:\n  python -m archiving identity create")
    c.set_defaults(func=cmd_identity_create)
