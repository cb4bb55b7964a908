"""The roll-ups' line of ``python -m archiving status`` (archiving/ops/status.py, OPTIONAL_CHECKS): the due days
without a complete roll-up (from the first archived day), the partial ones, and the newest complete day.
One listing of the day manifests and a few tag queries (writer.backlog)."""

from __future__ import annotations

from typing import Any


def check_rollup(ctx: Any) -> Any:
    from azure.core.exceptions import ResourceNotFoundError

    from archiving.ops.status import NotDeployed, rollup_check
    from archiving.rollup.store import RollupStore
    from archiving.rollup.writer import backlog

    container = ctx.services.rollup_container
    try:
        if not container.exists():
            raise NotDeployed(f"no container {ctx.services.settings.rollup_container}")
        found = backlog(ctx.services.store, RollupStore(container), ctx.now, ctx.services.settings.rollup_grace_hours)
    except ResourceNotFoundError as exc:
        raise NotDeployed(str(exc).splitlines()[0]) from None
    return rollup_check(ctx, found.newest_complete, found.last_due, missing=found.missing, partial=found.partial,
                        first_day=found.first_day)
