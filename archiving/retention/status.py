"""Figures for ``python -m archiving status``: active holds, rehydrations in flight, the last dispose run (a few
list calls and the audit records; no listing of the archive)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from archiving.retention import audit

DISPOSE_WARN = timedelta(days=3)  # the timer runs daily


def check_retention(ctx: Any) -> Any:
    from archiving.ops.status import OK, WARN, Check, age_text
    from archiving.retention.holds import matters
    from archiving.retention.rehydrate import in_flight
    from archiving.timefmt import parse_time

    svc = ctx.services
    active = [m for m in matters(svc.store).values() if m.active]
    flights = in_flight(svc, ctx.now)
    pending = sum(f.pending for f in flights)
    runs = sorted(svc.store.list_names(audit.DISPOSITION_ROOT))
    last = None
    if runs:
        stamp = runs[-1][len(audit.DISPOSITION_ROOT):].split("-", 1)[0]
        last = parse_time(f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}Z", "at")
    stale = last is not None and ctx.now - last > DISPOSE_WARN
    summary = (f"{len(active)} matter(s) on hold; {len(flights)} rehydration(s) in flight ({pending} blob(s) not yet "
               f"readable); last dispose {age_text(last, ctx.now) if last else 'never'}")
    values = {"matters_on_hold": len(active), "rehydrations_in_flight": len(flights), "blobs_rehydrating": pending,
              "last_dispose": last.isoformat() if last else None,
              "in_flight": [{"record": f.record, "at": f.at, "priority": f.priority, "blobs": f.blobs,
                             "pending": f.pending} for f in flights]}
    return Check("records management", WARN if stale else OK, summary, values,
                 "check the dispose_archive function's runs (docs/operations.md, 'Records management')"
                 if stale else None)
