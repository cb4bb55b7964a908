"""Archive, then send: the one flow every outbound path (SDK wrappers, HTTP endpoint) goes through.

1. The message record is written create-only under its archive id, at most ``ATTEMPTS`` times
   within ``BUDGET_SECONDS`` (each attempt bounded by the client's 1 s connect / 2 s read timeouts,
   no SDK-level retries).  If it cannot be written: fail closed, ``ArchiveFailed``, nothing sent;
   or, with ``fail_open=True``, send anyway and write the record plus a "not archived before
   send" marker as soon as storage answers again (in this process: a crash loses them).
2. If the record existed already (a retry of the same archive id) and a ``sent`` outcome exists,
   the stored result is returned and nothing is sent again.  A different message under the same
   archive id raises ``ArchiveIdReused`` and sends nothing.
3. ACS is called.  An exception writes a ``failed-<ms>`` outcome and propagates; a result writes
   the ``sent`` outcome (ACS ids per recipient) and one link per ACS message id.  A crash between
   1 and 3 leaves a record without outcome: ``python -m archiving outbound unknown`` lists it.

Concurrent sends of one archive id in one process are serialized; across processes the archive
(create-only) and ACS's repeatability ids (where the API has them) keep one record and one send.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from archiving.outbound import layout
from archiving.store import codec
from archiving.store.archive import ArchiveStore
from archiving.timefmt import epoch_ms, iso, utcnow

log = logging.getLogger("archiving.outbound")

ATTEMPTS = 3
BUDGET_SECONDS = 10.0
BACKOFF_SECONDS = (0.25, 0.5)
# The storage client of outbound writes: no retries of its own (the loop above counts attempts),
# timeouts short enough that 3 attempts and the backoff fit in BUDGET_SECONDS (3 x 3 s + 0.75 s).
OUTBOUND_PROFILE = {"retry_total": 0, "initial_backoff": 0.25, "increment_base": 2, "jitter": 0.0,
                    "connection_timeout": 1, "read_timeout": 2}
FLUSH_INTERVAL_SECONDS = 5.0


class ArchiveFailed(RuntimeError):
    """The outbound record could not be written: nothing was sent."""

    def __init__(self, channel: str, archive_id: str, attempts: int, elapsed: float, cause: BaseException | None):
        super().__init__(f"{channel} message {archive_id} not archived after {attempts} attempts in {elapsed:.1f} s "
                         f"({type(cause).__name__ if cause else 'no attempt'}): nothing was sent")
        self.channel, self.archive_id, self.attempts, self.elapsed = channel, archive_id, attempts, elapsed
        self.__cause__ = cause


class ArchiveIdReused(ValueError):
    """An archive id already names a different message: nothing was sent."""


@dataclass(frozen=True)
class Begun:
    channel: str
    archive_id: str
    document: Mapping[str, Any]  # the record as stored (the first attempt's, on a retry)
    sent: Mapping[str, Any] | None  # the stored sent outcome, when this is a retry of a sent message
    archived: bool  # False: fail-open, the record is pending
    sender_hash: str | None
    retry: bool = False  # the record existed: an earlier attempt may have sent it

    @property
    def archived_at(self) -> str:
        return self.document["archived_at"]


class OutboundArchive:
    """Outbound records in one archive container; ``send`` is the archive-then-send flow."""

    def __init__(self, container_client: Any, hash_key: bytes, *, fail_open: bool = False,
                 attempts: int = ATTEMPTS, budget_seconds: float = BUDGET_SECONDS,
                 backoff: Iterable[float] = BACKOFF_SECONDS, via: str = "sdk",
                 flush_interval: float = FLUSH_INTERVAL_SECONDS, outcomes: str = "background"):
        if outcomes not in ("background", "sync"):
            raise ValueError("outcomes must be 'background' or 'sync'")
        self.store = ArchiveStore(container_client)
        self.hash_key = hash_key if isinstance(hash_key, bytes) else str(hash_key).encode("utf-8")
        self.fail_open = fail_open
        self.attempts = attempts
        self.budget = budget_seconds
        self.backoff = tuple(backoff)
        self.via = via
        self.flush_interval = flush_interval
        # "background": outcome blobs are written after send() returns (only the record is on the
        # sender's critical path); "sync": before it returns (the send endpoint: a Functions
        # instance may be frozen once it has answered).
        self.outcomes = outcomes
        self._executor: Any = None
        self._futures: set = set()
        self._locks: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self._locks_guard = threading.Lock()
        self._pending: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self._pending_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._flusher: threading.Thread | None = None

    @classmethod
    def from_connection_string(cls, conn_str: str, container: str, hash_key: bytes | str, **kwargs: Any) -> "OutboundArchive":
        """An archive on a storage account, with the bounded outbound client profile."""
        from azure.storage.blob import ContainerClient

        return cls(ContainerClient.from_connection_string(conn_str, container, **client_options()), hash_key, **kwargs)

    @classmethod
    def from_url(cls, account_url: str, container: str, credential: Any, hash_key: bytes | str, **kwargs: Any) -> "OutboundArchive":
        from azure.storage.blob import ContainerClient

        return cls(ContainerClient(account_url, container, credential=credential, **client_options()), hash_key, **kwargs)

    def with_options(self, *, fail_open: bool) -> "OutboundArchive":
        """The same archive (same client, same pending queue) with another failure mode."""
        if fail_open == self.fail_open:
            return self
        clone = object.__new__(OutboundArchive)
        clone.__dict__.update(self.__dict__)
        clone.fail_open = fail_open
        return clone

    # -- the flow ---------------------------------------------------------------------------------------

    def send(self, channel: str, archive_id: str, fields: Mapping[str, Any], *, sender: str | None,
             transmit: Callable[[Begun], Any], results: Callable[[Any], tuple[list[dict], dict]],
             replay: Callable[[Begun], Any], attachments: Iterable[tuple[str, bytes, Mapping[str, str]]] = ()) -> Any:
        """Archive ``fields`` as the message, then ``transmit``; returns what ``transmit`` returned.

        ``results(value)`` turns the SDK's return value into (per-recipient results, extra outcome
        fields); ``replay(begun)`` rebuilds the SDK's return value from a stored sent outcome.
        """
        layout.check_channel(channel)
        try:
            layout.check_archive_id(archive_id)
        except ValueError:
            raise ValueError("archive_id must be a UUID") from None
        with self._lock_for(channel, archive_id):
            begun = self.begin(channel, archive_id, fields, sender, attachments)
            if begun.sent is not None:
                log.info("outbound %s %s: sent already, not sending again", channel, archive_id)
                return replay(begun)
            started = time.perf_counter()
            try:
                value = transmit(begun)
            except BaseException as exc:
                self.record_failure(begun, exc)
                raise
            per_recipient, extra = results(value)
            self.record_sent(begun, per_recipient, extra, time.perf_counter() - started)
            return value

    def begin(self, channel: str, archive_id: str, fields: Mapping[str, Any], sender: str | None,
              attachments: Iterable[tuple[str, bytes, Mapping[str, str]]] = ()) -> Begun:
        sender_hash = layout.address_hash(self.hash_key, channel, sender) if sender else None
        now = iso(utcnow())
        doc = layout.document(layout.MESSAGE, channel, archive_id, now, **fields, via=self.via)
        key = layout.message_key(channel, archive_id)
        conversations = layout.conversation_tags(channel, sender_hash, fields.get("recipients") or [])
        thread = layout.chat_thread(channel, fields)  # chat: tagged like the thread's inbound records
        tags = layout.tags(layout.MESSAGE, channel, now, sender_hash, conversations[0] if conversations else None,
                           thread)
        deadline = time.monotonic() + self.budget
        try:
            for sha, data, meta in attachments:
                self._create(layout.attachment_key(sha), codec.encode_bytes(data), dict(meta),
                             {"kind": "outbound-attachment"}, channel, archive_id, deadline)
            # Recipients after the first: an index blob in each one's conversation (before the record, so
            # a record never exists unfindable; an index without its record is ignored by the readers).
            for item in index_items(channel, archive_id, now, sender_hash, conversations[1:]):
                self._create(item[0], codec.encode(item[1]), {}, item[2], channel, archive_id, deadline)
            existing = self._create(key, codec.encode(doc), {}, tags, channel, archive_id, deadline)
        except ArchiveFailed:
            if not self.fail_open:
                log.error("outbound %s %s: not archived, not sent (fail closed)", channel, archive_id)
                raise
            log.warning("outbound %s %s: NOT ARCHIVED BEFORE SEND (fail_open); the record and a marker are "
                        "written when storage answers again", channel, archive_id)
            marker = layout.document(layout.NOT_ARCHIVED, channel, archive_id, now, reason="archive unreachable",
                                     message_key=key)
            self._queue([*index_items(channel, archive_id, now, sender_hash, conversations[1:]), (key, doc, tags),
                         (layout.not_archived_key(channel, archive_id), marker,
                          layout.tags(layout.NOT_ARCHIVED, channel, now,
                                      conversation=conversations[0] if conversations else None, thread=thread))])
            return Begun(channel, archive_id, doc, None, False, sender_hash)
        if existing is None:
            return Begun(channel, archive_id, doc, None, True, sender_hash)
        if _comparable(existing) != _comparable(doc):
            raise ArchiveIdReused(f"archive id {archive_id} already names a different {channel} message")
        sent = self._read_optional(layout.sent_key(channel, archive_id))
        return Begun(channel, archive_id, existing, sent, True, sender_hash, retry=True)

    def record_sent(self, begun: Begun, per_recipient: list[dict], extra: Mapping[str, Any], seconds: float) -> None:
        now = iso(utcnow())
        channel, archive_id = begun.channel, begun.archive_id
        ok = sum(1 for r in per_recipient if r.get("successful"))
        outcome = layout.document(layout.SENT, channel, archive_id, now, status=layout.STATUS_SENT,
                                  message_key=layout.message_key(channel, archive_id), results=per_recipient,
                                  recipients_accepted=ok, recipients_total=len(per_recipient), **extra)
        items = [(layout.sent_key(channel, archive_id), outcome,
                  layout.tags(layout.SENT, channel, now, conversation=_first(begun), thread=_thread(begun)))]
        for acs_id in dict.fromkeys(r.get("acs_message_id") for r in per_recipient):
            if acs_id:
                link = layout.document(layout.LINK, channel, archive_id, now, acs_message_id=acs_id,
                                       message_key=layout.message_key(channel, archive_id))
                items.append((layout.by_acs_id_key(channel, acs_id, self.hash_key), link,
                              layout.tags(layout.LINK, channel, now, thread=_thread(begun))))
        log.info("outbound %s %s: sent, %d of %d recipients accepted (%.0f ms)", channel, archive_id, ok,
                 len(per_recipient), seconds * 1000)
        self._write_or_queue(begun, items, "sent outcome")

    def record_failure(self, begun: Begun, exc: BaseException) -> None:
        now = utcnow()
        channel, archive_id = begun.channel, begun.archive_id
        error = error_fields(exc)
        doc = layout.document(layout.FAILED, channel, archive_id, iso(now), status=layout.STATUS_FAILED,
                              message_key=layout.message_key(channel, archive_id), error=error)
        key = layout.failed_key(channel, archive_id, epoch_ms(now))
        log.warning("outbound %s %s: ACS send failed: %s %s", channel, archive_id, error["type"],
                    error.get("status_code") or "")
        self._write_or_queue(begun, [(key, doc, layout.tags(layout.FAILED, channel, iso(now), conversation=_first(begun),
                                                            thread=_thread(begun)))], "failed outcome")

    # -- storage ----------------------------------------------------------------------------------------

    def _create(self, key: str, encoded: codec.Encoded, metadata: dict[str, str], tags: Mapping[str, str],
                channel: str, archive_id: str, deadline: float) -> dict[str, Any] | None:
        """Create the blob (None) or read the existing document; ArchiveFailed after the attempts."""
        metadata = {**metadata, "sha256": encoded.sha256}
        started = time.monotonic()
        error: BaseException | None = None
        for attempt in range(1, self.attempts + 1):
            began = time.monotonic()
            try:
                if self.store.create_blob(key, encoded.data, metadata, tags):
                    return None
                return self.store.read_document(key) if key.endswith(".json.lz4") else {}
            except Exception as exc:  # noqa: BLE001 - any storage failure counts as an attempt
                error = exc
                log.warning("outbound %s %s: archive write attempt %d failed: %s", channel, archive_id, attempt,
                            type(exc).__name__)
            if attempt == self.attempts:
                break
            pause = self.backoff[min(attempt - 1, len(self.backoff) - 1)] if self.backoff else 0.0
            # Another attempt only if one as long as this one still ends within the budget (a hung
            # storage makes each attempt last its timeouts: the caller is answered in time).
            if time.monotonic() + pause + (time.monotonic() - began) >= deadline:
                break
            time.sleep(pause)
        raise ArchiveFailed(channel, archive_id, attempt, time.monotonic() - started, error)

    def _read_optional(self, key: str) -> dict[str, Any] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.store.read_document(key)
        except ResourceNotFoundError:
            return None

    def _write_or_queue(self, begun: Begun, items: list[tuple[str, dict, dict]], what: str) -> None:
        """Write outcome blobs; if storage fails now, keep them for the flusher (the message went out)."""
        if not begun.archived:
            self._queue(items)
            return
        if self.outcomes == "background":
            with self._pending_lock:
                if self._executor is None:
                    from concurrent.futures import ThreadPoolExecutor

                    self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="outbound-outcome")
                future = self._executor.submit(self._write_items, begun, items, what)
                self._futures.add(future)
            future.add_done_callback(self._futures.discard)
            return
        self._write_items(begun, items, what)

    def _write_items(self, begun: Begun, items: list[tuple[str, dict, dict]], what: str) -> None:
        deadline = time.monotonic() + self.budget
        for n, (key, doc, tags) in enumerate(items):
            try:
                self._create(key, codec.encode(doc), {}, tags, begun.channel, begun.archive_id, deadline)
            except ArchiveFailed:
                log.error("outbound %s %s: %s not written yet; kept in memory and retried", begun.channel,
                          begun.archive_id, what)
                self._queue(items[n:])
                return

    def flush(self, timeout: float | None = None) -> int:
        """Wait for outcome writes in the background, then write what is pending; returns what is left."""
        from concurrent.futures import wait

        with self._pending_lock:
            futures = list(self._futures)
        wait(futures, timeout=timeout)
        return self.flush_pending()

    def close(self) -> None:
        self.flush(timeout=self.budget)
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    # -- fail-open and late outcomes: written when storage answers again ----------------------------------

    def _queue(self, items: list[tuple[str, dict, dict]]) -> None:
        with self._pending_lock:
            self._pending.extend(items)
            if self._flusher is None or not self._flusher.is_alive():
                self._flusher = threading.Thread(target=self._flush_loop, name="outbound-flush", daemon=True)
                self._flusher.start()

    @property
    def pending(self) -> int:
        with self._pending_lock:
            return len(self._pending)

    def flush_pending(self) -> int:
        """Write what is pending, in order; returns how many items are still pending."""
        with self._flush_lock:
            with self._pending_lock:
                items = list(self._pending)
            done = 0
            try:
                for key, doc, tags in items:
                    deadline = time.monotonic() + self.budget
                    self._create(key, codec.encode(_written_late(doc)), {}, tags, doc.get("channel", "?"),
                                 doc.get("archive_id", "?"), deadline)
                    done += 1
                    if doc.get("kind") == layout.NOT_ARCHIVED:
                        log.warning("outbound %s %s: written late with a not-archived-before-send marker",
                                    doc.get("channel"), doc.get("archive_id"))
            except ArchiveFailed:
                pass
            with self._pending_lock:
                del self._pending[:done]  # items are only appended meanwhile
                return len(self._pending)

    def _flush_loop(self) -> None:
        while True:
            time.sleep(self.flush_interval)
            if self.flush_pending() == 0:
                with self._pending_lock:
                    if not self._pending:
                        self._flusher = None
                        return

    def _lock_for(self, channel: str, archive_id: str) -> threading.Lock:
        with self._locks_guard:
            lock = self._locks.get((channel, archive_id))
            if lock is None:
                lock = threading.Lock()
                self._locks[(channel, archive_id)] = lock
            return lock


def _first(begun: Begun) -> tuple[str, str] | None:
    """The conversation of the message's first recipient (its outcomes are tagged with it)."""
    found = layout.conversation_tags(begun.channel, begun.sender_hash, begun.document.get("recipients") or [])
    return found[0] if found else None


def _thread(begun: Begun) -> str | None:
    """The chat thread of the message (its outcomes are tagged with it, so a thread's hold finds them)."""
    return layout.chat_thread(begun.channel, begun.document)


def index_items(channel: str, archive_id: str, at: str, sender_hash: str | None,
                conversations: list[tuple[str, str]]) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """(name, document, tags) of the index blobs of recipients after the first."""
    items = []
    for conversation, recipient in conversations:
        doc = layout.document(layout.INDEX, channel, archive_id, at, conversation_id=conversation,
                              recipient_hash=recipient, message_key=layout.message_key(channel, archive_id))
        items.append((layout.index_key(channel, conversation, archive_id), doc,
                      layout.tags(layout.INDEX, channel, at, sender_hash, (conversation, recipient))))
    return items


def _comparable(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in ("archived_at", "first_attempt_at", "via")}


def _written_late(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A queued document as it is written: ``archived_at`` is now, the first attempt's time is kept apart."""
    return {**doc, "first_attempt_at": doc.get("first_attempt_at") or doc["archived_at"], "archived_at": iso(utcnow())}


def client_options() -> dict[str, Any]:
    """Storage client options of the outbound profile (no SDK retries, short timeouts)."""
    from azure.storage.blob import ExponentialRetry

    p = OUTBOUND_PROFILE
    retry = ExponentialRetry(initial_backoff=p["initial_backoff"], increment_base=p["increment_base"],
                             retry_total=p["retry_total"], random_jitter_range=p["jitter"])
    return {"retry_policy": retry, "connection_timeout": p["connection_timeout"], "read_timeout": p["read_timeout"]}


def error_fields(exc: BaseException) -> dict[str, Any]:
    """What an outcome keeps of an ACS error: type, HTTP status, service error code (no message text:
    ACS messages can quote the request)."""
    status = getattr(exc, "status_code", None)
    code = getattr(exc, "error_code", None)
    if code is None:
        err = getattr(exc, "error", None)
        code = getattr(err, "code", None)
    return {"type": type(exc).__name__, "status_code": status if isinstance(status, int) else None,
            "code": code if isinstance(code, str) else None}
