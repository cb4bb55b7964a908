"""Cheap figures for ``python -m archiving status`` (a few list calls, no download): the latest signed checkpoint,
and the blobs written since the last seal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archiving.integrity import journal as journal_mod
from archiving.integrity.sources import sources
from archiving.timefmt import parse_time, utcnow


@dataclass(frozen=True)
class Unsealed:
    count: int  # blobs announced (journal) or listed (time-named sources) since the last seal's cut-off
    oldest: datetime | None  # the earliest of their times, None when count is 0
    sealed_to: datetime | None  # the last seal's cut-off, None when the archive was never sealed


def latest_checkpoint(svc: Any) -> dict[str, Any] | None:
    """The latest signed checkpoint (as ``python -m archiving checkpoint`` prints it), or None."""
    return svc.seal_log.latest_checkpoint()


def unsealed(svc: Any, now: datetime | None = None) -> Unsealed:
    """How many blobs wait for the next seal, and since when: intents written after the last cut-off (an intent
    whose write failed counts until the next seal; clocks may differ by journal.SKEW), plus the hours of the
    time-named sources.  Never sealed: (0, None, None); `verify` gives the exact list."""
    cp = svc.seal_log.latest_checkpoint()
    if cp is None:
        return Unsealed(0, None, None)
    cutoff = parse_time(cp["time"], "time")
    now = now or utcnow()
    names: set[tuple[str, str]] = set()
    oldest: datetime | None = None
    for intent in svc.journal.intents(cutoff, now + journal_mod.SKEW):
        names.add((intent.container, intent.name))
        oldest = intent.at if oldest is None or intent.at < oldest else oldest
    from datetime import timedelta

    for source in sources(svc.settings):
        if not source.hour_prefix:
            continue
        client = svc.blob_service.get_container_client(source.container)
        hour = cutoff.replace(minute=0, second=0, microsecond=0)
        while hour <= now:
            from azure.core.exceptions import ResourceNotFoundError

            try:
                for blob in client.list_blobs(name_starts_with=hour.strftime(source.hour_prefix)):
                    created = blob.creation_time
                    if created >= cutoff:
                        names.add((source.container, blob.name))
                        oldest = created if oldest is None or created < oldest else oldest
            except ResourceNotFoundError:
                break
            hour += timedelta(hours=1)
    return Unsealed(len(names), oldest, cutoff)


def check_seal(ctx: Any) -> Any:
    """The seal's line of ``python -m archiving status`` (archiving/ops/status.py, OPTIONAL_CHECKS)."""
    from archiving.ops.status import NotDeployed, seal_check

    settings = ctx.services.settings
    if not (settings.seal_key_file or settings.seal_key_id):
        raise NotDeployed("no ARCHIVE_SEAL_KEY_FILE or ARCHIVE_SEAL_KEY_ID")
    import os

    key_file = settings.seal_key_file
    if key_file and not settings.seal_key_id and not (os.path.isfile(key_file) and os.access(key_file, os.R_OK)):
        # Configured, but the seal could not sign a checkpoint: whatever the log says, sealing has stopped.
        from archiving.ops.status import FAIL, Check

        return Check("seal", FAIL, f"ARCHIVE_SEAL_KEY_FILE {key_file}: no readable file, checkpoints cannot be signed",
                     {"key_file": key_file}, "install the seal's key there, or set ARCHIVE_SEAL_KEY_ID (docs/integrity.md)")
    cp, waiting = latest_checkpoint(ctx.services), unsealed(ctx.services, ctx.now)
    last = parse_time(cp["time"], "time") if cp else None
    return seal_check(ctx, last, waiting.count, waiting.oldest, cp.get("tree_size") if cp else None)
