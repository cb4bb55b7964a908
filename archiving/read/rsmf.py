"""RSMF 2.0 export: archived conversations as Relativity Short Message Format files for review platforms.

``python -m archiving export --format rsmf --from D --to D --out DIR`` writes one ``.rsmf`` file per
conversation per UTC day into DIR, split so that no file holds more than 10,000 events (Relativity's
recommendation); the slices of one conversation share ``eventcollectionid`` (the conversation id).
An export manifest, ``rsmf-export.manifest.json``, is written last.  The mapping is documented in
docs/rsmf.md; the file layout is written by ``rsmf_eml``.

How a conversation is read (chat: one thread):

1. every blob of the thread (all months: records and JSON transcripts) is read once through
   ``read_verified``; damaged blobs go to the caller's ``Findings`` and are left out;
2. message versions are spilled to one local temporary file per UTC day of their compose time (only
   days in the range), thread changes are kept in memory (they are few);
3. day by day, the versions of that day's messages are merged by the reader's ``MessageView`` (records
   win over a transcript's copy of the same version), thread changes and the transcripts' system
   messages are matched as the reader does, and the day's events are written.

Memory holds one day of one conversation (and a transcript document while it is read), whatever the
length of the conversation; local disk holds the spilled versions.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson

from archiving import SCHEMA_VERSION
from archiving.read import reader
from archiving.read.reader import MessageVersion, MessageView, ThreadView
from archiving.read.rsmf_eml import WrittenFile, ZipFileEntry, rfc5322_date, write_rsmf
from archiving.read.scan import WORKERS, find_names, in_range, tag_filter
from archiving.read.verified import Findings, read_verified
from archiving.store import keys
from archiving.timefmt import UTC, iso, utcnow

log = logging.getLogger("archiving.read.rsmf")

RSMF_VERSION = "2.0.0"
MAX_EVENTS = 10_000  # per file: Relativity's recommendation
GENERATOR = "acs-archiver (python -m archiving export --format rsmf)"
FROM_HEADER = "ACS archive <acs-archiver@archive.invalid>"  # .invalid: a name that is never delivered to
MANIFEST = "rsmf-export.manifest.json"
EVENT_KINDS = ("message", "join", "leave", "history")


@dataclass(frozen=True)
class Channel:
    """How one archived channel appears in RSMF: a new channel is one entry here plus its reading."""

    name: str  # the archive's channel (blob name root)
    platform: str  # conversations[].platform
    conversation_type: str  # "channel": people come and go; "direct": fixed parties (SMS, WhatsApp)
    application: str  # X-RSMF-Application


CHANNELS = {
    "chat": Channel("chat", "acs-chat", "channel", "Azure Communication Services Chat"),
    "sms": Channel("sms", "acs-sms", "direct", "Azure Communication Services SMS"),
    "whatsapp": Channel("whatsapp", "acs-whatsapp", "direct", "Azure Communication Services Advanced Messaging (WhatsApp)"),
}


# -- text ------------------------------------------------------------------------------------------


class _Text(HTMLParser):
    BREAKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self.BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(html_text_: str) -> str:
    """An html message as readable text: sanitized as ``show`` does (scripts and their text gone), tags dropped."""
    from archiving.read.html import sanitize

    parser = _Text()
    parser.feed(sanitize(html_text_))
    parser.close()
    text = re.sub(r"[ \t]*\n[ \t\n]*", "\n", "".join(parts for parts in parser.parts))
    return text.strip()


def readable(v: MessageVersion) -> str | None:
    if v.content is None:
        return None
    return html_text(v.content) if v.message_type == "html" else v.content


def _custom(name: str, value: Any) -> dict[str, str] | None:
    """A custom name/value pair; RSMF forbids empty values, so those are left out."""
    if value is None:
        return None
    text = value if isinstance(value, str) else orjson.dumps(value).decode("utf-8")
    return {"name": name, "value": text} if text else None


def _customs(*pairs: tuple[str, Any]) -> list[dict[str, str]]:
    return [c for c in (_custom(n, v) for n, v in pairs) if c is not None]


# -- participants ----------------------------------------------------------------------------------


UNKNOWN = {"raw_id": "(unknown)", "kind": "unknown", "display_name": "(unknown sender)"}


@dataclass
class People:
    """Everyone seen in a conversation, with stable RSMF participant ids (from the HMAC user hash)."""

    hash_key: bytes | None
    known: dict[str, dict[str, Any]] = field(default_factory=dict)  # raw_id -> identity

    def see(self, who: Mapping[str, Any] | None) -> None:
        if not who or not who.get("raw_id"):
            return
        mine = self.known.setdefault(who["raw_id"], {"raw_id": who["raw_id"], "kind": who.get("kind") or "unknown",
                                                     "display_name": None})
        if who.get("display_name"):
            mine["display_name"] = who["display_name"]

    def user_hash(self, raw_id: str) -> str | None:
        if self.hash_key is None or raw_id == UNKNOWN["raw_id"]:
            return None
        from archiving.store.records import user_hash

        return user_hash(self.hash_key, raw_id)

    def pid(self, who: Mapping[str, Any] | None) -> str:
        raw = (who or {}).get("raw_id") or UNKNOWN["raw_id"]
        digest = self.user_hash(raw) or hashlib.sha256(raw.encode("utf-8")).hexdigest()
        return "P-" + digest[:16]

    def entry(self, who: Mapping[str, Any] | None) -> dict[str, Any]:
        raw = (who or {}).get("raw_id") or UNKNOWN["raw_id"]
        ident = self.known.get(raw) or dict(who or UNKNOWN)
        out: dict[str, Any] = {"id": self.pid(ident)}
        display = ident.get("display_name") or raw
        out["display"] = display
        if raw != UNKNOWN["raw_id"]:
            out["account_id"] = raw
        custom = _customs(("identity_kind", ident.get("kind")), ("user_hash", self.user_hash(raw)))
        if custom:
            out["custom"] = custom
        return out

    def name(self, who: Mapping[str, Any] | None) -> str:
        raw = (who or {}).get("raw_id")
        ident = self.known.get(raw or "") or who or UNKNOWN
        return ident.get("display_name") or raw or UNKNOWN["display_name"]


# -- reading one chat conversation -------------------------------------------------------------------


def chat_names(store: Any, thread_id: str) -> Iterator[str]:
    """The thread's blobs the export reads (records, JSON transcripts), every month, streamed."""
    for yyyymm in store.months():
        for name in store.list_names(keys.thread_prefix(yyyymm, thread_id)):
            if reader._wanted(name):
                yield name


def _spill_line(v: MessageVersion, sha256: str, extra: Mapping[str, Any]) -> bytes:
    return orjson.dumps({"v": asdict(v), "sha256": sha256, **extra}) + b"\n"


@dataclass
class Collected:
    """One conversation after the reading pass: thread changes in memory, message versions spilled by day."""

    thread_id: str
    people: People
    thread_events: list[dict[str, Any]] = field(default_factory=list)
    days: dict[str, Path] = field(default_factory=dict)
    topic: str | None = None  # from the newest transcript, when there is one
    custodian: str | None = None  # the ACS resource name, from the records' event topic
    blobs: int = 0


class _Spill:
    """Append-only day files; at most ``OPEN`` handles open at once."""

    OPEN = 64

    def __init__(self, root: Path):
        self.root = root
        self.paths: dict[str, Path] = {}
        self.handles: dict[str, Any] = {}

    def write(self, day: str, line: bytes) -> None:
        handle = self.handles.get(day)
        if handle is None:
            if len(self.handles) >= self.OPEN:
                self.close()
            path = self.paths.setdefault(day, self.root / f"{day}.jsonl")
            handle = self.handles[day] = open(path, "ab")  # noqa: SIM115 - closed by close()
        handle.write(line)

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()
        self.handles.clear()


def collect_chat(store: Any, thread_id: str, start: str, end: str, findings: Findings, spill_dir: Path,
                 people: People, progress: Any = None, workers: int = WORKERS) -> Collected:
    out = Collected(thread_id, people)
    spill = _Spill(spill_dir)
    transcripts: list[tuple[int, str, str, list[Mapping[str, Any]], Mapping[str, Any]]] = []
    try:
        for blob in read_verified(store, chat_names(store, thread_id), findings, workers):
            if progress is not None:
                progress.update(1)
            out.blobs += 1
            try:
                _take(blob, start, end, out, spill, transcripts, people)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a sound blob of an unexpected shape
                findings.add(blob.name, f"invalid: not a document the export can map ({type(exc).__name__})")
    finally:
        spill.close()
    out.days = dict(spill.paths)
    return _finish(out, transcripts, people)


def _take(blob: Any, start: str, end: str, out: Collected, spill: _Spill, transcripts: list, people: People) -> None:
    """One verified blob into the collection: thread changes kept, message versions spilled by day."""
    info = keys.parse_key(blob.name)
    doc = blob.document
    conflict = ".conflict-" in blob.name
    if info.area == "transcripts":
        system = []
        for m in doc.get("messages") or []:
            if m.get("message_type") in reader.SYSTEM_TYPES:
                system.append(m)
                continue
            people.see(m.get("sender"))
            v = reader._from_transcript(m, blob.name)
            if in_range(v.composed_at, start, end):
                extra = {"metadata": m.get("metadata") or None, "attachments": m.get("attachments") or None}
                spill.write(v.composed_at[:10], _spill_line(v, blob.sha256, extra))
        # Kept for later: the system messages and the header, not the messages.
        head = {k: doc.get(k) for k in ("topic", "created_at", "created_by", "participants")}
        transcripts.append((reader._last_ms(blob.name), blob.name, blob.sha256, system, head))
    elif info.area == "messages":
        people.see(doc.get("sender"))
        out.custodian = out.custodian or _resource(doc)
        v = reader._from_record(doc, blob.name, conflict)
        if in_range(v.composed_at, start, end):
            spill.write(v.composed_at[:10], _spill_line(v, blob.sha256, {"metadata": doc.get("metadata") or None}))
    elif not conflict:
        out.custodian = out.custodian or _resource(doc)
        people.see(doc.get("actor"))
        for p in doc.get("participants") or []:
            people.see(p)
        out.thread_events.append({**doc, "source": blob.name, "sha256": blob.sha256})


def _finish(out: Collected, transcripts: list, people: People) -> Collected:
    # The transcripts' system messages and creation, unless thread records tell them already (as the reader).
    transcripts.sort(key=lambda t: t[0])
    available = Counter(sig for doc in out.thread_events for sig in reader.record_signatures(doc))
    has_created = any(doc.get("action") == "created" for doc in out.thread_events)
    seen: set[str] = set()
    synthesized = []
    for _, name, sha, system, head in transcripts:
        for p in head.get("participants") or []:
            people.see(p)
        people.see(head.get("created_by"))
        if not has_created and head.get("created_at"):
            has_created = True
            synthesized.append({"action": "created", "occurred_at": head["created_at"], "actor": head.get("created_by"),
                                "properties": None, "participants": [], "source": name, "sha256": sha})
        for m in system:
            if m["message_id"] in seen:
                continue
            seen.add(m["message_id"])
            people.see(m.get("initiator"))
            for p in m.get("participants") or []:
                people.see(p)
            event = reader._system_event(m, available, name)
            if event is not None:
                synthesized.append({**event, "sha256": sha})
    out.thread_events.extend(synthesized)
    out.thread_events.sort(key=lambda d: (d.get("occurred_at") or "", d.get("action") != "created", d.get("action") or ""))
    if transcripts:
        out.topic = transcripts[-1][4].get("topic")
    return out


def _resource(doc: Mapping[str, Any]) -> str | None:
    topic = (doc.get("event") or {}).get("topic") or ""
    return topic.rstrip("/").rsplit("/", 1)[-1] or None


def day_messages(path: Path) -> tuple[list[MessageView], dict[str, dict[str, Any]]]:
    """The messages of one spilled day, merged; extras (sha256, metadata, attachments) by source blob."""
    versions: dict[str, dict[int, MessageVersion]] = {}
    conflicts: dict[str, list[MessageVersion]] = {}
    extras: dict[str, dict[str, Any]] = {}
    with open(path, "rb") as f:
        for line in f:
            d = orjson.loads(line)
            v = MessageVersion(**d.pop("v"))
            extras[v.source] = d
            if v.conflict:
                conflicts.setdefault(v.message_id, []).append(v)
                continue
            mine = versions.setdefault(v.message_id, {})
            held = mine.get(v.version)
            # A record is the archived original of its version: it wins over a transcript's copy.
            if held is None or ("/transcripts/" in held.source and "/transcripts/" not in v.source):
                mine[v.version] = v
    views = []
    for mid in versions.keys() | conflicts.keys():
        mine = tuple(v for _, v in sorted(versions.get(mid, {}).items()))
        extra = tuple(sorted(conflicts.get(mid, ()), key=lambda v: (v.version, v.source)))
        views.append(MessageView(mid, mine or extra[:1], extra if mine else extra[1:]))
    views.sort(key=lambda m: (m.composed_at or "", reader._numeric(m.message_id)))
    return views, extras


# -- mapping ---------------------------------------------------------------------------------------


def message_event(conversation: str, m: MessageView, extras: Mapping[str, Mapping[str, Any]],
                  people: People, channel: Channel) -> dict[str, Any]:
    sender = m.sender
    pid = people.pid(sender)
    texts = [(v, readable(v)) for v in m.versions]
    last_text = next((t for _, t in reversed(texts) if t is not None), None)
    event: dict[str, Any] = {"id": m.message_id, "type": "message", "conversation": conversation, "participant": pid,
                             "timestamp": m.composed_at or m.latest.edited_at or m.latest.deleted_at,
                             "body": last_text or ""}
    edits, previous = [], None
    for v, text in texts:
        if v.action == "edited" and text is not None:
            edit = {"participant": pid, "new": text}
            if v.edited_at:
                edit["timestamp"] = v.edited_at
            if previous is not None:
                edit["previous"] = previous
            edits.append(edit)
        if text is not None:
            previous = text
    if edits:
        event["edits"] = edits
    if m.deleted_at:
        event["deleted"] = True
    body_version = next((v for v, t in reversed(texts) if t is not None), m.latest)
    html_original = body_version.content if body_version.message_type == "html" else None
    latest_extra = extras.get(m.latest.source, {})
    attachments = next((extras.get(v.source, {}).get("attachments") for v in reversed(m.versions)
                        if extras.get(v.source, {}).get("attachments")), None)
    custom = _customs(
        ("source_blob", m.latest.source),
        ("source_sha256", latest_extra.get("sha256")),
        ("body_source_blob", body_version.source if body_version is not m.latest else None),
        ("message_type", m.message_type),
        ("edited_at", m.edited_at),
        ("deleted_at", m.deleted_at),
        ("html_original", html_original),
        ("metadata", latest_extra.get("metadata")),
        ("acs_attachments", attachments),
    )
    if len(m.versions) > 1 or m.conflicts:
        for v in m.history():
            label = f"version {v.version} {v.action}" + (" (conflicting copy)" if v.conflict else "")
            custom.append({"name": label, "value": f"{v.source} sha256:{extras.get(v.source, {}).get('sha256')}"})
    event["custom"] = custom
    return event


def thread_events(conversation: str, doc: Mapping[str, Any], view: ThreadView, people: People) -> list[dict[str, Any]]:
    """A thread change as RSMF events: participant added -> join, removed -> leave, the rest -> history."""
    action = doc.get("action")
    line = reader.thread_line(view, doc)
    custom = _customs(("source_blob", doc.get("source")), ("source_sha256", doc.get("sha256")), ("action", action),
                      ("topic", (doc.get("properties") or {}).get("topic")))
    base = {"conversation": conversation, "timestamp": doc.get("occurred_at"), "body": line}
    if action in ("participant-added", "participant-removed"):
        kind = "join" if action == "participant-added" else "leave"
        by = _customs(("by", people.name(doc.get("actor")) if doc.get("actor") else None),
                      ("by_account_id", (doc.get("actor") or {}).get("raw_id")))
        return [{"type": kind, "participant": people.pid(p), **base, "custom": custom + by}
                for p in doc.get("participants") or []]
    event = {"type": "history", **base, "custom": custom}
    if doc.get("actor"):
        event["participant"] = people.pid(doc["actor"])
    return [event]


@dataclass
class _State:
    """Members and topic of a conversation, moved forward through its thread changes in time order."""

    events: list[dict[str, Any]]
    members: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    topic: str | None = None
    applied: int = 0

    def advance(self, before: str) -> None:
        view = ThreadView(thread_id="", participants=self.members)
        while self.applied < len(self.events):
            doc = self.events[self.applied]
            at = doc.get("occurred_at") or ""
            # Those created with the thread are in it at its first event, the creation.
            if not (at < before or (at == before and doc.get("action") == "created")):
                break
            reader._apply_thread_event(view, doc)
            topic = (doc.get("properties") or {}).get("topic")
            if doc.get("action") in ("created", "updated") and topic is not None:
                self.topic = topic
            self.applied += 1


# -- the export ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RsmfRequest:
    start: str  # archive time text, inclusive
    end: str  # exclusive
    out: Path  # a directory
    thread_id: str | None = None
    max_events: int = MAX_EVENTS  # per file


@dataclass
class RsmfResult:
    out: Path
    manifest_path: Path
    files: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    conversations: int = 0
    findings: Findings = field(default_factory=Findings)

    @property
    def events(self) -> int:
        return sum(self.counts[k] for k in EVENT_KINDS)


def _months(start: str, end: str) -> list[str]:
    first = datetime.fromisoformat(start.replace("Z", "+00:00")).astimezone(UTC)
    last = datetime.fromisoformat(end.replace("Z", "+00:00")).astimezone(UTC) - timedelta(microseconds=1)
    months, y, m = [], first.year, first.month
    while (y, m) <= (last.year, last.month):
        months.append(f"{y:04d}{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return months


def chat_conversations(store: Any, start: str, end: str) -> list[str]:
    """Threads that may have something in the range: the thread folders of the range's months (not the tag
    index, so untagged blobs count), plus threads with a transcript tagged at or after the start."""
    ids: set[str] = set()
    for yyyymm in _months(start, end):
        prefix = f"{keys.ROOT}{yyyymm}/"
        for folder in store.list_prefixes(prefix):
            ids.add(folder[len(prefix):-1])
    for name in find_names(store, tag_filter(kind="transcript", start=start)):
        info = keys.parse_key(name)
        if info is not None:
            ids.add(info.thread_id)
    return sorted(ids)


def file_stem(channel: str, conversation: str, day: str) -> str:
    """A portable file name: the readable part of the id (Windows-safe), plus a hash of the whole id."""
    safe = re.sub(r"[^A-Za-z0-9._@-]+", "_", conversation).strip("._")[:80] or "conversation"
    digest = hashlib.sha256(conversation.encode("utf-8")).hexdigest()[:8]
    return f"{channel}_{day}_{safe}_{digest}"


def _referenced(events: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    for e in events:
        if e.get("participant"):
            yield e["participant"]
        for item in (*(e.get("edits") or ()), *(e.get("read_receipts") or ())):
            yield item["participant"]
        for reaction in e.get("reactions") or ():
            yield from reaction.get("participants") or ()


def body_text(channel: Channel, conversation: str, display: str, day: str, part: int, parts: int,
              events: list[dict[str, Any]], names: list[str], custodian: str, attachments: int) -> str:
    kinds = Counter(e["type"] for e in events)
    messages = [e for e in events if e["type"] == "message"]
    edited = sum(1 for e in messages if e.get("edits"))
    deleted = sum(1 for e in messages if e.get("deleted"))
    return "\n".join([
        f"{channel.application} conversation, exported as RSMF {RSMF_VERSION}",
        "",
        f"Conversation: {display}",
        f"Conversation id: {conversation}",
        f"Platform: {channel.platform} ({channel.conversation_type})",
        f"Day (UTC): {day}, part {part} of {parts}",
        f"First event: {events[0]['timestamp']}",
        f"Last event: {events[-1]['timestamp']}",
        (f"Events: {len(events)} ({kinds['message']} messages: {edited} edited, {deleted} deleted; "
         f"{kinds['join']} joined, {kinds['leave']} left, {kinds['history']} other changes)"),
        f"Participants ({len(names)}): {', '.join(names)}",
        f"Attachments: {attachments}",
        f"Custodian: {custodian}",
        "",
        "The conversation is in the attached rsmf.zip (rsmf_manifest.json). Every event names the archived",
        "blob it comes from (source_blob) and the SHA-256 computed when it was read (source_sha256).",
        "",
    ])


def export_rsmf(store: Any, request: RsmfRequest, hash_key: bytes | None = None, findings: Findings | None = None,
                progress: Any = None, container: str | None = None, workers: int = WORKERS) -> RsmfResult:
    """Write the range's conversations as .rsmf files into ``request.out``, then the export manifest."""
    out = Path(request.out)
    out.mkdir(parents=True, exist_ok=True)
    result = RsmfResult(out, out / MANIFEST, findings=findings if findings is not None else Findings())
    from archiving.read import rsmf_direct

    start, end = request.start, request.end
    # (channel, conversation id) of everything to export; --thread: that id, in whichever channel has it.
    todo = [("chat", tid) for tid in ([request.thread_id] if request.thread_id else chat_conversations(store, start, end))]
    for name in rsmf_direct.DIRECT:
        todo += [(name, cid) for cid in rsmf_direct.conversations(store, name, start, end)
                 if request.thread_id is None or cid == request.thread_id]
    if progress is not None:  # the total: every blob to read, counted by listing (names are not kept)
        progress.total = sum(1 for ch, cid in todo for _ in (
            chat_names(store, cid) if ch == "chat" else rsmf_direct.names(store, ch, cid, start, end)))
        if hasattr(progress, "refresh"):
            progress.refresh()
    first_at = last_at = None
    for ch, cid in todo:
        with tempfile.TemporaryDirectory(prefix="rsmf-") as work:
            people = People(hash_key)
            if ch == "chat":
                got = collect_chat(store, cid, start, end, result.findings, Path(work), people, progress, workers)
                written = _write_conversation(got, CHANNELS["chat"], request, container, result)
            else:
                written = rsmf_direct.export_direct(store, ch, cid, start, end, result.findings, people, Path(work),
                                                    result, request.max_events, progress, workers)
        if written:
            result.conversations += 1
            stamps = [f["begin"] for f in written] + [f["end"] for f in written]
            first_at = min([first_at or stamps[0], *stamps])
            last_at = max([last_at or stamps[0], *stamps])
    from archiving.read import rsmf_calls  # calls: one conversation per call, recordings attached

    for entry in rsmf_calls.export_calls(store, start, end, result, hash_key, request.thread_id, progress, workers):
        result.conversations += 1
        first_at, last_at = min(first_at or entry["begin"], entry["begin"]), max(last_at or entry["end"], entry["end"])
    manifest = {
        "export": "rsmf",
        "rsmf_version": RSMF_VERSION,
        "schema_version": SCHEMA_VERSION,
        "generator": GENERATOR,
        "created_at": iso(utcnow()),
        "container": container,
        "range": {"from": request.start, "to": request.end, "to_is_exclusive": True},
        "thread_id": request.thread_id,
        "conversations": result.conversations,
        "files": result.files,
        "counts": {k: result.counts[k] for k in EVENT_KINDS},
        "messages_edited": result.counts["edited"],
        "messages_deleted": result.counts["deleted"],
        "attachments": result.counts["attachments"],
        "events": result.events,
        "first_at": first_at,
        "last_at": last_at,
        "damaged_blobs": [{"blob": d.name, "reason": d.reason} for d in result.findings.items],
    }
    partial = result.manifest_path.with_name(MANIFEST + ".partial")
    partial.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    partial.replace(result.manifest_path)
    log.info("rsmf export files=%d conversations=%d events=%d damaged=%d", len(result.files), result.conversations,
             result.events, len(result.findings))
    return result


def _write_conversation(got: Collected, channel: Channel, request: RsmfRequest, container: str | None,
                        result: RsmfResult) -> list[dict[str, Any]]:
    conversation = got.thread_id
    people = got.people
    state = _State(got.thread_events)
    names_view = ThreadView(thread_id=conversation,
                            names={raw: p["display_name"] for raw, p in people.known.items() if p.get("display_name")})
    changes_by_day: dict[str, list[dict[str, Any]]] = {}
    for doc in got.thread_events:
        at = doc.get("occurred_at")
        if in_range(at, request.start, request.end):
            changes_by_day.setdefault(at[:10], []).append(doc)
    custodian = got.custodian or (f"archive container {container}" if container else "ACS archive")
    written: list[dict[str, Any]] = []
    for day in sorted(got.days.keys() | changes_by_day.keys()):
        messages, extras = day_messages(got.days[day]) if day in got.days else ([], {})
        day_view = ThreadView(thread_id=conversation, messages=messages, thread_events=changes_by_day.get(day, []),
                              names=names_view.names)
        events: list[dict[str, Any]] = []
        for kind, item in reader.timeline(day_view):
            if kind == "event":
                events.extend(thread_events(conversation, item, names_view, people))
            else:
                events.append(message_event(conversation, item, extras, people, channel))
        del messages, extras, day_view
        size = max(1, request.max_events)
        slices = [events[i:i + size] for i in range(0, len(events), size)]
        for part, chunk in enumerate(slices, 1):
            state.advance(chunk[0]["timestamp"] or "")
            written.append(_write_slice(got, channel, day, part, len(slices), chunk, state, custodian, result))
    return written


def _write_slice(got: Collected, channel: Channel, day: str, part: int, parts: int, events: list[dict[str, Any]],
                 state: _State, custodian: str, result: RsmfResult) -> dict[str, Any]:
    """A chat slice: the conversation's members as of its first event, then the common writer."""
    people = got.people
    members = {people.pid(p): p for p in state.members.values()}
    # A channel's participants: those in it at its first event, and those who speak before a join of
    # theirs in this file (the archive missed how they came in).
    joined: set[str] = set()
    for e in events:
        if e["type"] == "join":
            joined.add(e["participant"])
        elif e["type"] == "message" and e["participant"] not in joined:
            members.setdefault(e["participant"], None)
    display = state.topic or got.topic or got.thread_id
    extra = _customs(("thread_id", got.thread_id))
    return write_slice(Slice(channel, got.thread_id, display, day, part, parts, events, members, custodian, extra),
                       people, result)


@dataclass
class Slice:
    """What one .rsmf file holds: one conversation's events of one day (or a part of that day)."""

    channel: Channel
    conversation: str
    display: str
    day: str
    part: int
    parts: int
    events: list[dict[str, Any]]
    members: dict[str, Mapping[str, Any] | None]  # participant id -> identity: conversations[].participants
    custodian: str  # X-RSMF-Custodian
    custom: list[dict[str, str]] = field(default_factory=list)  # conversations[].custom, beside channel
    custodian_id: str | None = None  # conversations[].custodian: a participant (direct channels)
    files: list[ZipFileEntry] = field(default_factory=list)  # attachment files for rsmf.zip


def write_slice(s: Slice, people: People, result: RsmfResult) -> dict[str, Any]:
    events = s.events
    by_pid: dict[str, dict[str, Any]] = {}
    for pid, who in s.members.items():
        by_pid[pid] = people.entry(who or _who(people, pid))
    for pid in _referenced(events):
        if pid not in by_pid:
            by_pid[pid] = people.entry(_who(people, pid))
    conv = {"id": s.conversation, "display": s.display, "platform": s.channel.platform,
            "type": s.channel.conversation_type, "participants": list(s.members),
            "custom": _customs(("channel", s.channel.name)) + s.custom + _customs(("archive_custodian", s.custodian))}
    if s.custodian_id:
        conv["custodian"] = s.custodian_id
    manifest = {"version": RSMF_VERSION, "eventcollectionid": s.conversation, "participants": list(by_pid.values()),
                "conversations": [conv], "events": events}
    begin = min(e["timestamp"] for e in events)
    end = max(e["timestamp"] for e in events)
    attachments = sum(len(e.get("attachments") or ()) for e in events)
    names = [p.get("display") or p["id"] for p in by_pid.values()]
    headers = [
        ("From", FROM_HEADER),
        ("Subject", f"{s.channel.platform}: {s.display} ({s.day}, part {s.part} of {s.parts})"),
        ("Date", rfc5322_date(begin)),
        ("X-RSMF-Version", RSMF_VERSION),
        ("X-RSMF-Generator", GENERATOR),
        ("X-RSMF-Application", s.channel.application),
        ("X-RSMF-BeginDate", begin),
        ("X-RSMF-EndDate", end),
        ("X-RSMF-EventCount", str(len(events))),
        ("X-RSMF-AttachmentCount", str(attachments)),
        ("X-RSMF-EventCollectionID", s.conversation),
        ("X-RSMF-Participants", ", ".join(names)),
        ("X-RSMF-Custodian", s.custodian),
    ]
    text = body_text(s.channel, s.conversation, s.display, s.day, s.part, s.parts, events, names, s.custodian,
                     attachments)
    path = result.out / f"{file_stem(s.channel.name, s.conversation, s.day)}_{s.part:03d}.rsmf"
    done: WrittenFile = write_rsmf(path, headers, text, manifest, s.files)
    kinds = Counter(e["type"] for e in events)
    result.counts.update(kinds)
    result.counts["edited"] += sum(1 for e in events if e.get("edits"))
    result.counts["deleted"] += sum(1 for e in events if e.get("deleted"))
    result.counts["attachments"] += attachments
    entry = {"file": path.name, "sha256": done.sha256, "bytes": done.size, "events": len(events),
             "counts": {k: kinds[k] for k in EVENT_KINDS}, "attachments": attachments, "channel": s.channel.name,
             "conversation": s.conversation, "eventcollectionid": s.conversation, "day": s.day, "part": s.part,
             "parts": s.parts, "begin": begin, "end": end}
    result.files.append(entry)
    return entry


def _who(people: People, pid: str) -> Mapping[str, Any]:
    return next((p for p in people.known.values() if people.pid(p) == pid), UNKNOWN)
