"""Disposition by the product: delete the records whose retention has ended and that no active hold covers.

One run (the ``dispose_archive`` timer, ``python -m archiving dispose``):

1. read every hold record (a damaged one stops the run: nothing is deleted on a doubt);
2. list the record roots with tags, metadata and (for accounts with version-level immutability) legal hold and
   time-based retention: one request per 5,000 blobs;
3. a record is due when its ``at`` tag (the communication's own time) is before ``now - ARCHIVE_RETENTION_DAYS``;
   a due record that an active hold covers is kept (``held``), one under Azure immutability that has not expired
   (legal hold, or a retention until after now) is kept (``immutable``), one without an ``at`` tag is kept
   (``no_time``: its age is unknown);
4. the disposition record (what: name, sha256 and time of each blob; under which retention; when; counts) is
   written create-only BEFORE anything is deleted, signed with the seal's key when one is configured, in parts
   of at most PART_SIZE blobs;
5. the blobs are deleted.  A delete that fails is logged and counted; the next run lists it again.

``verify`` (the seal log's) reads the disposition records (:func:`disposed_names`): a sealed blob that is gone
and named by one is "disposed", any other missing blob stays a finding.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from archiving.retention import audit
from archiving.retention.scope import Blob, Matcher, document_reader, list_records
from archiving.timefmt import UTC, iso, utcnow

log = logging.getLogger("archiving.retention.dispose")

PART_SIZE = 10_000  # blobs named per disposition record (about 2 MB of JSON)
DELETE_WORKERS = 16


@dataclass
class DisposeResult:
    run_id: str
    cutoff: str
    retention_days: int
    dry_run: bool
    counts: Counter = field(default_factory=Counter)
    records: list[str] = field(default_factory=list)  # disposition records written
    due: list[Blob] = field(default_factory=list)  # what was (or, with dry_run, would be) deleted
    failed: list[tuple[str, str]] = field(default_factory=list)


def retention_ended(at: str, days: int) -> str:
    """When the retention of a record of time ``at`` ends."""
    when = datetime.fromisoformat(at.replace("Z", "+00:00")) + timedelta(days=days)
    return iso(when.astimezone(UTC))  # type: ignore[return-value]


def _immutable(blob: Blob, now: datetime) -> bool:
    if blob.legal_hold:
        return True
    until = blob.immutable_until
    if until is None:
        return False
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    return until > now


def dispose(svc: Any, *, dry_run: bool = False, now: datetime | None = None, progress: Any = None,
            signer: Any = None) -> DisposeResult:
    from archiving.retention.holds import matters, set_legal_holds

    now = now or utcnow()
    days = svc.settings.retention_days
    cutoff = iso(now - timedelta(days=days))
    result = DisposeResult(uuid.uuid4().hex, cutoff, days, dry_run)  # type: ignore[arg-type]
    counts = result.counts
    held_by = [(m.matter_id, s, m.audit) for m in matters(svc.store).values() for s in m.scopes]
    matcher = Matcher([s for _, s, _ in held_by], document_reader(svc))
    legal = svc.settings.legal_hold

    per_matter: Counter = Counter()  # due records each matter keeps

    def held(blob: Blob) -> None:
        counts["held"] += 1
        for i in matcher.covering(blob):
            per_matter[held_by[i][0]] += 1

    due: list[Blob] = []
    to_hold: list[Blob] = []  # covered, without Azure's legal hold yet (written after the hold)

    def decide(blob: Blob, is_covered: bool) -> None:
        if legal and is_covered and not blob.legal_hold:
            to_hold.append(blob)
        at = blob.at
        if not at:
            counts["no_time"] += 1
            return
        if at >= cutoff:
            return
        counts["expired"] += 1
        if is_covered:
            held(blob)
        elif _immutable(blob, now):
            counts["immutable"] += 1
        else:
            due.append(blob)

    # Blobs a party's thread or call, or a held thread's outbound message may cover: decided after the listing
    # (recent ones too: a covered one gets Azure's legal hold).
    later: list[Blob] = []
    for blob in list_records(svc, immutability=True):
        if progress is not None:
            progress.update(1)
        counts["listed"] += 1
        matcher.learn(blob)
        is_covered = matcher.covers(blob)
        if not is_covered and matcher.deferred(blob):
            later.append(blob)
        else:
            decide(blob, is_covered)
    for blob in later:
        decide(blob, matcher.covers(blob))
    if legal and not dry_run and to_hold:
        counts["legal_holds_set"] = set_legal_holds(svc, to_hold, True)

    result.due = due
    counts["disposed"] = len(due) if not dry_run else 0
    counts["due"] = len(due)
    if dry_run or not due:
        log.info("dispose run=%s dry_run=%s listed=%d expired=%d held=%d immutable=%d due=%d", result.run_id,
                 dry_run, counts["listed"], counts["expired"], counts["held"], counts["immutable"], len(due))
        if not dry_run:
            result.records.append(_write_part(svc, result, 1, [], held_by, per_matter, now, signer))
        return result

    for part, start in enumerate(range(0, len(due), PART_SIZE), 1):
        chunk = due[start:start + PART_SIZE]
        result.records.append(_write_part(svc, result, part, chunk, held_by, per_matter, now, signer))
    _delete(svc, due, result)
    counts["disposed"] = len(due) - len(result.failed)
    counts["failed"] = len(result.failed)
    log.info("dispose run=%s listed=%d expired=%d held=%d immutable=%d disposed=%d failed=%d records=%d",
             result.run_id, counts["listed"], counts["expired"], counts["held"], counts["immutable"],
             counts["disposed"], counts["failed"], len(result.records))
    return result


def _write_part(svc: Any, result: DisposeResult, part: int, chunk: list[Blob], held_by, per_matter: Counter,
                now: datetime, signer: Any) -> str:
    counts = result.counts
    doc: dict[str, Any] = {
        "schema_version": audit.SCHEMA_VERSION, "kind": "disposition", "run_id": result.run_id, "part": part,
        "at": audit.now_text(now), "retention_days": result.retention_days, "cutoff": result.cutoff,
        "counts": {k: int(counts[k]) for k in ("listed", "expired", "held", "immutable", "no_time")}
        | {"disposed": len(chunk), "due": int(counts["due"])},
        "holds": [{"matter_id": mid, "records": int(per_matter[mid]), "audit": names}
                  for mid, names in {mid: names for mid, _, names in held_by}.items()],
        "disposed": [{"name": b.name, "sha256": b.metadata.get("sha256"), "at": b.at,
                      "retention_ended": retention_ended(b.at, result.retention_days)} for b in chunk],
    }
    signer = signer if signer is not None else _signer(svc)
    if signer is not None:
        doc = audit.sign(doc, signer)
    return audit.write(svc.store, f"{audit.DISPOSITION_ROOT}{audit.stamp(now)}-{part:04d}", doc,
                       {"kind": "disposition", "at": doc["at"]})


def _signer(svc: Any) -> Any:
    settings = svc.settings
    if not (settings.seal_key_file or settings.seal_key_id):
        return None
    from archiving.integrity.signing import signer_from_settings

    return signer_from_settings(settings, lambda: svc.credential)


def _delete(svc: Any, due: list[Blob], result: DisposeResult) -> None:
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    from archiving.read.scan import ordered_map

    container = svc.store.container

    def one(blob: Blob) -> tuple[str, str] | None:
        try:
            container.delete_blob(blob.name)
        except ResourceNotFoundError:
            return None  # gone already (a previous run, or by hand: the seal's verify tells)
        except HttpResponseError as exc:
            # Immutability the listing did not show (a container-level policy), or a lease: kept, counted.
            return blob.name, f"{exc.status_code} {getattr(exc, 'error_code', None) or ''}".strip()
        return None

    for failure in ordered_map(one, due, DELETE_WORKERS):
        if failure is not None:
            result.failed.append(failure)
            log.warning("dispose could not delete blob=%s status=%s (kept; the next run tries again)", *failure)


def disposed_names(svc: Any) -> dict[str, str]:
    """name -> when its retention ended, of every blob a disposition record of the archive container names.

    Read by ``verify`` to tell a blob disposed by the product from one deleted by anyone else.  A disposition
    record whose signature does not verify with the seal's configured key names nothing (its blobs stay
    findings); an unsigned one counts only when no signing key is configured."""
    keys: dict[str, bytes] = {}
    signer = _signer(svc)
    if signer is not None:
        keys[signer.key_id] = signer.public_pem
    out: dict[str, str] = {}
    for _, doc in audit.read_all(svc.store, audit.DISPOSITION_ROOT):
        if keys and audit.check_signature(doc, keys) is not None:
            log.warning("disposition record run=%s part=%s: signature does not verify; its blobs are not "
                        "accepted as disposed", doc.get("run_id"), doc.get("part"))
            continue
        for item in doc.get("disposed", ()):
            out[item["name"]] = item["retention_ended"]
    return out
