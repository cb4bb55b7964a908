"""Reassembling a thread from everything archived for it: records and transcripts, all months."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import keys
from .store import ArchiveStore


@dataclass(frozen=True)
class MessageVersion:
    message_id: str
    version: int
    action: str  # received | edited | deleted | transcript
    message_type: str
    content: str | None
    sender: Mapping[str, Any] | None
    composed_at: str | None
    edited_at: str | None
    deleted_at: str | None
    source: str  # blob name it came from


@dataclass(frozen=True)
class MessageView:
    message_id: str
    versions: tuple[MessageVersion, ...]  # oldest first

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


@dataclass
class ThreadView:
    thread_id: str
    topic: str | None = None
    participants: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # raw_id -> participant
    messages: list[MessageView] = field(default_factory=list)
    thread_events: list[Mapping[str, Any]] = field(default_factory=list)  # thread records, in time order
    names: dict[str, str] = field(default_factory=dict)  # raw_id -> display name seen anywhere
    blobs: int = 0

    def name(self, who: Mapping[str, Any] | None) -> str:
        if not who:
            return "(system)"
        return who.get("display_name") or self.names.get(who.get("raw_id") or "") or who.get("raw_id") or "(unknown)"

    @property
    def empty(self) -> bool:
        return self.blobs == 0


def load_thread(store: ArchiveStore, thread_id: str) -> ThreadView:
    view = ThreadView(thread_id=thread_id)
    versions: dict[str, dict[int, MessageVersion]] = {}
    transcripts: list[tuple[str, Mapping[str, Any]]] = []
    for name in store.thread_names(thread_id):
        info = keys.parse_key(name)
        if info is None or ".conflict-" in name:
            continue
        if info.area == "transcripts":
            if name.endswith(".json.lz4"):
                transcripts.append((name, store.read_document(name)))
                view.blobs += 1
            continue
        doc = store.read_document(name)
        view.blobs += 1
        if info.area == "messages":
            v = _from_record(doc, name)
            versions.setdefault(v.message_id, {}).setdefault(v.version, v)
        else:
            view.thread_events.append(doc)
    view.thread_events.sort(key=lambda d: (d.get("occurred_at") or "", d.get("action") or ""))
    for doc in view.thread_events:
        _apply_thread_event(view, doc)
    # The newest transcript knows the final participants and topic; records fill in the rest.
    transcripts.sort(key=lambda item: item[0].rsplit("/", 1)[-1])
    for name, doc in transcripts:
        for v in _from_transcript(doc, name):
            versions.setdefault(v.message_id, {}).setdefault(v.version, v)
    if transcripts:
        latest = transcripts[-1][1]
        view.topic = latest.get("topic") or view.topic
        view.participants = {p["raw_id"]: p for p in latest.get("participants") or [] if p.get("raw_id")}
    for who in _people(view, versions):
        if who.get("display_name") and who.get("raw_id"):
            view.names.setdefault(who["raw_id"], who["display_name"])
    view.messages = sorted(
        (MessageView(mid, tuple(v for _, v in sorted(by_version.items()))) for mid, by_version in versions.items()),
        key=lambda m: (m.composed_at or "", _numeric(m.message_id)),
    )
    return view


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


def _from_record(doc: Mapping[str, Any], name: str) -> MessageVersion:
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
    )


def _from_transcript(doc: Mapping[str, Any], name: str) -> Iterable[MessageVersion]:
    for m in doc.get("messages") or []:
        version = m.get("version")
        yield MessageVersion(
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


def _when(stamp: str | None) -> str:
    if not stamp:
        return "????-??-?? ??:??:??Z"
    return stamp[:10] + " " + stamp[11:19] + "Z"


def _thread_line(view: ThreadView, doc: Mapping[str, Any]) -> str:
    actor = view.name(doc.get("actor"))
    names = ", ".join(view.name(p) for p in doc.get("participants") or [])
    action = doc.get("action")
    topic = (doc.get("properties") or {}).get("topic")
    text = {
        "created": f"{actor} created the thread" + (f' "{topic}"' if topic else "") + (f" with {names}" if names else ""),
        "updated": f"{actor} changed the thread" + (f' topic to "{topic}"' if topic is not None else " properties"),
        "deleted": f"{actor} deleted the thread",
        "participant-added": f"{actor} added {names}",
        "participant-removed": f"{actor} removed {names}",
    }.get(action, f"{actor}: {action}")
    return f"{_when(doc.get('occurred_at'))}  * {text}"


def render_text(view: ThreadView, history: bool = False) -> str:
    edited = sum(1 for m in view.messages if m.edited_at and not m.deleted_at)
    deleted = sum(1 for m in view.messages if m.deleted_at)
    lines = [
        f"Thread {view.thread_id}",
        f"Topic: {view.topic or '(none)'}",
        "Participants: " + (", ".join(view.name(p) for p in view.participants.values()) or "(unknown)"),
        f"Messages: {len(view.messages)} ({edited} edited, {deleted} deleted)",
        "",
    ]
    items: list[tuple[str, int, str, list[str]]] = []
    for doc in view.thread_events:
        items.append((doc.get("occurred_at") or "", 0, _thread_line(view, doc), []))
    for m in view.messages:
        if m.deleted_at:
            body = f"[deleted {_when(m.deleted_at)}]"
        else:
            body = m.content if m.content is not None else ""
            if m.edited_at:
                body += f"  [edited {_when(m.edited_at)}]"
        sub = []
        if history:
            for v in m.versions:
                shown = "(no content)" if v.content is None else v.content
                sub.append(f"      v{v.version} {v.action}: {shown}")
        items.append((m.composed_at or "", 1, f"{_when(m.composed_at)}  {view.name(m.sender)}: {body}", sub))
    for _, _, line, sub in sorted(items, key=lambda i: (i[0], i[1])):
        lines.append(line)
        lines.extend(sub)
    return "\n".join(lines) + "\n"


def to_json(view: ThreadView) -> dict[str, Any]:
    return {
        "thread_id": view.thread_id,
        "topic": view.topic,
        "participants": list(view.participants.values()),
        "messages": [
            {
                "message_id": m.message_id,
                "sender_id": (m.sender or {}).get("raw_id"),
                "sender_display_name": (m.sender or {}).get("display_name"),
                "message_type": m.message_type,
                "created_at": m.composed_at,
                "content": m.content,
                "edited_at": m.edited_at,
                "deleted_at": m.deleted_at,
                "versions": [
                    {"version": str(v.version), "action": v.action, "content": v.content, "source": v.source}
                    for v in m.versions
                ],
            }
            for m in view.messages
        ],
    }


def render_json(view: ThreadView) -> str:
    import orjson

    return orjson.dumps(to_json(view), option=orjson.OPT_INDENT_2).decode("utf-8") + "\n"

