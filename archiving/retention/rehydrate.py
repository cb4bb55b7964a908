"""Rehydration: bring the Archive-tier blobs of a scope back to an online tier, in place (same blob, same name:
the seal's leaves and every link still hold), and tell when they are readable.

Azure rehydrates in hours: up to 15 hours at Standard priority, under one hour at High for blobs under 10 GB
(High is capped per account per hour), and many small blobs take longer than their size suggests
(docs/cost.md).  Asking again is harmless: a blob already online or already rehydrating is left alone.
Each request is kept in the archive as a ``rehydration`` record (what, who, when), which ``status`` reads to
show the rehydrations in flight.
"""

from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from archiving.retention import audit
from archiving.retention.scope import Blob, Scope, covered, document_reader, list_records
from archiving.timefmt import parse_time, utcnow

log = logging.getLogger("archiving.retention.rehydrate")

ARCHIVE = "Archive"
PRIORITIES = ("Standard", "High")
TIERS = ("Hot", "Cool", "Cold")
WORKERS = 16
IN_FLIGHT_WINDOW = timedelta(days=2)  # status looks at the requests of the last two days (Standard: up to 15 h)


@dataclass
class RehydrateResult:
    in_scope: int = 0
    archived: int = 0  # in the Archive tier, not yet rehydrating
    requested: int = 0  # asked now
    pending: int = 0  # rehydrating (asked now or before)
    online: int = 0
    record: str | None = None
    names: list[str] = field(default_factory=list)  # archived or pending, to wait for


def pending(blob_tier: str | None, archive_status: str | None) -> bool:
    return bool(archive_status) and archive_status.startswith("rehydrate-pending")


def rehydrate(svc: Any, scopes: list[Scope], *, priority: str = "Standard", tier: str = "Cool",
              matter_id: str | None = None, by: str | None = None, progress: Any = None) -> RehydrateResult:
    if priority not in PRIORITIES:
        raise ValueError(f"--priority {priority}: choose Standard or High")
    if tier not in TIERS:
        raise ValueError(f"--tier {tier}: choose Hot, Cool or Cold")
    blobs, _ = covered(list_records(svc), scopes, document_reader(svc))
    result = RehydrateResult(in_scope=len(blobs))
    ask: list[Blob] = []
    for b in blobs:
        if pending(b.tier, b.archive_status):
            result.pending += 1
            result.names.append(b.name)
        elif b.tier == ARCHIVE:
            result.archived += 1
            ask.append(b)
            result.names.append(b.name)
        else:
            result.online += 1
    if ask:
        from archiving.read.scan import ordered_map

        container = svc.store.container

        def one(b: Blob) -> int:
            container.get_blob_client(b.name).set_standard_blob_tier(tier, rehydrate_priority=priority)
            if progress is not None:
                progress.update(1)
            return 1

        result.requested = sum(ordered_map(one, ask, WORKERS))
        result.pending += result.requested
        from archiving.retention.holds import operator

        now = utcnow()
        doc: dict[str, Any] = {"schema_version": audit.SCHEMA_VERSION, "kind": "rehydration",
                               "at": audit.now_text(now), "by": by or operator(),
                               "scope": [s.as_dict() for s in scopes], "priority": priority, "tier": tier,
                               "blobs": [b.name for b in ask]}
        if matter_id:
            doc["matter_id"] = matter_id
        result.record = audit.write(svc.store, f"{audit.REHYDRATION_ROOT}{audit.stamp(now)}", doc,
                                    {"kind": "rehydration", "at": doc["at"]})
    log.info("rehydrate in_scope=%d requested=%d pending=%d online=%d priority=%s", result.in_scope,
             result.requested, result.pending, result.online, priority)
    return result


def still_offline(svc: Any, names: Iterable[str]) -> list[str]:
    """The names still in the Archive tier or rehydrating (one HEAD each)."""
    from azure.core.exceptions import ResourceNotFoundError

    from archiving.read.scan import ordered_map

    container = svc.store.container

    def one(name: str) -> str | None:
        try:
            props = container.get_blob_client(name).get_blob_properties()
        except ResourceNotFoundError:
            return None
        return name if props.blob_tier == ARCHIVE or pending(props.blob_tier, props.archive_status) else None

    return [n for n in ordered_map(one, list(names), WORKERS) if n is not None]


def wait(svc: Any, names: list[str], *, interval: float = 300.0, timeout: float | None = None,
         on_poll: Any = None, clock: Any = time) -> list[str]:
    """Poll until every name is readable (or ``timeout`` seconds passed); the names still offline."""
    started = clock.monotonic()
    left = still_offline(svc, names)
    while left:
        if on_poll is not None:
            on_poll(len(names) - len(left), len(names))
        if timeout is not None and clock.monotonic() - started >= timeout:
            break
        clock.sleep(interval)
        left = still_offline(svc, left)
    return left


@dataclass(frozen=True)
class InFlight:
    record: str
    at: str
    priority: str
    blobs: int
    pending: int


def in_flight(svc: Any, now: datetime | None = None) -> list[InFlight]:
    """The rehydration requests of the last two days with blobs still not readable (for ``status``)."""
    now = now or utcnow()
    since = now - IN_FLIGHT_WINDOW
    out = []
    store = svc.store
    names = [n for n in store.list_names(audit.REHYDRATION_ROOT)
             if n[len(audit.REHYDRATION_ROOT):][:15] >= since.strftime("%Y%m%dT%H%M%S")]
    for name, doc in audit.read_all_named(store, names):
        if parse_time(doc["at"], "at") < since:
            continue
        left = still_offline(svc, doc["blobs"])
        if left:
            out.append(InFlight(name, doc["at"], doc["priority"], len(doc["blobs"]), len(left)))
    return out


def command(scope_args: list[str], priority: str = "Standard") -> str:
    """The exact command that rehydrates a scope (what read commands print when they meet the Archive tier)."""
    return "python -m archiving rehydrate " + " ".join(shlex.quote(a) for a in scope_args) + " --wait"
