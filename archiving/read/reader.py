"""Reassembling a thread from everything archived for it: records and transcripts, all months.

Records (one per message version or thread change) and transcripts (the whole thread as the
service listed it) are merged by message id and version.  The service's system messages in a
transcript (topic changed, participants added or removed) become thread events unless a thread
record already tells the same change.  Conflict copies are kept apart: ``--history`` shows them.

One thread is held in memory (the unit ``show`` renders); blobs are read in parallel.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from archiving.store import keys
from archiving.read.scan import WORKERS
from archiving.read.verified import Findings, read_verified
from archiving.store.archive import ArchiveStore

# REST types of the service's own messages -> the thread record action telling the same change.
SYSTEM_TYPES = {"topicUpdated": "updated", "participantAdded": "participant-added",
                "participantRemoved": "participant-removed"}


@dataclass(frozen=True)
class MessageVersion:
    message_id: str
    version: int
    action: str  # received | edited | deleted
    message_type: str
    content: str | None
    sender: Mapping[str, Any] | None
    composed_at: str | None
    edited_at: str | None
    deleted_at: str | None
    source: str  # blob name it came from
    conflict: bool = False  # a conflict copy: a differing later copy of an archived version
    source_sha256: str | None = None  # sha256 computed from the source blob as read


@dataclass(frozen=True)
class MessageView:
    message_id: str
    versions: tuple[MessageVersion, ...]  # oldest first
    conflicts: tuple[MessageVersion, ...] = ()

    @property
    def latest(self) -> MessageVersion:
        return self.versions[-1]

    def _first(self, attr: str) -> Any:
        for v in reversed(self.versions):
            value = getattr(v, attr)
            if value is not None:
                return value
        return None

    @property
    def composed_at(self) -> str | None:
        return self._first("composed_at")

    @property
    def sender(self) -> Mapping[str, Any] | None:
        return self._first("sender")

    @property
    def edited_at(self) -> str | None:
        return self._first("edited_at")

    @property
    def deleted_at(self) -> str | None:
        return self._first("deleted_at")

    @property
    def content(self) -> str | None:
        if self.deleted_at:
            return None
        return self._first("content")

    @property
    def message_type(self) -> str:
        return self.latest.message_type

    def history(self) -> list[MessageVersion]:
        """Every version, conflict copies right after the version they disagree with."""
        return sorted((*self.versions, *self.conflicts), key=lambda v: (v.version, v.conflict, v.source))


@dataclass
class ThreadView:
    thread_id: str
    topic: str | None = None
    participants: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # raw_id -> participant
    messages: list[MessageView] = field(default_factory=list)
    thread_events: list[Mapping[str, Any]] = field(default_factory=list)  # thread changes, in time order
    names: dict[str, str] = field(default_factory=dict)  # raw_id -> display name seen anywhere
    blobs: int = 0
    transcripts: int = 0
    conflicts: int = 0  # conflict copies (message and thread)
    findings: Findings = field(default_factory=Findings)  # damaged blobs (left out) and tag warnings

    @property
    def damaged(self) -> list:
        return list(self.findings.items)

    def name(self, who: Mapping[str, Any] | None) -> str:
        if not who:
            return "(system)"
        return who.get("display_name") or self.names.get(who.get("raw_id") or "") or who.get("raw_id") or "(unknown)"

    @property
    def empty(self) -> bool:
        return self.blobs == 0 and not self.findings.items


# -- matching the service's system messages with thread records ------------------------------------


def record_signatures(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What a thread record tells, as (what, value) pairs a system message can be matched against."""
    action = doc.get("action")
    props = doc.get("properties") or {}
    sigs: list[tuple[str, str]] = []
    if action in ("created", "updated") and props.get("topic") is not None:
        sigs.append(("topic", props["topic"]))
    if action in ("created", "participant-added"):
        sigs.extend(("added", p.get("raw_id") or "") for p in doc.get("participants") or [])
    elif action == "participant-removed":
        sigs.extend(("removed", p.get("raw_id") or "") for p in doc.get("participants") or [])
    return sigs


def system_signatures(message_type: str, topic: str | None, raw_ids: Iterable[str]) -> list[tuple[str, str]]:
    if message_type == "topicUpdated":
        return [("topic", topic or "")]
    what = "added" if message_type == "participantAdded" else "removed"
    return [(what, raw_id) for raw_id in raw_ids]


def take(available: Counter, sigs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Consume the signatures the archive holds; return the ones it does not."""
    missing = []
    for sig in sigs:
        if available[sig] > 0:
            available[sig] -= 1
        else:
            missing.append(sig)
    return missing


# -- loading ---------------------------------------------------------------------------------------


def _wanted(name: str) -> bool:
    info = keys.parse_key(name)
    if info is None:
        return False
    return not (info.area == "transcripts" and not name.endswith(".json.lz4"))  # the CSV repeats the JSON


def _last_ms(name: str) -> int:
    stem = name.rsplit("/", 1)[-1].split(".", 1)[0]
    return int(stem) if stem.isdigit() else 0


def load_thread(store: ArchiveStore, thread_id: str, workers: int = WORKERS, progress: Any = None,
                hash_key: bytes | None = None) -> ThreadView:
    """Everything archived for the thread, merged; ``progress.update(1)`` per blob read.

    Every blob is read through ``read_verified``: a damaged one is left out and listed in ``view.findings``.
    """
    view = ThreadView(thread_id=thread_id)
    versions: dict[str, dict[int, MessageVersion]] = {}
    conflicts: dict[str, list[MessageVersion]] = {}
    transcripts: list[tuple[str, Mapping[str, Any]]] = []
    names = [n for n in store.thread_names(thread_id) if _wanted(n)]
    if progress is not None and getattr(progress, "total", 0) is None:
        progress.total = len(names)
        progress.refresh()
    sha = {}
    for blob in read_verified(store, names, view.findings, workers, hash_key=hash_key):
        name, doc = blob.name, blob.document
        sha[name] = blob.sha256
        info = keys.parse_key(name)
        view.blobs += 1
        if progress is not None:
            progress.update(1)
        conflict = ".conflict-" in name
        if info.area == "transcripts":
            transcripts.append((name, doc))
        elif info.area == "messages":
            v = _from_record(doc, name, conflict, blob.sha256)
            if conflict:
                view.conflicts += 1
                conflicts.setdefault(v.message_id, []).append(v)
            else:
                versions.setdefault(v.message_id, {}).setdefault(v.version, v)
        elif conflict:
            view.conflicts += 1
        else:
            view.thread_events.append(doc)

    transcripts.sort(key=lambda item: _last_ms(item[0]))
    view.transcripts = len(transcripts)
    available = Counter(sig for doc in view.thread_events for sig in record_signatures(doc))
    has_created = any(doc.get("action") == "created" for doc in view.thread_events)
    seen_system: set[str] = set()
    synthesized: list[Mapping[str, Any]] = []
    for name, doc in transcripts:
        if not has_created and doc.get("created_at"):
            has_created = True
            synthesized.append({"action": "created", "occurred_at": doc["created_at"], "actor": doc.get("created_by"),
                                "properties": None, "participants": [], "source": name})
        for m in doc.get("messages") or []:
            if m.get("message_type") in SYSTEM_TYPES:
                if m["message_id"] not in seen_system:
                    seen_system.add(m["message_id"])
                    event = _system_event(m, available, name)
                    if event is not None:
                        synthesized.append(event)
                continue
            v = _from_transcript(m, name, sha.get(name))
            versions.setdefault(v.message_id, {}).setdefault(v.version, v)
    view.thread_events.extend(synthesized)
    view.thread_events.sort(key=lambda d: (d.get("occurred_at") or "", d.get("action") != "created", d.get("action") or ""))
    for doc in view.thread_events:
        _apply_thread_event(view, doc)
    if transcripts:  # the newest transcript knows the final participants and topic
        latest = transcripts[-1][1]
        view.topic = latest.get("topic") or view.topic
        view.participants = {p["raw_id"]: p for p in latest.get("participants") or [] if p.get("raw_id")}
    for who in _people(view, versions):
        if who.get("display_name") and who.get("raw_id"):
            view.names.setdefault(who["raw_id"], who["display_name"])
    views = []
    for mid in versions.keys() | conflicts.keys():
        mine = tuple(v for _, v in sorted(versions.get(mid, {}).items()))
        extra = tuple(sorted(conflicts.get(mid, ()), key=lambda v: (v.version, v.source)))
        views.append(MessageView(mid, mine or extra[:1], extra if mine else extra[1:]))
    view.messages = sorted(views, key=lambda m: (m.composed_at or "", _numeric(m.message_id)))
    return view


def _system_event(m: Mapping[str, Any], available: Counter, source: str) -> Mapping[str, Any] | None:
    """A thread event for a system message of a transcript, unless thread records tell it already."""
    mtype = m["message_type"]
    people = [p for p in m.get("participants") or [] if p.get("raw_id")]
    missing = take(available, system_signatures(mtype, m.get("topic"), (p["raw_id"] for p in people)))
    if not missing:
        return None
    missing_ids = {value for what, value in missing if what != "topic"}
    return {
        "action": SYSTEM_TYPES[mtype],
        "occurred_at": m.get("created_at"),
        "actor": m.get("initiator"),
        "properties": {"topic": m.get("topic")} if mtype == "topicUpdated" else None,
        "participants": [p for p in people if p["raw_id"] in missing_ids],
        "source": source,
    }


def _people(view: ThreadView, versions: Mapping[str, Mapping[int, MessageVersion]]) -> Iterable[Mapping[str, Any]]:
    yield from view.participants.values()
    for doc in view.thread_events:
        yield from doc.get("participants") or []
    for by_version in versions.values():
        for v in by_version.values():
            if v.sender:
                yield v.sender


def _numeric(text: str) -> tuple[int, str]:
    return (int(text), text) if text.isdigit() else (0, text)


def _from_record(doc: Mapping[str, Any], name: str, conflict: bool = False, sha256: str | None = None) -> MessageVersion:
    return MessageVersion(
        message_id=doc["message_id"],
        version=int(doc["message_version"]),
        action=doc["action"],
        message_type=doc.get("message_type") or "text",
        content=doc.get("content"),
        sender=doc.get("sender"),
        composed_at=doc.get("composed_at"),
        edited_at=doc.get("edited_at"),
        deleted_at=doc.get("deleted_at"),
        source=name,
        conflict=conflict,
        source_sha256=sha256,
    )


def _from_transcript(m: Mapping[str, Any], name: str, sha256: str | None = None) -> MessageVersion:
    version = m.get("version")
    return MessageVersion(
        message_id=m["message_id"],
        version=int(version) if isinstance(version, str) and version.isdigit() else 0,
        action="deleted" if m.get("deleted_at") else ("edited" if m.get("edited_at") else "received"),
        message_type=m.get("message_type") or "text",
        content=m.get("content"),
        sender=m.get("sender"),
        composed_at=m.get("created_at"),
        edited_at=m.get("edited_at"),
        deleted_at=m.get("deleted_at"),
        source=name,
        source_sha256=sha256,
    )


def _apply_thread_event(view: ThreadView, doc: Mapping[str, Any]) -> None:
    action = doc.get("action")
    props = doc.get("properties") or {}
    if action in ("created", "updated") and props.get("topic") is not None:
        view.topic = props["topic"]
    if action in ("created", "participant-added"):
        for p in doc.get("participants") or []:
            view.participants[p["raw_id"]] = p
    elif action == "participant-removed":
        for p in doc.get("participants") or []:
            view.participants.pop(p["raw_id"], None)


# -- rendering ---------------------------------------------------------------------------------


def when(stamp: str | None) -> str:
    if not stamp:
        return "????-??-?? ??:??:??Z"
    return stamp[:10] + " " + stamp[11:19] + "Z"


def thread_line(view: ThreadView, doc: Mapping[str, Any]) -> str:
    """A thread event in words, without its time."""
    actor = view.name(doc.get("actor"))
    names = ", ".join(view.name(p) for p in doc.get("participants") or [])
    action = doc.get("action")
    topic = (doc.get("properties") or {}).get("topic")
    return {
        "created": f"{actor} created the thread" + (f' "{topic}"' if topic else "") + (f" with {names}" if names else ""),
        "updated": f"{actor} changed the thread" + (f' topic to "{topic}"' if topic is not None else " properties"),
        "deleted": f"{actor} deleted the thread",
        "participant-added": f"{actor} added {names}",
        "participant-removed": f"{actor} removed {names}",
    }.get(action, f"{actor}: {action}")


def timeline(view: ThreadView) -> Iterator[tuple[str, Mapping[str, Any] | MessageView]]:
    """Thread events and messages merged in time order: ("event", doc) or ("message", MessageView)."""
    items: list[tuple[str, int, int, Any]] = []
    for i, doc in enumerate(view.thread_events):
        items.append((doc.get("occurred_at") or "", 0, i, ("event", doc)))
    for i, m in enumerate(view.messages):
        items.append((m.composed_at or "", 1, i, ("message", m)))
    for *_, item in sorted(items, key=lambda x: x[:3]):
        yield item


def summary(view: ThreadView) -> tuple[int, int]:
    edited = sum(1 for m in view.messages if m.edited_at and not m.deleted_at)
    deleted = sum(1 for m in view.messages if m.deleted_at)
    return edited, deleted


TEXT_INDENT = " " * 22  # the width of "2026-11-01 00:02:00Z  ": continuation lines line up under the name


def render_text(view: ThreadView, history: bool = False) -> str:
    """The thread for a terminal: content neutralized (no escape sequence reaches it), multi-line indented."""
    from archiving.read.safe import terminal, terminal_lines

    edited, deleted = summary(view)
    lines = [
        f"Thread {terminal(view.thread_id)}",
        f"Topic: {terminal(view.topic) or '(none)'}",
        "Participants: " + (", ".join(terminal(view.name(p)) for p in view.participants.values()) or "(unknown)"),
        f"Messages: {len(view.messages)} ({edited} edited, {deleted} deleted)",
    ]
    if view.conflicts:
        lines.append(f"Conflicting copies: {view.conflicts} (see --history)")
    if view.findings.items:
        lines.append(f"DAMAGED, LEFT OUT: {len(view.findings.items)} blob(s) failed their checks:")
        lines.extend(f"  [damaged: {terminal(d.name)}: {terminal(d.reason)}]" for d in view.findings.items)
    lines.append("")
    for kind, item in timeline(view):
        if kind == "event":
            lines.append(f"{when(item.get('occurred_at'))}  * {terminal(thread_line(view, item))}")
            continue
        m = item
        if m.deleted_at:
            body = f"[deleted {when(m.deleted_at)}]"
        else:
            body = terminal_lines(m.content, TEXT_INDENT) if m.content is not None else ""
            if m.edited_at:
                body += f"  [edited {when(m.edited_at)}]"
        lines.append(f"{when(m.composed_at)}  {terminal(view.name(m.sender))}: {body}")
        if history:
            for v in m.history():
                shown = "(no content)" if v.content is None else terminal_lines(v.content, TEXT_INDENT)
                tag = " (conflicting copy)" if v.conflict else ""
                lines.append(f"      v{v.version} {v.action}{tag}: {shown}")
    return "\n".join(lines) + "\n"


def _version_json(v: MessageVersion) -> dict[str, Any]:
    return {"version": str(v.version), "action": v.action, "content": v.content, "edited_at": v.edited_at,
            "deleted_at": v.deleted_at, "conflict": v.conflict, "source": v.source, "source_sha256": v.source_sha256}


def _event_json(view: ThreadView, doc: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "action": doc.get("action"),
        "occurred_at": doc.get("occurred_at"),
        "actor_id": (doc.get("actor") or {}).get("raw_id"),
        "topic": (doc.get("properties") or {}).get("topic"),
        "participant_ids": [p.get("raw_id") for p in doc.get("participants") or []],
        "text": thread_line(view, doc),
    }


def to_json(view: ThreadView) -> dict[str, Any]:
    return {
        "thread_id": view.thread_id,
        "topic": view.topic,
        "participants": list(view.participants.values()),
        "messages": [
            {
                "message_id": m.message_id,
                "sender_id": (m.sender or {}).get("raw_id"),
                "sender_display_name": view.name(m.sender) if m.sender else None,
                "message_type": m.message_type,
                "created_at": m.composed_at,
                "content": m.content,
                "edited_at": m.edited_at,
                "deleted_at": m.deleted_at,
                "versions": [_version_json(v) for v in m.history()],
            }
            for m in view.messages
        ],
        "events": [_event_json(view, doc) for doc in view.thread_events],
        "conflicts": view.conflicts,
        "damaged": [{"source": d.name, "reason": d.reason} for d in view.findings.items],
    }


def render_json(view: ThreadView) -> str:
    import orjson

    return orjson.dumps(to_json(view), option=orjson.OPT_INDENT_2).decode("utf-8") + "\n"


CSV_COLUMNS = ("thread_id", "message_id", "version", "action", "message_type", "sender_id", "sender_display_name",
               "created_at", "edited_at", "deleted_at", "content", "conflict", "source", "source_sha256")


def render_csv(view: ThreadView, history: bool = False, bom: bool = False) -> str:
    """RFC 4180: one row per message (its newest version), or per version with ``history``.

    For spreadsheets: formula-leading cells are neutralized (``archiving.read.safe.spreadsheet_cell``);
    ``bom`` starts the text with a UTF-8 byte-order mark so that Excel reads it as UTF-8.
    """
    from archiving.read.safe import BOM, spreadsheet_cell

    buffer = io.StringIO()
    if bom:
        buffer.write(BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for m in view.messages:
        sender = m.sender or {}
        rows = m.history() if history else [m.latest]
        for v in rows:
            content = v.content if history else m.content
            writer.writerow(tuple(spreadsheet_cell(str(cell)) for cell in (
                view.thread_id, m.message_id, v.version, v.action, v.message_type, sender.get("raw_id") or "",
                view.name(m.sender) if m.sender else "", m.composed_at or "",
                (v.edited_at if history else m.edited_at) or "", (v.deleted_at if history else m.deleted_at) or "",
                content or "", "true" if v.conflict else "false", v.source, v.source_sha256 or "",
            )))
    return buffer.getvalue()
