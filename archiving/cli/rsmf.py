"""``export --format rsmf``: the range's conversations as RSMF 2.0 files in a directory (archiving.read.rsmf)."""

from __future__ import annotations

import sys
from pathlib import Path


def run(args) -> int:
    from archiving.cli.common import FINDINGS, NOT_FOUND, OK, cli_services, progress_bar, time_range
    from archiving.read.rsmf import RsmfRequest
    from archiving.read.rsmf_export import export_rsmf
    from archiving.read.verified import Findings

    start, end = time_range(args, required=True)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {args.out}: with --format rsmf, --out is a directory (it holds one file per "
                         "conversation per day)")
    svc = cli_services(args)
    findings = Findings()
    request = RsmfRequest(start=start, end=end, out=out, thread_id=args.thread)
    with progress_bar(args, unit="blob", desc="rsmf") as bar:
        result = export_rsmf(svc.store, request, hash_key=svc.settings.hash_key, findings=findings, progress=bar,
                             container=svc.settings.container)
    for damage in findings.items:  # kind, blob name and reason only (as every reading command): no content
        print(damage.line(), file=sys.stderr)
    c = result.counts
    print(f"exported {result.events} events ({c['message']} messages, {c['join']} joins, {c['leave']} leaves, "
          f"{c['history']} history) of {result.conversations} conversations from {start} to {end} (exclusive) "
          f"into {len(result.files)} RSMF files in {out}"
          + (f", and {len(result.emails)} sent emails as .eml files" if result.emails else ""))
    print(f"manifest: {result.manifest_path}")
    if findings:
        print(f"{len(findings)} damaged blobs left out (named above)", file=sys.stderr)
        return FINDINGS
    if not result.files and not result.emails:
        print("nothing archived in that range", file=sys.stderr)
        return NOT_FOUND
    return OK
