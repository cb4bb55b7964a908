"""``outbound index``: the conversation and thread tags and index blobs of outbound records written before them.

Records written since issue 19 are indexed at send time (docs/outbound.md, "Conversations"). Older
ones carry only ``kind``, ``channel``, ``at`` and ``sender``: ``show`` and ``find`` (which search by
``conversation`` and ``recipient``) miss them. This reads each SMS, WhatsApp and email message record
without a ``conversation`` tag, adds the tags from the party hashes its document holds (to the record
and its outcomes), and writes the index blobs of recipients after the first. Chat message records
without a ``thread`` tag (written before outbound chat was tagged with its thread) get it, with their
outcomes and their ``by-acs-id`` links, from the thread the document names. Idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from archiving.outbound import layout
from archiving.read.scan import list_indexed
from archiving.read.verified import Findings, read_verified
from archiving.store import codec, keys

log = logging.getLogger("archiving.outbound.backfill")


@dataclass
class BackfillStats:
    messages: int = 0  # message records read
    tagged: int = 0  # blobs whose tags were set
    index_blobs: int = 0
    already: int = 0  # records indexed already
    findings: Findings = field(default_factory=Findings)


def _untagged(store: Any, stats: BackfillStats) -> Iterator[str]:
    for channel in layout.CHANNELS:
        wanted = "thread" if channel == "chat" else "conversation"  # the tag written at send time since
        for listed in list_indexed(store, f"{layout.ROOT}{channel}/"):
            if layout.parse_message_key(listed.name) is None:
                continue
            if (listed.tags or {}).get(wanted):
                stats.already += 1
                continue
            yield listed.name


def backfill(store: Any, dry_run: bool = False) -> BackfillStats:
    from archiving.outbound.core import index_items

    stats = BackfillStats()
    threads: dict[str, str] = {}  # archive id -> thread, of the chat messages tagged now: their links next
    for blob in read_verified(store, list(_untagged(store, stats)), stats.findings, check_tags=False):
        doc = blob.document
        stats.messages += 1
        sender_hash = (doc.get("sender") or {}).get("hash")
        conversations = layout.conversation_tags(doc["channel"], sender_hash, doc.get("recipients") or [])
        thread = layout.chat_thread(doc["channel"], doc)
        if not (conversations or thread) or dry_run:
            continue
        channel, archive_id = doc["channel"], doc["archive_id"]
        if thread:
            threads[archive_id] = thread
        for name in store.list_names(layout.message_prefix(channel, archive_id)):
            client = store.container.get_blob_client(name)
            tags = dict(client.get_blob_tags() or {})
            if tags.get("thread" if thread else "conversation"):
                continue
            tags.update(layout.tags(tags.get("kind", layout.MESSAGE), channel, tags.get("at") or doc["archived_at"],
                                    conversation=conversations[0] if conversations else None, thread=thread))
            client.set_blob_tags(tags)
            stats.tagged += 1
        for key, index_doc, tags in index_items(channel, archive_id, doc["archived_at"], sender_hash, conversations[1:]):
            encoded = codec.encode(index_doc)
            if store.create_blob(key, encoded.data, {"sha256": encoded.sha256}, tags):
                stats.index_blobs += 1
    if threads:
        _tag_links(store, threads, stats)
    log.info("outbound index messages=%d tagged=%d index_blobs=%d already=%d damaged=%d", stats.messages,
             stats.tagged, stats.index_blobs, stats.already, len(stats.findings))
    return stats


def _tag_links(store: Any, threads: dict[str, str], stats: BackfillStats) -> None:
    """The ``thread`` tag on the ``by-acs-id`` links of the chat messages just tagged (a thread's hold keeps the
    link with its message). A link names its message's archive id; one that cannot be read is named and left."""
    untagged = {listed.name: dict(listed.tags or {}) for listed in list_indexed(store, f"{layout.ROOT}by-acs-id/chat/")
                if not (listed.tags or {}).get("thread")}  # their tags as listed: no request per link for them
    for blob in read_verified(store, list(untagged), stats.findings, check_tags=False):
        thread = threads.get(blob.document.get("archive_id"))
        if thread is None:
            continue
        tags = {**untagged[blob.name], "thread": keys.thread_tag(thread)}
        store.container.get_blob_client(blob.name).set_blob_tags(tags)
        stats.tagged += 1
