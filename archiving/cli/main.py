"""``python -m archiving``: the operator's command line over the same core as the functions.

Exit codes: 0 done; 1 done, with findings (rejected events, verification failures, gaps); 2 usage
or setting error; 3 nothing found; 4 a service (storage, ACS) failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from archiving.cli.common import EXIT_CODES, LOCAL_SETTINGS, OK, SERVICE, USAGE
from archiving.settings import SettingError

EPILOG = textwrap.dedent(
    """\
    Settings come from the environment, then from --settings FILE, else from local.settings.json in
    the current folder if there is one (the same names as the Functions app; see README).
    Installed with pip, the same command is `acs-archive`.

    examples:
      python -m archiving replay samples/conversation.json
      python -m archiving show '19:3f2504e0d4f14c7a9b1c6e2a5d7f8a90@thread.v2' --format html --out thread.html
      python -m archiving export --from 2026-11-01 --to 2026-11-30 --format jsonl --out november.jsonl
      python -m archiving find --sender '8:acs:…' --format jsonl > access-request.jsonl
      python -m archiving verify --prefix chat/202611/
      python -m archiving reconcile --inactive
    """
) + "\n" + EXIT_CODES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m archiving",
        description="Archive of Azure Communication Services chat, SMS, WhatsApp, email and calls with their "
                    "recordings (received, and sent through the archive-before-send clients): replay events, read, "
                    "export, search, verify, seal, roll up, query, hold, rehydrate, dispose and reconcile the archive.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--settings", metavar="FILE", default=None,
                        help="read settings from FILE (the Values of a local.settings.json); the environment wins. "
                             f"Default: {LOCAL_SETTINGS} in the current folder, if there is one")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars, warnings only")
    parser.add_argument("--log-file", metavar="PATH", help="write log lines to this file instead of stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # Each command group lives in its own module of archiving.cli with a register(sub).
    from archiving.cli import integrity, outbound, records, retention, rollup, status, sweep

    for module in (records, sweep, status, outbound, integrity, rollup, retention):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from archiving.cli.progress import configure_logging

    configure_logging(args.quiet, args.log_file)  # logs through the progress bars, never into them
    if args.settings is None:
        args.settings = LOCAL_SETTINGS  # read when present, as `func start` does
    elif not Path(args.settings).is_file():
        # Asked for by name: a typo must not silently fall back to the environment alone.
        print(f"error: settings file {args.settings}: not found", file=sys.stderr)
        return USAGE
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError:
        return _stdout_closed()
    except SettingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE
    except (OSError, ValueError, OverflowError) as exc:  # OverflowError: a date out of range
        print(f"error: {exc}", file=sys.stderr)
        return USAGE
    except Exception as exc:  # noqa: BLE001 - the operator needs the cause, not a traceback
        from azure.core.exceptions import AzureError

        if isinstance(exc, AzureError):
            print(f"error: service failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                  file=sys.stderr)
            return SERVICE
        raise


def _stdout_closed() -> int:
    """The reader of stdout went away (`… | head`): what it wanted is written; end quietly.

    As the Python docs' note on SIGPIPE says: point stdout at devnull so that the interpreter's
    final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (captured, in tests)
        pass
    return OK
