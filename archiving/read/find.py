"""Everything archived about one user, found through the user hash and the blob index tags.

The raw id is hashed (HMAC-SHA256 with ARCHIVE_HASH_KEY, as the archiver tags records) and looked
up in the index; the container is never listed:

1. records tagged ``sender`` = hash: messages the user sent, thread changes the user made;
2. records tagged ``participant`` = hash: the user added to or removed from a thread;
3. the transcripts of every thread found in 1 and 2 (tags ``kind`` = transcript and ``thread``),
   of which the messages the user sent or the system messages naming the user are kept.

Not found: threads in which the user appears only in a transcript or only as an initial
participant of the thread's creation record, without any record of their own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from archiving.read.export import Item, record_item, transcript_items
from archiving.read.scan import WORKERS, find_names, in_range, read_blobs, tag_filter

log = logging.getLogger("archiving.read.find")


@dataclass
class FindStats:
    records: int = 0
    transcripts: int = 0
    threads: set[str] = field(default_factory=set)


def find_user(store: Any, hash_key: bytes, raw_id: str, start: str | None = None, end: str | None = None,
              stats: FindStats | None = None, progress: Any = None, workers: int = WORKERS) -> Iterator[Item]:
    """The user's items, streamed: records first (found by tags), then matching transcript messages."""
    stats = stats if stats is not None else FindStats()
    from archiving.read.conversations import _tag_query, party_hash

    hashed = party_hash(hash_key, raw_id)  # an ACS raw id as it is; a phone number or email address normalized
    seen: set[str] = set()  # a record can match both tags (a user who added themselves)

    def names() -> Iterator[str]:
        for expression in (tag_filter(sender=hashed, start=start, end=end),
                           tag_filter(participant=hashed, start=start, end=end),
                           _tag_query(recipient=hashed, start=start, end=end)):  # SMS, WhatsApp, email
            for name in find_names(store, expression):
                if name not in seen:
                    seen.add(name)
                    yield name

    for blob in read_blobs(store, names(), workers):
        if progress is not None:
            progress.update(1)
        doc = blob.document()
        item = record_item(blob, doc)
        if not in_range(item.at, start, end):
            continue
        stats.records += 1
        if item.channel == "chat":
            stats.threads.add(item.thread_id)
        yield item
    log.info("find records=%d threads=%d", stats.records, len(stats.threads))

    def transcript_names() -> Iterator[str]:
        for thread_id in sorted(stats.threads):
            for name in find_names(store, tag_filter(kind="transcript", thread_id=thread_id, start=start)):
                if name.endswith(".json.lz4"):
                    yield name

    for blob in read_blobs(store, transcript_names(), workers):
        if progress is not None:
            progress.update(1)
        stats.transcripts += 1
        yield from transcript_items(blob, blob.document(), start, end, sender=raw_id)


def text_line(item: Item) -> str:
    """One line per item for a person: time, what, thread, message, content."""
    d = item.document
    if item.channel != "chat":
        from archiving.read.conversations import text_line as channel_line

        return channel_line(item)
    if item.kind == "thread":
        props = d.get("properties") or {}
        who = ", ".join(p.get("display_name") or p.get("raw_id") or "" for p in d.get("participants") or [])
        detail = f"topic={props['topic']!r}" if props.get("topic") is not None else (f"participants: {who}" if who else "")
        return f"{item.at}  thread   {d.get('action')}  {item.thread_id}  {detail}".rstrip()
    action = d.get("action") or ("deleted" if d.get("deleted_at") else "edited" if d.get("edited_at") else "received")
    label = "message " if item.kind == "message" else "transcript"
    version = d.get("message_version") or d.get("version")
    content = d.get("content")
    if content is None and d.get("message_type") in ("topicUpdated", "participantAdded", "participantRemoved"):
        content = f"[{d['message_type']}]"
    shown = "(no content)" if content is None else repr(content)
    return f"{item.at}  {label} {action}  {item.thread_id}  {d.get('message_id')} v{version}  {shown}"
