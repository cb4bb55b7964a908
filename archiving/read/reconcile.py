"""Comparing the archive with the service's own listing of a thread: what, if anything, is missing.

The service lists every message of a thread in its current state (id, version, edited or deleted;
system messages for the topic and the participants).  The archive holds message records (one per
version), thread records and transcripts.  For each listed message, a gap is:

- ``message``: nothing of the message is archived (fillable: a transcript captures it now);
- ``version``: the message is archived, but not its current version (fillable);
- ``original``: the message was edited and the archive has no copy from before the edit (not
  fillable: the service no longer has that text);
- ``content``: the message was deleted and the archive never had its content (not fillable);
- ``event``: a system message (topic changed, participants added or removed) that neither a
  transcript nor a thread record tells (fillable).

``fill`` writes a transcript of the thread as it is now (``archiving.threads.transcripts.archive_thread``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from archiving.store import keys
from archiving.read.reader import SYSTEM_TYPES, record_signatures, system_signatures, take
from archiving.read.scan import WORKERS
from archiving.read.verified import Findings, read_verified
from archiving.timefmt import iso, utcnow

log = logging.getLogger("archiving.read.reconcile")

PAGE_SIZE = 200  # the service's maximum
FILLABLE = ("message", "version", "event")


@dataclass(frozen=True)
class Gap:
    kind: str  # message | version | original | content | event
    message_id: str
    version: str
    message_type: str
    created_at: str | None
    detail: str

    @property
    def fillable(self) -> bool:
        return self.kind in FILLABLE

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.message_id, self.version)

    def line(self) -> str:
        note = "" if self.fillable else " [cannot be filled]"
        return (f"missing {self.kind}\t{self.message_id} v{self.version} ({self.message_type}, created "
                f"{self.created_at or '?'}): {self.detail}{note}")


@dataclass(frozen=True)
class ThreadReport:
    thread_id: str
    listed: int  # messages the service listed
    gaps: tuple[Gap, ...]  # open gaps (not acknowledged)
    error: str | None = None  # the service could not list the thread
    acknowledged: tuple[tuple[Gap, str], ...] = ()  # gaps acknowledged earlier, with the reason
    findings: Findings = field(default_factory=Findings)  # damaged blobs met (left out of the comparison)

    @property
    def complete(self) -> bool:
        return self.error is None and not self.gaps and not self.findings.any

    def summary(self) -> str:
        if self.error:
            return f"thread {self.thread_id}: not compared: {self.error}"
        acked = f"; {len(self.acknowledged)} acknowledged gap(s)" if self.acknowledged else ""
        damaged = f"; {self.findings.summary()}" if self.findings.any else ""
        if not self.gaps:
            return (f"thread {self.thread_id}: complete ({self.listed} messages listed by the service, all archived"
                    f"{acked}){damaged}")
        counts = Counter(g.kind for g in self.gaps)
        what = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
        return f"thread {self.thread_id}: {len(self.gaps)} missing of {self.listed} listed ({what}){acked}{damaged}"

    def lines(self) -> list[str]:
        out = [gap.line() for gap in self.gaps]
        out.extend(f"acknowledged {gap.line().removeprefix('missing ')} -- {reason}" for gap, reason in self.acknowledged)
        out.extend(d.line() for d in (*self.findings.items, *self.findings.warnings))
        return out


@dataclass
class ArchiveIndex:
    """What the archive holds of one thread, by message id and version (names; records read only for thread changes)."""

    versions: dict[str, dict[str, bool]] = field(default_factory=dict)  # message id -> version -> has content
    originals: set[str] = field(default_factory=set)  # message ids with a copy from before any edit
    signatures: Counter = field(default_factory=Counter)  # thread changes told by thread records
    blobs: int = 0
    findings: Findings = field(default_factory=Findings)  # damaged thread records and transcripts (not counted)

    def add(self, message_id: str, version: str, has_content: bool) -> None:
        by_version = self.versions.setdefault(message_id, {})
        by_version[version] = by_version.get(version, False) or has_content


def archive_index(store: Any, thread_id: str, workers: int = WORKERS, hash_key: bytes | None = None) -> ArchiveIndex:
    index = ArchiveIndex()
    to_read: list[str] = []
    for name in store.thread_names(thread_id):
        info = keys.parse_key(name)
        if info is None:
            continue
        index.blobs += 1
        if info.area == "messages":
            message_id, _, rest = info.name.partition("/")
            version, _, action = rest.split(".", 1)[0].partition("-")
            index.add(message_id, version, action != "deleted")
            if action == "received":
                index.originals.add(message_id)
        elif info.area == "thread" and ".conflict-" not in name:
            to_read.append(name)
        elif info.area == "transcripts" and name.endswith(".json.lz4"):
            to_read.append(name)
    for blob in read_verified(store, to_read, index.findings, workers, hash_key=hash_key):
        doc = blob.document
        if doc.get("kind") == "thread":
            index.signatures.update(record_signatures(doc))
            continue
        for m in doc.get("messages") or []:
            index.add(m["message_id"], str(m.get("version")), m.get("content") is not None)
            if not m.get("edited_at") and not m.get("deleted_at"):
                index.originals.add(m["message_id"])
    return index


def _value(enum_or_str: Any) -> str:
    return str(getattr(enum_or_str, "value", enum_or_str) or "")


def _gaps(listed: Iterator[Any], index: ArchiveIndex, progress: Any = None) -> Iterator[Gap]:
    for m in listed:
        if progress is not None:
            progress.update(1)
        message_id, version, mtype = m.id, str(m.version), _value(m.type)
        created = iso(m.created_on)
        have = index.versions.get(message_id, {})
        if mtype in SYSTEM_TYPES:
            if version in have:
                continue
            content = m.content
            people = [p.identifier.raw_id for p in (getattr(content, "participants", None) or [])]
            missing = take(index.signatures, system_signatures(mtype, getattr(content, "topic", None), people))
            if missing:
                told = "; ".join(f"{what} {value}" for what, value in missing)
                yield Gap("event", message_id, version, mtype, created, f"no thread record or transcript tells: {told}")
            continue
        if not have:
            yield Gap("message", message_id, version, mtype, created, "no record or transcript of this message")
            continue
        if version not in have:
            known = ", ".join(sorted(have, key=lambda v: (len(v), v)))
            yield Gap("version", message_id, version, mtype, created, f"the archive has only version(s) {known}")
        if m.deleted_on is not None:
            if not any(have.values()):
                yield Gap("content", message_id, version, mtype, created,
                          f"deleted {iso(m.deleted_on)} before its content was archived")
        elif m.edited_on is not None and message_id not in index.originals and message_id not in have:
            yield Gap("original", message_id, version, mtype, created,
                      f"edited {iso(m.edited_on)}; the text before the edit was never archived")


def reconcile_thread(store: Any, acs: Any, thread_id: str, progress: Any = None, workers: int = WORKERS,
                     hash_key: bytes | None = None) -> ThreadReport:
    """Compare one thread; service errors other than 403 and 404 propagate."""
    from azure.core.exceptions import HttpResponseError

    keys.check_id(thread_id, "thread id")
    index = archive_index(store, thread_id, workers, hash_key)
    acks = acknowledged(store, thread_id, index.findings)
    client = acs.thread_client(thread_id)
    listed = 0

    def counted() -> Iterator[Any]:
        nonlocal listed
        for m in client.list_messages(results_per_page=PAGE_SIZE):
            listed += 1
            yield m

    try:
        gaps = tuple(_gaps(counted(), index, progress))
    except HttpResponseError as exc:
        if exc.status_code == 404:
            return ThreadReport(thread_id, listed, (), "the service does not know this thread (404)")
        if exc.status_code == 403:
            return ThreadReport(thread_id, listed, (), "the archiver's user is not a participant of this thread (403)")
        raise
    open_gaps = tuple(g for g in gaps if g.key not in acks)
    done = tuple((g, acks[g.key]) for g in gaps if g.key in acks)
    log.info("reconcile thread=%s listed=%d gaps=%d acknowledged=%d blobs=%d damaged=%d", thread_id, listed,
             len(open_gaps), len(done), index.blobs, len(index.findings))
    return ThreadReport(thread_id, listed, open_gaps, acknowledged=done, findings=index.findings)


# -- acknowledged gaps -------------------------------------------------------------------------------

ACK_ROOT = "acks/"


def ack_key(thread_id: str, at_ms: int, body_sha256: str) -> str:
    return f"{ACK_ROOT}{thread_id}/{at_ms}-{body_sha256[:12]}.json.lz4"


def acknowledged(store: Any, thread_id: str, findings: Findings) -> dict[tuple[str, str, str], str]:
    """(gap kind, message id, version) -> reason, from every acknowledgement of the thread (read verified)."""
    out: dict[tuple[str, str, str], str] = {}
    names = sorted(store.list_names(f"{ACK_ROOT}{thread_id}/"))
    for blob in read_verified(store, names, findings):
        doc = blob.document
        for gap in doc.get("gaps") or []:
            out.setdefault((gap["gap"], gap["message_id"], gap["version"]), doc["reason"])
    return out


def acknowledge(store: Any, thread_id: str, gaps: tuple[Gap, ...], reason: str) -> str:
    """Keep an acknowledgement of these gaps in the archive (create-only); its blob name."""
    from archiving import SCHEMA_VERSION
    from archiving.store import codec
    from archiving.timefmt import epoch_ms

    keys.check_id(thread_id, "thread id")
    reason = reason.strip()
    if not reason:
        raise ValueError("--reason is empty: say why the gaps cannot be filled")
    now = utcnow()
    document = {"schema_version": SCHEMA_VERSION, "kind": "ack", "thread_id": thread_id,
                "gaps": [{"gap": g.kind, "message_id": g.message_id, "version": g.version} for g in gaps],
                "reason": reason, "acknowledged_at": iso(now)}
    encoded = codec.encode(document)
    name = ack_key(thread_id, epoch_ms(now), encoded.sha256)
    tags = {"kind": "ack", "thread": keys.thread_tag(thread_id), "at": document["acknowledged_at"]}
    store.create_blob(name, encoded.data, {"sha256": encoded.sha256}, tags)
    log.info("reconcile ack thread=%s gaps=%d blob=%s", thread_id, len(gaps), name)
    return name


@dataclass(frozen=True)
class InactiveThread:
    thread_id: str
    last_message_at: datetime


@dataclass
class InactiveStats:
    listed: int = 0
    deleted: int = 0
    active: int = 0
    no_messages: int = 0


def inactive_threads(acs: Any, inactive_after_minutes: int, stats: InactiveStats | None = None,
                     now: datetime | None = None) -> Iterator[InactiveThread]:
    """The threads the sweep considers done: not deleted, quiet for the given minutes (streamed)."""
    stats = stats if stats is not None else InactiveStats()
    cutoff = (now or utcnow()) - timedelta(minutes=inactive_after_minutes)
    for item in acs.chat_client().list_chat_threads(results_per_page=PAGE_SIZE):
        stats.listed += 1
        if item.deleted_on is not None:
            stats.deleted += 1
        elif item.last_message_received_on is None:
            stats.no_messages += 1
        elif item.last_message_received_on > cutoff:
            stats.active += 1
        else:
            yield InactiveThread(item.id, item.last_message_received_on)


def fill(thread_id: str, services: Any, last_message_at: datetime | None = None) -> Any:
    """Archive the thread as the service lists it now: a transcript (idempotent)."""
    try:
        from archiving.threads.transcripts import archive_thread
    except ImportError as exc:  # pragma: no cover - the module ships with the sweep
        raise NotImplementedError("reconcile --fill needs archiving.threads.transcripts (the sweep's transcripts)") from exc
    result = archive_thread(thread_id, services, last_message_at)
    log.info("reconcile fill thread=%s outcome=%s", thread_id, result.status)
    return result
