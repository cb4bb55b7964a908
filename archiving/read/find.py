"""Everything archived about one user, found through the user hash and the blob index tags.

The raw id is hashed (HMAC-SHA256 with ARCHIVE_HASH_KEY, as the archiver tags records) and looked
up in the index (the raw id never is):

1. records tagged ``sender`` = hash: messages the user sent, thread changes the user made;
2. records tagged ``participant`` = hash: the user added to or removed from a thread;
3. the transcripts of every thread found in 1 and 2 (tags ``kind`` = transcript and ``thread``),
   of which the messages the user sent or the system messages naming the user are kept.

Every blob is read through ``read_verified``: damaged ones are named and left out.  The tag index
alone is not trusted for completeness: the month folders of the range (all months without a range)
are listed with their tags and metadata; blobs without index tags are read and included when they
concern the user (with a warning).  The listing's metadata also tells which hash key wrote the
records (``hash_key_id``): a search with another key is an error, not "0 items".

Not found: threads in which the user appears only in a transcript or only as an initial
participant of the thread's creation record, without any record of their own.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from archiving.read.export import Item, record_item, transcript_items
from archiving.read.scan import WORKERS, find_names, in_range, list_indexed, months_of, tag_filter
from archiving.read.verified import Findings, read_verified
from archiving.store import keys
from archiving.store.records import key_id

log = logging.getLogger("archiving.read.find")


# ACS raw id prefixes (docs/archive-format.md, section 7), and what each means.
RAW_ID_FORMS = (
    ("8:acs:", "an ACS user"), ("8:dod-acs:", "an ACS user (DoD)"), ("8:gcch-acs:", "an ACS user (GCCH)"),
    ("8:spool:", "an ACS user (spool)"), ("4:+", "a phone number, 4:+<E.164>"),
    ("8:orgid:", "a Teams user"), ("8:dod:", "a Teams user (DoD)"), ("8:gcch:", "a Teams user (GCCH)"),
    ("8:teamsvisitor:", "a Teams visitor"), ("28:orgid:", "a Teams app"), ("28:dod:", "a Teams app (DoD)"),
    ("28:gcch:", "a Teams app (GCCH)"),
)
ACCEPTED = ", ".join(prefix + "…" for prefix, _ in RAW_ID_FORMS)
_PHONE = re.compile(r"^\+[0-9][0-9 ()./-]{5,}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class WrongKey(ValueError):
    """ARCHIVE_HASH_KEY is not the key that wrote the archive's records: a search with it finds nothing."""


def check_sender(text: str) -> str:
    """What to search for (an ACS raw id, a phone number or an email address), or ValueError naming the
    accepted forms.  Phone numbers and email addresses are normalized by the party hash (13.2)."""
    value = (text or "").strip()
    if not value:
        raise ValueError(f"--sender is empty: give the user's ACS raw id ({ACCEPTED}), a phone number or an "
                         "email address")
    if value != text:
        raise ValueError("--sender has leading or trailing blanks: a raw id has none")
    if _PHONE.match(value) or _EMAIL.match(value):
        return value  # SMS, WhatsApp and email parties; a phone number also finds chat records as 4:+<E.164>
    if any(value.startswith(prefix) and len(value) > len(prefix) for prefix, _ in RAW_ID_FORMS):
        if value.startswith("4:+") and not value[3:].isdigit():
            raise ValueError(f"--sender {value!r}: a phone raw id is 4:+ followed by digits only (E.164)")
        return value
    raise ValueError(f"--sender {value!r} is not an ACS raw id ({ACCEPTED}), a phone number (+<country code>…) "
                     "or an email address")


@dataclass
class FindStats:
    records: int = 0
    transcripts: int = 0
    threads: set[str] = field(default_factory=set)
    untagged: int = 0  # items found by listing only (blobs without index tags)
    key_ids: Counter = field(default_factory=Counter)  # hash_key_id of the records listed (None: not recorded)
    our_key_id: str | None = None
    findings: Findings = field(default_factory=Findings)

    @property
    def other_keys(self) -> int:
        """Records listed that another hash key wrote: find cannot match them."""
        return sum(n for kid, n in self.key_ids.items() if kid and kid != self.our_key_id)


def _concerns(doc: Mapping[str, Any], raw_id: str, hashed: str) -> bool:
    if doc.get("kind") == "message":
        return doc.get("sender_hash") == hashed or (doc.get("sender") or {}).get("raw_id") == raw_id
    if doc.get("kind") == "thread":
        if (doc.get("actor") or {}).get("raw_id") == raw_id:
            return True
        return doc.get("action", "").startswith("participant-") and any(
            p.get("raw_id") == raw_id for p in doc.get("participants") or [])
    return False


def find_user(store: Any, hash_key: bytes, raw_id: str, start: str | None = None, end: str | None = None,
              stats: FindStats | None = None, progress: Any = None, workers: int = WORKERS,
              listing: bool = True) -> Iterator[Item]:
    """The user's items, streamed: records (found by tags, then untagged ones found by listing), then
    matching transcript messages.  Raises WrongKey before yielding anything when the archive's records
    were all written with another hash key."""
    stats = stats if stats is not None else FindStats()
    findings = stats.findings
    from archiving.read.conversations import _tag_query, party_hash

    hashed = party_hash(hash_key, raw_id)  # an ACS raw id as it is; a phone number or email address normalized
    stats.our_key_id = key_id(hash_key)
    seen: set[str] = set()  # a record can match both tags (a user who added themselves)

    # The listing first: it tells which key wrote the records, and what the tag index misses.
    untagged: list[str] = []
    untagged_transcripts: dict[str, list[str]] = {}
    if listing:
        for month in months_of(store, start, None):
            for listed in list_indexed(store, f"{keys.ROOT}{month}/"):
                info = keys.parse_key(listed.name)
                if info is None:
                    continue
                if info.area != "transcripts":
                    stats.key_ids[listed.metadata.get("hash_key_id")] += 1
                if listed.indexed:
                    continue
                if info.area == "transcripts":
                    if listed.name.endswith(".json.lz4"):
                        untagged_transcripts.setdefault(info.thread_id, []).append(listed.name)
                else:
                    untagged.append(listed.name)
        recorded = {kid for kid in stats.key_ids if kid}
        if recorded and stats.our_key_id not in recorded:
            raise WrongKey(f"ARCHIVE_HASH_KEY is not the key that wrote this archive: its fingerprint is "
                           f"{stats.our_key_id}, the records say {', '.join(sorted(recorded))} (metadata hash_key_id); "
                           "a search with this key cannot find anyone")

    def names() -> Iterator[str]:
        for expression in (tag_filter(sender=hashed, start=start, end=end),
                           tag_filter(participant=hashed, start=start, end=end),
                           _tag_query(recipient=hashed, start=start, end=end)):  # SMS, WhatsApp, email
            for name in find_names(store, expression):
                name = _outbound_message(name)
                if name is not None and name not in seen:
                    seen.add(name)
                    yield name

    def tick() -> None:
        if progress is not None:
            progress.update(1)

    for blob in read_verified(store, names(), findings, workers, hash_key=hash_key):
        tick()
        if isinstance(blob.document, Mapping) and blob.document.get("kind") == "outbound-message":
            from archiving.read.export import outbound_item

            item = outbound_item(blob, blob.document, store=store)  # what the business sent to the party
        else:
            item = record_item(blob, blob.document)
        if item is None or not in_range(item.at, start, end):
            continue
        stats.records += 1
        if item.channel == "chat":
            stats.threads.add(item.thread_id)
        yield item
    for blob in read_verified(store, (n for n in untagged if n not in seen), findings, workers, hash_key=hash_key):
        tick()
        doc = blob.document
        if not _concerns(doc, raw_id, hashed):
            continue
        item = record_item(blob, doc)
        if not in_range(item.at, start, end):
            continue
        stats.records += 1
        stats.untagged += 1
        stats.threads.add(item.thread_id)
        yield item
    log.info("find records=%d threads=%d untagged=%d damaged=%d", stats.records, len(stats.threads),
             stats.untagged, len(findings.items))

    def transcript_names() -> Iterator[str]:
        for thread_id in sorted(stats.threads):
            for name in find_names(store, tag_filter(kind="transcript", thread_id=thread_id, start=start)):
                if name.endswith(".json.lz4"):
                    yield name
            yield from untagged_transcripts.get(thread_id, ())

    for blob in read_verified(store, transcript_names(), findings, workers, hash_key=hash_key):
        tick()
        stats.transcripts += 1
        yield from transcript_items(blob, blob.document, start, end, sender=raw_id)


def _outbound_message(name: str) -> str | None:
    """An outbound blob found by a party tag, as the message record to read: an index blob stands for its
    message; outcomes are not items; outbound chat is the chat record it became (found as such)."""
    from archiving.outbound import layout

    if not name.startswith(layout.ROOT):
        return name
    parsed = layout.parse_name(name)
    if parsed is None or parsed[0] not in layout.CONVERSATION_CHANNELS:
        return None
    channel, archive_id, file = parsed
    if file not in ("index", f"message{keys.RECORD_SUFFIX}"):
        return None
    return layout.message_key(channel, archive_id)


def text_line(item: Item) -> str:
    """One line per item for a person: time, what, thread, message, content; safe for a terminal."""
    from archiving.read.safe import terminal

    return terminal(_text_line(item))


def _text_line(item: Item) -> str:
    d = item.document
    if item.channel == "call":
        from archiving.read.calls import text_line as call_line

        return call_line(item)
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
