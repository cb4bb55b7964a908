"""In-memory ACS state (identities, tokens, chat threads) and the direct Python data API.

Everything here is guarded by one re-entrant lock, so tests may seed state from any thread while the HTTP
server answers requests.  Times are timezone-aware datetimes; they are serialized like the service does
(``2020-06-25T17:44:37.6830000Z``: UTC, 7 fractional digits).
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
import os
import re
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

import orjson

__all__ = ["AcsState", "ApiError", "fmt_time", "parse_time", "to_us", "from_us", "UTC"]

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

TOKEN_SCOPES = frozenset({"chat", "voip", "chat.join", "chat.join.limited", "voip.join"})
MESSAGE_TYPES = ("text", "html", "topicUpdated", "participantAdded", "participantRemoved")


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message", "target"?}}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str, target: str | None = None, headers=()):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.headers = list(headers)

    def body(self) -> dict:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target is not None:
            err["target"] = self.target
        return {"error": err}


def forbidden(message: str = "User is not allowed to perform specified action.") -> ApiError:
    return ApiError(403, "Forbidden", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "NotFound", message)


def bad_request(message: str, target: str | None = None) -> ApiError:
    return ApiError(400, "BadRequest", message, target)


# ----------------------------------------------------------------------------------------------- times


def to_us(dt: datetime) -> int:
    return (dt - EPOCH) // _US


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def fmt_time(dt: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.fffffffZ`` in UTC, as the service writes timestamps."""
    dt = dt.astimezone(UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{dt.microsecond:06d}0Z"


_TS = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?\s*(Z|z|[+-]\d{2}:?\d{2})?$"
)


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 / ISO 8601 timestamp (any number of fractional digits; no zone = UTC).

    ``"0"`` means the epoch (the service writes ``startTime=0`` in its own nextLinks).
    """
    text = text.strip()
    if text == "0":
        return EPOCH
    m = _TS.match(text)
    if not m:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    zone = m.group(8)
    tz = UTC
    if zone and zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz).astimezone(UTC)


def _aware(value: datetime | None, name: str) -> datetime:
    if value is None:
        return datetime.now(UTC)
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (e.g. datetime.now(timezone.utc))")
    return value.astimezone(UTC)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# ----------------------------------------------------------------------------------------------- model


class Participant:
    __slots__ = ("user_id", "display_name", "share_history_time", "metadata", "added_on")

    def __init__(self, user_id, display_name=None, share_history_time=None, metadata=None, added_on=None):
        self.user_id: str = user_id
        self.display_name: str | None = display_name
        self.share_history_time: datetime | None = share_history_time
        self.metadata: dict | None = metadata
        self.added_on: datetime | None = added_on


class Message:
    __slots__ = (
        "id",
        "seq",
        "type",
        "version",
        "created_on",
        "created_us",
        "sender",
        "sender_display_name",
        "text",
        "topic",
        "participants",
        "initiator",
        "attachments",
        "metadata",
        "edited_on",
        "deleted_on",
        "json",
    )

    def __init__(self) -> None:
        self.id = ""
        self.seq = 0
        self.type = "text"
        self.version = ""
        self.created_on: datetime = EPOCH
        self.created_us = 0
        self.sender: str | None = None
        self.sender_display_name: str | None = None
        self.text: str | None = None
        self.topic: str | None = None
        self.participants: list[dict] | None = None
        self.initiator: str | None = None
        self.attachments: list[dict] | None = None
        self.metadata: dict | None = None
        self.edited_on: datetime | None = None
        self.deleted_on: datetime | None = None
        self.json: bytes | None = None  # cached serialization, reset on every change


class Thread:
    __slots__ = (
        "id",
        "topic",
        "created_on",
        "created_us",
        "created_by",
        "deleted_on",
        "retention_policy",
        "participants",
        "former",
        "messages",
        "created_keys",
        "monotonic",
        "by_id",
        "max_id",
        "last_message_us",
        "read_receipts",
        "window_cache",
    )

    def __init__(self, thread_id: str, topic: str, created_on: datetime, created_by: str):
        self.id = thread_id
        self.topic = topic
        self.created_on = created_on
        self.created_us = to_us(created_on)
        self.created_by = created_by
        self.deleted_on: datetime | None = None
        self.retention_policy: dict | None = None
        self.participants: dict[str, Participant] = {}  # current, in order of joining
        self.former: dict[str, tuple[Participant, int]] = {}  # removed: (participant, removed at, us)
        self.messages: list[Message] = []  # sorted by sequence id; index = sequenceId - 1
        self.created_keys: list[int] = []  # createdOn in microseconds, parallel to messages
        self.monotonic = True  # created_keys is non-decreasing (then windows are found by bisection)
        self.by_id: dict[str, Message] = {}
        self.max_id = 0
        self.last_message_us: int | None = None
        self.read_receipts: dict[str, tuple[str, datetime]] = {}
        self.window_cache: dict[tuple, list] = {}  # (lo, hi) -> [messages scanned, indices]

    def activity_us(self) -> int:
        last = self.created_us
        if self.last_message_us is not None and self.last_message_us > last:
            last = self.last_message_us
        if self.deleted_on is not None:
            last = max(last, to_us(self.deleted_on))
        return last


class TokenInfo:
    __slots__ = ("user_id", "expires_on", "scopes")

    def __init__(self, user_id: str, expires_on: int, scopes: tuple[str, ...]):
        self.user_id = user_id
        self.expires_on = expires_on
        self.scopes = scopes


# ----------------------------------------------------------------------------------------------- state


class AcsState:
    """All ACS data of one test server plus the data API tests use to seed and inspect it.

    Options:

    * ``removed_can_read_history`` (default True): a removed participant may still read the thread's
      history up to its removal (thread properties, participants, messages), but not write nor see the
      thread in its thread list.  False: removed participants get 403 like strangers.
    * ``default_share_history`` (``"all"`` default, or ``"from_join"``): what a participant added over REST
      without ``shareHistoryTime`` may read.  Participants only see messages created at or after their
      ``shareHistoryTime``.
    """

    def __init__(
        self,
        *,
        resource_id: str | None = None,
        access_key: str | None = None,
        removed_can_read_history: bool = True,
        default_share_history: str = "all",
    ) -> None:
        if default_share_history not in ("all", "from_join"):
            raise ValueError("default_share_history must be 'all' or 'from_join'")
        self._lock = threading.RLock()
        self.resource_id = resource_id or str(uuid.uuid4())
        self.access_key = access_key or base64.b64encode(os.urandom(64)).decode("ascii")
        self.removed_can_read_history = removed_can_read_history
        self.default_share_history = default_share_history
        self._token_secret = os.urandom(32)
        self._users: dict[str, bool] = {}  # user id -> alive
        self._tokens: dict[str, TokenInfo] = {}
        self._threads: dict[str, Thread] = {}
        self._user_threads: dict[str, dict[str, None]] = {}  # current participant -> ordered thread ids
        self._idempotency: dict[tuple[str, str], tuple[str, bytes]] = {}
        self._ident_cache: dict[str, dict] = {}

    # --------------------------------------------------------------------------------------- identity

    def create_user(self) -> str:
        """A new ACS user; returns its raw id ``8:acs:<resource id>_<guid>``."""
        user_id = f"8:acs:{self.resource_id}_{uuid.uuid4()}"
        with self._lock:
            self._users[user_id] = True
        return user_id

    def create_users(self, count: int) -> list[str]:
        return [self.create_user() for _ in range(count)]

    def user_exists(self, user_id: str) -> bool:
        with self._lock:
            return self._users.get(user_id, False)

    def _ensure_user(self, user_id: str) -> None:
        if not isinstance(user_id, str) or not user_id:
            raise ValueError(f"user id must be a non-empty string, got {user_id!r}")
        if user_id not in self._users:
            self._users[user_id] = True

    def issue_token(
        self,
        user_id: str,
        scopes: Iterable[str] = ("chat",),
        expires_in: timedelta = timedelta(hours=24),
    ) -> str:
        """A JWT-shaped access token for ``user_id`` (must exist), like the Identity API issues."""
        scopes = tuple(scopes)
        with self._lock:
            if not self._users.get(user_id):
                raise KeyError(f"unknown or deleted user {user_id}")
            now = int(time.time())
            exp = now + int(expires_in.total_seconds())
            header = {"alg": "HS256", "kid": "acs-test-server", "typ": "JWT"}
            payload = {
                "skypeid": user_id[2:] if user_id.startswith("8:") else user_id,
                "scp": 1792,
                "csi": str(now),
                "exp": exp,
                "rgn": "amer",
                "acsScope": ",".join(scopes),
                "resourceId": self.resource_id,
                "resourceLocation": "unitedstates",
                "iat": now,
                "nonce": uuid.uuid4().hex,  # two tokens issued in the same second still differ
            }
            # The SDK decodes the payload with the standard (not URL-safe) base64 alphabet, which is only
            # safe while no '-'/'_' appears: escaping '>', '?', '~', DEL (the only ASCII bytes that can
            # produce them) keeps every JSON string value intact.
            payload_json = orjson.dumps(payload)
            for char, escape in ((b">", b"\\u003e"), (b"?", b"\\u003f"), (b"~", b"\\u007e"), (b"\x7f", b"\\u007f")):
                payload_json = payload_json.replace(char, escape)
            signing_input = _b64url(orjson.dumps(header)) + "." + _b64url(payload_json)
            signature = hmac.new(self._token_secret, signing_input.encode("ascii"), hashlib.sha256).digest()
            token = signing_input + "." + _b64url(signature)
            self._tokens[token] = TokenInfo(user_id, exp, scopes)
            return token

    def token_info(self, token: str) -> TokenInfo | None:
        """The live token's info, or None when unknown, expired, revoked or its user deleted."""
        with self._lock:
            info = self._tokens.get(token)
            if info is None or info.expires_on <= time.time() or not self._users.get(info.user_id):
                return None
            return info

    def revoke_tokens(self, user_id: str) -> None:
        with self._lock:
            for token in [t for t, info in self._tokens.items() if info.user_id == user_id]:
                del self._tokens[token]

    def delete_user(self, user_id: str) -> None:
        with self._lock:
            if user_id in self._users:
                self._users[user_id] = False
            self.revoke_tokens(user_id)

    # --------------------------------------------------------------------------------------- helpers

    def identifier(self, raw_id: str) -> dict:
        """CommunicationIdentifierModel JSON for a raw id (ACS users, phone numbers, others as rawId)."""
        cached = self._ident_cache.get(raw_id)
        if cached is None:
            if raw_id.startswith(("8:acs:", "8:dod-acs:", "8:gcch-acs:", "8:spool:")):
                cached = {"rawId": raw_id, "communicationUser": {"id": raw_id}}
            elif raw_id.startswith("4:"):
                cached = {"rawId": raw_id, "phoneNumber": {"value": raw_id[2:]}}
            else:
                cached = {"rawId": raw_id}
            self._ident_cache[raw_id] = cached
        return cached

    def _thread(self, thread_id: str) -> Thread:
        thread = self._threads.get(thread_id)
        if thread is None:
            raise not_found(f"Thread {thread_id} not found.")
        return thread

    def _participant_dict(self, p: Participant) -> dict:
        d: dict[str, Any] = {"communicationIdentifier": self.identifier(p.user_id)}
        if p.display_name is not None:
            d["displayName"] = p.display_name
        if p.share_history_time is not None:
            d["shareHistoryTime"] = fmt_time(p.share_history_time)
        if p.metadata:
            d["metadata"] = p.metadata
        return d

    def _message_dict(self, m: Message) -> dict:
        d: dict[str, Any] = {
            "id": m.id,
            "type": m.type,
            "sequenceId": str(m.seq),
            "version": m.version,
        }
        if m.deleted_on is None:  # deleted messages are listed without content nor metadata
            content: dict[str, Any] = {}
            if m.type in ("text", "html"):
                content["message"] = m.text
                if m.attachments:
                    content["attachments"] = m.attachments
            elif m.type == "topicUpdated":
                content["topic"] = m.topic
            else:
                content["participants"] = m.participants or []
            if m.initiator is not None:
                content["initiatorCommunicationIdentifier"] = self.identifier(m.initiator)
            d["content"] = content
        if m.sender_display_name is not None:
            d["senderDisplayName"] = m.sender_display_name
        d["createdOn"] = fmt_time(m.created_on)
        if m.sender is not None:
            d["senderCommunicationIdentifier"] = self.identifier(m.sender)
        if m.deleted_on is not None:
            d["deletedOn"] = fmt_time(m.deleted_on)
        if m.edited_on is not None:
            d["editedOn"] = fmt_time(m.edited_on)
        if m.metadata and m.deleted_on is None:
            d["metadata"] = m.metadata
        return d

    def _message_json(self, m: Message) -> bytes:
        if m.json is None:
            m.json = orjson.dumps(self._message_dict(m))
        return m.json

    def _thread_properties(self, t: Thread) -> dict:
        d: dict[str, Any] = {
            "id": t.id,
            "topic": t.topic,
            "createdOn": fmt_time(t.created_on),
            "createdByCommunicationIdentifier": self.identifier(t.created_by),
        }
        if t.deleted_on is not None:
            d["deletedOn"] = fmt_time(t.deleted_on)
        if t.retention_policy is not None:
            d["retentionPolicy"] = t.retention_policy
        return d

    def _thread_item(self, t: Thread) -> dict:
        d: dict[str, Any] = {"id": t.id, "topic": t.topic}
        if t.deleted_on is not None:
            d["deletedOn"] = fmt_time(t.deleted_on)
        if t.last_message_us is not None:
            d["lastMessageReceivedOn"] = fmt_time(from_us(t.last_message_us))
        return d

    def _append(self, t: Thread, m: Message) -> Message:
        """Give ``m`` the next sequence id and a unique id, and store it (caller holds the lock)."""
        m.seq = len(t.messages) + 1
        m.created_us = to_us(m.created_on)
        ms = m.created_us // 1000
        if str(ms) in t.by_id:
            ms = max(ms, t.max_id) + 1
            while str(ms) in t.by_id:
                ms += 1
        if ms > t.max_id:
            t.max_id = ms
        m.id = str(ms)
        m.version = m.id
        if t.created_keys and m.created_us < t.created_keys[-1]:
            t.monotonic = False
        t.messages.append(m)
        t.created_keys.append(m.created_us)
        t.by_id[m.id] = m
        if t.last_message_us is None or m.created_us > t.last_message_us:
            t.last_message_us = m.created_us
        return m

    def _system_message(self, t: Thread, type_: str, initiator: str | None, when: datetime, **fields) -> Message:
        m = Message()
        m.type = type_
        m.created_on = when
        m.initiator = initiator
        for name, value in fields.items():
            setattr(m, name, value)
        return self._append(t, m)

    @staticmethod
    def _new_version(m: Message, when: datetime) -> str:
        return str(max(int(m.version) + 1, to_us(when) // 1000))

    def _normalize_participant(self, spec) -> Participant:
        if isinstance(spec, Participant):
            return spec
        if isinstance(spec, str):
            return Participant(spec)
        if isinstance(spec, tuple):
            return Participant(*spec)
        if isinstance(spec, dict):
            user_id = spec.get("user_id") or spec.get("id")
            sht = spec.get("share_history_time")
            return Participant(
                user_id,
                spec.get("display_name"),
                _aware(sht, "share_history_time") if sht is not None else None,
                spec.get("metadata"),
            )
        raise TypeError(f"participant must be a user id, (user_id, display_name) or dict, got {spec!r}")

    def _join(self, t: Thread, p: Participant) -> None:
        t.former.pop(p.user_id, None)
        t.participants[p.user_id] = p
        self._user_threads.setdefault(p.user_id, {})[t.id] = None

    # --------------------------------------------------------------------------------------- threads

    def create_thread(
        self,
        topic: str,
        created_by: str,
        participants: Iterable = (),
        created_on: datetime | None = None,
        thread_id: str | None = None,
        retention_policy: dict | None = None,
    ) -> str:
        """Create a thread like the service does and return its id (``19:<32 hex>@thread.v2``).

        ``participants``: user ids, ``(user_id, display_name)`` tuples or dicts with ``user_id``,
        ``display_name``, ``share_history_time``, ``metadata``.  The creator is added when missing.
        Adds the service's system messages: participantAdded (everyone), then topicUpdated.
        """
        created_on = _aware(created_on, "created_on")
        if not isinstance(topic, str) or not topic:
            raise ValueError("topic must be a non-empty string")
        members = [self._normalize_participant(p) for p in participants]
        with self._lock:
            self._ensure_user(created_by)
            thread_id = thread_id or f"19:{uuid.uuid4().hex}@thread.v2"
            if thread_id in self._threads:
                raise ValueError(f"thread {thread_id} exists")
            if created_by not in {p.user_id for p in members}:
                members.insert(0, Participant(created_by))
            t = Thread(thread_id, topic, created_on, created_by)
            t.retention_policy = retention_policy
            self._threads[thread_id] = t
            for p in members:
                self._ensure_user(p.user_id)
                p.added_on = created_on
                self._join(t, p)
            self._system_message(
                t,
                "participantAdded",
                created_by,
                created_on,
                participants=[self._participant_dict(p) for p in t.participants.values()],
            )
            self._system_message(t, "topicUpdated", created_by, created_on, topic=topic)
            return thread_id

    def add_participant(
        self,
        thread_id: str,
        user_id: str,
        display_name: str | None = None,
        share_history_time: datetime | None = None,
        by: str | None = None,
        added_on: datetime | None = None,
        metadata: dict | None = None,
    ) -> bool:
        """Add one participant (no-op returning False if already in); adds a participantAdded message."""
        return bool(
            self.add_participants(
                thread_id,
                [Participant(user_id, display_name, share_history_time, metadata)],
                by=by,
                added_on=added_on,
            )
        )

    def add_participants(self, thread_id: str, participants: Iterable, by: str | None = None, added_on=None):
        """Add several participants with one participantAdded message; returns the ones really added."""
        added_on = _aware(added_on, "added_on")
        members = [self._normalize_participant(p) for p in participants]
        for p in members:
            if p.share_history_time is not None:
                p.share_history_time = _aware(p.share_history_time, "share_history_time")
        with self._lock:
            t = self._thread(thread_id)
            new = []
            for p in members:
                self._ensure_user(p.user_id)
                if p.user_id in t.participants:
                    continue  # "If participants already exist, no change occurs."
                p.added_on = added_on
                self._join(t, p)
                new.append(p)
            if new:
                self._system_message(
                    t,
                    "participantAdded",
                    by or t.created_by,
                    added_on,
                    participants=[self._participant_dict(p) for p in new],
                )
            return new

    def remove_participant(
        self, thread_id: str, user_id: str, by: str | None = None, removed_on: datetime | None = None
    ) -> bool:
        """Remove a participant (False if it was not one); adds a participantRemoved message."""
        removed_on = _aware(removed_on, "removed_on")
        with self._lock:
            t = self._thread(thread_id)
            p = t.participants.pop(user_id, None)
            if p is None:
                return False
            t.former[user_id] = (p, to_us(removed_on))
            self._user_threads.get(user_id, {}).pop(thread_id, None)
            self._system_message(
                t,
                "participantRemoved",
                by or user_id,
                removed_on,
                participants=[self._participant_dict(p)],
            )
            return True

    def update_topic(
        self, thread_id: str, topic: str, by: str | None = None, updated_on: datetime | None = None
    ) -> None:
        """Change the topic; adds a topicUpdated message."""
        updated_on = _aware(updated_on, "updated_on")
        with self._lock:
            t = self._thread(thread_id)
            t.topic = topic
            self._system_message(t, "topicUpdated", by or t.created_by, updated_on, topic=topic)

    def delete_thread(self, thread_id: str, deleted_on: datetime | None = None) -> None:
        """Mark the thread deleted (it keeps being listed, with deletedOn)."""
        deleted_on = _aware(deleted_on, "deleted_on")
        with self._lock:
            t = self._thread(thread_id)
            if t.deleted_on is None:
                t.deleted_on = deleted_on

    # --------------------------------------------------------------------------------------- messages

    def send_message(
        self,
        thread_id: str,
        sender: str,
        content: str,
        type: str = "text",  # noqa: A002 - mirrors the REST field
        created_on: datetime | None = None,
        metadata: dict | None = None,
        attachments: list[dict] | None = None,
        sender_display_name: str | None = None,
    ) -> str:
        """Store a text/html message and return its id (an epoch-milliseconds string, like the service)."""
        if type not in ("text", "html"):
            raise ValueError("type must be 'text' or 'html'")
        m = Message()
        m.type = type
        m.created_on = _aware(created_on, "created_on")
        m.sender = sender
        m.text = content
        m.metadata = dict(metadata) if metadata else None
        m.attachments = [dict(a) for a in attachments] if attachments else None
        m.sender_display_name = sender_display_name
        with self._lock:
            t = self._thread(thread_id)
            self._ensure_user(sender)
            return self._append(t, m).id

    def add_messages(
        self,
        thread_id: str,
        sender: str,
        count: int,
        start: datetime | None = None,
        step: timedelta = timedelta(seconds=1),
        content_fn: Callable[[int], str] | None = None,
        type: str = "text",  # noqa: A002
        sender_display_name: str | None = None,
    ) -> list[str]:
        """Bulk-seed ``count`` messages created at ``start``, ``start + step``, ...; returns their ids.

        ``content_fn(i)`` gives message i's text (default ``"message {i}"``).  100,000 take well under a
        second.
        """
        if type not in ("text", "html"):
            raise ValueError("type must be 'text' or 'html'")
        start = _aware(start, "start") if start is not None else None
        content_fn = content_fn or (lambda i: f"message {i}")
        ids = []
        with self._lock:
            t = self._thread(thread_id)
            self._ensure_user(sender)
            if start is None:
                start = datetime.now(UTC) - step * count
            base_us = to_us(start)
            step_us = step // _US
            msgs, keys, by_id = t.messages, t.created_keys, t.by_id
            for i in range(count):
                m = Message()
                m.type = type
                created_us = base_us + i * step_us
                m.created_us = created_us
                m.created_on = from_us(created_us)
                m.sender = sender
                m.sender_display_name = sender_display_name
                m.text = content_fn(i)
                m.seq = len(msgs) + 1
                ms = created_us // 1000
                if ms <= t.max_id and str(ms) in by_id:
                    ms = t.max_id + 1
                    while str(ms) in by_id:
                        ms += 1
                if ms > t.max_id:
                    t.max_id = ms
                m.id = m.version = str(ms)
                if keys and created_us < keys[-1]:
                    t.monotonic = False
                msgs.append(m)
                keys.append(created_us)
                by_id[m.id] = m
                if t.last_message_us is None or created_us > t.last_message_us:
                    t.last_message_us = created_us
                ids.append(m.id)
        return ids

    def _user_message(self, thread_id: str, message_id: str) -> tuple[Thread, Message]:
        t = self._thread(thread_id)
        m = t.by_id.get(message_id)
        if m is None:
            raise not_found(f"Message {message_id} not found.")
        return t, m

    def edit_message(
        self,
        thread_id: str,
        message_id: str,
        content: str | None = None,
        edited_on: datetime | None = None,
        metadata: dict | None = None,
    ) -> None:
        """Edit a text/html message: new content and/or metadata, editedOn and a new version."""
        edited_on = _aware(edited_on, "edited_on")
        with self._lock:
            _, m = self._user_message(thread_id, message_id)
            if m.type not in ("text", "html"):
                raise ValueError("only text and html messages can be edited")
            if content is not None:
                m.text = content
            if metadata is not None:
                m.metadata = dict(metadata) or None
            m.edited_on = edited_on
            m.version = self._new_version(m, edited_on)
            m.json = None

    def delete_message(self, thread_id: str, message_id: str, deleted_on: datetime | None = None) -> None:
        """Mark a text/html message deleted: still listed, with deletedOn and without content."""
        deleted_on = _aware(deleted_on, "deleted_on")
        with self._lock:
            _, m = self._user_message(thread_id, message_id)
            if m.type not in ("text", "html"):
                raise ValueError("only text and html messages can be deleted")
            if m.deleted_on is None:
                m.deleted_on = deleted_on
                m.version = self._new_version(m, deleted_on)
                m.json = None

    # --------------------------------------------------------------------------------------- inspection

    @property
    def thread_ids(self) -> list[str]:
        with self._lock:
            return list(self._threads)

    def messages(self, thread_id: str) -> list[dict]:
        """All messages of a thread as REST JSON dicts, oldest first (by sequence id)."""
        with self._lock:
            t = self._thread(thread_id)
            return [orjson.loads(self._message_json(m)) for m in t.messages]

    def message(self, thread_id: str, message_id: str) -> dict:
        with self._lock:
            _, m = self._user_message(thread_id, message_id)
            return orjson.loads(self._message_json(m))

    def participants(self, thread_id: str) -> list[dict]:
        """Current participants as REST JSON dicts."""
        with self._lock:
            t = self._thread(thread_id)
            return [self._participant_dict(p) for p in t.participants.values()]

    def thread(self, thread_id: str) -> dict:
        """Thread properties as REST JSON (``GET /chat/threads/{id}``)."""
        with self._lock:
            return self._thread_properties(self._thread(thread_id))

    # --------------------------------------------------------------------------------------- REST views

    def read_window(self, t: Thread, user: str) -> tuple[int | None, int | None]:
        """(lowest, highest) createdOn in us this user may read; raises 403 for non-participants."""
        p = t.participants.get(user)
        if p is not None:
            return (to_us(p.share_history_time) if p.share_history_time else None), None
        former = t.former.get(user)
        if former is not None and self.removed_can_read_history:
            p, removed_us = former
            return (to_us(p.share_history_time) if p.share_history_time else None), removed_us
        raise forbidden()

    def require_member(self, t: Thread, user: str) -> Participant:
        p = t.participants.get(user)
        if p is None:
            raise forbidden()
        return p

    def _window(self, t: Thread, lo: int | None, hi: int | None):
        """Indices (ascending) of messages with lo <= createdOn <= hi: a range, or a cached list."""
        n = len(t.messages)
        if lo is None and hi is None:
            return range(n)
        keys = t.created_keys
        if t.monotonic:
            lo_idx = bisect.bisect_left(keys, lo) if lo is not None else 0
            hi_idx = bisect.bisect_right(keys, hi) if hi is not None else n
            return range(lo_idx, max(lo_idx, hi_idx))
        # seeded out of time order: filter once per window, then extend with messages appended since
        cache = t.window_cache
        entry = cache.get((lo, hi))
        if entry is None:
            if len(cache) > 32:
                cache.clear()
            entry = cache[(lo, hi)] = [0, []]
        seen, indices = entry
        for i in range(seen, n):
            k = keys[i]
            if (lo is None or k >= lo) and (hi is None or k <= hi):
                indices.append(i)
        entry[0] = n
        return indices

    def page_messages(
        self, thread_id: str, user: str, size: int, start_us: int | None, cursor: int | None
    ) -> tuple[list[bytes], int | None]:
        """One page, newest first (by sequence id).

        ``cursor`` is the exclusive upper message index from the previous page's syncState; messages are
        never removed, so indices stay valid while new ones arrive.  Each page is a slice: no sorting.
        """
        with self._lock:
            t = self._thread(thread_id)
            lo, hi = self.read_window(t, user)
            if start_us is not None:
                lo = start_us if lo is None else max(lo, start_us)
            window = self._window(t, lo, hi)
            top = bisect.bisect_left(window, cursor) if cursor is not None else len(window)
            first = max(0, top - size)
            chosen = window[first:top]
            if isinstance(chosen, range):
                msgs = t.messages[chosen.start : chosen.stop]
            else:
                msgs = [t.messages[i] for i in chosen]
            msgs.reverse()
            page = [m.json or self._message_json(m) for m in msgs]
            return page, (window[first] if first > 0 else None)

    def page_threads(
        self, user: str, size: int, start_us: int | None, cursor: tuple[int, str] | None
    ) -> tuple[list[dict], tuple[int, str] | None]:
        """Threads the user currently participates in, most recently active first."""
        with self._lock:
            items = []
            for tid in self._user_threads.get(user, {}):
                t = self._threads[tid]
                act = t.activity_us()
                if start_us is not None and act < start_us:
                    continue
                items.append((-act, tid, t))
            items.sort(key=lambda x: (x[0], x[1]))
            if cursor is not None:
                key = (-cursor[0], cursor[1])
                items = [x for x in items if (x[0], x[1]) > key]
            page = items[:size]
            nxt = (-page[-1][0], page[-1][1]) if len(items) > size else None
            return [self._thread_item(x[2]) for x in page], nxt

    def page_participants(self, thread_id: str, user: str, size: int, skip: int) -> tuple[list[dict], bool]:
        with self._lock:
            t = self._thread(thread_id)
            self.read_window(t, user)
            members = list(t.participants.values())
            page = members[skip : skip + size]
            return [self._participant_dict(p) for p in page], skip + size < len(members)

    def page_read_receipts(self, thread_id: str, user: str, size: int, skip: int) -> tuple[list[dict], bool]:
        with self._lock:
            t = self._thread(thread_id)
            self.read_window(t, user)
            receipts = list(t.read_receipts.items())
            page = receipts[skip : skip + size]
            out = [
                {
                    "senderCommunicationIdentifier": self.identifier(uid),
                    "chatMessageId": mid,
                    "readOn": fmt_time(when),
                }
                for uid, (mid, when) in page
            ]
            return out, skip + size < len(receipts)
