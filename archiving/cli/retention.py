"""``hold``, ``dispose``, ``rehydrate``, ``audit``: records management over the whole retention period
(archiving/retention, docs/operations.md "Records management")."""

from __future__ import annotations

import json
import sys

from archiving.cli.common import FINDINGS, NOT_FOUND, OK, add_command, cli_services, progress_bar, time_range

SCOPE_HELP = ("--thread ID, --conversation ID or --party ID (an ACS raw id, phone number or email address: every "
              "record sent by or to it, every channel, outbound included), optionally --from D --to D")


def _scope_options(p, matter: bool = False) -> None:
    g = p.add_argument_group("scope")
    g.add_argument("--thread", metavar="ID", help="a chat thread id")
    g.add_argument("--conversation", metavar="ID", help="an SMS, WhatsApp or email conversation id")
    g.add_argument("--party", metavar="ID", help="an ACS raw id, a phone number or an email address")
    if matter:
        g.add_argument("--matter", metavar="NAME", help="everything an active hold of this matter covers")
    _range_options(g)


def _range_options(g) -> None:
    g.add_argument("--from", dest="start", metavar="DATE", help="records from this date or time (UTC)")
    g.add_argument("--to", dest="end", metavar="DATE", help="records up to this date (inclusive) or time (exclusive)")


def _scope(args, svc, range_alone: bool = False):
    from archiving.retention.scope import make_scope

    start, end = time_range(args, required=False)
    return make_scope(svc.settings.hash_key, args.thread, args.conversation, args.party, start, end,
                      range_alone=range_alone)


def scope_args(args) -> list[str]:
    """The scope options as given (for the exact command to print)."""
    out: list[str] = []
    for option, attr in (("--matter", "matter"), ("--thread", "thread"), ("--conversation", "conversation"),
                         ("--party", "party"), ("--from", "start"), ("--to", "end")):
        value = getattr(args, attr, None)
        if value:
            out += [option, value]
    return out


def archived_names(findings) -> list[str]:
    return [d.name for d in findings.items if "Archive tier" in d.reason]


def archive_tier_hint(findings, rehydrate_args: list[str] | None) -> int:
    """After a read command: count the blobs it met in the Archive tier and print the exact command that brings
    them online (stderr), for the command's scope (``rehydrate_args``) or, if None, for the blobs' months.
    The number counted."""
    names = archived_names(findings)
    if names:
        print_rehydrate_hint(len(names), names, "blob(s) in the Archive tier could not be read", rehydrate_args)
    return len(names)


def print_rehydrate_hint(n: int, names: list[str], what: str, rehydrate_args: list[str] | None = None) -> None:
    from archiving.retention.rehydrate import command

    print(f"{n} {what}; bring them online (Azure takes hours) with:\n"
          f"  {command(rehydrate_args if rehydrate_args else range_args_for(names))}", file=sys.stderr)


def range_args_for(names: list[str]) -> list[str]:
    """--from the first day of the earliest month the blob names carry (a record's time is in or after the month
    of its name); without a month in every name, everything up to today."""
    import re

    from archiving.timefmt import utcnow

    months = [m.group(1) for n in names if (m := re.match(r"^[a-z]+/(\d{6})/", n))]
    if months and len(months) == len(names):
        first = min(months)
        return ["--from", f"{first[:4]}-{first[4:]}-01"]
    return ["--to", utcnow().strftime("%Y-%m-%d")]


# -- hold --------------------------------------------------------------------------------------------


def cmd_hold_place(args) -> int:
    from archiving.retention.holds import place

    svc = cli_services(args)
    scope = _scope(args, svc)
    with progress_bar(args, unit="blob", desc="hold") as bar:
        result = place(svc, args.matter, args.reason, scope, progress=bar)
    legal = f"; Azure legal hold set on {result.legal_holds} blob(s)" if svc.settings.legal_hold else ""
    print(f"hold placed: matter {args.matter!r}, {scope.describe()}: {result.records} record(s) covered now, and "
          f"every record of the scope written until release{legal}")
    print(f"audit record: {result.audit_name}")
    return OK


def cmd_hold_release(args) -> int:
    from archiving.retention.holds import release

    svc = cli_services(args)
    try:
        with progress_bar(args, unit="blob", desc="release") as bar:
            result = release(svc, args.matter, args.reason, progress=bar)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return NOT_FOUND
    legal = f"; Azure legal hold cleared on {result.legal_holds} blob(s)" if svc.settings.legal_hold else ""
    print(f"hold released: matter {args.matter!r}: its records follow the retention again (the next dispose "
          f"deletes those past it){legal}")
    print(f"audit record: {result.audit_name}")
    return OK


def cmd_hold_list(args) -> int:
    from archiving.read.safe import terminal
    from archiving.retention.holds import listing

    svc = cli_services(args)
    with progress_bar(args, unit="blob", desc="holds") as bar:
        views, released = listing(svc, include_released=args.all, progress=bar)
    if args.format == "json":
        rows = [{"matter": v.matter, "matter_id": v.matter_id, "active": True, "scope": v.scope.as_dict(),
                 "placed_at": v.placed_at, "placed_by": v.placed_by, "reason": v.reason, "records": v.records,
                 "audit": v.audit} for v in views]
        rows += [{"matter": m.matter, "matter_id": m.matter_id, "active": False,
                  "released_at": (m.released or {}).get("at"), "released_by": (m.released or {}).get("by"),
                  "audit": m.audit} for m in released]
        sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    else:
        for v in views:
            print(terminal(f"{v.matter}\t{v.scope.describe()}\tplaced {v.placed_at} by {v.placed_by}\t"
                           f"{v.records} records\t{v.reason}"))
        for m in released:
            print(terminal(f"{m.matter}\treleased {(m.released or {}).get('at')} by {(m.released or {}).get('by')}"))
    if not views and not released:
        print("no active hold", file=sys.stderr)
        return NOT_FOUND
    return OK


# -- dispose -----------------------------------------------------------------------------------------


def cmd_dispose(args) -> int:
    from archiving.retention.dispose import dispose

    svc = cli_services(args)
    with progress_bar(args, unit="blob", desc="dispose") as bar:
        result = dispose(svc, dry_run=args.dry_run, progress=bar)
    c = result.counts
    if args.dry_run:
        for blob in result.due:
            print(f"due\t{blob.name}\tat {blob.at}")
    verb = "would dispose" if args.dry_run else "disposed"
    print(f"{verb} {c['due'] if args.dry_run else c['disposed']} record(s) older than {result.cutoff} "
          f"(retention {result.retention_days} days); {c['listed']} listed, {c['expired']} past retention, "
          f"{c['held']} kept by a hold, {c['immutable']} kept by Azure immutability, {c['no_time']} without an "
          f"at tag kept" + (f", {c['failed']} could not be deleted" if c["failed"] else "")
          + (f"; Azure legal hold set on {c['legal_holds_set']} held blob(s) written since their hold"
             if c["legal_holds_set"] else ""))
    for name in result.records:
        print(f"disposition record: {name}")
    for name, why in result.failed:
        print(f"failed\t{name}\t{why}", file=sys.stderr)
    return FINDINGS if result.failed else OK


# -- rehydrate ---------------------------------------------------------------------------------------


def cmd_rehydrate(args) -> int:
    from archiving.retention import audit
    from archiving.retention.holds import matters
    from archiving.retention.rehydrate import rehydrate, wait

    svc = cli_services(args)
    matter_id = None
    if args.matter:
        matter_id = audit.matter_id(args.matter.strip())
        m = matters(svc.store).get(matter_id)
        if m is None or not m.active:
            print(f"error: matter {args.matter!r} has no active hold", file=sys.stderr)
            return NOT_FOUND
        if args.thread or args.conversation or args.party:
            raise ValueError("--matter is a scope of its own: give it without --thread, --conversation or --party")
        start, end = time_range(args, required=False)
        from dataclasses import replace

        scopes = [replace(s, start=max(filter(None, (s.start, start)), default=None),
                          end=min(filter(None, (s.end, end)), default=None)) for s in m.scopes]
    else:
        scopes = [_scope(args, svc, range_alone=True)]
    with progress_bar(args, unit="blob", desc="rehydrate") as bar:
        result = rehydrate(svc, scopes, priority=args.priority, tier=args.tier, matter_id=matter_id, progress=bar)
    print(f"{result.in_scope} blob(s) in scope: {result.online} online, {result.requested} asked to rehydrate now "
          f"({args.priority} priority, to {args.tier}), {result.pending} rehydrating")
    if result.record:
        print(f"rehydration record: {result.record}")
    if result.pending and not args.wait:
        print("Azure takes up to 15 hours at Standard priority, under an hour at High: run the same command with "
              "--wait to wait, or see `python -m archiving status`")
        return OK
    if result.pending:
        print(f"waiting for {len(result.names)} blob(s) (Azure takes hours; checked every {args.interval:g} s)",
              file=sys.stderr)
        with progress_bar(args, unit="blob", desc="online", total=len(result.names)) as bar:
            done = [0]

            def poll(n: int, total: int) -> None:
                bar.update(n - done[0])
                done[0] = n

            left = wait(svc, result.names, interval=args.interval, timeout=args.timeout, on_poll=poll)
        if left:
            print(f"{len(left)} blob(s) still rehydrating after {args.timeout:g} s: run the command again later",
                  file=sys.stderr)
            return FINDINGS
        print(f"all {len(result.names)} blob(s) are readable")
    return OK if result.in_scope else NOT_FOUND


# -- audit -------------------------------------------------------------------------------------------


def cmd_audit(args) -> int:
    from archiving.cli.common import report_findings
    from archiving.integrity.verify import trusted_keys
    from archiving.read.safe import terminal
    from archiving.read.verified import Findings
    from archiving.retention import audit

    start, end = time_range(args, required=False)
    svc = cli_services(args)
    findings = Findings()
    kinds = [args.kind] if args.kind else list(audit.KINDS)
    # The seal key (perhaps in Key Vault) only for dispositions: a listing of holds needs none.
    keys = trusted_keys(svc) if "disposition" in kinds else {}
    rows = audit.entries(svc.store, findings, kinds, start, end, keys)
    if args.format == "json":
        out = [{"record": e.name, "sha256": e.sha256, "kind": e.kind, "document": e.document}
               | ({"signature": e.signature} if e.kind == "disposition" else {}) for e in rows]
        sys.stdout.write(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    else:
        for e in rows:
            # Each field made safe alone: a tab in a stored matter or reason must not make a column.
            print("\t".join(terminal(f).replace("\t", " ") for f in [e.at, e.kind, *audit.summary(e), e.name]))
            if args.blobs:
                for line in audit.blob_lines(e):
                    print("  " + terminal(line))
    bad = [e for e in rows if e.bad_signature]
    for e in bad:
        print(terminal(f"signature\t{e.name}\t{e.signature}"), file=sys.stderr)
    report_findings(findings, " (damaged audit records)")
    if findings.any or bad:
        return FINDINGS
    if not rows:
        print("no audit record" + (" in the range" if start or end else ""), file=sys.stderr)
        return NOT_FOUND
    return OK


# -- export --matter ---------------------------------------------------------------------------------


def export_matter_command(args) -> int:
    from pathlib import Path

    from archiving.retention.matter import export_matter, export_matter_rsmf, matter_set

    if args.start or args.end or args.thread:
        raise ValueError("--matter is the whole selection: give it without --from, --to or --thread")
    svc = cli_services(args)
    try:
        with progress_bar(args, unit="blob", desc="matter") as bar:
            ms = matter_set(svc, args.matter, progress=None)
            out = Path(args.out)
            if args.format == "rsmf":
                manifest, counts, findings, files = export_matter_rsmf(svc, ms, out, progress=bar)
                what = f"{files} RSMF files in {out}"
            else:
                bom = args.bom if args.bom is not None else True
                manifest, counts, findings, sha, size = export_matter(svc, ms, out, args.format, bom, progress=bar)
                what = f"{out} ({size} bytes, sha256 {sha})"
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return NOT_FOUND
    print(f"exported matter {ms.matter!r}: {len(ms.blobs)} blobs covered by {len(ms.scopes)} hold(s), "
          f"{sum(counts.values())} items ({', '.join(f'{n} {k}' for k, n in sorted(counts.items())) or 'none'})")
    print(f"file: {what}")
    print(f"manifest: {manifest}")
    from archiving.cli.common import report_findings

    report_findings(findings, " (listed in the manifest)")
    archive_tier_hint(findings, ["--matter", ms.matter])
    if findings.any:
        return FINDINGS
    return OK if ms.blobs else NOT_FOUND


def register(sub) -> None:
    p = add_command(
        sub, "hold", "legal holds by matter: place, release, list",
        "Legal holds override retention: a record an active hold covers is never disposed, whatever its age. "
        f"A hold has a matter and a scope ({SCOPE_HELP}); it covers the records of its scope that exist when it is "
        "placed and those written later, until the matter is released. Each action is kept as an audit record in "
        "the archive (holds/…, create-only, sealed). With ARCHIVE_LEGAL_HOLD=true (version-level immutability on "
        "the archive container), the covered blobs also get Azure's legal hold.",
        ["python -m archiving hold place --matter 'Smith v. Contoso' --reason 'litigation notice 2026-12-01' "
         "--party +14255550123",
         "python -m archiving hold list --format json",
         "python -m archiving hold release --matter 'Smith v. Contoso' --reason 'case closed'"],
        "  0 done; 2 usage or setting error; 3 no such active matter (release) or no hold (list);\n"
        "  4 storage failed\n",
    )
    actions = p.add_subparsers(dest="hold_action", required=True, metavar="ACTION")
    q = add_command(actions, "place", "place a hold on a scope for a matter",
                    f"Place a hold: --matter NAME --reason TEXT and a scope ({SCOPE_HELP}). Placing another scope "
                    "under the same matter adds to it.",
                    ["python -m archiving hold place --matter M-17 --reason 'subpoena' --thread '19:abc@thread.v2'"],
                    "  0 placed; 2 usage or setting error; 4 storage failed\n")
    q.add_argument("--matter", required=True, metavar="NAME")
    q.add_argument("--reason", required=True, metavar="TEXT")
    _scope_options(q)
    q.set_defaults(func=cmd_hold_place)
    q = add_command(actions, "release", "release every hold of a matter",
                    "Release the matter: its records follow the retention again from the next dispose run.",
                    ["python -m archiving hold release --matter M-17 --reason 'case closed'"],
                    "  0 released; 2 usage or setting error; 3 the matter has no active hold; 4 storage failed\n")
    q.add_argument("--matter", required=True, metavar="NAME")
    q.add_argument("--reason", required=True, metavar="TEXT")
    q.set_defaults(func=cmd_hold_release)
    q = add_command(actions, "list", "list the active holds: matter, scope, placed when and by whom, records covered",
                    "List the active holds with the number of records each covers now (one listing of the archive).",
                    ["python -m archiving hold list", "python -m archiving hold list --format json --all"],
                    "  0 listed; 2 usage or setting error; 3 no hold; 4 storage failed\n")
    q.add_argument("--format", choices=("text", "json"), default="text")
    q.add_argument("--all", action="store_true", help="also the released matters")
    q.set_defaults(func=cmd_hold_list)

    p = add_command(
        sub, "dispose", "delete the records whose retention has ended and that no hold covers",
        "Delete the records (every channel, outbound included) whose time (the at tag) is more than "
        "ARCHIVE_RETENTION_DAYS ago and that no active hold covers; records under Azure immutability that has not "
        "expired are kept and counted. Before deleting, a disposition record (every blob's name and sha256, the "
        "retention, the time, counts) is written to the archive (dispositions/…, create-only, signed with the "
        "seal's key when one is configured); `verify` then tells these blobs from blobs deleted by anyone else. "
        "The dispose_archive timer runs the same code daily (DISPOSE_SCHEDULE).",
        ["python -m archiving dispose --dry-run", "python -m archiving dispose"],
        "  0 done; 1 some blobs could not be deleted (named on stderr; the next run tries again);\n"
        "  2 usage or setting error (or a damaged hold record: nothing is deleted); 4 storage failed\n",
    )
    p.add_argument("--dry-run", action="store_true", help="list what would be disposed; delete and write nothing")
    p.set_defaults(func=cmd_dispose)

    p = add_command(
        sub, "rehydrate", "bring the Archive-tier blobs of a scope back online (in place, same names)",
        f"Ask Azure to move every Archive-tier blob of the scope ({SCOPE_HELP}; or --matter NAME: what its holds "
        "cover; or --from/--to alone: everything in the range) to an online tier, in place: the same blob and name, "
        "so the seal and every link hold. Safe to run again: blobs online or already rehydrating are left alone. "
        "Azure takes up to 15 hours at Standard priority and under an hour at High (capped per account); --wait "
        "polls until every blob is readable. Each request is kept as a rehydration record; `status` shows those in "
        "flight.",
        ["python -m archiving rehydrate --matter 'Smith v. Contoso' --priority High --wait",
         "python -m archiving rehydrate --from 2024-01-01 --to 2024-01-31"],
        "  0 done (or asked); 1 --wait gave up before every blob was readable; 2 usage or setting error;\n"
        "  3 nothing in scope; 4 storage failed\n",
    )
    _scope_options(p, matter=True)
    p.add_argument("--priority", choices=("Standard", "High"), default="Standard")
    p.add_argument("--tier", choices=("Hot", "Cool", "Cold"), default="Cool",
                   help="online tier to bring the blobs to (default: Cool)")
    p.add_argument("--wait", action="store_true", help="poll until every blob in scope is readable")
    p.add_argument("--interval", type=float, default=300.0, metavar="SECONDS", help="--wait: seconds between polls")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS", help="--wait: give up after this long")
    p.set_defaults(func=cmd_rehydrate)

    p = add_command(
        sub, "audit", "list the audit records (holds, dispositions, rehydrations) with what each says",
        "List the audit records of records management kept in the archive (holds/…, dispositions/…, "
        "rehydrations/…; docs/archive-format.md, section 14) in time order, each read through the checked path "
        "(sha256, schema): its time, kind, a summary and its blob name. A hold: action, matter, scope, records, by "
        "whom, reason. A disposition: run and part, retention, cutoff, records disposed, the holds that kept "
        "records, and its signature (valid, unsigned, not checked when no seal key is configured, or why it does "
        "not verify). A rehydration: by whom, scope, priority, tier, blobs, matter. --blobs adds the blobs each "
        "disposition or rehydration names. A damaged record is named on stderr and the others are listed.",
        ["python -m archiving audit",
         "python -m archiving audit --kind disposition --from 2026-11-01 --to 2026-11-30 --blobs",
         "python -m archiving audit --kind hold --format json"],
        "  0 listed; 1 a damaged record (named on stderr) or a disposition whose signature does not verify;\n"
        "  2 usage or setting error; 3 no audit record (in the range); 4 storage failed\n",
    )
    p.add_argument("--kind", choices=("hold", "disposition", "rehydration"), help="only records of this kind")
    _range_options(p)  # on the record's own time (its document's at)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--blobs", action="store_true", help="text: the blobs each disposition or rehydration names")
    p.set_defaults(func=cmd_audit)
