"""CLI command ``status``: the archive's health on one screen (archiving/ops/status.py)."""

from __future__ import annotations

import argparse
import json
import sys

CODES = ("  0 every check OK (or not deployed); 1 some check is WARN or FAIL (a check that could not run\n"
         "  is a FAIL naming the error); 2 usage or setting error\n")


def cmd_status(args) -> int:
    from archiving.bootstrap import Services
    from archiving.cli.common import FINDINGS, OK
    from archiving.ops.status import STATUS_PROFILE, Limits, render_text, run_checks
    from archiving.settings import load_local_settings

    for name in ("newest", "rejections", "poison", "dead_letter", "seal", "rollup"):
        warn, fail = getattr(args, f"{name}_warn"), getattr(args, f"{name}_fail")
        if warn > fail:
            option = name.replace("_", "-")
            raise ValueError(f"--{option}-warn ({warn}) is above --{option}-fail ({fail})")
    limits = Limits(
        newest_warn_minutes=args.newest_warn, newest_fail_minutes=args.newest_fail,
        rejections_warn=args.rejections_warn, rejections_fail=args.rejections_fail,
        poison_warn=args.poison_warn, poison_fail=args.poison_fail,
        dead_letter_warn=args.dead_letter_warn, dead_letter_fail=args.dead_letter_fail,
        seal_warn_minutes=args.seal_warn, seal_fail_minutes=args.seal_fail,
        rollup_behind_warn=args.rollup_warn, rollup_behind_fail=args.rollup_fail,
    )
    from archiving.cli.progress import announcing_retry_class

    def announce(names: list[str], deadline: float) -> None:
        print(f"waiting for storage: {', '.join(names)} not answered yet; giving up after {deadline:.0f} s",
              file=sys.stderr, flush=True)

    # Each retry is announced on stderr, as in the other commands (cli/progress.py).
    svc = Services(env=load_local_settings(args.settings),
                   profile={**STATUS_PROFILE, "retry_class": announcing_retry_class()})
    try:
        svc.settings  # noqa: B018 - a setting error stops here, before any check runs (exit 2)
        report = run_checks(svc, limits, dead_letter_container=args.dead_letter_container, on_wait=announce)
    finally:
        svc.close()
    if args.format == "json":
        sys.stdout.write(json.dumps(report.as_json(), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(report))
    return OK if report.state == "OK" else FINDINGS


def _at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is less than {minimum}")
        return value

    return parse


def register(sub) -> None:
    """Add ``status`` to the CLI's subparsers."""
    from archiving.cli.common import settings_option
    from archiving.ops.status import DEAD_LETTER_CONTAINER, Limits

    d = Limits()
    p = sub.add_parser(
        "status", help="is the archive healthy? one screen of OK / WARN / FAIL checks",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Check the archive from the storage account alone: records in the last hour and day and the "
                    "newest record's age (blob index tag `at`, no listing of the archive), rejected events in the "
                    "last hour and day, the poison queue (<SWEEP_QUEUE>-poison), dead-lettered events waiting, and "
                    "the seal and roll-up when they are deployed. Each check is OK, WARN or FAIL against the "
                    "thresholds below (a value at or above a threshold reaches it); SKIP means not deployed. "
                    "--format json for scripts and monitoring.",
        epilog="examples:\n  python -m archiving status\n  python -m archiving status --format json\n"
               "  python -m archiving status --newest-warn 30 --newest-fail 240\n\nexit codes:\n" + CODES,
    )
    settings_option(p)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--dead-letter-container", default=DEAD_LETTER_CONTAINER, metavar="NAME",
                   help="Event Grid's dead-letter container in the archive account (default: %(default)s)")
    minutes = _at_least(1)
    count = _at_least(1)
    p.add_argument("--newest-warn", type=minutes, default=d.newest_warn_minutes, metavar="MINUTES",
                   help="WARN when the newest record is this old (default: %(default)s)")
    p.add_argument("--newest-fail", type=minutes, default=d.newest_fail_minutes, metavar="MINUTES",
                   help="FAIL when the newest record is this old (default: %(default)s)")
    p.add_argument("--rejections-warn", type=count, default=d.rejections_warn, metavar="N",
                   help="WARN at this many rejections in 24 h (default: %(default)s)")
    p.add_argument("--rejections-fail", type=count, default=d.rejections_fail, metavar="N",
                   help="FAIL at this many rejections in 24 h (default: %(default)s)")
    p.add_argument("--poison-warn", type=count, default=d.poison_warn, metavar="N",
                   help="WARN at this many poison messages (default: %(default)s)")
    p.add_argument("--poison-fail", type=count, default=d.poison_fail, metavar="N",
                   help="FAIL at this many poison messages (default: %(default)s)")
    p.add_argument("--dead-letter-warn", type=count, default=d.dead_letter_warn, metavar="N",
                   help="WARN at this many dead-letter blobs (default: %(default)s)")
    p.add_argument("--dead-letter-fail", type=count, default=d.dead_letter_fail, metavar="N",
                   help="FAIL at this many dead-letter blobs (default: %(default)s)")
    p.add_argument("--seal-warn", type=minutes, default=d.seal_warn_minutes, metavar="MINUTES",
                   help="WARN when the last seal, or the oldest unsealed blob, is this old (default: %(default)s)")
    p.add_argument("--seal-fail", type=minutes, default=d.seal_fail_minutes, metavar="MINUTES",
                   help="FAIL at this age (default: %(default)s)")
    p.add_argument("--rollup-warn", type=count, default=d.rollup_behind_warn, metavar="DAYS",
                   help="WARN when this many due days are not rolled up (default: %(default)s)")
    p.add_argument("--rollup-fail", type=count, default=d.rollup_behind_fail, metavar="DAYS",
                   help="FAIL at this many (default: %(default)s)")
    p.set_defaults(func=cmd_status)
