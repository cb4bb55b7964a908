"""What every command of ``python -m archiving`` shares: exit codes, settings and services, output files,
progress bars, the time range, and the way a subcommand is declared (its --help with examples and exit codes).

Subcommand modules import from here, never from ``cli/main.py`` (the entry point), so imports only go down."""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

OK, FINDINGS, USAGE, NOT_FOUND, SERVICE = 0, 1, 2, 3, 4

EXIT_CODES = textwrap.dedent(
    """\
    Exit codes: 0 done, 1 done with findings, 2 usage or setting error, 3 nothing found,
    4 a service failed.
    """
)

LOCAL_SETTINGS = "local.settings.json"

THREAD_EXAMPLE = "19:3f2504e0d4f14c7a9b1c6e2a5d7f8a90@thread.v2"

def cli_services(args):
    from archiving.bootstrap import Services
    from archiving.cli.progress import cli_profile
    from archiving.settings import load_local_settings

    # The CLI's profile announces retries and fails within 30 s when storage is down (cli/progress.py).
    return Services(env=load_local_settings(args.settings), profile=cli_profile())


def progress_bar(args, **kwargs):
    """A progress bar on stderr; off with --quiet, and when stderr is not a terminal."""
    from archiving.cli.progress import bar

    return bar(args, **kwargs)


def report_findings(findings, what: str = "") -> None:
    """Damaged blobs (left out) and tag warnings on stderr, one tab-separated line each, then a summary."""
    if findings.any:
        findings.report(sys.stderr)
        print(f"warning: {findings.summary()}{what} (python -m archiving verify tells more)", file=sys.stderr)


@contextmanager
def open_output(path: str | None):
    """The file at ``path`` (written whole, then renamed), or stdout."""
    if not path or path == "-":
        yield sys.stdout
        return
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    try:
        with open(partial, "w", encoding="utf-8", newline="") as f:
            yield f
    except BaseException:
        partial.unlink(missing_ok=True)  # a failed command leaves no half file behind
        raise
    partial.replace(target)


def time_range(args, required: bool) -> tuple[str | None, str | None]:
    from archiving.read.scan import parse_bound

    start = parse_bound(args.start) if args.start else None
    end = parse_bound(args.end, end=True) if args.end else None
    if required and (start is None or end is None):
        raise ValueError("--from and --to are both required")
    if start and end and start >= end:
        raise ValueError(f"--from {args.start} is not before --to {args.end}")
    return start, end


def positive_int(text: str, minimum: int = 1) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{value} is not at least {minimum}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number of at least 0 (a duration: never negative)."""
    return positive_int(text, minimum=0)


def settings_option(parser) -> None:
    """``--settings FILE`` after the command too (`status --settings case.json`); SUPPRESS keeps a value
    given before the command."""
    parser.add_argument("--settings", metavar="FILE", default=argparse.SUPPRESS,
                        help="settings file (as before the command; see python -m archiving --help)")


def bom_options(p, default_note: str = "default: on when writing CSV to a file with --out") -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--bom", dest="bom", action="store_true", default=None,
                       help=f"CSV: start with a UTF-8 byte-order mark, so that Excel reads UTF-8 ({default_note})")
    group.add_argument("--no-bom", dest="bom", action="store_false", help="CSV: no byte-order mark")


def add_command(sub, name: str, help_text: str, description: str, examples: Sequence[str], codes: str):
    """A subcommand whose --help has its description, examples and exit codes (tests check every one)."""
    epilog = "example:\n" + "\n".join(f"  {e}" for e in examples) + "\n\nexit codes:\n" + codes
    description = "\n\n".join(textwrap.fill(part, 100) for part in description.split("\n\n"))
    parser = sub.add_parser(name, help=help_text, description=description, epilog=epilog,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    settings_option(parser)
    return parser
