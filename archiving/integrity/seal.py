"""One seal run: find the blobs created since the last seal, append one leaf each to the Merkle log, write the
manifest (create-only: one writer wins) and its signed checkpoint.  The timer ``seal_archive`` and
``python -m archiving seal`` both call :func:`seal`.

Exactly once, by creation time.  Each run seals the blobs whose creation time (the storage service's clock) is in
[sealed_from, sealed_to): ``sealed_from`` is the previous manifest's ``sealed_to``, ``sealed_to`` the service's
clock when the run starts, rounded up to the next second; the run waits until the service's clock has passed it,
so every blob created before it is committed and visible.  The intervals tile time, so each blob falls in exactly
one run: a blob written during a run has a creation time at or after that run's ``sealed_to`` (it is sealed by
the next run) or before it (it is sealed by this one).  Two runs at once compute the same interval start; only one
creates the next manifest.

Finding them without listing the archive: the intents of the journal written from ``sealed_from - LOOKBACK`` to
``sealed_to + SKEW`` (every blob's intent is written before it, at most LOOKBACK earlier), one HEAD per intent for
the creation time; containers whose names start with their creation time are listed for those hours.  The first
run of an empty log lists every source instead (blobs written before the journal existed).  ``python -m archiving seal`` (``full``) is the
repair: it lists every source and seals every blob created before its cut-off that no manifest holds (a blob
written without an intent, which `verify` reports as unsealed before the cut-off); such late leaves carry their
real creation time, earlier than the manifest's ``sealed_from``.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from archiving.integrity import journal as journal_mod
from archiving.integrity import log as log_mod
from archiving.integrity import merkle
from archiving.integrity.sources import Source, sources
from archiving.read.scan import WORKERS, ordered_map
from archiving.timefmt import UTC, iso, parse_time

logger = logging.getLogger("archiving.integrity.seal")

# A run seals at most this many blobs (the oldest; the next run goes on from there): the manifest and the
# candidates are held in memory (about 300 bytes a leaf).
MAX_LEAVES = 100_000


@dataclass(frozen=True)
class Candidate:
    created: datetime
    container: str
    name: str


@dataclass(frozen=True)
class SealResult:
    status: str  # sealed | raced (another run wrote this sequence number first)
    seq: int
    leaves: int
    tree_size: int
    root_hash: str
    sealed_from: str | None
    sealed_to: str
    checkpoint: dict[str, Any] | None


def _created(props: Any) -> datetime:
    created = props.creation_time
    return created if created.tzinfo else created.replace(tzinfo=UTC)


def _wait_past(log: log_mod.SealLog, instant: datetime, clock=time) -> None:
    """Until the service's clock has passed ``instant``."""
    for _ in range(30):
        if log.server_time() >= instant:
            return
        clock.sleep(0.25)
    raise RuntimeError("the storage service's clock did not advance")


def _listed(container: Any, source: Source, prefix: str, start: datetime | None, end: datetime) -> Iterator[Candidate]:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        for blob in container.list_blobs(name_starts_with=prefix or None):
            created = _created(blob)
            if (start is None or created >= start) and created < end:
                yield Candidate(created, source.container, blob.name)
    except ResourceNotFoundError as exc:
        if getattr(exc, "error_code", None) != "ContainerNotFound":
            raise


def candidates(svc: Any, start: datetime | None, end: datetime, full: bool) -> Iterator[Candidate]:
    """Blobs to seal: created in [start, end) (a superset is fine: each is checked against the interval); with
    ``full``, every blob created before ``end`` that no manifest holds (the repair of a missed blob)."""
    srcs = {s.container: s for s in sources(svc.settings)}
    clients = {name: svc.blob_service.get_container_client(name) for name in srcs}
    if full or start is None:
        sealed = sealed_names(svc.seal_log) if start is not None else None
        for source in srcs.values():
            for c in _listed(clients[source.container], source, "", None, end):
                # Created since the last cut-off: new by construction; before it: new only if in no manifest.
                if sealed is None or c.created >= start or (c.container, c.name) not in sealed:
                    yield c
        return
    lo, hi = start - journal_mod.LOOKBACK, end + journal_mod.SKEW
    # Blobs sealed by the runs of the look-back window need no HEAD: their intents are skipped.
    seen: set[tuple[str, str]] = recently_sealed(svc.seal_log, lo - journal_mod.SKEW)
    for source in srcs.values():
        if source.hour_prefix:
            hour = lo.replace(minute=0, second=0, microsecond=0)
            while hour <= hi:
                for c in _listed(clients[source.container], source, hour.strftime(source.hour_prefix), start, end):
                    if (c.container, c.name) not in seen:
                        seen.add((c.container, c.name))
                        yield c
                hour += timedelta(hours=1)

    def unseen() -> Iterator[journal_mod.Intent]:
        for intent in svc.journal.intents(lo, hi):
            key = (intent.container, intent.name)
            if intent.container in srcs and key not in seen:
                seen.add(key)
                yield intent

    def head(intent: journal_mod.Intent) -> Candidate | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            props = clients[intent.container].get_blob_client(intent.name).get_blob_properties()
        except ResourceNotFoundError:
            return None  # the write failed, or has not happened yet
        return Candidate(_created(props), intent.container, intent.name)

    for c in ordered_map(head, unseen(), WORKERS):
        if c is not None and start <= c.created < end:
            yield c


def recently_sealed(log: log_mod.SealLog, since: datetime) -> set[tuple[str, str]]:
    """(container, name) of the leaves of the last manifests, back to the one sealing from before ``since``."""
    import json

    out: set[tuple[str, str]] = set()
    for name in reversed(log.names(log_mod.MANIFESTS)):
        data = log.read(name)
        if data is None:
            break
        doc = json.loads(data)
        out.update((leaf["container"], leaf["name"]) for leaf in doc.get("leaves", []))
        if not doc.get("sealed_from") or parse_time(doc["sealed_from"], "sealed_from") <= since:
            break
    return out


class SealedNames:
    """Membership in the log for a full seal (the CLI): a sorted array of 64-bit hashes of (container, name), 8 bytes a
    sealed blob (80 MB at 10 million), built from one pass over the manifests."""

    def __init__(self, log: log_mod.SealLog):
        import json
        from array import array

        values = array("Q")
        for _, data in log.manifests():
            for leaf in json.loads(data or b"{}").get("leaves", []):
                values.append(self._h(leaf["container"], leaf["name"]))
        self.values = array("Q", sorted(values))

    @staticmethod
    def _h(container: str, name: str) -> int:
        return int.from_bytes(hashlib.blake2b(f"{container}/{name}".encode(), digest_size=8).digest(), "big")

    def __contains__(self, key: tuple[str, str]) -> bool:
        import bisect

        h = self._h(*key)
        i = bisect.bisect_left(self.values, h)
        return i < len(self.values) and self.values[i] == h


def sealed_names(log: log_mod.SealLog) -> SealedNames:
    return SealedNames(log)


def hash_blob(container: Any, name: str) -> tuple[str, int, datetime] | None:
    """sha256 and size of the stored bytes, and the creation time; None if the blob is gone."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        downloader = container.download_blob(name)
        digest = hashlib.sha256()
        size = 0
        for chunk in downloader.chunks():
            digest.update(chunk)
            size += len(chunk)
    except ResourceNotFoundError:
        return None
    return digest.hexdigest(), size, _created(downloader.properties)


def _leaves(svc: Any, chosen: Iterable[Candidate], start: datetime | None, end: datetime) -> list[dict[str, Any]]:
    """The leaves of the chosen blobs, read and hashed; ``start`` None accepts any creation time before ``end``."""
    clients: dict[str, Any] = {}

    def one(c: Candidate) -> dict[str, Any] | None:
        client = clients.get(c.container) or svc.blob_service.get_container_client(c.container)
        clients[c.container] = client
        hashed = hash_blob(client, c.name)
        if hashed is None:
            return None
        sha, size, created = hashed
        if (start is not None and created < start) or created >= end:
            return None  # deleted and written again since it was found: the new blob belongs to a later run
        return {"container": c.container, "created": iso(created), "name": c.name, "sha256": sha, "size": size}

    leaves = [leaf for leaf in ordered_map(one, chosen, WORKERS) if leaf is not None]
    leaves.sort(key=lambda leaf: (leaf["created"], leaf["container"], leaf["name"]))
    return leaves


def seal(svc: Any, *, full: bool = False, max_leaves: int = MAX_LEAVES, signer: Any = None) -> SealResult:
    from archiving.integrity.signing import signer_from_settings

    signer = signer or signer_from_settings(svc.settings, lambda: svc.credential)
    log: log_mod.SealLog = svc.seal_log
    log.publish_key(signer)
    head = log.head()
    if head is not None and log.read(log_mod.checkpoint_name(head.seq)) is None:
        log.write_checkpoint(head.manifest, head.sha256, signer)  # a previous run stopped in between
    start = parse_time(head.sealed_to, "sealed_to") if head else None
    end = log.server_time() + timedelta(seconds=1)  # Creation-Time has whole seconds
    _wait_past(log, end)

    chosen = heapq.nsmallest(max_leaves + 1, candidates(svc, start, end, full),
                             key=lambda c: (c.created, c.container, c.name))
    if len(chosen) > max_leaves:  # seal the oldest, up to a whole second; the next run goes on from there
        # (never below the previous cut-off: a full seal may find late blobs older than it)
        end = chosen[-1].created if start is None or chosen[-1].created > start else start
        chosen = [c for c in chosen[:max_leaves] if c.created < end]
    leaves = _leaves(svc, chosen, None if full else start, end)

    cr = head.compact_range() if head else merkle.CompactRange()
    size_before = cr.size
    for leaf in leaves:
        cr.append(log_mod.leaf_hash(leaf))
    seq = head.seq + 1 if head else 1
    manifest = {
        "format": log_mod.MANIFEST_FORMAT,
        "origin": log.origin,
        "seq": seq,
        "previous_sha256": head.sha256 if head else None,
        "sealed_from": iso(start),
        "sealed_to": iso(end),
        "tree_size_before": size_before,
        "tree_size": cr.size,
        "root_hash": cr.root().hex(),
        "compact_range": [h.hex() for h in cr.hashes],
        "leaves": leaves,
    }
    data = log_mod.encode(manifest)
    if not log.create(log_mod.manifest_name(seq), data):
        logger.warning("seal outcome=raced seq=%s: another run wrote this manifest first; nothing written", seq)
        return SealResult("raced", seq, 0, size_before, head.manifest["root_hash"] if head else merkle.EMPTY_ROOT.hex(),
                          iso(start), iso(end), None)
    checkpoint = log.write_checkpoint(manifest, hashlib.sha256(data).hexdigest(), signer)
    logger.info("seal outcome=sealed seq=%s leaves=%s tree_size=%s", seq, len(leaves), cr.size)
    return SealResult("sealed", seq, len(leaves), cr.size, manifest["root_hash"], manifest["sealed_from"],
                      manifest["sealed_to"], checkpoint)
