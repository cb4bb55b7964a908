"""The write journal: an intent entry per blob, written before the blob, so the seal finds new blobs by listing
one or two hours of intents instead of the whole archive.

An intent is an empty blob named ``<yyyymmddHH>/<MMSSffffff>-<token>/<container>/<blob name>`` (writer's UTC
clock) in ARCHIVE_JOURNAL_CONTAINER.  Every ``ArchiveStore`` built by ``bootstrap.Services`` writes one before each
create (records, conflict copies, rejections written by replay) and transcripts before their commit.  An intent
whose write then failed points at nothing and is ignored; a duplicate delivery adds an intent for a blob that
already exists, and the seal's creation-time interval keeps it from being sealed twice.  Intents are not evidence
(the seal reads the blobs themselves); the journal container may expire them after a week.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from archiving.store.archive import ArchiveStore
from archiving.timefmt import UTC, utcnow

# The longest time between an intent and the creation of its blob: one storage call (Event Grid's 30 s budget;
# a transcript's commit right after its intent, under 7 minutes with the batch retry profile).
LOOKBACK = timedelta(minutes=15)
# How far a writer's clock may be ahead of the storage service's.
SKEW = timedelta(minutes=2)


@dataclass(frozen=True)
class Intent:
    at: datetime
    container: str
    name: str


def intent_key(container: str, name: str, at: datetime) -> str:
    return f"{at:%Y%m%d%H}/{at:%M%S%f}-{uuid.uuid4().hex[:8]}/{container}/{name}"


def parse_intent(key: str) -> Intent | None:
    parts = key.split("/", 3)
    if len(parts) != 4 or len(parts[0]) != 10 or len(parts[1]) < 10:
        return None
    try:
        at = datetime.strptime(parts[0] + parts[1][:10], "%Y%m%d%H%M%S%f").replace(tzinfo=UTC)
    except ValueError:
        return None
    return Intent(at, parts[2], parts[3])


class Journal:
    def __init__(self, container_client: Any):
        self.store = ArchiveStore(container_client)

    def intend(self, container: str, name: str, at: datetime | None = None) -> None:
        self.store.create_blob(intent_key(container, name, at or utcnow()), b"", {})

    def intents(self, start: datetime, end: datetime) -> Iterator[Intent]:
        """Intents written (writer's clock) in [start, end], listed hour by hour."""
        hour = start.replace(minute=0, second=0, microsecond=0)
        while hour <= end:
            for key in self.store.list_names(f"{hour:%Y%m%d%H}/"):
                intent = parse_intent(key)
                if intent is not None and start <= intent.at <= end:
                    yield intent
            hour += timedelta(hours=1)
