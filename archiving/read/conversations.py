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
    if doc.get("kind") == OUTBOUND_MESSAGE:  # archived before it was sent: the time it left
        return doc.get("archived_at")
    return doc.get("received_at") or doc.get("sent_at") or doc.get("reported_at")


def is_channel_document(doc: Any) -> bool:
    return isinstance(doc, Mapping) and doc.get("channel") in keys.CHANNELS


OUTBOUND_MESSAGE = "outbound-message"
INBOUND, OUTBOUND = "inbound", "outbound"
# The send outcome as show, export and find print it.
OUTCOMES = {"sent": "sent", "failed": "failed", "archived, send outcome unknown": "outcome unknown"}
NOT_ARCHIVED_BEFORE_SEND = "not archived before send"


def direction_of(doc: Mapping[str, Any]) -> str | None:
    kind = str(doc.get("kind") or "")
    if kind == OUTBOUND_MESSAGE:
        return OUTBOUND
    if kind.endswith("-message") and doc.get("channel") != "chat":
        return INBOUND
    return None


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
    message_id: str  # inbound: the ACS message id; outbound: the archive id
    channel: str
    records: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)  # the message (received / sent)
    reports: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)
    direction: str = INBOUND
    outcome: str | None = None  # outbound: sent | failed | outcome unknown
    not_archived_before_send: bool = False
    acs_ids: list[str] = field(default_factory=list)  # outbound: the ACS ids its reports carry

    @property
    def at(self) -> str:
        times = [record_at(d) or "" for _, d in self.records] or [record_at(d) or "" for _, d in self.reports]
        return min(times) if times else ""

    @property
    def archived(self) -> bool:
        return bool(self.records)

    @property
    def delivery_status(self) -> str | None:
        """The latest delivery report's status (engagement reports aside)."""
        statuses = [d.get("status") for _, d in self.reports if d.get("status")]
        return statuses[-1] if statuses else None

    @property
    def outcome_text(self) -> str | None:
        if self.direction != OUTBOUND or not self.records:  # sent without the archive: its reports tell
            return None
        text = self.outcome or "outcome unknown"
        return f"{text}, {NOT_ARCHIVED_BEFORE_SEND}" if self.not_archived_before_send else text


@dataclass
class ConversationView:
    conversation_ids: list[str]
    messages: list[MessageView]
    findings: Findings
    shas: dict[str, str] = field(default_factory=dict)  # blob name -> the sha256 computed when it was read

    @property
    def empty(self) -> bool:
        return not self.messages


def _assemble(blobs: Iterable[Any], outbound: OutboundNames | None = None,
              shas: dict[str, str] | None = None) -> list[MessageView]:
    views: dict[tuple[str, str], MessageView] = {}
    for blob in blobs:
        if shas is not None:
            shas[blob.name] = blob.sha256
        doc = blob.document
        if isinstance(doc, Mapping) and doc.get("kind") == OUTBOUND_MESSAGE:
            ch, aid = doc.get("channel"), doc.get("archive_id")
            outcome, late = outbound.status(ch, aid) if outbound else (None, False)
            # An email's reports carry its archive id: they may have come first, under the same key.
            earlier = views.get((ch, aid))
            views[(ch, aid)] = MessageView(aid, ch, [(blob.name, doc)], earlier.reports if earlier else [],
                                           direction=OUTBOUND, outcome=outcome, not_archived_before_send=late,
                                           acs_ids=[aid] if earlier else [])
            continue
        if not is_channel_document(doc):
            continue
        view = views.setdefault((doc["channel"], doc["message_id"]), MessageView(doc["message_id"], doc["channel"]))
        # By the name: received / sent (issue 12) are the message, reports/ its reports; conflict copies alike.
        target = view.reports if "/reports/" in blob.name else view.records
        target.append((blob.name, doc))
    for view in views.values():
        view.reports.sort(key=lambda r: (record_at(r[1]) or "", r[0]))
        if not view.records and view.reports:  # only what the business sent has delivery reports
            view.direction = OUTBOUND
    return sorted(views.values(), key=lambda v: (v.at, v.message_id))


def load_conversation(store: Any, conversation_ids: Iterable[str], channel: str | None = None,
                      workers: int = WORKERS, hash_key: bytes | None = None) -> ConversationView:
    """Every record of the conversations, both directions: inbound messages, reports, and the outbound
    messages tagged with the conversation (their outcome told by their blobs' names, not read)."""
    ids = list(dict.fromkeys(conversation_ids))
    findings = Findings()
    names = _names(store, (_tag_query(conversation=c, channel=channel) for c in ids))
    inbound, outbound = split_outbound(store, names)
    # Found by a tag query: their tags exist (the only tag check of these layouts), no request per blob for them.
    shas: dict[str, str] = {}
    messages = _assemble(read_verified(store, [*inbound, *outbound.message_names()], findings, workers,
                                       check_tags=False), outbound, shas)
    messages = join_reports(store, messages, findings, hash_key)
    found = sorted({d["conversation_id"] for m in messages for _, d in (*m.records, *m.reports)
                    if d.get("conversation_id")})
    return ConversationView(found or ids, messages, findings, shas)  # the ids that hold records, to print


@dataclass
class OutboundNames:
    """The outbound blobs a tag query found, by (channel, archive id): the names of each message's blobs."""

    files: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def message_names(self) -> list[str]:
        from archiving.outbound import layout

        return [layout.message_key(ch, aid) for (ch, aid), files in self.files.items()
                if f"message{keys.RECORD_SUFFIX}" in files]

    def status(self, channel: str, archive_id: str) -> tuple[str, bool]:
        from archiving.outbound import layout

        files = self.files.get((channel, archive_id), set())
        return (OUTCOMES[layout.status_of(files)],
                f"not-archived-before-send{keys.RECORD_SUFFIX}" in files)


def split_outbound(store: Any, names: Iterable[str]) -> tuple[list[str], OutboundNames]:
    """Inbound names apart; outbound ones grouped by message. A message found by an index blob (a recipient
    after the first) or without its outcomes among the names has its folder listed (one request)."""
    from archiving.outbound import layout

    inbound: list[str] = []
    out = OutboundNames()
    to_list: set[tuple[str, str]] = set()
    for name in names:
        parsed = layout.parse_name(name) if name.startswith(layout.ROOT) else None
        if parsed is None:
            if not name.startswith(layout.ROOT):
                inbound.append(name)
            continue
        ch, aid, file = parsed
        if ch == "chat":
            continue  # the chat record it became is the message (joined by archiveId)
        files = out.files.setdefault((ch, aid), set())
        if file == "index":
            to_list.add((ch, aid))
        else:
            files.add(file)
    for (ch, aid), files in out.files.items():
        if (ch, aid) in to_list or files == {f"message{keys.RECORD_SUFFIX}"}:
            # Listed: an index blob's message, or a record whose outcome carries no conversation tag.
            files.update(n.rsplit("/", 1)[1] for n in store.list_names(layout.message_prefix(ch, aid)))
    return inbound, out


def _linked_archive_id(store: Any, channel: str, message_id: str, hash_key: bytes | None, findings: Findings,
                       links: dict[tuple[str, str], Any]) -> Any:
    """The archive id the ``by-acs-id`` link of an ACS message id names (None without one), read once per call
    of the command (``links``); a damaged link goes to ``findings``."""
    from archiving.outbound import layout

    if (channel, message_id) not in links:
        found = None
        link = layout.by_acs_id_key(channel, message_id, hash_key)
        if store.exists(link):
            for blob in read_verified(store, [link], findings):
                found = blob.document.get("archive_id")
        links[(channel, message_id)] = found
    return links[(channel, message_id)]


def join_reports(store: Any, messages: list[MessageView], findings: Findings,
                 hash_key: bytes | None, links: dict[tuple[str, str], Any] | None = None) -> list[MessageView]:
    """Reports whose message is an outbound one move under it: by the email's archive id (the operation id
    is the report's messageId), the SMS tag (ours: the archive id), else the ``by-acs-id`` link."""
    links = {} if links is None else links
    outbound = {(m.channel, m.message_id): m for m in messages if m.direction == OUTBOUND and m.records}
    if not outbound:
        return messages
    kept = []
    for m in messages:
        if m.records or not m.reports:
            kept.append(m)
            continue
        target = outbound.get((m.channel, m.message_id))
        if target is None:
            tag = m.reports[0][1].get("tag")
            target = outbound.get((m.channel, tag)) if isinstance(tag, str) else None
        if target is None and (hash_key is not None or keys.is_documented_id(m.message_id)):
            target = outbound.get((m.channel, _linked_archive_id(store, m.channel, m.message_id, hash_key, findings,
                                                                 links)))
        if target is None:
            kept.append(m)
            continue
        target.reports.extend(m.reports)
        target.reports.sort(key=lambda r: (record_at(r[1]) or "", r[0]))
        target.acs_ids.append(m.message_id)
    return sorted(kept, key=lambda v: (v.at, v.message_id))


def conversation_ids_between(hash_key: bytes, a: str, b: str) -> list[str]:
    """Both directions: either party may be the business."""
    ha, hb = party_hash(hash_key, a), party_hash(hash_key, b)
    return [keys.conversation_id(ha, hb), keys.conversation_id(hb, ha)]


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        return str(uuid.UUID(value)) == value.lower()
    except (ValueError, TypeError, AttributeError):
        return False


def _outbound_of(store: Any, m: MessageView, hash_key: bytes | None, findings: Findings,
                 links: dict[tuple[str, str], Any]) -> list[str]:
    """The names of the outbound message a report-only view is of (empty when it was not sent through the archive;
    a damaged link goes to ``findings``)."""
    from archiving.outbound import layout

    if m.channel not in layout.CONVERSATION_CHANNELS:
        return []
    candidates = [m.message_id] if _is_uuid(m.message_id) else []
    if hash_key is not None or keys.is_documented_id(m.message_id):
        aid = _linked_archive_id(store, m.channel, m.message_id, hash_key, findings, links)
        if isinstance(aid, str) and _is_uuid(aid):
            candidates.append(aid)
    for aid in candidates:
        names = list(store.list_names(layout.message_prefix(m.channel, aid)))
        if names:
            return names
    return []


def load_message(store: Any, message_id: str, channel: str | None = None, workers: int = WORKERS,
                 hash_key: bytes | None = None) -> ConversationView:
    findings = Findings()
    names = _names(store, [_tag_query(message=keys.message_tag(message_id, hash_key), channel=channel)])
    shas: dict[str, str] = {}
    blobs = list(read_verified(store, names, findings, workers, check_tags=False))  # found by tags
    messages = _assemble(blobs, shas=shas)
    # Known by its reports only: perhaps a message the business sent through the archive (an email's reports
    # carry its archive id; an SMS or WhatsApp id leads to it through its by-acs-id link).
    links: dict[tuple[str, str], Any] = {}  # each link read once: to find the message, then to join its reports
    found = [n for m in messages if not m.records and m.reports
             for n in _outbound_of(store, m, hash_key, findings, links)]
    if found:
        _, outbound = split_outbound(store, found)
        blobs += read_verified(store, outbound.message_names(), findings, workers)
        messages = join_reports(store, _assemble(blobs, outbound, shas), findings, hash_key, links)
    conversations = sorted({c for m in messages for _, d in (*m.records, *m.reports)
                            if (c := d.get("conversation_id") or outbound_conversation(d))})
    return ConversationView(conversations, messages, findings, shas)


# -- rendering -------------------------------------------------------------------------------------------


def _party(p: Mapping[str, Any] | None) -> str:
    return (p or {}).get("address") or "?"


def parties(doc: Mapping[str, Any]) -> tuple[str, str]:
    """(from, to) of a channel record or an outbound message, as addresses."""
    if doc.get("kind") == OUTBOUND_MESSAGE:
        return _party(doc.get("sender")), ", ".join(_party(r) for r in doc.get("recipients") or []) or "?"
    return _party(doc.get("from")), _party(doc.get("to"))


def content_of(doc: Mapping[str, Any]) -> str | None:
    """The text of a message: inbound ``content``; outbound body text (else its HTML) or template name."""
    if doc.get("kind") != OUTBOUND_MESSAGE:
        return doc.get("content")
    body = doc.get("body") or {}
    text = body.get("text") if body.get("text") is not None else body.get("html")
    if text is None and doc.get("template"):
        text = f"[template {(doc.get('template') or {}).get('name')}]"
    return text


def attachments_of(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Attachments by content hash: outbound attachments, inbound media (name, type, sha256, blob)."""
    if doc.get("kind") == OUTBOUND_MESSAGE:
        return [{"name": a.get("name") or a.get("fileName") or a.get("mediaUri"),
                 "content_type": a.get("content_type"), "sha256": a.get("sha256"), "blob": a.get("blob")}
                for a in doc.get("attachments") or []]
    media = doc.get("media")
    if isinstance(media, Mapping):
        return [{"name": media.get("file_name"), "content_type": media.get("mime_type"),
                 "sha256": media.get("sha256"), "blob": media.get("blob")}]
    return []


def _describe(doc: Mapping[str, Any]) -> str:
    kind = doc.get("kind", "")
    if kind == OUTBOUND_MESSAGE:
        parts = []
        if doc.get("subject") is not None:
            parts.append(f"subject {doc['subject']!r}")
        text = content_of(doc)
        if text is not None:
            parts.append(repr(text))
        parts.extend(f"[{a.get('name') or 'attachment'} sha256={a.get('sha256') or '-'}]" for a in attachments_of(doc))
        return " ".join(parts) or "(no content)"
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
    """Every line through ``safe.terminal``: stored text never reaches a terminal raw."""
    from archiving.read.safe import terminal

    lines = [f"conversation {', '.join(view.conversation_ids)}"]
    for m in view.messages:
        first = (m.records or m.reports)[0][1]
        sender, to = parties(first)
        lines.append("")
        state = ""
        if m.direction == OUTBOUND:
            state = f"  [{m.outcome_text}" + (f"; delivery {m.delivery_status}" if m.delivery_status else "") + "]"
        lines.append(f"{m.channel} {m.direction} message {m.message_id}  {sender} -> {to}{state}"
                     + ("" if m.archived else f"  ({NOT_ARCHIVED})"))
        for name, doc in m.records:
            conflict = "  [conflict copy]" if ".conflict-" in name else ""
            what = "sent" if m.direction == OUTBOUND else (doc.get("action") or doc.get("kind"))
            lines.append(f"  {record_at(doc)}  {what}  {_describe(doc)}{conflict}")
        for name, doc in m.reports:
            conflict = "  [conflict copy]" if ".conflict-" in name else ""
            lines.append(f"  {record_at(doc)}  report  {_describe(doc)}{conflict}")
    if view.findings:
        lines.append("")
        lines.extend(f"damaged: {d.name}: {d.reason}" for d in view.findings.items)
    return "\n".join(terminal(line) for line in lines) + "\n"


def render_json(view: ConversationView) -> str:
    import orjson

    out = {
        "conversation_ids": view.conversation_ids,
        "messages": [{"channel": m.channel, "message_id": m.message_id, "direction": m.direction,
                      "outcome": m.outcome, "not_archived_before_send": m.not_archived_before_send,
                      "delivery_status": m.delivery_status, "acs_ids": m.acs_ids, "archived": m.archived,
                      "records": [{"name": n, "document": d} for n, d in m.records],
                      "reports": [{"name": n, "document": d} for n, d in m.reports]} for m in view.messages],
        "damaged": [{"name": d.name, "reason": d.reason} for d in view.findings.items],
    }
    return orjson.dumps(out, option=orjson.OPT_INDENT_2).decode("utf-8") + "\n"


CSV_COLUMNS = ("at", "channel", "direction", "message_id", "from", "to", "content", "attachments", "outcome",
               "delivery_status", "conversation_id", "source")


def render_csv(view: ConversationView, bom: bool = False) -> str:
    """One row per message in time order (reports summed up as its delivery status); cells neutralized for
    spreadsheets."""
    import csv
    import io

    from archiving.read.safe import BOM, spreadsheet_cell

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for m in view.messages:
        name, doc = (m.records or m.reports)[0]
        sender, to = parties(doc)
        row = (m.at, m.channel, m.direction, m.message_id, sender, to, content_of(doc) if m.records else None,
               "; ".join(f"{a.get('name') or ''} sha256={a.get('sha256') or '-'}" for a in attachments_of(doc)),
               m.outcome_text, m.delivery_status, doc.get("conversation_id") or view.conversation_ids[0], name)
        writer.writerow([spreadsheet_cell("" if v is None else str(v)) for v in row])
    return (BOM if bom else "") + buf.getvalue()


# -- export and find ---------------------------------------------------------------------------------------


def outbound_conversation(doc: Mapping[str, Any]) -> str | None:
    """The conversation of an outbound message's first recipient (its ``conversation`` tag)."""
    from archiving.outbound import layout

    found = layout.conversation_tags(doc.get("channel"), (doc.get("sender") or {}).get("hash"),
                                     doc.get("recipients") or [])
    return found[0][0] if found else None


def channel_values(d: Mapping[str, Any]) -> dict[str, Any]:
    """The export CSV columns of a channel record (same columns as chat; ``thread_id`` is the conversation id)."""
    if d.get("kind") == OUTBOUND_MESSAGE:
        sender, to = parties(d)
        return {"message_id": d.get("archive_id"), "action": "sent", "message_type": (d.get("body") or {}).get("kind"),
                "sender_id": sender, "sender_hash": (d.get("sender") or {}).get("hash"), "content": content_of(d),
                "composed_at": record_at(d), "participants": to, "topic": d.get("subject")}
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
    sender, to = parties(d)
    direction = f" {item.direction}" if item.direction else ""
    outcome = f" [{item.outcome}]" if item.outcome else ""
    return (f"{item.at}  {d.get('channel'):<8} {d.get('kind')}{direction}  {item.thread_id}  "
            f"{d.get('message_id') or d.get('archive_id')}  {sender} -> {to}  {_describe(d)}{outcome}")
