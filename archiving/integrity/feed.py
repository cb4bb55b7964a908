"""The storage account's blob change feed, as the seal reads it: which blobs were created, from a cursor.

The change feed is written by the storage service itself for every blob created, overwritten or deleted in the
account, in the ``$blobchangefeed`` container (MicrosoftDocs azure-docs, storage-blob-change-feed.md):

    meta/segments.json                                   {"lastConsumable": "<time>", ...}: segments up to
                                                         this one are final and may be read
    idx/segments/<yyyy>/<MM>/<dd>/<hhmm>/meta.json       one hourly segment: {"chunkFilePaths": [shard paths]}
    log/<shard>/<yyyy>/<MM>/<dd>/<hhmm>/<n>.avro         Avro object container files, one record per change

Records carry ``subject`` (``/blobServices/default/containers/<container>/blobs/<name>``), ``eventType``
(BlobCreated, BlobDeleted, BlobPropertiesUpdated, ...) and ``eventTime``.  Segment times are approximate within
15 minutes, so a segment of hour H holds changes made in [H - 15 min, H + 75 min].

We read the Avro files with fastavro rather than through the preview ``azure-storage-blob-changefeed`` client:
that client does not stop at ``lastConsumable`` (it reads segments still being written), its cursor is an opaque
token tied to one host name, and it reads Avro through private modules of azure-storage-blob.  Here the cursor is
ours (segment, shard, chunk, record), small enough to live in each manifest.  docs/integrity.md says more.

:class:`ChangeFeedSource` is the interface the seal uses; :func:`open_feed` gives the Azure one, or None when the
account has no change feed (Azurite: the seal then lists the containers, and says so).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from archiving.timefmt import UTC, parse_time

logger = logging.getLogger("archiving.integrity.feed")

FEED_CONTAINER = "$blobchangefeed"
SEGMENTS_META = "meta/segments.json"
SEGMENT_PREFIX = "idx/segments/"
# "Segment times are approximate within 15 minutes" (the docs), and a minute for the blob's creation time, which
# the service stamps at the commit the record reports.
SLACK = timedelta(minutes=16)
SEGMENT = timedelta(hours=1)


@dataclass(frozen=True, order=True)
class Cursor:
    """Where the next read starts: record ``event`` of chunk ``chunk`` (in name order) of shard ``shard`` (in the
    order of the segment's ``chunkFilePaths``) of ``segment``.  ``shard`` past the last shard: the segment is done."""

    segment: str
    shard: int = 0
    chunk: int = 0
    event: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"segment": self.segment, "shard": self.shard, "chunk": self.chunk, "event": self.event}

    @classmethod
    def from_json(cls, doc: Any) -> Cursor | None:
        if not isinstance(doc, dict) or not isinstance(doc.get("segment"), str):
            return None
        return cls(doc["segment"], int(doc.get("shard", 0)), int(doc.get("chunk", 0)), int(doc.get("event", 0)))


@dataclass(frozen=True)
class Change:
    event_type: str
    container: str
    name: str
    at: datetime | None  # eventTime


def segment_path(at: datetime) -> str:
    """The path of the segment of the hour of ``at`` (whether or not it exists)."""
    return f"{SEGMENT_PREFIX}{at:%Y/%m/%d/%H}00/meta.json"


def segment_time(path: str) -> datetime | None:
    parts = path[len(SEGMENT_PREFIX):].split("/") if path.startswith(SEGMENT_PREFIX) else []
    if len(parts) != 5 or parts[4] != "meta.json":
        return None
    try:
        return datetime.strptime("".join(parts[:4]), "%Y%m%d%H%M").replace(tzinfo=UTC)
    except ValueError:
        return None


def sealed_before(position: Cursor, done: bool) -> datetime | None:
    """Every blob created before this instant has had its BlobCreated record read once the feed has been read up
    to ``position`` (``done``: the whole segment)."""
    begin = segment_time(position.segment)
    if begin is None:
        return None
    return (begin + SEGMENT if done else begin) - SLACK


def parse_subject(subject: Any) -> tuple[str, str] | None:
    """(container, blob name) of ``/blobServices/default/containers/<container>/blobs/<name>``."""
    prefix = "/blobServices/default/containers/"
    if not isinstance(subject, str) or not subject.startswith(prefix):
        return None
    container, sep, name = subject[len(prefix):].partition("/blobs/")
    return (container, name) if sep and container and name else None


class ChangeFeedSource(Protocol):
    """What the seal needs of a change feed (Azure's, or a test's in the same format)."""

    def last_consumable(self) -> datetime | None:
        """The begin of the newest final segment."""

    def read(self, start: Cursor) -> Iterator[tuple[Change | None, Cursor, bool]]:
        """(change, position after it, whether its segment is done) from ``start`` through the consumable
        segments, in order; a segment's end is reported as (None, its end, True) even when it has no records."""


class AzureChangeFeed:
    """The ``$blobchangefeed`` container of the archive account, read with fastavro."""

    def __init__(self, container_client: Any):
        self.container = container_client

    def _json(self, name: str) -> Any:
        return json.loads(self.container.download_blob(name).readall())

    def last_consumable(self) -> datetime | None:
        value = self._json(SEGMENTS_META).get("lastConsumable")
        return parse_time(value, "lastConsumable") if value else None

    def segments(self, start: str, last: datetime) -> list[str]:
        """Segment paths at or after ``start`` whose hour is final, in time order."""
        names = sorted(b.name for b in self.container.list_blobs(name_starts_with=SEGMENT_PREFIX))
        real = [n for n in names if (t := segment_time(n)) is not None and t.year > 1601]  # 1601: a placeholder
        if real and start < real[0] and (segment_time(real[0]) or last) - (segment_time(start) or last) > SEGMENT:
            # The feed's retention dropped segments the seal never read: their blobs are the audit's to find.
            logger.error("change feed: the segments from %s to %s are gone (retention shorter than the seal's "
                         "outage); run `python -m archiving seal`: its listing audit seals the blobs written then",
                         start, real[0])
        out = []
        for name in names:
            begin = segment_time(name)
            if begin is not None and name >= start and begin <= last:
                out.append(name)
        return out

    def read(self, start: Cursor) -> Iterator[tuple[Change | None, Cursor, bool]]:
        last = self.last_consumable()
        if last is None:
            return
        for path in self.segments(start.segment, last):
            resume = start if path == start.segment else Cursor(path)
            shards = [p.split("/", 1)[1] if p.startswith(FEED_CONTAINER + "/") else p
                      for p in self._json(path).get("chunkFilePaths", [])]
            for shard in range(resume.shard, len(shards)):
                chunks = sorted(b.name for b in self.container.list_blobs(name_starts_with=shards[shard]))
                first_chunk = resume.chunk if shard == resume.shard else 0
                for chunk in range(first_chunk, len(chunks)):
                    skip = resume.event if (shard, chunk) == (resume.shard, resume.chunk) else 0
                    for i, record in enumerate(self._records(chunks[chunk])):
                        if i < skip:
                            continue
                        yield _change(record), Cursor(path, shard, chunk, i + 1), False
            yield None, Cursor(path, len(shards)), True

    def _records(self, name: str) -> Iterator[dict[str, Any]]:
        import fastavro

        yield from fastavro.reader(self.container.download_blob(name))


def _change(record: Any) -> Change | None:
    where = parse_subject(record.get("subject")) if isinstance(record, dict) else None
    if where is None:
        return None
    try:
        at: datetime | None = parse_time(record.get("eventTime"), "eventTime")
    except ValueError:
        at = None
    return Change(str(record.get("eventType")), where[0], where[1], at)


def open_feed(blob_service: Any) -> AzureChangeFeed | None:
    """The account's change feed, or None if it has none (change feed off, or Azurite)."""
    from azure.core.exceptions import ResourceNotFoundError

    feed = AzureChangeFeed(blob_service.get_container_client(FEED_CONTAINER))
    try:
        feed.last_consumable()
    except ResourceNotFoundError:
        return None
    return feed
