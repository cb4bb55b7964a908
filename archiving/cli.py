"""``python -m archiving``: the operator's command line over the same core as the functions.

Exit codes: 0 done; 1 done, with findings (rejected events, verification failures); 2 usage or
setting error; 3 nothing found; 4 a service (storage, ACS) failed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from collections.abc import Sequence

from .settings import SettingError

OK, FINDINGS, USAGE, NOT_FOUND, SERVICE = 0, 1, 2, 3, 4

EPILOG = textwrap.dedent(
    """\
    Settings come from the environment, else from local.settings.json in the current directory
    (the same names as the Functions app; see README).

    Exit codes: 0 done, 1 done with findings, 2 usage or setting error, 3 nothing found,
    4 a service failed.
    """
)


def _services(args):
    from .bootstrap import BATCH_PROFILE, Services
    from .settings import load_local_settings

    return Services(env=load_local_settings(args.settings), profile=BATCH_PROFILE)


def cmd_replay(args) -> int:
    from tqdm import tqdm

    from .replay import read_files, replay

    svc = _services(args)
    events = [event for _, event in read_files(args.files)]
    with tqdm(total=len(events), unit="event", disable=args.quiet or None, file=sys.stderr) as bar:
        counts = replay(events, svc.store, svc.rejected_store, svc.settings.hash_key, progress=bar)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    print(f"{len(events)} events: {summary or 'none'}")
    if counts.get("rejected"):
        print(f"rejected events are kept with their reason in container {svc.settings.rejected_container}")
        return FINDINGS
    return OK


def cmd_show(args) -> int:
    from .reader import load_thread, render_json, render_text

    svc = _services(args)
    view = load_thread(svc.store, args.thread_id)
    if view.empty:
        print(f"nothing archived for thread {args.thread_id}", file=sys.stderr)
        return NOT_FOUND
    if args.format == "json":
        sys.stdout.write(render_json(view))
    else:
        sys.stdout.write(render_text(view, history=args.history))
    return OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m archiving",
        description="Archive of Azure Communication Services chat: replay events, read the archive.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--settings", default="local.settings.json", help="settings file (default: %(default)s)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "replay", help="archive events from files, exactly as the function does",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Archive events from files: an Event Grid JSON array, a single event, CloudEvents 1.0 JSON, "
                    "JSON lines, or Event Grid dead-letter blobs. Idempotent: run it as often as you like.",
        epilog="example:\n  python -m archiving replay samples/conversation.json",
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser(
        "show", help="reassemble a thread from the archive",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Reassemble a thread from everything archived for it (records and transcripts, all months): "
                    "the newest version of each message in compose order, edits and deletions marked.",
        epilog="example:\n  python -m archiving show '19:3f2504e0d4f14c7a9b1c6e2a5d7f8a90@thread.v2' --history",
    )
    p.add_argument("thread_id", metavar="THREAD_ID")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--history", action="store_true", help="list every version of each message")
    p.set_defaults(func=cmd_show)

    from .cli_sweep import register as register_sweep

    register_sweep(sub)
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
