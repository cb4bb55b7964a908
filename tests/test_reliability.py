"""Nothing is lost: fault injection, duplicate and reorder storms, concurrency, log hygiene.

The real-time function runs as the host runs it (``archive_event`` with a real
``func.EventGridEvent``), its storage behind :class:`tests.faultproxy.FaultProxy` in front of a
real Azurite.  How each test works, what it injects and its measured figures are in
docs/reliability.md; every test prints a ``figures:`` line (run with ``-s``) and writes it to
``bench/results/reliability-<test>.json``.

Sizes: the storm runs 1,000 changes in the default run; ``ARCHIVER_LONG_RUNS=1`` (``make
test-long``) runs it with 10,000 changes (override with ``STORM_CHANGES``).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import os
import platform
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from archiving import bootstrap
from archiving.store import codec
from archiving.ingest.archiver import archive_event, prepare
from archiving.bootstrap import EVENT_PROFILE, Services
from archiving.ingest.events import ARCHIVED_TYPES
from archiving.ingest.types import CALL_TYPES, CHANNEL_TYPES, CHAT_TYPES

# Channel and call events of the storm; a recording needs the recording server (tests/test_calls.py).
RECORDING = "Microsoft.Communication.RecordingFileStatusUpdated"
STORM_TYPES = sorted((set(CHANNEL_TYPES) | set(CALL_TYPES)) - {RECORDING})
from archiving.store.records import Record, substance
from archiving.store.schemas import errors as schema_errors
from archiving.settings import Settings

from .conftest import HASH_KEY, ROOT
from .faultproxy import KINDS, FaultProxy
from .host import Out, grid_event

LONG = os.environ.get("ARCHIVER_LONG_RUNS", "").lower() in ("1", "true", "yes")
STORM_CHANGES = int(os.environ.get("STORM_CHANGES") or (10_000 if LONG else 1_000))
RESULTS = ROOT / "bench" / "results"
UTC = timezone.utc
P = "Microsoft.Communication."

# EVENT_PROFILE's retry count (3 attempts per storage call) with short timeouts and backoff, so
# that a stall costs under a second, not 5 s: the storm's thousands of faults then fit in CI.
# The one stall test with EVENT_PROFILE itself is test_stall_with_the_production_profile.
STORM_PROFILE = dict(EVENT_PROFILE, initial_backoff=0.02, increment_base=0.1, jitter=0.02,
                     connection_timeout=1, read_timeout=0.75)
STALL_SECONDS = 1.0  # > STORM_PROFILE read_timeout
FAULT_SHARE = 0.30
FAULT_WEIGHTS = {"reset_before": 3, "reset_after": 3, "truncate": 3, "stall": 1}
MAX_ATTEMPTS = 30  # Event Grid's default delivery attempts
CONCURRENCY = 32


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


def report(name: str, figures: dict[str, Any]) -> None:
    """Print the figures (visible with -s) and keep them in bench/results/reliability-<name>.json."""
    figures = {"test": name, "machine": _machine(), "when": datetime.now(UTC).isoformat(timespec="seconds"),
               **figures}
    print(f"\nfigures: {json.dumps(figures, sort_keys=False)}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"reliability-{name}.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


# -- a chat that covers every archived event type --------------------------------------------------

RESOURCE = "5e1fab1e-7a11-4c0d-9e57-57024e57c0de"  # in every ACS user id of these tests
BODY_MARK = "\u27e6body\u27e7"  # in every message body, topic and metadata value
NAME_MARK = "\u27e6name\u27e7"  # in every display name
TOPIC = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
         "Microsoft.Communication/communicationServices/storm")
FORMS = {  # the event types that carry each change: thread level first, then user level (and legacy)
    ("message", "received"): ("ChatMessageReceivedInThread", "ChatMessageReceived"),
    ("message", "edited"): ("ChatMessageEditedInThread", "ChatMessageEdited"),
    ("message", "deleted"): ("ChatMessageDeletedInThread", "ChatMessageDeleted"),
    ("thread", "created"): ("ChatThreadCreated", "ChatThreadCreatedWithUser"),
    ("thread", "deleted"): ("ChatThreadDeleted", "ChatThreadWithUserDeleted"),
    ("thread", "updated"): ("ChatThreadPropertiesUpdated", "ChatThreadPropertiesUpdatedPerUser"),
    ("thread", "participant-added"): ("ChatThreadParticipantAdded", "ChatParticipantAddedToThreadWithUser",
                                      "ChatMemberAddedToThreadWithUser"),
    ("thread", "participant-removed"): ("ChatThreadParticipantRemoved", "ChatParticipantRemovedFromThreadWithUser",
                                        "ChatMemberRemovedFromThreadWithUser"),
}
assert {P + t for forms in FORMS.values() for t in forms} == set(CHAT_TYPES)
BODIES = ["Hello {n}, how can I help?", "Order 4711 \"express\" — still nothing 📦 {n}", "<p>Html <b>{n}</b></p>",
          "Zeile {n}: Grüße, ça va? 你好 مرحبا", "line one {n}\nline two\ttabbed", "e\u0301\u200b\u202e{n}"]


@dataclass(frozen=True)
class User:
    raw_id: str
    identifier: dict
    name: str


def make_users(n: int) -> list[User]:
    users = []
    for i in range(n):
        if i % 10 == 7:
            number = f"+1555{i:07d}"
            raw, ident = f"4:{number}", {"phoneNumber": {"value": number}}
        elif i % 10 == 8:
            oid = str(uuid.UUID(int=0x5E1FAB1E << 96 | i))
            raw, ident = f"8:orgid:{oid}", {"microsoftTeamsUser": {"userId": oid, "isAnonymous": False, "cloud": "public"}}
        else:
            raw = f"8:acs:{RESOURCE}_00000020-{i:04x}-4e2a-8c1b-0a1b2c3d4e5f"
            ident = {"communicationUser": {"id": raw}}
        users.append(User(raw, {"rawId": raw, **ident}, f"{NAME_MARK} User {i} Ünïcode"))
    return users


@dataclass
class Change:
    kind: str
    action: str
    thread_id: str
    at: datetime
    version: int
    actor: User
    data: dict  # the data fields that do not vary with the form (no identifiers, times or version)
    times: dict[str, datetime]
    participants: list[User] = field(default_factory=list)  # created: all; participant events: the one

    @property
    def forms(self) -> tuple[str, ...]:
        return FORMS[(self.kind, self.action)]


def _stamp(at: datetime, rng: random.Random) -> str:
    """One instant in one of the shapes ACS sends (Z or an offset, 3, 6 or 7 fractional digits)."""
    offset = rng.choice([timedelta(0), timedelta(0), timedelta(hours=-8), timedelta(hours=5, minutes=30)])
    local = at.astimezone(timezone(offset))
    digits = rng.choice([3, 6, 7])
    fraction = f"{local.microsecond:06d}{'0' * (digits - 6)}"[:digits]
    zone = "Z" if offset == timedelta(0) and rng.random() < 0.7 else local.strftime("%z")
    zone = zone if zone == "Z" else zone[:3] + ":" + zone[3:]
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + fraction + zone


def render(change: Change, form: str, rng: random.Random, recipient: User) -> dict:
    """The change as one Event Grid event of type ``form`` (a new id, its own representation)."""
    d = dict(change.data)
    d["threadId"] = change.thread_id
    d["version"] = rng.choice([change.version, str(change.version)])
    for name, at in change.times.items():
        d[name] = _stamp(at, rng)
    legacy = form.startswith("ChatMember")
    user_level = form != change.forms[0]
    if change.kind == "message":
        d["senderCommunicationIdentifier"] = change.actor.identifier
        d["senderDisplayName"] = change.actor.name
        d["type"] = rng.choice([d["type"], d["type"].lower()])
    else:
        actor_field = {"created": "createdBy", "deleted": "deletedBy", "updated": "editedBy",
                       "participant-added": "addedBy", "participant-removed": "removedBy"}[change.action]
        if legacy:
            d[actor_field] = change.actor.raw_id
        else:
            d[actor_field + "CommunicationIdentifier"] = change.actor.identifier
        if change.action == "created":
            d["participants"] = [{"displayName": u.name, "participantCommunicationIdentifier": u.identifier,
                                  "metadata": {}} for u in change.participants]
        elif change.action.startswith("participant-"):
            verb = "Added" if change.action == "participant-added" else "Removed"
            (who,) = change.participants
            if legacy:
                d[f"member{verb}"] = {"displayName": who.name, "memberId": who.raw_id}
            else:
                d[f"participant{verb}"] = {"displayName": who.name, "participantCommunicationIdentifier": who.identifier,
                                           "metadata": {}}
    if user_level:
        if legacy:
            d["recipientId"] = recipient.raw_id
        else:
            d["recipientCommunicationIdentifier"] = recipient.identifier
    subject = f"thread/{change.thread_id}/sender/{change.actor.raw_id}"
    if user_level:
        subject += f"/recipient/{recipient.raw_id}"
    return {"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "topic": TOPIC, "subject": subject,
            "data": d, "eventType": P + form, "dataVersion": "1.0", "metadataVersion": "1",
            "eventTime": _stamp(change.at + timedelta(milliseconds=rng.randint(50, 900)), rng)}


def _thread_id(i: int, rng: random.Random) -> str:
    raw = rng.getrandbits(128).to_bytes(16, "big")
    shape = i % 4
    if shape == 0:
        return f"19:{raw.hex()}@thread.v2"
    b64 = base64.urlsafe_b64encode(raw + raw[:8]).decode().rstrip("=")
    if shape == 1:
        return f"19:meeting_{b64}@thread.v2"
    if shape == 2:
        return f"19:uni01_{base64.b32encode(raw).decode().rstrip('=').lower()}@thread.v2"
    return f"19:{b64}@thread.v2"


def chat_changes(n: int, seed: int) -> tuple[list[Change], list[User]]:
    """n changes in ~n/25 interleaved threads: each thread is created, talks, changes and is deleted."""
    rng = random.Random(seed)
    users = make_users(40)
    n_threads = max(1, n // 25)
    per_thread = Counter(i % n_threads for i in range(n))
    threads = [{"id": _thread_id(t, rng), "members": [], "messages": {}, "done": 0, "created": None}
               for t in range(n_threads)]
    plan = ["received", "received", "edited", "received", "participant-added", "message-deleted", "updated",
            "received", "participant-removed", "edited", "received"]
    start = datetime(2026, 1, 31, 20, 0, tzinfo=UTC)  # the run crosses into February
    changes = []
    for i in range(n):
        t = threads[i % n_threads]
        at = start + timedelta(seconds=31 * i, milliseconds=rng.randint(0, 999))
        ms = int((at - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))
        step = t["done"]
        t["done"] += 1
        if step == 0:
            action = "created"
        elif t["done"] == per_thread[i % n_threads]:
            action = "thread-deleted"
        else:
            action = plan[(step - 1) % len(plan)]
        live = [m for m, v in t["messages"].items() if not v["deleted"]]
        outsiders = [u for u in users if u not in t["members"]]
        if action in ("edited", "message-deleted") and not live:
            action = "received"
        if action == "participant-removed" and len(t["members"]) <= 2:
            action = "participant-added"
        if action == "participant-added" and not outsiders:
            action = "updated"
        members = t["members"]
        if action == "created":
            creator, *others = rng.sample(users, 3)
            t["members"] = members = [creator, *others]
            t["created"] = at
            changes.append(Change("thread", "created", t["id"], at, ms, creator,
                                  {"properties": {"topic": f"Case {i} {BODY_MARK}"},
                                   "metadata": {"ticket": f"CS-{i}", "note": BODY_MARK}},
                                  {"createTime": at}, list(members)))
        elif action == "received":
            sender = rng.choice(members)
            t["messages"][str(ms)] = {"composed": at, "deleted": False, "type": rng.choice(["Text", "Text", "Html"])}
            changes.append(Change("message", "received", t["id"], at, ms, sender,
                                  {"messageId": str(ms), "messageBody": rng.choice(BODIES).format(n=i) + BODY_MARK,
                                   "metadata": {"k": BODY_MARK} if i % 3 else {},
                                   "type": t["messages"][str(ms)]["type"], "transactionId": f"tx-{i}"},
                                  {"composeTime": at}))
        elif action in ("edited", "message-deleted"):
            mid = rng.choice(live)
            m = t["messages"][mid]
            sender = rng.choice(members)
            data = {"messageId": mid, "type": m["type"], "metadata": {}, "transactionId": f"tx-{i}"}
            if action == "edited":
                data["messageBody"] = f"edited {i} " + BODY_MARK
                times = {"composeTime": m["composed"], "editTime": at}
            else:
                m["deleted"] = True
                times = {"composeTime": m["composed"], "deleteTime": at}
            changes.append(Change("message", "edited" if action == "edited" else "deleted", t["id"], at, ms,
                                  sender, data, times))
        elif action == "updated":
            changes.append(Change("thread", "updated", t["id"], at, ms, rng.choice(members),
                                  {"properties": {"topic": f"Case {i} renamed {BODY_MARK}"},
                                   "metadata": {"ticket": f"CS-{i}"}},
                                  {"editTime": at}))
        elif action == "participant-added":
            who = rng.choice(outsiders)
            members.append(who)
            changes.append(Change("thread", "participant-added", t["id"], at, ms, members[0], {},
                                  {"time": at}, [who]))
        elif action == "participant-removed":
            who = rng.choice(members[1:])
            members.remove(who)
            changes.append(Change("thread", "participant-removed", t["id"], at, ms, members[0], {},
                                  {"time": at}, [who]))
        else:
            changes.append(Change("thread", "deleted", t["id"], at, ms, members[0], {}, {"deleteTime": at}))
    return changes, users


def storm_events(changes: list[Change], seed: int, twin_every: int) -> tuple[list[dict], dict[str, int]]:
    """One event per change in rotating forms (every type appears), plus its twin for every
    ``twin_every``-th change; returns the events and, per event id, the index of its change."""
    rng = random.Random(seed + 1)
    counter: Counter = Counter()
    events, change_of = [], {}
    users = make_users(40)
    for i, change in enumerate(changes):
        key = (change.kind, change.action)
        forms = change.forms
        first = forms[counter[key] % len(forms)]
        counter[key] += 1
        chosen = [first]
        if twin_every and i % twin_every == 0:
            chosen.append(next(f for f in forms[1:] + forms[:1] if f != first))
        for form in chosen:
            event = render(change, form, rng, rng.choice(users))
            events.append(event)
            change_of[event["id"]] = i
    # SMS, WhatsApp (without media: tests/test_channels.py fetches media) and email: one per 8 chat
    # changes, every type, a twin for every ``twin_every``-th (PascalCase keys, another event id).
    for j in range(max(len(STORM_TYPES), len(changes) // 8)):
        for event in channel_events(j, rng, twin=bool(twin_every) and j % twin_every == 0):
            events.append(event)
            change_of[event["id"]] = len(changes) + j
    return events, change_of


PHONE_MARK = "14254095"  # the first digits of every customer's phone number: never to be logged


def call_data(event_type: str, j: int, phone: str, body: str) -> dict:
    """A call event's data: the customer's number as a phone identifier (calls, issue 23)."""
    customer_id = {"kind": "phoneNumber", "rawId": "4:" + phone, "phoneNumber": {"value": phone}}
    agent = f"8:acs:{RESOURCE}_{uuid.UUID(int=j)}"
    agent_id = {"kind": "communicationUser", "rawId": agent, "communicationUser": {"id": agent}}
    data = {"serverCallId": f"call-{j:06d}", "correlationId": str(uuid.UUID(int=(0xCA11 << 64) | j)),
            "startedBy": {"communicationIdentifier": agent_id}, "isTwoParty": True, "isRoomsCall": False}
    kind = event_type.rsplit(".", 1)[1]
    if kind == "CallEnded":
        data.update(callDurationInSeconds=j, endedBy={"communicationIdentifier": customer_id},
                    reason={"code": 0, "subCode": 0, "phrase": body})
    elif kind in ("CallParticipantAdded", "CallParticipantRemoved"):
        data.update(user={"communicationIdentifier": customer_id}, displayName=body, participantId=f"p-{j}")
    elif kind == "IncomingCall":
        data = {"serverCallId": data["serverCallId"], "correlationId": data["correlationId"], "from": customer_id,
                "to": agent_id, "callerDisplayName": body}
    return data


def customer(j: int) -> tuple[str, str]:
    """A customer's phone number and email address, marked with PHONE_MARK and RESOURCE."""
    return f"+{PHONE_MARK}{j % 1000:03d}", f"customer{j % 1000}@{RESOURCE}.example"


def channel_events(j: int, rng: random.Random, twin: bool) -> list[dict]:
    """The j-th SMS, WhatsApp or email event (Event Grid schema), and its twin."""
    types = STORM_TYPES
    event_type = types[j % len(types)]
    phone, email = customer(j)
    business = "+18005550100"
    at = datetime(2026, 10, 31, 23, 0, tzinfo=UTC) + timedelta(minutes=7 * j)  # crosses a month boundary
    stamp = _stamp(at, rng)
    message_id = f"msg-{j:06d}-{uuid.UUID(int=j)}"
    body = f"{BODY_MARK} {BODIES[j % len(BODIES)].format(n=j)}"
    if event_type.endswith("SMSReceived"):
        data = {"messageId": message_id, "from": phone, "to": business, "message": body, "receivedTimestamp": stamp,
                "segmentCount": 1}
    elif event_type.endswith("SMSDeliveryReportReceived"):
        data = {"messageId": message_id, "from": business, "to": phone, "deliveryStatus": "Delivered",
                "deliveryStatusDetails": "No error.", "receivedTimestamp": stamp, "tag": body,
                "deliveryAttempts": [{"timestamp": stamp, "segmentsSucceeded": 1, "segmentsFailed": 0}]}
    elif event_type.endswith("AdvancedMessageReceived"):
        data = {"channelType": "whatsapp", "from": phone, "to": str(uuid.UUID(int=0x5E1F)), "receivedTimestamp": stamp,
                "content": body, "messageType": "text",
                **({"reaction": {"messageId": message_id, "emoji": "👍"}} if j % 3 == 0 else {}),
                **({"context": {"from": phone, "id": message_id}} if j % 3 == 1 else {})}
    elif event_type.endswith("AdvancedMessageDeliveryStatusUpdated"):
        data = {"messageId": message_id, "status": rng.choice(["sent", "delivered", "read"]), "channelType": "whatsapp",
                "from": str(uuid.UUID(int=0x5E1F)), "to": phone, "receivedTimestamp": stamp}
    elif event_type.endswith("EmailDeliveryReportReceived"):
        data = {"sender": "noreply@contoso.example", "recipient": email, "messageId": message_id,
                "status": "Delivered", "deliveryAttemptTimeStamp": stamp,
                "deliveryStatusDetails": {"statusMessage": body}}
    elif event_type in CALL_TYPES:
        data = call_data(event_type, j, phone, body)
    else:
        data = {"sender": "noreply@contoso.example", "recipient": email, "messageId": message_id,
                "userActionTimeStamp": stamp, "engagement": "click", "engagementContext": f"https://x.example/{j}",
                "userAgent": body}
    event_id = str(uuid.UUID(int=(0xC4A << 100) | j))
    first = {"id": event_id, "topic": TOPIC, "subject": f"channel/{j}", "eventType": event_type,
             "eventTime": stamp, "dataVersion": "1.0", "data": data}
    if not twin:
        return [first]
    second = json.loads(json.dumps(first))
    if not event_type.endswith("AdvancedMessageReceived"):  # its identity is the event id: a redelivery
        second["id"] = str(uuid.UUID(int=(0xC4B << 100) | j))
    second["data"] = {k[:1].upper() + k[1:]: v for k, v in data.items()}  # PascalCase, as the SMS examples
    return [first, second]


def expected_records(events: list[dict], change_of: dict[str, int]) -> dict[str, Record]:
    """What a correct archive holds: one record per change, whichever event of it comes first."""
    by_key: dict[str, Record] = {}
    changes_of_key: dict[str, int] = {}
    for raw in events:
        record = prepare(raw, HASH_KEY.encode())
        assert isinstance(record, Record), (record, raw)
        if record.key in by_key:
            assert record.substance == by_key[record.key].substance, f"twins disagree on {record.key}"
            assert record.tags == by_key[record.key].tags
            assert changes_of_key[record.key] == change_of[raw["id"]], f"two changes share {record.key}"
        by_key.setdefault(record.key, record)
        changes_of_key.setdefault(record.key, change_of[raw["id"]])
    return by_key


# -- the host and Event Grid around the function ---------------------------------------------------


class LogWatch(logging.Handler):
    """Counts outcomes from archiving's log lines and finds any line that carries user data."""

    def __init__(self, forbidden: Iterable[str]):
        super().__init__(logging.INFO)
        words = sorted(set(forbidden), key=len, reverse=True)
        self.pattern = re.compile("|".join(re.escape(s) for s in words)) if words else re.compile(r"(?!x)x")
        self.outcomes: Counter = Counter()
        self.levels: Counter = Counter()
        self.loggers: Counter = Counter()
        self.leaks: list[str] = []
        self.lines = 0

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        match = re.search(r"outcome=(\w+)", text) if record.name == "archiving.ingest.events" else None
        leak = self.pattern.search(text)
        # Handler.handle() holds self.lock around emit(): the counters need no lock of their own.
        self.lines += 1
        self.levels[record.levelname] += 1
        self.loggers[".".join(record.name.split(".")[:2])] += 1
        if match:
            self.outcomes[match.group(1)] += 1
        if leak:
            self.leaks.append(f"{record.name} {record.levelname}: {text[:300]}")


class watching:
    """Attach a LogWatch to the root logger; archiving logs at INFO (the Functions host's level)."""

    def __init__(self, forbidden: Iterable[str], root_level: int | None = None):
        self.watch = LogWatch(forbidden)
        self.root_level = root_level

    def __enter__(self) -> LogWatch:
        root, ours = logging.getLogger(), logging.getLogger("archiving")
        self._saved = (root.level, ours.level)
        root.addHandler(self.watch)
        ours.setLevel(logging.INFO)
        if self.root_level is not None:
            root.setLevel(self.root_level)
        return self.watch

    def __exit__(self, *exc) -> None:
        root, ours = logging.getLogger(), logging.getLogger("archiving")
        root.removeHandler(self.watch)
        root.setLevel(self._saved[0])
        ours.setLevel(self._saved[1])


def forbidden_strings(users: Iterable[User]) -> list[str]:
    # RESOURCE is in every customer email address, PHONE_MARK in every customer phone number in any
    # form (+E.164, digits, 4:+E.164): one literal each keeps the log check's pattern small.
    return [BODY_MARK, NAME_MARK, RESOURCE, PHONE_MARK, *(u.raw_id for u in users), *(u.name for u in users)]


@dataclass
class StormStats:
    deliveries: int = 0  # first deliveries: events x copies
    invocations: int = 0  # every call of the function, redeliveries included
    failed: int = 0  # invocations that raised (Event Grid redelivers them)
    lost: int = 0  # deliveries still failing after MAX_ATTEMPTS
    rejected: int = 0  # invocations that wrote a rejection (none expected: every event is valid)
    crashes: int = 0  # exceptions that are not storage errors (azure.core): bugs
    max_attempts: int = 0
    errors: Counter = field(default_factory=Counter)
    crash_samples: list[str] = field(default_factory=list)
    exception_texts: list[str] = field(default_factory=list)
    seconds: float = 0.0


def deliver_like_event_grid(invoke: Callable[[dict], Out | None], events: list[dict], *, copies: int,
                            workers: int, seed: int, max_attempts: int = MAX_ATTEMPTS,
                            keep_exception_texts: bool = False, progress: str | None = None) -> StormStats:
    """Every event ``copies`` times, shuffled, through ``invoke`` on ``workers`` threads; an
    invocation that raises goes to the back of the queue and is tried again, up to
    ``max_attempts`` times per delivery, as Event Grid retries a failed delivery later."""
    import queue

    rng = random.Random(seed)
    deliveries = [raw for raw in events for _ in range(copies)]
    rng.shuffle(deliveries)
    stats = StormStats(deliveries=len(deliveries))
    work: queue.Queue = queue.Queue()
    for raw in deliveries:
        work.put((raw, 1))
    lock = threading.Lock()
    pending = [len(deliveries)]
    finished = threading.Event()
    if not deliveries:
        finished.set()

    def done() -> None:
        pending[0] -= 1
        if pending[0] == 0:
            finished.set()

    def worker() -> None:
        while True:
            item = work.get()
            if item is None:
                return
            raw, attempt = item
            try:
                out = invoke(raw)
            except Exception as exc:  # noqa: BLE001 - the host reports it; Event Grid redelivers
                crash = not type(exc).__module__.startswith("azure.")
                with lock:
                    stats.invocations += 1
                    stats.failed += 1
                    stats.errors[type(exc).__name__] += 1
                    if keep_exception_texts:
                        stats.exception_texts.append(f"{exc!r} {exc}")
                    if crash:
                        stats.crashes += 1
                        if len(stats.crash_samples) < 5:
                            stats.crash_samples.append(f"{type(exc).__module__}.{type(exc).__name__}: {exc}"[:500])
                    if attempt >= max_attempts:
                        stats.lost += 1
                        done()
                    else:
                        work.put((raw, attempt + 1))
                continue
            with lock:
                stats.invocations += 1
                stats.max_attempts = max(stats.max_attempts, attempt)
                if isinstance(out, Out) and out.value is not None:
                    stats.rejected += 1
                done()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, name=f"invocation-{i}", daemon=True) for i in range(workers)]
    for t in threads:
        t.start()
    last = time.perf_counter()
    while not finished.wait(1):
        assert any(t.is_alive() for t in threads), "every invocation thread died"
        if progress and time.perf_counter() - last >= 30:
            last = time.perf_counter()
            print(f"  {progress}: {len(deliveries) - pending[0]}/{len(deliveries)} done, "
                  f"{stats.invocations} invocations, {time.perf_counter() - started:.0f} s", flush=True)
    for _ in threads:
        work.put(None)
    for t in threads:
        t.join(30)
    stats.seconds = time.perf_counter() - started
    return stats


def install_app_services(monkeypatch, connection_string: str, profile) -> Services:
    """What the Functions app uses from now on: ``ArchiveStorage`` pointing at ``connection_string``
    and ``profile``'s timeouts.  The app reads the environment through ``bootstrap.services()``;
    a profile other than EVENT_PROFILE is set by placing our Services there (bootstrap is not changed)."""
    monkeypatch.setenv("ArchiveStorage", connection_string)
    bootstrap.reset()
    svc = Services(env=os.environ, profile=profile)
    monkeypatch.setattr(bootstrap, "_default", svc)
    assert bootstrap.services() is svc
    return svc


@pytest.fixture
def invoke(app_functions):
    """Call archive_event as the host does: a func.EventGridEvent in, the rejected binding out."""
    fn = app_functions["archive_event"].get_user_function()

    def call(raw: dict) -> Out:
        out = Out()
        fn(event=grid_event(raw), rejected=out)
        return out

    return call


@pytest.fixture
def proxy(azurite):
    server = FaultProxy(("127.0.0.1", azurite.blob_port), seed=20260131, stall_seconds=STALL_SECONDS).start()
    yield server
    server.stop()


@pytest.fixture
def direct(archive_env):
    """The test's archive container, straight to Azurite (for checking, never through the proxy)."""
    svc = Services(settings=Settings.from_env(archive_env))
    yield svc
    svc.close()


def read_container(svc: Services, container_name: str | None = None, workers: int = 16) -> dict[str, tuple[dict, dict]]:
    """{blob name: (document, tags)} of a whole container; each blob's sha256 metadata checked."""
    container = svc.blob_service.get_container_client(container_name or svc.settings.container)
    blobs = list(container.list_blobs(include=["metadata", "tags"]))

    def one(blob) -> tuple[str, tuple[dict, dict]]:
        data = container.download_blob(blob.name).readall()
        raw = codec.decompress(data)  # lz4 frame checksum
        assert codec.sha256_hex(raw) == (blob.metadata or {}).get("sha256"), f"sha256 mismatch in {blob.name}"
        tags = blob.tags if blob.tags is not None else container.get_blob_client(blob.name).get_blob_tags()
        return blob.name, (codec.loads(raw), dict(tags))

    with ThreadPoolExecutor(workers) as pool:
        return dict(pool.map(one, blobs))


def _json_round_trip(value: Any) -> Any:
    return codec.loads(codec.dumps(value))


def compare_archives(expected: dict[str, Record], storm: dict[str, tuple[dict, dict]],
                     reference: dict[str, tuple[dict, dict]]) -> dict[str, int]:
    lost = sorted(set(expected) - set(storm))
    extra = sorted(set(storm) - set(expected))
    conflicts = [n for n in storm if ".conflict-" in n]
    differ_expected = [n for n in set(expected) & set(storm)
                       if substance(storm[n][0]) != _json_round_trip(expected[n].substance)
                       or storm[n][1] != dict(expected[n].tags)]
    differ_reference = [n for n in set(reference) & set(storm)
                        if substance(storm[n][0]) != substance(reference[n][0]) or storm[n][1] != reference[n][1]]
    invalid = [n for n, (doc, _) in storm.items() if schema_errors(doc)]
    return {"records_expected": len(expected), "records_found": len(storm), "records_lost": len(lost),
            "records_extra": len(extra), "conflict_copies": len(conflicts),
            "differ_from_expected": len(differ_expected), "differ_from_fault_free_run": len(differ_reference),
            "reference_records": len(reference), "reference_missing": len(set(expected) - set(reference)),
            "schema_invalid": len(invalid), "_lost": lost[:5], "_extra": extra[:5],
            "_differ": (differ_expected + differ_reference)[:5]}


# -- the storm -------------------------------------------------------------------------------------


@pytest.fixture
def own_azurite():
    """An Azurite of the test's own: its per-request cost grows with every blob it holds (all
    containers), so a storm must not share it with the rest of the session or with its reference."""
    from .azurite import Azurite

    server = Azurite().start()
    yield server
    server.stop()


@pytest.mark.slow
@pytest.mark.timeout(4 * 3600 if LONG else 600)
def test_storm_every_change_exactly_once_under_faults(archive_env, monkeypatch, invoke, own_azurite):
    """Every event 3 times, shuffled, 32 concurrent invocations, ~30% of storage requests faulted,
    failed invocations redelivered up to 30 times: the archive is exactly the expected records,
    identical (but for ``event`` and ``archived_at``) to a fault-free run of the same events."""
    from .azurite import Azurite

    changes, users = chat_changes(STORM_CHANGES, seed=STORM_CHANGES)
    events, change_of = storm_events(changes, seed=STORM_CHANGES, twin_every=4)
    types = Counter(e["eventType"] for e in events)
    assert set(types) == set(ARCHIVED_TYPES) - {RECORDING}, "every archived type is in the storm (recordings: test_calls)"
    expected = expected_records(events, change_of)
    assert len(expected) == len(set(change_of.values()))  # chat changes plus the channel events

    # The fault-free run: the same events once each, straight to an Azurite of its own.
    reference_azurite = Azurite().start()
    reference_svc = Services(settings=Settings.from_env(dict(archive_env, ArchiveStorage=reference_azurite.connection_string)))
    try:
        ref_stats = deliver_like_event_grid(
            lambda raw: archive_event(raw, reference_svc.store, reference_svc.settings.hash_key),
            events, copies=1, workers=CONCURRENCY, seed=1, progress="fault-free run" if LONG else None)
        assert ref_stats.lost == 0 and ref_stats.crashes == 0
        reference = read_container(reference_svc)
        if LONG:
            print(f"  fault-free run: {len(reference)} records read back", flush=True)
    finally:
        reference_svc.close()
        reference_azurite.stop()

    # The storm, through the function, its storage behind the fault proxy.
    direct = Services(settings=Settings.from_env(dict(archive_env, ArchiveStorage=own_azurite.connection_string)))
    proxy = FaultProxy(("127.0.0.1", own_azurite.blob_port), seed=STORM_CHANGES, stall_seconds=STALL_SECONDS).start()
    try:
        install_app_services(monkeypatch, proxy.connection_string(), STORM_PROFILE)
        proxy.mix(FAULT_SHARE, FAULT_WEIGHTS)
        with watching(forbidden_strings(users)) as logs:
            stats = deliver_like_event_grid(invoke, events, copies=3, workers=CONCURRENCY, seed=STORM_CHANGES,
                                            keep_exception_texts=True, progress="storm" if LONG else None)
        faults = proxy.snapshot()
    finally:
        proxy.stop()
    try:
        found = read_container(direct)
    finally:
        direct.close()
    result = compare_archives(expected, found, reference)
    leaked_in_exceptions = [t for t in stats.exception_texts if logs.pattern.search(t)]

    figures = {
        "changes": len(changes), "events": len(events), "event_types": len(types),
        "events_per_type_min": min(types.values()), "copies": 3, "deliveries": stats.deliveries,
        "concurrency": CONCURRENCY, "invocations": stats.invocations,
        "failed_invocations_redelivered": stats.failed, "max_attempts_of_one_delivery": stats.max_attempts,
        "deliveries_lost": stats.lost, "crashes": stats.crashes, "rejected": stats.rejected,
        "errors_by_type": dict(stats.errors.most_common()),
        "storage_requests": faults["requests"], "faults": sum(faults[k] for k in KINDS),
        "fault_share": round(sum(faults[k] for k in KINDS) / max(1, faults["requests"]), 3),
        "faults_by_kind": {k: faults[k] for k in KINDS},
        "outcomes_logged": dict(logs.outcomes), "log_lines_checked": logs.lines, "log_leaks": len(logs.leaks),
        **{k: v for k, v in result.items() if not k.startswith("_")},
        "fault_free_run_seconds": round(ref_stats.seconds, 1), "storm_seconds": round(stats.seconds, 1),
        "profile": {k: STORM_PROFILE[k] for k in ("retry_total", "read_timeout", "connection_timeout")},
        "stall_seconds": STALL_SECONDS,
    }
    report("storm-long" if LONG else "storm", figures)

    assert stats.crashes == 0, stats.crash_samples
    assert stats.lost == 0 and stats.rejected == 0
    assert result["records_lost"] == 0, result["_lost"]
    assert result["records_extra"] == 0 and result["conflict_copies"] == 0, result["_extra"]
    assert result["differ_from_expected"] == 0 and result["differ_from_fault_free_run"] == 0, result["_differ"]
    assert result["reference_missing"] == 0 and result["schema_invalid"] == 0
    assert logs.leaks == [] and leaked_in_exceptions == [], (logs.leaks[:3], leaked_in_exceptions[:3])
    # Every delivery ended in one logged outcome; exactly one per change wrote the record.
    assert sum(logs.outcomes.values()) == stats.deliveries
    assert logs.outcomes["archived"] <= len(expected) and logs.outcomes["conflict"] == 0
    # The run was a storm: the proxy faulted about FAULT_SHARE of requests, of every kind, and
    # some invocations failed and were redelivered.
    assert abs(figures["fault_share"] - FAULT_SHARE) < 0.05, figures["fault_share"]
    assert all(faults[k] > 0 for k in KINDS) and stats.failed > 0


# -- concurrency ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(FORMS), ids=lambda k: "-".join(k))
def test_64_concurrent_invocations_of_one_change(kind, archive_env, invoke, direct):
    """64 simultaneous invocations carrying the same change (every form of it, its own event id and
    time notation each) against a container that does not exist yet: one record, no error."""
    changes, _ = chat_changes(200, seed=64)
    change = next(c for c in changes if (c.kind, c.action) == kind)
    rng = random.Random(7)
    users = make_users(40)
    copies = [render(change, change.forms[i % len(change.forms)], rng, rng.choice(users)) for i in range(64)]
    expected = prepare(copies[0], HASH_KEY.encode())
    barrier = threading.Barrier(64)
    errors: list[BaseException] = []
    rejected: list[str] = []

    def one(raw):
        barrier.wait()
        try:
            out = invoke(raw)
            if out.value is not None:
                rejected.append(out.value)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    with watching([]) as logs:
        started = time.perf_counter()
        with ThreadPoolExecutor(64) as pool:
            list(pool.map(one, copies))
        seconds = time.perf_counter() - started
    found = read_container(direct)
    report(f"concurrency-{'-'.join(kind)}", {"invocations": 64, "forms": len(change.forms), "errors": len(errors),
                                              "records": len(found), "outcomes_logged": dict(logs.outcomes),
                                              "seconds": round(seconds, 2)})
    assert errors == [] and rejected == []
    assert list(found) == [expected.key]
    doc, tags = found[expected.key]
    assert substance(doc) == _json_round_trip(expected.substance) and tags == dict(expected.tags)
    assert logs.outcomes == Counter(archived=1, duplicate=63)


# -- one fault at a time, through the function -----------------------------------------------------


def _one_event(i: int = 0) -> dict:
    changes, _ = chat_changes(30, seed=5)
    change = next(c for c in changes if c.kind == "message")
    return render(change, change.forms[i % 2], random.Random(i), make_users(3)[1])


@pytest.fixture
def faulty_app(archive_env, monkeypatch, proxy):
    """The function's storage behind the proxy (STORM_PROFILE); the container exists already."""
    svc = install_app_services(monkeypatch, proxy.connection_string(), STORM_PROFILE)
    svc.store.ensure_container()
    return svc


# A record's Put Blob (/<account>/<container>/chat/…).
RECORD_PUT = r"^/[^/?]+/[^/?]+/chat/"

FAULT_CASES = {
    # name: (rule, what the delivery ends as)
    "reset before forwarding the PUT": (dict(kind="reset_before", method="PUT", path=RECORD_PUT, times=1), "archived"),
    "reset after forwarding the PUT (written, unheard)": (dict(kind="reset_after", method="PUT", path=RECORD_PUT, times=1), "duplicate"),
    "stall past the read timeout after the PUT": (dict(kind="stall", method="PUT", path=RECORD_PUT, times=1), "duplicate"),
    "truncated answer to the PUT": (dict(kind="truncate", method="PUT", path=RECORD_PUT, times=1), "duplicate"),
}


@pytest.mark.parametrize("case", sorted(FAULT_CASES))
def test_one_fault_on_the_write(case, faulty_app, invoke, proxy, direct):
    rule, outcome = FAULT_CASES[case]
    raw = _one_event()
    proxy.add(**rule)
    with watching([]) as logs:
        assert invoke(raw).value is None
    assert proxy.counts[rule["kind"]] == 1
    found = read_container(direct)
    assert len(found) == 1 and not any(".conflict-" in n for n in found)
    (doc, _), = found.values()
    assert doc["event"]["id"] == raw["id"]
    assert logs.outcomes == Counter({outcome: 1})


def test_truncated_download_while_checking_a_duplicate(faulty_app, invoke, proxy, direct):
    raw = _one_event()
    invoke(raw)
    proxy.add("truncate", method="GET", times=1)
    with watching([]) as logs:
        assert invoke(raw).value is None  # the redelivery: 409, then the read is cut short and retried
    assert proxy.counts["truncate"] == 1
    assert logs.outcomes == Counter(duplicate=1)
    assert len(read_container(direct)) == 1


def test_write_happened_but_every_attempt_unheard_then_redelivered(faulty_app, invoke, proxy, direct):
    """The worst case for a duplicate check: the write is done, all 3 attempts of the invocation
    lose their answer, the function fails, Event Grid redelivers: a duplicate, never a conflict."""
    raw = _one_event()
    proxy.add("reset_after", method="PUT", path=RECORD_PUT, times=3)
    with pytest.raises(Exception) as info:
        invoke(raw)
    assert type(info.value).__module__.startswith("azure.core")
    assert len(read_container(direct)) == 1  # written although the invocation failed
    with watching([]) as logs:
        assert invoke(raw).value is None
    assert logs.outcomes == Counter(duplicate=1)
    found = read_container(direct)
    assert len(found) == 1 and next(iter(found.values()))[0]["event"]["id"] == raw["id"]


def test_container_created_but_the_answer_lost(archive_env, monkeypatch, invoke, proxy, direct):
    install_app_services(monkeypatch, proxy.connection_string(), STORM_PROFILE)  # no container yet
    proxy.add("reset_after", method="PUT", path=r"restype=container", times=1)
    with watching([]) as logs:
        assert invoke(_one_event()).value is None
    assert proxy.counts["reset_after"] == 1
    assert logs.outcomes == Counter(archived=1) and len(read_container(direct)) == 1


def test_conflict_copy_written_once_under_faults(faulty_app, invoke, proxy, direct):
    raw = _one_event()
    invoke(raw)
    tampered = json.loads(json.dumps(raw))
    tampered["id"] = str(uuid.uuid4())
    tampered["data"]["messageBody"] = "tampered " + BODY_MARK
    proxy.add("reset_after", method="PUT", path=r"\.conflict-", times=1)
    with watching([]) as logs:
        for _ in range(3):
            assert invoke(tampered).value is None
    found = read_container(direct)
    assert len(found) == 2 and sum(".conflict-" in n for n in found) == 1
    assert logs.outcomes == Counter(conflict=3)


def test_storage_unreachable_raises_and_writes_nothing(faulty_app, invoke, proxy, direct):
    proxy.add("reset_before")  # every request
    started = time.perf_counter()
    with pytest.raises(Exception) as info:
        invoke(_one_event())
    assert type(info.value).__module__.startswith("azure.core")
    assert time.perf_counter() - started < 30
    assert read_container(direct) == {}


def test_stall_with_the_production_profile(archive_env, monkeypatch, invoke, azurite, direct):
    """EVENT_PROFILE as deployed (read timeout 5 s): one stalled write costs a timeout and a retry
    and still ends well inside Event Grid's 30 s, as a duplicate (the stalled write happened)."""
    direct.store.ensure_container()
    with FaultProxy(("127.0.0.1", azurite.blob_port), stall_seconds=7) as slow:
        monkeypatch.setenv("ArchiveStorage", slow.connection_string())
        bootstrap.reset()  # the app's own services, from the environment, with EVENT_PROFILE
        slow.add("stall", method="PUT", path=RECORD_PUT, times=1)
        started = time.perf_counter()
        with watching([]) as logs:
            assert invoke(_one_event()).value is None
        elapsed = time.perf_counter() - started
        stalls = slow.counts["stall"]
    report("stall-production-profile", {"stalls": stalls, "seconds": round(elapsed, 1),
                                        "outcomes_logged": dict(logs.outcomes)})
    assert stalls == 1
    assert 5 <= elapsed < 30
    assert logs.outcomes == Counter(duplicate=1) and len(read_container(direct)) == 1


# -- log hygiene -------------------------------------------------------------------------------------


def _hostile(base: dict, users: list[User]) -> list[dict]:
    """Malformed events that carry message content and user ids where the parser complains."""
    victim = users[0]
    cases = []

    def variant(**changes):
        raw = json.loads(json.dumps(base))
        raw["id"] = str(uuid.uuid4())
        raw["data"].update(changes)
        cases.append(raw)

    variant(version=f"{BODY_MARK} {victim.raw_id}")
    variant(version=1.5)
    variant(messageBody={"text": BODY_MARK})
    variant(senderCommunicationIdentifier=victim.raw_id)
    variant(senderDisplayName={"name": victim.name})
    variant(threadId=f"19:{victim.raw_id}/x@thread.v2")
    variant(messageId=f"../{BODY_MARK}")
    variant(composeTime=f"{BODY_MARK} {victim.raw_id}")
    variant(metadata=[BODY_MARK, victim.raw_id])
    variant(metadata={"score": float("nan"), "note": BODY_MARK})
    variant(type={"t": BODY_MARK})
    variant(messageBody="x" * (1024 * 1024) + BODY_MARK)
    typing = json.loads(json.dumps(base))
    typing.update(id=str(uuid.uuid4()), eventType=P + "ChatTypingIndicatorReceivedInThread")
    cases.append(typing)
    return cases


def test_no_log_line_carries_content_or_user_ids(archive_env, monkeypatch, invoke, proxy, direct):
    """Every outcome (archived, duplicate, conflict, rejected, skipped), storage faults and the
    SDK's own INFO logging: no line at INFO or above holds message content, a display name or a
    raw user id; nor does any exception the function raises (the host logs those)."""
    changes, users = chat_changes(50, seed=11)
    events, change_of = storm_events(changes, seed=11, twin_every=1)
    assert {e["eventType"] for e in events} == set(ARCHIVED_TYPES) - {RECORDING}
    hostile = _hostile(next(e for e in events if e["eventType"] == P + "ChatMessageReceivedInThread"), users)
    tampered = json.loads(json.dumps(next(e for e in events if "messageBody" in e["data"])))
    tampered["id"], tampered["data"]["messageBody"] = str(uuid.uuid4()), "tampered " + BODY_MARK
    install_app_services(monkeypatch, proxy.connection_string(), STORM_PROFILE)
    proxy.mix(FAULT_SHARE, FAULT_WEIGHTS)
    with watching(forbidden_strings(users), root_level=logging.DEBUG) as logs:
        stats = deliver_like_event_grid(invoke, events, copies=2, workers=16, seed=3, keep_exception_texts=True)
        late = deliver_like_event_grid(invoke, [tampered, *hostile], copies=2, workers=4, seed=4,
                                       keep_exception_texts=True)
    proxy.clear()
    texts = stats.exception_texts + late.exception_texts
    leaked = [t for t in texts if logs.pattern.search(t)]
    report("log-hygiene", {"events": len(events) + len(hostile) + 1, "log_lines_checked": logs.lines,
                           "lines_by_level": dict(logs.levels), "lines_by_logger": dict(logs.loggers.most_common(8)),
                           "outcomes_logged": dict(logs.outcomes), "exceptions_checked": len(texts),
                           "faults": proxy.faults, "leaks": len(logs.leaks) + len(leaked)})
    assert logs.leaks == [], logs.leaks[:5]
    assert leaked == [], leaked[:5]
    assert {"archived", "duplicate", "conflict", "rejected", "skipped"} <= set(logs.outcomes)
    assert logs.loggers["azure.core"] > 0 and texts, "the SDK's INFO lines and the exceptions were checked"
    assert stats.lost == late.lost == 0 and late.rejected == len(hostile) * 2 - 2  # the typing event is skipped


# -- the sweep under throttling ----------------------------------------------------------------------


def test_sweep_under_throttling_every_transcript_complete(acs, archive_env, monkeypatch, proxy, direct):
    """The sweep and the transcripts of 16 quiet threads (up to ~620 messages, 1 to 4 pages each)
    while ACS answers 429 to every second page of messages and of the thread list, 503 with
    Retry-After now and then, some pages slowly, one thread's pages fail for longer than the
    client retries (its queue message is delivered again, up to host.json's maxDequeueCount 5),
    and 20% of storage requests fail: every thread is selected, every transcript is complete."""
    from archiving.threads.sweep import select_threads
    from archiving.threads.transcripts import CSV_HEADER, archive_thread
    from archiving.store.verify_blob import check_blob

    archiver = acs.create_user()
    alice, bob = acs.create_user(), acs.create_user()
    old = datetime.now(UTC) - timedelta(days=3)
    threads = []
    for i in range(16):
        tid = acs.create_thread(f"Quiet {i}", created_by=alice, participants=[alice, bob, archiver],
                                created_on=old - timedelta(hours=3))
        ids = acs.add_messages(tid, alice if i % 2 else bob, 15 + 40 * i, start=old - timedelta(hours=2),
                               step=timedelta(seconds=2), content_fn=lambda k: f"{BODY_MARK} message {k}, \"quoted\"\n")
        if i % 3 == 0:
            acs.edit_message(tid, ids[1], "edited " + BODY_MARK, edited_on=old - timedelta(minutes=30))
            acs.delete_message(tid, ids[2], deleted_on=old - timedelta(minutes=29))
        threads.append(tid)
    stubborn = threads[7]

    env = dict(archive_env, ArchiveStorage=proxy.connection_string(), ACS_CONNECTION_STRING=acs.connection_string,
               ARCHIVER_USER_ID=archiver)
    # ACS client retries as deployed (archiving.threads.acs.CLIENT_OPTIONS), their backoff factor cut from 1 s
    # to 0.01 s; storage with STORM_PROFILE.
    svc = Services(settings=Settings.from_env(env), profile=STORM_PROFILE,
                   acs_options={**acs.client_kwargs(), "retry_backoff_factor": 0.01})
    svc.store.ensure_container()
    rules = {
        "429 every 2nd page of messages": acs.faults.add(status=429, path=r"/messages$", every=2, retry_after=0),
        "429 on the first page of threads": acs.faults.add(status=429, path=r"^/chat/threads$", times=1, retry_after=0),
        "503 Retry-After 1 s (3 times)": acs.faults.add(status=503, path=r"/messages$", every=7, times=3, retry_after=1),
        "slow pages (0.2 s, every 5th)": acs.faults.add(status=None, path=r"/messages$", every=5, delay=0.2),
        # A call makes 9 attempts on 429/503 (retry_status=8 in CLIENT_OPTIONS): 10 failures in a row
        # fail one delivery, and the queue's redelivery must finish the thread.
        "one thread failing 10 times": acs.faults.add(status=503, path=re.escape(stubborn) + "/messages$",
                                                       times=10, retry_after=0),
    }
    proxy.mix(0.20, {"reset_before": 1, "reset_after": 1, "truncate": 1})
    requests_before = len(acs.request_log)
    started = time.perf_counter()
    try:
        selected, sweep_stats = select_threads(svc)
        attempts: Counter = Counter()
        failures: Counter = Counter()

        def archive(item):
            for attempt in range(1, 6):  # host.json maxDequeueCount: 5, then the poison queue
                attempts[item.thread_id] += 1
                try:
                    return archive_thread(item.thread_id, svc, item.last_message_at)
                except Exception as exc:  # noqa: BLE001 - the queue delivers the message again
                    failures[type(exc).__name__] += 1
                    if attempt == 5:
                        raise

        with ThreadPoolExecutor(4) as pool:  # host.json batchSize 4
            results = list(pool.map(archive, selected))
    finally:
        acs.faults.clear()
        faults = proxy.snapshot()
        proxy.clear()
        svc.close()
    seconds = time.perf_counter() - started

    assert sorted(t.thread_id for t in selected) == sorted(threads), "every quiet thread is selected"
    complete = 0
    for tid, result in zip([t.thread_id for t in selected], results):
        assert result.status == "archived", result
        service = acs.messages(tid)
        json_name, csv_name = (n for n in sorted(result.keys, key=lambda n: not n.endswith(".json.lz4")))
        for name in (json_name, csv_name):
            assert check_blob(direct.store, name) is None, name
        doc = codec.loads(codec.decompress(direct.store.container.download_blob(json_name).readall()))
        assert schema_errors(doc) == []
        assert doc["message_count"] == len(doc["messages"]) == len(service)
        assert [m["message_id"] for m in doc["messages"]] == [m["id"] for m in service]
        said = {m["id"]: (m.get("content") or {}).get("message") or None for m in service if m["type"] == "text"}
        kept = {m["message_id"]: m["content"] or None for m in doc["messages"] if m["message_type"] == "text"}
        assert kept == said, "every text message, as the service has it now (edits applied, deletions empty)"
        text = codec.decompress(direct.store.container.download_blob(csv_name).readall()).decode("utf-8")
        rows = list(csv.reader(io.StringIO(text)))
        assert tuple(rows[0]) == tuple(CSV_HEADER) and len(rows) - 1 == len(service)
        complete += 1
    fired = {name: rule.fired for name, rule in rules.items()}
    messages = sum(len(acs.messages(t)) for t in threads)
    report("sweep-throttled", {
        "threads": len(threads), "messages": messages, "selected": len(selected), "transcripts_complete": complete,
        "acs_faults": fired, "acs_requests": len(acs.request_log) - requests_before,
        "archive_attempts": sum(attempts.values()), "redeliveries": sum(attempts.values()) - len(selected),
        "failures_by_type": dict(failures), "storage_requests": faults["requests"],
        "storage_faults": {k: faults[k] for k in KINDS}, "transcripts_lost": len(threads) - complete,
        "sweep": {"listed": sweep_stats.listed, "selected": sweep_stats.selected}, "seconds": round(seconds, 1),
    })
    assert complete == len(threads)
    assert all(fired.values()) and fired["one thread failing 10 times"] == 10
    assert attempts[stubborn] >= 2


def test_two_runs_for_one_thread_at_once_commit_a_consistent_transcript(acs, archive_env, direct):
    """A queue message delivered twice, both runs at once: the transcript reads back with its own
    sha256 (staged blocks of the two runs never mix; this failed before transcripts.py gave each
    run its own block ids)."""
    from archiving.threads.transcripts import archive_thread
    from archiving.store.verify_blob import check_blob

    archiver, alice = acs.create_user(), acs.create_user()
    old = datetime.now(UTC) - timedelta(days=2)
    env = dict(archive_env, ACS_CONNECTION_STRING=acs.connection_string, ARCHIVER_USER_ID=archiver)
    svc = Services(settings=Settings.from_env(env), acs_options=acs.client_kwargs())
    direct.store.ensure_container()
    problems = []
    try:
        for i in range(12):
            tid = acs.create_thread(f"twice {i}", created_by=alice, participants=[alice, archiver], created_on=old)
            acs.add_messages(tid, alice, 300, start=old, step=timedelta(seconds=1))
            with ThreadPoolExecutor(2) as pool:
                results = list(pool.map(lambda _: archive_thread(tid, svc, None), range(2)))
            problems += [(name, check_blob(direct.store, name)) for name in results[0].keys]
    finally:
        svc.close()
    assert [p for p in problems if p[1]] == []
