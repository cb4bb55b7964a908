"""Cheap figures for ``python -m archiving status`` (a few small reads, no download of the archive): the latest
signed checkpoint, how far the change feed and the seal are behind, and what the last listing audit found."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from archiving.integrity import feed as feed_mod
from archiving.integrity.sources import sources
from archiving.timefmt import iso, parse_time


@dataclass(frozen=True)
class Unsealed:
    count: int  # blobs created since the last seal's cut-off (listed: only without a change feed; else 0)
    oldest: datetime | None  # the earliest of their creation times, None when count is 0
    sealed_to: datetime | None  # the last seal's cut-off, None when the archive was never sealed
    feed_newest: datetime | None = None  # the newest final segment of the change feed (None: no feed)
    missed: int = 0  # blobs the last listing audit found that the feed never brought


def latest_checkpoint(svc: Any) -> dict[str, Any] | None:
    """The latest signed checkpoint (as ``python -m archiving checkpoint`` prints it), or None."""
    return svc.seal_log.latest_checkpoint()


def _last_audit(svc: Any) -> int:
    """How many blobs the last listing audit found that the feed never brought (every manifest carries it)."""
    head = svc.seal_log.head()
    audit = head.manifest.get("last_audit") if head else None
    return int(audit.get("missed", 0)) if isinstance(audit, dict) else 0


def unsealed(svc: Any, now: datetime | None = None) -> Unsealed:
    """How far the seal is behind.  With a change feed the cut-off itself is the measure (every blob created before
    it is sealed; it trails the feed's newest final segment by 44 minutes); without one (Azurite) the sources are
    listed for the blobs created since the cut-off.  Never sealed: (0, None, None)."""
    cp = svc.seal_log.latest_checkpoint()
    if cp is None:
        return Unsealed(0, None, None)
    cutoff = parse_time(cp["time"], "time")
    feed = feed_mod.open_feed(svc.blob_service)
    if feed is not None:
        return Unsealed(0, None, cutoff, feed.last_consumable(), _last_audit(svc))
    from azure.core.exceptions import ResourceNotFoundError

    count, oldest = 0, None
    for source in sources(svc.settings):
        try:
            for blob in svc.blob_service.get_container_client(source.container).list_blobs():
                if blob.creation_time >= cutoff:
                    count += 1
                    oldest = blob.creation_time if oldest is None or blob.creation_time < oldest else oldest
        except ResourceNotFoundError:
            continue
    return Unsealed(count, oldest, cutoff, None, _last_audit(svc))


def check_seal(ctx: Any) -> Any:
    """The seal's line of ``python -m archiving status`` (archiving/ops/status.py, OPTIONAL_CHECKS)."""
    from archiving.ops.status import FAIL, NotDeployed, seal_check

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
    check = seal_check(ctx, last, waiting.count, waiting.oldest, cp.get("tree_size") if cp else None)
    values = dict(check.values, feed_newest_segment=iso(waiting.feed_newest), audit_missed=waiting.missed)
    summary = check.summary + (f"; change feed final up to {iso(waiting.feed_newest)}" if waiting.feed_newest
                               else "; no change feed (the seal lists the containers)")
    if waiting.missed:
        return replace(check, state=FAIL, values=values,
                       summary=summary + f"; THE LAST AUDIT FOUND {waiting.missed} BLOBS THE CHANGE FEED NEVER BROUGHT",
                       action="find who wrote them (the manifest's audit names them): docs/integrity.md, 'The "
                              "listing audit'")
    return replace(check, values=values, summary=summary)
