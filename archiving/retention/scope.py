"""What a hold (or a rehydration) covers: a thread, a conversation, or a party, optionally within a time range.

Coverage is decided from what the listing of the archive shows of each blob (its name and index tags), never
from a snapshot taken when the hold was placed: a record written after a hold is covered as soon as it exists.

- ``thread``: every blob of the chat thread (``thread`` tag, or the thread in the blob name), and every blob of
  each outbound chat message sent to it (``outbound/chat/<archive_id>/``: tagged ``thread`` since the tag was
  added; a message record without it is read, and one that cannot be read is covered, to be safe).
- ``conversation``: every blob of an SMS, WhatsApp or email conversation (``conversation`` tag or name).
- ``party`` (an ACS raw id, phone number or email address, kept only as its party hash): every record it sent
  or received (``sender``, ``participant`` or ``recipient`` tag), every record of each channel conversation it is
  a side of (the conversation id holds both parties' hash prefixes), every blob of each chat thread in which it
  has a record of its own, outbound records it sent (``sender``) or that were sent to it (their recipients), and
  every blob of each outbound chat message sent to one of its threads (``thread`` tag, else the message's thread).
- ``start``/``end``: the record's own time (the ``at`` tag) in [start, end); a blob without an ``at`` tag is
  covered (a hold errs on the side of keeping).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from archiving.outbound import layout
from archiving.store import keys

# The roots of the records retention applies to (every channel, outbound included).  Not here, never disposed:
# WhatsApp media (shared by hash between messages), acknowledgements, and the audit records of this package.
RECORD_ROOTS = ("chat/", "sms/", "whatsapp/", "email/", "call/", "outbound/")
# Stored by content hash and shared by every record that links them: never disposed with one record.
SHARED_MEDIA = ("whatsapp/media/", "call/media/")
LIST_PAGE = 5000  # blobs per listing page (the service's maximum: one request per 5,000 blobs)
_OUTBOUND_ROOT = "outbound/"
_OUTBOUND_RE = re.compile(r"^outbound/(?:sms|email|whatsapp|chat)/[^/]+/")
OUTBOUND_MESSAGE = "message.json.lz4"
_OUTBOUND_CHAT = "outbound/chat/"


@dataclass(frozen=True)
class Scope:
    thread: str | None = None
    conversation: str | None = None
    party_hash: str | None = None
    start: str | None = None  # inclusive, the archive's time text
    end: str | None = None  # exclusive

    def as_dict(self) -> dict[str, Any]:
        return {"thread": self.thread, "conversation": self.conversation, "party_hash": self.party_hash,
                "from": self.start, "to": self.end}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Scope":
        return cls(d.get("thread"), d.get("conversation"), d.get("party_hash"), d.get("from"), d.get("to"))

    def describe(self) -> str:
        what = (f"thread {self.thread}" if self.thread else f"conversation {self.conversation}" if self.conversation
                else f"party #{self.party_hash[:12]}" if self.party_hash else "every record")
        if self.start or self.end:
            what += f" from {self.start or '(start)'} to {self.end or '(now)'}"
        return what


def make_scope(hash_key: bytes, thread: str | None, conversation: str | None, party: str | None,
               start: str | None, end: str | None, range_alone: bool = False) -> Scope:
    """A scope from the command line's options: exactly one of thread, conversation, party (or, with
    ``range_alone``, none of them and a time range: everything in it); ValueError otherwise."""
    given = [n for n, v in (("--thread", thread), ("--conversation", conversation), ("--party", party)) if v]
    if range_alone and not given and (start or end):
        return Scope(None, None, None, start, end)
    if len(given) != 1:
        raise ValueError("give exactly one scope: --thread ID, --conversation ID or --party ID"
                         + (f" (not {' and '.join(given)})" if given else ""))
    if thread is not None:
        from archiving.errors import InvalidEvent

        try:
            keys.check_id(thread, "--thread")
        except InvalidEvent as exc:  # a usage error here
            raise ValueError(str(exc)) from None
    if conversation is not None and not keys.is_conversation_id(conversation):
        raise ValueError(f"--conversation {conversation!r} is not a conversation id (<16 hex>-<16 hex>)")
    party_hash = None
    if party is not None:
        from archiving.read.conversations import party_hash as hash_of
        from archiving.read.find import check_sender

        try:
            party_hash = hash_of(hash_key, check_sender(party))
        except ValueError as exc:
            raise ValueError(str(exc).replace("--sender", "--party")) from None
    return Scope(thread, conversation, party_hash, start, end)


@dataclass(frozen=True)
class Blob:
    """One blob of the archive as the listing shows it."""

    name: str
    tags: Mapping[str, str]
    metadata: Mapping[str, str]
    tier: str | None = None
    archive_status: str | None = None
    legal_hold: bool = False
    immutable_until: Any = None  # datetime of a time-based retention on the version, if any

    @property
    def at(self) -> str | None:
        return self.tags.get("at")

    @property
    def thread(self) -> str | None:
        info = keys.parse_key(self.name)
        return info.thread_id if info else None

    @property
    def call(self) -> str | None:
        """The call segment of a call record (``call/<yyyymm>/<call>/…``): a call's records span months."""
        parts = self.name.split("/")
        return parts[2] if parts[0] == "call" and len(parts) > 3 and parts[1] != "media" else None

    @property
    def outbound(self) -> str | None:
        """``outbound/<channel>/<archive_id>/`` of an outbound message's blobs (their message names the recipients)."""
        m = _OUTBOUND_RE.match(self.name)
        return m.group(0) if m else None

    @property
    def conversation(self) -> str | None:
        tag = self.tags.get("conversation")
        if tag:
            return tag
        info = keys.parse_channel_key(self.name)
        return info.conversation if info else None


def list_records(svc: Any, roots: Iterable[str] = RECORD_ROOTS, immutability: bool = False) -> Iterator[Blob]:
    """Every record blob of the archive with its tags, metadata and tier: one listing request per 5,000 blobs
    (``immutability`` also asks for legal hold and time-based retention, for accounts that have them)."""
    from archiving.store.listing import list_blobs, missing_is_empty

    include = ("tags", "metadata") + (("immutabilitypolicy", "legalhold") if immutability else ())
    container = svc.store.container
    for root in roots:
        for b in missing_is_empty(list_blobs(container, root, include, page=LIST_PAGE)):
            if b.name.startswith(SHARED_MEDIA):
                continue
            yield Blob(b.name, b.tags or {}, b.metadata, b.tier, b.archive_status, b.legal_hold, b.immutable_until)


@dataclass
class Matcher:
    """Decides coverage of blobs by a set of scopes; party scopes learn their chat threads as blobs go by, so
    callers first :meth:`learn` every blob, then ask :meth:`covers` (see :func:`covered`)."""

    scopes: list[Scope]
    # Reads an outbound message document (name -> document, or None if unreadable): a party's outbound messages
    # are known from their recipients, which no tag carries.
    read: Callable[[str], Any] | None = None
    party_threads: dict[str, set[str]] = field(default_factory=dict)
    party_outbound: dict[str, set[str]] = field(default_factory=dict)
    party_calls: dict[str, set[str]] = field(default_factory=dict)  # the calls a party took part in
    thread_outbound: dict[str, set[str]] = field(default_factory=dict)  # outbound chat folders of each thread
    # With party scopes: the thread tag of each outbound chat folder (None: its thread is unknown), and the
    # thread tags of each party's threads, so a party's hold covers what the business sent to those threads.
    outbound_chat_thread: dict[str, str | None] = field(default_factory=dict)
    party_thread_tags: dict[str, set[str]] = field(default_factory=dict)
    _thread_tags: dict[str, str] = field(default_factory=dict)  # computed once, not per blob

    def __post_init__(self) -> None:
        for s in self.scopes:
            if s.thread is not None:
                self._thread_tags[s.thread] = keys.thread_tag(s.thread)
                self.thread_outbound.setdefault(s.thread, set())
            if s.party_hash:
                self.party_threads.setdefault(s.party_hash, set())
                self.party_outbound.setdefault(s.party_hash, set())
                self.party_calls.setdefault(s.party_hash, set())
                self.party_thread_tags.setdefault(s.party_hash, set())

    def deferred(self, blob: Blob) -> bool:
        """Whether a blob not covered yet may be covered once every blob was learned (party scopes; thread
        scopes for outbound chat blobs, whose message record may come later in the listing)."""
        folder = blob.outbound
        return ((bool(self.party_threads) and (blob.thread is not None or blob.name.startswith(_OUTBOUND_ROOT)
                                               or blob.call is not None))
                or (bool(self.thread_outbound) and folder is not None and folder.startswith(_OUTBOUND_CHAT)))

    def learn(self, blob: Blob) -> None:
        folder = blob.outbound
        if folder and blob.name == folder + OUTBOUND_MESSAGE:
            self._learn_outbound(blob, folder)
        if not self.party_threads:
            return
        tags = blob.tags
        for party in self.party_threads:
            if party in (tags.get("sender"), tags.get("participant"), tags.get("recipient")):
                thread = blob.thread
                if thread and thread not in self.party_threads[party]:
                    self.party_threads[party].add(thread)
                    self.party_thread_tags[party].add(keys.thread_tag(thread))
                call = blob.call
                if call:  # the whole call: its start, end and recordings name the party in no tag
                    self.party_calls[party].add(call)

    def _learn_outbound(self, blob: Blob, folder: str) -> None:
        """The parties (by recipients, which no tag carries) and chat threads of an outbound message record,
        read at most once; an unreadable one (e.g. Archive tier) is kept by every scope that may cover it."""
        read = self.read
        threads = self.thread_outbound if folder.startswith(_OUTBOUND_CHAT) else {}
        tag = blob.tags.get("thread")
        chat = folder.startswith(_OUTBOUND_CHAT)
        if chat and self.party_outbound:
            self.outbound_chat_thread[folder] = tag
        if tag and threads:
            for thread in threads:
                if self._thread_tags[thread] == tag:
                    threads[thread].add(folder)
            threads = {}  # the tag decides
        if read is None or not (self.party_outbound or threads):
            return
        doc = read(blob.name)
        readable = isinstance(doc, Mapping)
        hashes = {r.get("hash") for r in doc.get("recipients") or [] if isinstance(r, Mapping)} if readable else None
        for party in self.party_outbound:
            if hashes is None or party in hashes:
                self.party_outbound[party].add(folder)
        # Written before outbound chat records were tagged: the thread is in the document (none found: kept).
        thread_id = layout.chat_thread("chat", doc) if readable else None
        if chat and self.party_outbound and not tag and thread_id:
            self.outbound_chat_thread[folder] = keys.thread_tag(thread_id)
        for thread in threads:
            if thread_id is None or thread_id == thread:
                threads[thread].add(folder)

    def covering(self, blob: Blob) -> list[int]:
        """Indexes of the scopes that cover the blob."""
        return [i for i, s in enumerate(self.scopes) if self._covers(s, blob)]

    def covers(self, blob: Blob) -> bool:
        return any(self._covers(s, blob) for s in self.scopes)

    def _covers(self, s: Scope, blob: Blob) -> bool:
        at = blob.at
        if at is not None and ((s.start and at < s.start) or (s.end and at >= s.end)):
            return False
        tags = blob.tags
        if s.thread is not None:
            if tags.get("thread") == self._thread_tags[s.thread] or blob.thread == s.thread:
                return True
            folder = blob.outbound
            return folder is not None and folder in self.thread_outbound[s.thread]
        if s.conversation is not None:
            return blob.conversation == s.conversation
        p = s.party_hash
        if p is None:
            return True  # a time range alone (rehydrate --from --to)
        if p in (tags.get("sender"), tags.get("participant"), tags.get("recipient")):
            return True
        conversation = blob.conversation
        if conversation and p[:16] in conversation.split("-"):
            return True
        thread = blob.thread
        if thread is not None:
            return thread in self.party_threads.get(p, ())
        call = blob.call
        if call is not None:
            return call in self.party_calls.get(p, ())
        folder = blob.outbound
        if folder is not None and folder in self.party_outbound.get(p, ()):
            return True
        # Sent to a chat thread the party wrote in: by the blob's thread tag (message, outcomes, link), else by
        # its message's thread (unknown: kept).
        tag = tags.get("thread")
        if tag and blob.name.startswith(_OUTBOUND_ROOT):
            return tag in self.party_thread_tags.get(p, ())
        if folder is not None and folder in self.outbound_chat_thread:
            tag = self.outbound_chat_thread[folder]
            return tag is None or tag in self.party_thread_tags.get(p, ())
        return False


def document_reader(svc: Any) -> Callable[[str], Any]:
    """Reads a document for :class:`Matcher` (None when it cannot be read: Archive tier, a damaged LZ4 frame,
    not JSON)."""
    from azure.core.exceptions import HttpResponseError

    def read(name: str) -> Any:
        try:
            return svc.store.read_document(name)
        except (HttpResponseError, ValueError, RuntimeError):  # RuntimeError: lz4's, on a damaged frame
            return None

    return read


def covered(blobs: Iterable[Blob], scopes: list[Scope], read: Callable[[str], Any] | None = None
            ) -> tuple[list[Blob], Matcher]:
    """The blobs any of the scopes covers (a list: a party's threads are known only after every blob was seen).

    Memory: the blobs a party scope may cover through its threads are held until the end (chat blobs); others
    are decided at once."""
    matcher = Matcher(scopes, read)
    out: list[Blob] = []
    maybe: list[Blob] = []
    for blob in blobs:
        matcher.learn(blob)
        if matcher.covers(blob):
            out.append(blob)
        elif matcher.deferred(blob):
            maybe.append(blob)
    out.extend(b for b in maybe if matcher.covers(b))
    return out, matcher
