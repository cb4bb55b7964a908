"""An SMS, WhatsApp or email conversation (and, with ``--between``, the calls of the two parties) as one
self-contained HTML page: the page shell, escaping, CSP and person tags of read/html.py.

Each entry: its time, direction (inbound / outbound / call, told apart by the label and the entry's side
and colour), parties as the text view shows them (addresses; ACS ids of call participants as their kind
and a short hash unless ``raw_ids``), content (email subject and body text; an html-only body sanitized as
chat html is; WhatsApp media and attachments by file name, sha256 and blob name as text, never loaded),
the send outcome and latest delivery status of what the business sent, every report, and the source blob
with the sha256 computed when it was read.  Damaged blobs are listed at the top ("DAMAGED, LEFT OUT").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from archiving.read.conversations import (
    NOT_ARCHIVED,
    OUTBOUND,
    OUTBOUND_MESSAGE,
    ConversationView,
    MessageView,
    _describe,
    attachments_of,
    parties,
    record_at,
)
from archiving.read.html import content_block, damaged_section, page, person, plural, source_tag, time_tag
from archiving.read.safe import html_text as escape

STYLE = """
li.entry{background:#fff;border:1px solid #d8dbe0;border-radius:8px;padding:10px 14px;margin:8px 0}
li.entry.inbound{margin-right:12%;border-left:5px solid #3b6fd8}
li.entry.outbound{margin-left:12%;border-right:5px solid #2e9d5b;background:#f3fbf6}
li.entry.call{border-style:dashed;background:#f8f6fc}
.dir{display:inline-block;font-size:11px;font-weight:700;text-transform:uppercase;padding:0 6px;border-radius:8px;margin-right:6px}
.dir.inbound{background:#dde7fb;color:#1f4aa8}.dir.outbound{background:#d5f0e0;color:#1d6b3d}.dir.call{background:#e7e0f5;color:#4b3288}
.channel{font-size:12px;color:#5a606b;margin-right:6px}
.parties{margin-left:6px}
.badge.sent{background:#d5f0e0}.badge.failed{background:#f3d6d6}.badge.unknown{background:#f7e3b5}
.badge.late{background:#f7e3b5}.badge.missing{background:#f3d6d6}
.record{margin-top:6px}.subject{font-weight:600}
ul.files{margin:4px 0;padding-left:20px;font-size:13px}
.extra{font-size:13px;color:#5a606b}
"""


def _code(value: Any) -> str:
    """An id, hash or blob name: monospace, and isolated like every stored value."""
    return f"<bdi><code>{escape(value)}</code></bdi>"


def _pick(value: Any) -> Any:
    return value if isinstance(value, Mapping) else {}


def _record(m: MessageView, name: str, doc: Mapping[str, Any], sha: str | None) -> str:
    what = "sent" if m.direction == OUTBOUND else (doc.get("action") or doc.get("kind"))
    conflict = '<span class="badge conflict">conflict copy</span>' if ".conflict-" in name else ""
    parts = [f'<div class="record"><div class="meta">{time_tag(record_at(doc))} <bdi>{escape(what)}</bdi>{conflict}</div>']
    if doc.get("kind") == OUTBOUND_MESSAGE:
        if doc.get("subject") is not None:
            parts.append(f'<div class="subject">Subject: <bdi>{escape(doc["subject"])}</bdi></div>')
        body = _pick(doc.get("body"))
        if body.get("text") is not None:
            parts.append(content_block("text", body["text"]))
        elif body.get("html") is not None:  # an html-only email: sanitized as a chat html message is
            parts.append(content_block("html", body["html"]))
        elif doc.get("template"):
            parts.append(f'<div class="extra">[template <bdi>{escape(_pick(doc["template"]).get("name"))}</bdi>]</div>')
        files = [(a.get("name") or "attachment", a.get("sha256"), a.get("blob"), None) for a in attachments_of(doc)]
    else:
        if doc.get("content") is not None:
            parts.append(content_block("text", doc["content"]))
        media = _pick(doc.get("media"))
        files = []
        if media:
            state = None if media.get("status") == "stored" else f"NOT RETRIEVABLE: {media.get('reason')}"
            files.append((media.get("file_name") or media.get("mime_type") or "media", media.get("sha256"),
                          media.get("blob"), state))
            if media.get("caption"):
                parts.append(f'<div class="extra">caption <bdi>{escape(media["caption"])}</bdi></div>')
        extras = []
        if doc.get("reaction"):
            r = _pick(doc["reaction"])
            extras.append(f'reaction <bdi>{escape(r.get("emoji"))}</bdi> to <bdi>{escape(r.get("messageId"))}</bdi>')
        if doc.get("context"):
            extras.append(f'reply to <bdi>{escape(_pick(doc["context"]).get("id"))}</bdi>')
        extras.extend(f"[{extra}]" for extra in ("button", "interactive") if doc.get(extra))
        parts.extend(f'<div class="extra">{e}</div>' for e in extras)
    if files:  # by name and content hash, as text: the page never loads (nor links) a stored file
        items = "".join(
            f'<li><bdi>{escape(n)}</bdi> · sha256 {_code(s or "-")}'
            + (f" · {_code(b)}" if b else "")
            + (f' · <span class="badge missing"><bdi>{escape(state)}</bdi></span>' if state else "") + "</li>"
            for n, s, b, state in files)
        parts.append(f'<ul class="files">{items}</ul>')
    parts.append(source_tag(name, sha))
    parts.append("</div>")
    return "".join(parts)


def _outcome(m: MessageView) -> str:
    if not m.archived:
        return f'<span class="badge missing">{escape(NOT_ARCHIVED)}</span>'
    if m.direction != OUTBOUND:
        return ""
    outcome = m.outcome or "outcome unknown"
    css = {"sent": "sent", "failed": "failed"}.get(outcome, "unknown")
    shown = f'<span class="badge {css}"><bdi>{escape(outcome)}</bdi></span>'
    if m.not_archived_before_send:
        shown += '<span class="badge late">not archived before send</span>'
    return shown


def _message(number: int, m: MessageView, shas: Mapping[str, str]) -> str:
    first = (m.records or m.reports)[0][1]
    sender, to = parties(first)
    direction = m.direction
    state = _outcome(m)
    if m.delivery_status:
        state += f'<span class="badge delivery">delivery <bdi>{escape(m.delivery_status)}</bdi></span>'
    parts = [
        f'<li class="entry message {direction}" id="e-{number}">',
        f'<div class="meta"><span class="dir {direction}">{direction}</span><span class="channel"><bdi>{escape(m.channel)}</bdi>'
        f'</span>{time_tag(m.at)}<span class="parties"><bdi class="party">{escape(sender)}</bdi> → '
        f'<bdi class="party">{escape(to)}</bdi></span>{state}</div>',
        f'<div class="extra">message {_code(m.message_id)}</div>',
    ]
    parts.extend(_record(m, name, doc, shas.get(name)) for name, doc in m.records)
    if m.reports:
        rows = "".join(f'<li>{time_tag(record_at(doc))} <bdi>{escape(_describe(doc))}</bdi>'
                       + ('<span class="badge conflict">conflict copy</span>' if ".conflict-" in name else "")
                       + f"{source_tag(name, shas.get(name))}</li>" for name, doc in m.reports)
        parts.append(f'<details open><summary>{plural(len(m.reports), "report")}</summary><ol>{rows}</ol></details>')
    parts.append("</li>")
    return "".join(parts)


def _call(number: int, view: Any, hash_key: bytes | None, raw_ids: bool) -> tuple[str, str]:
    from archiving.read.calls import summary

    s = summary(view.records)

    def who(p: Mapping[str, Any] | None) -> str:
        return person(p.get("display_name") or "(no name)", p, hash_key, raw_ids) if p else "-"

    duration = "-" if s["duration_seconds"] is None else f"{s['duration_seconds']} s"
    lines = [f"call {_code(s['call_id'])} · duration <bdi>{escape(duration)}</bdi>",
             f"started {time_tag(s['started_at'])} by {who(s['started_by'])}",
             f"ended {time_tag(s['ended_at'])} by {who(s['ended_by'])}"
             + (f" (<bdi>{escape(s['end_reason'])}</bdi>)" if s["end_reason"] else "")]
    for p in s["participants"]:
        lines.append(f"participant {who(p)} joined " + (", ".join(time_tag(t) for t in p["joined_at"]) or "-")
                     + " left " + (", ".join(time_tag(t) for t in p["left_at"]) or "-"))
    for i in s["incoming"]:
        lines.append(f"incoming {time_tag(i['at'])} {who(i['from'])} → {who(i['to'])}")
    files = []
    for r in s["recordings"]:
        files.append(f"<li>recording <bdi>{escape(r['recording_id'])}</bdi> <bdi>{escape(r['status'])}</bdi></li>")
        files.extend(f"<li>chunk <bdi>{escape(c['index'])}</bdi> <bdi>{escape(c['status'])}</bdi> · sha256 "
                     f"{_code(c['sha256'] or '-')} · size <bdi>{escape(c['size'])}</bdi> · "
                     f"{_code(c['path'] or '-')}</li>" for c in r["chunks"])
    sources = "".join(f"<li>{source_tag(name, view.shas.get(name))}</li>" for name, _ in view.records)
    at = s["started_at"] or min((d.get("at") or "" for _, d in view.records), default="")
    html = "".join([
        f'<li class="entry call" id="c-{number}"><div class="meta"><span class="dir call">call</span>{time_tag(at)}</div>',
        "".join(f'<div class="extra">{line}</div>' for line in lines),
        f'<ul class="files">{"".join(files)}</ul>' if files else "",
        f'<details><summary>{plural(len(view.records), "record")}</summary><ol>{sources}</ol></details></li>',
    ])
    return at, html


def render_conversation_html(view: ConversationView, calls: Iterable[Any] = (), between: Iterable[str] = (),
                             generated_at: str | None = None, hash_key: bytes | None = None,
                             raw_ids: bool = False) -> str:
    calls = list(calls)
    entries = [(m.at, 0, _message(n, m, view.shas)) for n, m in enumerate(view.messages, 1)]
    entries.extend((at, 1, html) for at, html in (_call(n, c, hash_key, raw_ids) for n, c in enumerate(calls, 1)))
    entries.sort(key=lambda e: (e[0] or "", e[1]))
    outbound = sum(1 for m in view.messages if m.direction == OUTBOUND)
    rows = [("Conversation", ", ".join(f"<bdi>{escape(c)}</bdi>" for c in view.conversation_ids) or "-")]
    between = list(between)
    if between:
        rows.append(("Between", " and ".join(f"<bdi>{escape(p)}</bdi>" for p in between)))
    channels = sorted({m.channel for m in view.messages})
    rows.append(("Messages", "<bdi>" + escape(f"{len(view.messages)} ({len(view.messages) - outbound} inbound, {outbound} "
                                    f"outbound)" + (f" by {', '.join(channels)}" if channels else "")) + "</bdi>"))
    if calls:
        rows.append(("Calls", escape(str(len(calls)))))
    damaged = [*view.findings.items, *(d for c in calls for d in c.findings.items)]
    footer = "Reassembled from the archive by python -m archiving show"
    if generated_at:
        footer += f" at {generated_at}"
    title = f"Conversation {view.conversation_ids[0]}" if view.conversation_ids else "Conversation"
    return page(title, "Conversation", rows, damaged_section(damaged), [e[2] for e in entries], footer, STYLE)
