"""Legal holds by matter: place, release, list, and the scopes that are active now.

A matter's state is the replay of its audit records (holds/<matter_id>/…) in time order: each ``place`` adds
a scope, a ``release`` ends every scope of the matter.  Nothing else is stored: what a hold covers is decided
from the archive as it is (archiving.retention.scope), so records written after the hold are covered too.

With ``ARCHIVE_LEGAL_HOLD`` on (version-level immutability on the archive container), the blobs a hold covers
also get Azure's legal hold when it is placed and at each dispose run (for the records written since), and
lose it when the last hold covering them is released.
"""

from __future__ import annotations

import getpass
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from archiving.retention import audit
from archiving.retention.scope import Blob, Scope, covered, document_reader, list_records
from archiving.timefmt import utcnow

log = logging.getLogger("archiving.retention.holds")

LEGAL_HOLD_WORKERS = 16


@dataclass
class Matter:
    matter: str
    matter_id: str
    scopes: list[Scope] = field(default_factory=list)
    placed: list[dict[str, Any]] = field(default_factory=list)  # the place records of the active scopes
    audit: list[str] = field(default_factory=list)  # names of every audit record of the matter
    released: dict[str, Any] | None = None  # the last release, if the matter has no active scope

    @property
    def active(self) -> bool:
        return bool(self.scopes)


def operator() -> str:
    """Who acts: the CLI's user (or ARCHIVE_OPERATOR, e.g. a ticket system's name for the person)."""
    who = os.environ.get("ARCHIVE_OPERATOR", "").strip()
    if who:
        return who[:200]
    try:
        return getpass.getuser()[:200] or "unknown"
    except (OSError, KeyError):
        return "unknown"


def matters(store: Any) -> dict[str, Matter]:
    """Every matter ever held, by matter_id; raises audit.DamagedAuditRecord if a hold record is damaged."""
    out: dict[str, Matter] = {}
    for name, doc in audit.read_all(store, audit.HOLD_ROOT):
        m = out.setdefault(doc["matter_id"], Matter(doc["matter"], doc["matter_id"]))
        m.audit.append(name)
        if doc["action"] == "place" and doc.get("scope"):
            m.scopes.append(Scope.from_dict(doc["scope"]))
            m.placed.append(dict(doc, audit=name))
            m.released = None
        elif doc["action"] == "release":
            m.scopes, m.placed, m.released = [], [], dict(doc, audit=name)
    return out


def active_scopes(store: Any) -> list[tuple[str, Scope]]:
    """(matter_id, scope) of every active hold."""
    return [(m.matter_id, s) for m in matters(store).values() for s in m.scopes]


def _check_text(value: str | None, option: str, limit: int) -> str:
    text = (value or "").strip()
    if not text:
        raise ValueError(f"{option} is empty")
    if len(text) > limit:
        raise ValueError(f"{option} is longer than {limit} characters")
    return text


@dataclass(frozen=True)
class HoldResult:
    audit_name: str
    records: int
    legal_holds: int  # blobs given Azure's legal hold now (0 when ARCHIVE_LEGAL_HOLD is off)


def place(svc: Any, matter: str, reason: str, scope: Scope, by: str | None = None, progress: Any = None) -> HoldResult:
    matter = _check_text(matter, "--matter", 200)
    reason = _check_text(reason, "--reason", 2000)
    store = svc.store
    blobs, _ = covered(_counted(list_records(svc, immutability=svc.settings.legal_hold), progress), [scope],
                       document_reader(svc))
    legal = set_legal_holds(svc, blobs, True) if svc.settings.legal_hold else 0
    now = utcnow()
    mid = audit.matter_id(matter)
    doc = {"schema_version": audit.SCHEMA_VERSION, "kind": "hold", "action": "place", "matter": matter,
           "matter_id": mid, "reason": reason, "at": audit.now_text(now), "by": by or operator(),
           "scope": scope.as_dict(), "records": len(blobs), "legal_hold": bool(svc.settings.legal_hold)}
    name = audit.write(store, f"{audit.HOLD_ROOT}{mid}/{audit.stamp(now)}-place", doc,
                       {"kind": "hold", "at": doc["at"], "matter": mid})
    log.info("hold placed matter_id=%s records=%d legal_holds=%d audit=%s", mid, len(blobs), legal, name)
    return HoldResult(name, len(blobs), legal)


def release(svc: Any, matter: str, reason: str, by: str | None = None, progress: Any = None) -> HoldResult:
    """End every scope of the matter; raises LookupError if the matter has no active hold."""
    matter = _check_text(matter, "--matter", 200)
    reason = _check_text(reason, "--reason", 2000)
    store = svc.store
    mid = audit.matter_id(matter)
    all_matters = matters(store)
    m = all_matters.get(mid)
    if m is None or not m.active:
        raise LookupError(f"matter {matter!r} has no active hold")
    cleared = 0
    blobs: list[Blob] = []
    if svc.settings.legal_hold:
        # Azure's legal hold comes off only the blobs no other active hold still covers.
        others = [s for k, other in all_matters.items() if k != mid for s in other.scopes]
        listed = list(_counted(list_records(svc, immutability=True), progress))
        blobs, _ = covered(listed, m.scopes, document_reader(svc))
        still, _ = covered(listed, others, document_reader(svc)) if others else ([], None)
        keep = {b.name for b in still}
        cleared = set_legal_holds(svc, [b for b in blobs if b.name not in keep and b.legal_hold], False)
    now = utcnow()
    doc = {"schema_version": audit.SCHEMA_VERSION, "kind": "hold", "action": "release", "matter": matter,
           "matter_id": mid, "reason": reason, "at": audit.now_text(now), "by": by or operator(), "scope": None,
           "records": len(blobs), "legal_hold": bool(svc.settings.legal_hold)}
    name = audit.write(store, f"{audit.HOLD_ROOT}{mid}/{audit.stamp(now)}-release", doc,
                       {"kind": "hold", "at": doc["at"], "matter": mid})
    log.info("hold released matter_id=%s legal_holds_cleared=%d audit=%s", mid, cleared, name)
    return HoldResult(name, len(blobs), cleared)


@dataclass(frozen=True)
class HoldView:
    matter: str
    matter_id: str
    scope: Scope
    placed_at: str
    placed_by: str
    reason: str
    audit: str
    records: int  # covered now


def listing(svc: Any, include_released: bool = False, progress: Any = None) -> tuple[list[HoldView], list[Matter]]:
    """Every active hold with the number of records it covers now (one listing of the archive), and the
    released matters (when asked for)."""
    ms = matters(svc.store)
    views: list[HoldView] = []
    placed = [(m, p) for m in ms.values() for p in m.placed]
    if placed:
        blobs = list(_counted(list_records(svc), progress))
        for m, p in placed:
            scope = Scope.from_dict(p["scope"])
            n = len(covered(blobs, [scope], document_reader(svc))[0])
            views.append(HoldView(m.matter, m.matter_id, scope, p["at"], p["by"], p["reason"], p["audit"], n))
    released = [m for m in ms.values() if not m.active] if include_released else []
    return views, released


def set_legal_holds(svc: Any, blobs: Iterable[Blob], on: bool) -> int:
    """Azure's legal hold on (or off) each blob; the number changed.  Needs version-level immutability on the
    container and an identity allowed to set legal holds: the service refuses otherwise, and the error (naming the
    setting and the likely cause) stops the command."""
    from azure.core.exceptions import HttpResponseError

    from archiving.read.scan import ordered_map

    container = svc.store.container

    def one(blob: Blob) -> int:
        if blob.legal_hold == on:
            return 0
        try:
            container.get_blob_client(blob.name).set_legal_hold(on)
        except HttpResponseError as exc:
            from archiving.settings import SettingError

            # The SDK does not map this operation's errors: the service's code is in the response header.
            response = getattr(exc, "response", None)
            code = getattr(exc, "error_code", None) or (
                response.headers.get("x-ms-error-code") if response is not None else None) or ""
            why = ("the identity the archiver runs as is not allowed to (it needs Storage Blob Data Owner on the "
                   "archive account, docs/deployment.md)" if exc.status_code in (401, 403) else
                   "it needs version-level immutability on the archive container (docs/deployment.md, "
                   "enableImmutability)")
            raise SettingError("ARCHIVE_LEGAL_HOLD", f"Azure legal hold could not be {'set' if on else 'cleared'} "
                               f"on {blob.name} ({exc.status_code} {code}".rstrip() + f"): {why}") from None
        return 1

    return sum(ordered_map(one, blobs, LEGAL_HOLD_WORKERS))


def _counted(blobs: Iterable[Blob], progress: Any):
    for b in blobs:
        if progress is not None:
            progress.update(1)
        yield b
