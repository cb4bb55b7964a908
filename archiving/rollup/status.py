"""The roll-ups' line of ``python -m archiving status`` (archiving/ops/status.py, OPTIONAL_CHECKS): the newest
day rolled up against the last day that is due.  One listing of the day manifests."""

from __future__ import annotations

from typing import Any


def check_rollup(ctx: Any) -> Any:
    from azure.core.exceptions import ResourceNotFoundError

    from archiving.ops.status import NotDeployed, rollup_check
    from archiving.rollup import layout
    from archiving.rollup.store import RollupStore
    from archiving.rollup.writer import last_due_day

    container = ctx.services.rollup_container
    try:
        if not container.exists():
            raise NotDeployed(f"no container {ctx.services.settings.rollup_container}")
        days = [layout.manifest_day(m.name) for m in RollupStore(container).manifests()]
    except ResourceNotFoundError as exc:
        raise NotDeployed(str(exc).splitlines()[0]) from None
    newest = max((d for d in days if d), default=None)
    return rollup_check(ctx, newest, last_due_day(ctx.now, ctx.services.settings.rollup_grace_hours))
