"""The read side of SMS, WhatsApp and email: a conversation, one message's delivery history, export and
find items, all through the blob index tags and ``read_verified`` (docs/archive-format.md, section 13).

- ``load_conversation``: every record of a conversation id (every channel and month), or of two parties
  (their conversation ids in both directions, as either may be the business);
- ``load_message``: one message id's records (the message, if archived, and every report, any month);
- ``record_at`` / ``is_channel_document`` / ``_tag_query``: what export needs to make its items of them
  (``read.export.channel_items``; this module never imports export: no cycle);
- ``channel_values`` / ``text_line``: how a channel record shows in CSV and in ``find``'s text.

A report whose message is not in the archive is shown under its message id, marked as such.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from archiving.read.scan import WORKERS, find_names
from archiving.read.verified import Findings, read_verified
from archiving.store import keys
from archiving.store.records import user_hash

log = logging.getLogger("archiving.read.conversations")

MESSAGE_KINDS = ("sms-message", "whatsapp-message")
NOT_ARCHIVED = "message not in the archive"


def party_hash(hash_key: bytes, address: str) -> str:
    """The hash a phone number, email address, channel id or ACS raw id is found by (13.2)."""
    return user_hash(hash_key, keys.normalize_party(address))


def record_at(doc: Mapping[str, Any]) -> str | None:
    return doc.get("received_at") or doc.get("sent_at") or doc.get("reported_at")


def is_channel_document(doc: Any) -> bool:
    return isinstance(doc, Mapping) and doc.get("channel") in keys.CHANNELS


# -- finding -------------------------------------------------------------------------------------------


def _tag_query(**terms: str | None) -> str:
    parts = []
    for name, value in terms.items():
        if value is None:
            continue
        if "'" in value:
            raise ValueError("a tag value cannot contain a single quote")
        op = {"start": '"at" >=', "end": '"at" <'}.get(name, f'"{name}" =')
        parts.append(f"{op} '{value}'")
    return " AND ".join(parts)


def _names(store: Any, expressions: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for expression in expressions:
        for name in find_names(store, expression):
            if not name.startswith(keys.MEDIA_ROOT):
                seen.setdefault(name, None)
    return list(seen)


@dataclass
class MessageView:
    message_id: str
    channel: str
    records: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)  # the message (received / sent)
    reports: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)

    @property
    def at(self) -> str:
        times = [record_at(d) or "" for _, d in self.records] or [record_at(d) or "" for _, d in self.reports]
        return min(times) if times else ""

    @property
    def archived(self) -> bool:
        return bool(self.records)


@dataclass
class ConversationView:
    conversation_ids: list[str]
    messages: list[MessageView]
    findings: Findings

    @property
    def empty(self) -> bool:
        return not self.messages


def _assemble(blobs: Iterable[Any]) -> list[MessageView]:
    views: dict[tuple[str, str], MessageView] = {}
    for blob in blobs:
        doc = blob.document
        if not is_channel_document(doc):
            continue
        view = views.setdefault((doc["channel"], doc["message_id"]), MessageView(doc["message_id"], doc["channel"]))
        # By the name: received / sent (issue 12) are the message, reports/ its reports; conflict copies alike.
        target = view.reports if "/reports/" in blob.name else view.records
        target.append((blob.name, doc))
    for view in views.values():
        view.reports.sort(key=lambda r: (record_at(r[1]) or "", r[0]))
    return sorted(views.values(), key=lambda v: (v.at, v.message_id))


def load_conversation(store: Any, conversation_ids: Iterable[str], channel: str | None = None,
                      workers: int = WORKERS) -> ConversationView:
    ids = list(dict.fromkeys(conversation_ids))
    findings = Findings()
    names = _names(store, (_tag_query(conversation=c, channel=channel) for c in ids))
    messages = _assemble(read_verified(store, names, findings, workers))
    found = sorted({d["conversation_id"] for m in messages for _, d in (*m.records, *m.reports)})
    return ConversationView(found or ids, messages, findings)  # the ids that hold records, to print


def conversation_ids_between(hash_key: bytes, a: str, b: str) -> list[str]:
    """Both directions: either party may be the business."""
    ha, hb = party_hash(hash_key, a), party_hash(hash_key, b)
    return [keys.conversation_id(ha, hb), keys.conversation_id(hb, ha)]


def load_message(store: Any, message_id: str, channel: str | None = None, workers: int = WORKERS) -> ConversationView:
    findings = Findings()
    names = _names(store, [_tag_query(message=keys.message_tag(message_id), channel=channel)])
    messages = _assemble(read_verified(store, names, findings, workers))
    conversations = sorted({d["conversation_id"] for m in messages for _, d in (*m.records, *m.reports)})
    return ConversationView(conversations, messages, findings)


# -- rendering -------------------------------------------------------------------------------------------


def _party(p: Mapping[str, Any] | None) -> str:
    return (p or {}).get("address") or "?"


def _describe(doc: Mapping[str, Any]) -> str:
    kind = doc.get("kind", "")
    if kind in MESSAGE_KINDS:
        parts = []
        if doc.get("content") is not None:
            parts.append(repr(doc["content"]))
        media = doc.get("media")
        if media:
            what = media.get("file_name") or media.get("mime_type") or "media"
            state = f"stored {media.get('blob')}" if media.get("status") == "stored" else \
                f"NOT RETRIEVABLE: {media.get('reason')}"
            caption = f" caption={media['caption']!r}" if media.get("caption") else ""
            parts.append(f"[{what}{caption}; {state}]")
        if doc.get("reaction"):
            r = doc["reaction"]
            parts.append(f"[reaction {r.get('emoji')!r} to {r.get('messageId')}]")
        if doc.get("context"):
            parts.append(f"[reply to {doc['context'].get('id')}]")
        for extra in ("button", "interactive"):
            if doc.get(extra):
                parts.append(f"[{extra}]")
        return " ".join(parts) or "(no content)"
    if kind == "email-engagement":
        context = f" {doc['engagement_context']}" if doc.get("engagement_context") else ""
        return f"engagement {doc.get('engagement')}{context}"
    if kind.endswith("-report"):
        details = doc.get("status_details")
        details = f" ({details})" if isinstance(details, str) and details else ""
        return f"status {doc.get('status')}{details}"
    return f"{doc.get('action') or kind}: {doc.get('content')!r}"  # sent copies (issue 12) and future kinds


def render_text(view: ConversationView) -> str:
    lines = [f"conversation {', '.join(view.conversation_ids)}"]
    for m in view.messages:
        first = (m.records or m.reports)[0][1]
        lines.append("")
        lines.append(f"{m.channel} message {m.message_id}  {_party(first.get('from'))} -> {_party(first.get('to'))}"
                     + ("" if m.archived else f"  ({NOT_ARCHIVED})"))
        for name, doc in m.records:
            conflict = "  [conflict copy]" if ".conflict-" in name else ""
            lines.append(f"  {record_at(doc)}  {doc.get('action') or doc.get('kind')}  {_describe(doc)}{conflict}")
        for name, doc in m.reports:
            conflict = "  [conflict copy]" if ".conflict-" in name else ""
            lines.append(f"  {record_at(doc)}  report  {_describe(doc)}{conflict}")
    if view.findings:
        lines.append("")
        lines.extend(f"damaged: {d.name}: {d.reason}" for d in view.findings.items)
    return "\n".join(lines) + "\n"


def render_json(view: ConversationView) -> str:
    import orjson

    out = {
        "conversation_ids": view.conversation_ids,
        "messages": [{"channel": m.channel, "message_id": m.message_id, "archived": m.archived,
                      "records": [{"name": n, "document": d} for n, d in m.records],
                      "reports": [{"name": n, "document": d} for n, d in m.reports]} for m in view.messages],
        "damaged": [{"name": d.name, "reason": d.reason} for d in view.findings.items],
    }
    return orjson.dumps(out, option=orjson.OPT_INDENT_2).decode("utf-8") + "\n"


# -- export and find ---------------------------------------------------------------------------------------


def channel_values(d: Mapping[str, Any]) -> dict[str, Any]:
    """The export CSV columns of a channel record (same columns as chat; ``thread_id`` is the conversation id)."""
    sender = d.get("from") or {}
    media = d.get("media") or {}
    content = d.get("content")
    if content is None and d.get("kind", "").endswith(("-report", "-engagement")):
        content = _describe(d)
    return {
        "message_id": d.get("message_id"),
        "action": d.get("action") or d.get("status") or d.get("engagement"),
        "message_type": d.get("message_type") or media.get("mime_type"),
        "sender_id": sender.get("address"),
        "sender_hash": sender.get("hash"),
        "content": content,
        "composed_at": record_at(d),
        "participants": (d.get("to") or {}).get("address"),
    }


def text_line(item: Any) -> str:
    d = item.document
    return (f"{item.at}  {d.get('channel'):<8} {d.get('kind')}  {d.get('conversation_id')}  {d.get('message_id')}  "
            f"{_party(d.get('from'))} -> {_party(d.get('to'))}  {_describe(d)}")
