"""One seal run: find the blobs created since the last seal, append one leaf each to the Merkle log, write the
manifest (create-only: one writer wins) and its signed checkpoint.  The timer ``seal_archive`` and
``python -m archiving seal`` both call :func:`seal`; the weekly timer ``seal_audit`` and the command add the
listing audit.

New blobs come from the storage account's change feed (archiving.integrity.feed), read from the cursor that the
previous manifest holds, through the segments that are final (``lastConsumable``) and no further: the BlobCreated
records of every source container, whoever wrote the blob.  The manifest holds the new cursor and is written
create-only before its checkpoint, so a run that stops before the manifest is repeated from the old cursor (the
same records, the same leaves) and one that stops after it is never repeated.  ``sealed_to`` (the cut-off) is the
instant before which every blob's record has been read: a segment's hour, less the 15 minutes the docs allow a
segment's times to be off.  A blob is sealed once: a record repeated, an overwrite of a blob created before the
previous cut-off, or a blob the last runs sealed (``recently_sealed``) adds no leaf.

Without a change feed (Azurite, or the feed turned off) and for the first seal of an empty log, the run lists every
source instead and seals the blobs created in [sealed_from, sealed_to), ``sealed_to`` the service's clock (it
waits until the clock has passed it, so every blob created before it is visible); the feed then takes over from
that cut-off.  The listing audit (:func:`seal` with ``audit``) lists every source after the feed and seals, loudly,
each blob created before the cut-off that no manifest holds: a blob the feed never brought.  Such late leaves carry
their real creation time, earlier than the manifest's ``sealed_from``; the manifest's ``audit`` names them.
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

from archiving.integrity import feed as feed_mod
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
    status: str  # sealed | raced (another run wrote this sequence number first) | idle (nothing new in the feed)
    seq: int
    leaves: int
    tree_size: int
    root_hash: str
    sealed_from: str | None
    sealed_to: str
    checkpoint: dict[str, Any] | None
    source: str = "change-feed"  # change-feed | listing
    missed: tuple[str, ...] = ()  # the audit's finds: container/name of blobs the feed never brought


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

    from archiving.store.listing import list_blobs

    try:
        for blob in list_blobs(container, prefix or "", include=()):
            created = _created(blob)
            if (start is None or created >= start) and created < end:
                yield Candidate(created, source.container, blob.name)
    except ResourceNotFoundError as exc:
        if getattr(exc, "error_code", None) != "ContainerNotFound":
            raise


def listed(svc: Any, start: datetime | None, end: datetime) -> Iterator[Candidate]:
    """Every blob of every source created in [start, end) (any before ``end`` when ``start`` is None)."""
    for source in sources(svc.settings):
        yield from _listed(svc.blob_service.get_container_client(source.container), source, "", start, end)


def from_feed(feed: feed_mod.ChangeFeedSource, cursor: feed_mod.Cursor, containers: set[str],
              skip: set[tuple[str, str]], max_leaves: int, now: datetime
              ) -> tuple[list[tuple[Candidate, feed_mod.Cursor]], feed_mod.Cursor, bool, int]:
    """The blobs of the BlobCreated records of ``containers`` from ``cursor``, each once and none of ``skip``, up to
    ``max_leaves``, each with the position after its record; the position after the last record read (and whether
    its segment is done); deletes seen."""
    chosen: list[tuple[Candidate, feed_mod.Cursor]] = []
    seen: set[tuple[str, str]] = set()
    position, done, deletes = cursor, False, 0
    for change, after, segment_done in feed.read(cursor):
        if change is not None and change.container in containers:
            key = (change.container, change.name)
            if change.event_type == "BlobDeleted":
                deletes += 1
            elif change.event_type == "BlobCreated" and key not in seen and key not in skip:
                if len(chosen) == max_leaves:
                    break  # the next run starts at this record
                seen.add(key)
                chosen.append((Candidate(change.at or now, change.container, change.name), after))
        position, done = after, segment_done
    return chosen, position, done, deletes


def recently_sealed(log: log_mod.SealLog, since: datetime) -> set[tuple[str, str]]:
    """(container, name) of the leaves of the last manifests, back to the one sealing from before ``since`` (a run
    reading the feed seals blobs created up to about 90 minutes after its cut-off)."""
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


def _leaves(svc: Any, chosen: Iterable[Candidate], start: datetime | None, end: datetime | None,
            deadline: float | None = None, hashed: list[int] | None = None) -> list[dict[str, Any]]:
    """The leaves of the chosen blobs, read and hashed, if created in [start, end) (None: no bound).  With
    ``deadline`` (time.monotonic()), the blobs are read in order and reading stops there; ``hashed`` gets how
    many of them were read."""
    clients: dict[str, Any] = {}

    def one(c: Candidate) -> dict[str, Any] | None:
        client = clients.get(c.container) or svc.blob_service.get_container_client(c.container)
        clients[c.container] = client
        hashed = hash_blob(client, c.name)
        if hashed is None:
            return None
        sha, size, created = hashed
        if (start is not None and created < start) or (end is not None and created >= end):
            # Before the cut-off: sealed by an earlier run (an overwrite, a repeated record) or the audit's to find;
            # after the end of a listing: deleted and written again since it was found (a later run's).
            return None
        return {"container": c.container, "created": iso(created), "name": c.name, "sha256": sha, "size": size}

    leaves, count = [], 0
    for leaf in ordered_map(one, chosen, WORKERS):
        count += 1
        if leaf is not None:
            leaves.append(leaf)
        if deadline is not None and time.monotonic() > deadline:
            break
    if hashed is not None:
        hashed.append(count)
    leaves.sort(key=lambda leaf: (leaf["created"], leaf["container"], leaf["name"]))
    return leaves


# Reading new blobs stops after this long (host.json's functionTimeout is 10 minutes; the manifest, the checkpoint
# and, in the audit, the listing need the rest): a run that could never finish would be repeated forever.
BUDGET_SECONDS = 360.0
# Leaves sealed by the last runs that a record may bring again: back this far before the previous cut-off.
RECENT = feed_mod.SEGMENT + 2 * feed_mod.SLACK + timedelta(minutes=30)
_OPEN = object()


def seal(svc: Any, *, audit: bool = False, max_leaves: int = MAX_LEAVES, signer: Any = None,
         feed: Any = _OPEN, budget: float = BUDGET_SECONDS) -> SealResult:
    """One run.  ``feed``: a ChangeFeedSource, None to list the containers, default the account's change feed.
    ``budget``: seconds for reading the new blobs from the feed; the rest waits for the next run."""
    from archiving.integrity.signing import signer_from_settings

    signer = signer or signer_from_settings(svc.settings, lambda: svc.credential)
    log: log_mod.SealLog = svc.seal_log
    log.publish_key(signer)
    head = log.head()
    if head is not None and log.read(log_mod.checkpoint_name(head.seq)) is None:
        log.write_checkpoint(head.manifest, head.sha256, signer)  # a previous run stopped in between
    start = parse_time(head.sealed_to, "sealed_to") if head else None
    if feed is _OPEN:
        feed = feed_mod.open_feed(svc.blob_service)
    containers = {s.container for s in sources(svc.settings)}
    recent = recently_sealed(log, start - RECENT) if start else set()
    previous = feed_mod.Cursor.from_json(head.manifest.get("feed_cursor")) if head else None

    if head is None or feed is None:
        source = "listing"
        if feed is None:
            logger.warning("seal source=listing: this storage account has no change feed (Azurite, or the feed is "
                           "off): every container is listed")
        end = log.server_time() + timedelta(seconds=1)  # Creation-Time has whole seconds
        _wait_past(log, end)
        end = max(end, start) if start else end  # a cut-off never moves back
        chosen = heapq.nsmallest(max_leaves + 1, (c for c in listed(svc, start, end)
                                                  if (c.container, c.name) not in recent),
                                 key=lambda c: (c.created, c.container, c.name))
        if len(chosen) > max_leaves:  # seal the oldest, up to a whole second; the next run goes on from there
            end = chosen[-1].created if start is None or chosen[-1].created > start else start
            chosen = [c for c in chosen[:max_leaves] if c.created < end]
        leaves = _leaves(svc, chosen, start, end)
        # The feed takes over from this cut-off: from the segment that may hold the records of blobs created at it.
        cursor = feed_mod.Cursor(feed_mod.segment_path(end - feed_mod.SEGMENT - feed_mod.SLACK))
    else:
        source = "change-feed"
        cursor = previous or feed_mod.Cursor(feed_mod.segment_path(start - feed_mod.SEGMENT - feed_mod.SLACK))
        chosen, cursor, done, deletes = from_feed(feed, cursor, containers, recent, max_leaves,
                                                  log.server_time())
        count: list[int] = []
        leaves = _leaves(svc, [c for c, _ in chosen], start, None, time.monotonic() + budget, count)
        if count and count[0] < len(chosen):  # out of time: the next run reads on after the last blob read
            cursor, done = chosen[count[0] - 1][1], False
            logger.warning("seal budget=%ss: read %s of %s new blobs; the next run goes on from there", budget,
                           count[0], len(chosen))
        read_to = feed_mod.sealed_before(cursor, done)
        end = max(start, read_to) if read_to else start
        if deletes:
            logger.info("seal deletes=%s: BlobDeleted records of sealed containers (verify names sealed blobs that "
                        "are gone)", deletes)
        if cursor == previous and not leaves and not audit:
            logger.info("seal outcome=idle seq=%s source=%s leaves=0 tree_size=%s lag_minutes=%d", head.seq, source,
                        head.manifest["tree_size"], _lag_minutes(log, end))
            return SealResult("idle", head.seq, 0, head.manifest["tree_size"], head.manifest["root_hash"],
                              head.manifest.get("sealed_from"), head.sealed_to, None, source)

    missed: list[dict[str, Any]] = []
    if audit and start is not None:
        missed = _audit(svc, log, leaves, end)
        leaves = sorted(leaves + missed, key=lambda leaf: (leaf["created"], leaf["container"], leaf["name"]))

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
        "source": source,
        "feed_cursor": cursor.to_json(),
        "leaves": leaves,
    }
    if audit:
        manifest["audit"] = {"missed": [f"{leaf['container']}/{leaf['name']}" for leaf in missed]}
    # The last audit's outcome travels with every manifest, so `status` reads one manifest.
    last_audit = {"seq": seq, "missed": len(missed)} if audit else (head.manifest.get("last_audit") if head else None)
    if last_audit is not None:
        manifest["last_audit"] = last_audit
    data = log_mod.encode(manifest)
    if not log.create(log_mod.manifest_name(seq), data):
        logger.warning("seal outcome=raced seq=%s: another run wrote this manifest first; nothing written", seq)
        return SealResult("raced", seq, 0, size_before, head.manifest["root_hash"] if head else merkle.EMPTY_ROOT.hex(),
                          iso(start), iso(end), None, source)
    checkpoint = log.write_checkpoint(manifest, hashlib.sha256(data).hexdigest(), signer)
    logger.info("seal outcome=sealed seq=%s source=%s leaves=%s tree_size=%s lag_minutes=%d", seq, source, len(leaves),
                cr.size, _lag_minutes(log, end))
    return SealResult("sealed", seq, len(leaves), cr.size, manifest["root_hash"], manifest["sealed_from"],
                      manifest["sealed_to"], checkpoint, source, tuple(manifest.get("audit", {}).get("missed", ())))


def _lag_minutes(log: log_mod.SealLog, cutoff: datetime) -> int:
    """How far the cut-off trails the service's clock (the alert 'seal-lag' reads it)."""
    return max(0, int((log.server_time() - cutoff).total_seconds() // 60))


def _audit(svc: Any, log: log_mod.SealLog, leaves: list[dict[str, Any]], end: datetime) -> list[dict[str, Any]]:
    """The listing audit: blobs created before ``end`` in no manifest and not among ``leaves`` (which must never
    happen with the change feed), read and hashed."""
    sealed = sealed_names(log)
    taking = {(leaf["container"], leaf["name"]) for leaf in leaves}
    missing = [c for c in listed(svc, None, end) if (c.container, c.name) not in sealed
               and (c.container, c.name) not in taking]
    found = _leaves(svc, missing, None, end)
    if found:
        logger.error("seal audit missed=%s: blobs created before the cut-off that the change feed never brought "
                     "are sealed now, late (first: %s); find out who wrote them", len(found),
                     f"{found[0]['container']}/{found[0]['name']}")
    return found
