"""A thread as one self-contained HTML page, for a person to read in a browser.

Self-contained: inline CSS, no script, nothing loaded from anywhere (a Content-Security-Policy
forbids it too).  Text messages are escaped; html messages are sanitized with nh3 (the Ammonia
sanitizer): scripts, event handlers, styles, forms, frames and images are removed, links keep
only http, https and mailto and get rel="noopener noreferrer".
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from archiving.read.reader import MessageView, ThreadView, summary, thread_line, timeline, when

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1d1f23}
main{max-width:860px;margin:0 auto;padding:24px}
header.thread{background:#fff;border:1px solid #d8dbe0;border-radius:8px;padding:16px 20px;margin-bottom:20px}
header.thread h1{font-size:20px;margin:0 0 8px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0}
dt{color:#5a606b}dd{margin:0;word-break:break-all}
ol.timeline{list-style:none;margin:0;padding:0}
li.event{color:#5a606b;font-size:13px;text-align:center;margin:10px 0}
li.message{background:#fff;border:1px solid #d8dbe0;border-radius:8px;padding:10px 14px;margin:8px 0}
li.message.deleted{background:#fbf2f2;border-color:#e5c4c4}
.meta{font-size:13px;color:#5a606b;margin-bottom:4px}
.sender{font-weight:600;color:#1d1f23}
.badge{display:inline-block;font-size:11px;padding:0 6px;border-radius:8px;background:#e8eaee;margin-left:6px}
.badge.deleted{background:#f3d6d6}.badge.conflict{background:#f7e3b5}
.content{white-space:pre-wrap;overflow-wrap:anywhere}
.content.html{white-space:normal}
.gone{font-style:italic;color:#8a4b4b}
details{margin-top:6px;font-size:13px}
details ol{margin:4px 0;padding-left:22px}
footer{color:#5a606b;font-size:12px;margin-top:24px}
"""


def sanitize(html_text: str) -> str:
    """An html message made safe to show: Ammonia's defaults, without images, links tamed."""
    import nh3

    tags = set(nh3.ALLOWED_TAGS) - {"img"}
    return nh3.clean(html_text, tags=tags, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer nofollow")


def _content(message_type: str, content: str | None) -> str:
    if content is None:
        return ""
    if message_type == "html":
        return f'<div class="content html">{sanitize(content)}</div>'
    return f'<div class="content">{escape(content)}</div>'


def _time(stamp: str | None) -> str:
    return f'<time datetime="{escape(stamp or "")}">{escape(when(stamp))}</time>'


def _message(view: ThreadView, m: MessageView, history: bool) -> str:
    classes = "message deleted" if m.deleted_at else "message"
    badges = []
    if m.edited_at and not m.deleted_at:
        badges.append(f'<span class="badge edited">edited {escape(when(m.edited_at))}</span>')
    if m.deleted_at:
        badges.append(f'<span class="badge deleted">deleted {escape(when(m.deleted_at))}</span>')
    if m.conflicts:
        copies = "1 conflicting copy" if len(m.conflicts) == 1 else f"{len(m.conflicts)} conflicting copies"
        badges.append(f'<span class="badge conflict">{copies}</span>')
    if m.deleted_at:
        body = f'<div class="gone">This message was deleted at {escape(when(m.deleted_at))}.</div>'
    else:
        body = _content(m.message_type, m.content)
    parts = [
        f'<li class="{classes}" id="m-{escape(m.message_id)}" data-message-id="{escape(m.message_id)}">',
        f'<div class="meta"><span class="sender">{escape(view.name(m.sender))}</span> {_time(m.composed_at)}'
        f'{"".join(badges)}</div>',
        body,
    ]
    if history:
        items = []
        for v in m.history():
            label = f"v{v.version} {v.action}" + (" (conflicting copy)" if v.conflict else "")
            shown = _content(v.message_type, v.content) if v.content is not None else '<div class="gone">(no content)</div>'
            items.append(f'<li class="version" data-version="{v.version}"><span class="label">{escape(label)}</span>{shown}</li>')
        label = "1 version" if len(items) == 1 else f"{len(items)} versions"
        parts.append(f'<details open><summary>{label}</summary><ol>{"".join(items)}</ol></details>')
    parts.append("</li>")
    return "".join(parts)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _event(view: ThreadView, doc: Mapping[str, Any]) -> str:
    return f'<li class="event">{_time(doc.get("occurred_at"))} · {escape(thread_line(view, doc))}</li>'


def render_html(view: ThreadView, history: bool = False, generated_at: str | None = None) -> str:
    edited, deleted = summary(view)
    title = view.topic or view.thread_id
    participants = ", ".join(view.name(p) for p in view.participants.values()) or "(unknown)"
    rows = [
        ("Thread", view.thread_id),
        ("Participants", participants),
        ("Messages", f"{len(view.messages)} ({edited} edited, {deleted} deleted)"),
        ("Sources", f"{_n(view.blobs, 'archived blob')}, {_n(view.transcripts, 'transcript')}"),
    ]
    if view.conflicts:
        rows.append(("Conflicting copies", str(view.conflicts)))
    items = []
    for kind, item in timeline(view):
        items.append(_event(view, item) if kind == "event" else _message(view, item, history))
    footer = "Reassembled from the archive by python -m archiving show"
    if generated_at:
        footer += f" at {generated_at}"
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body><main>",
        f'<header class="thread"><h1>{escape(view.topic or "(no topic)")}</h1><dl>',
        "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows),
        '</dl></header><ol class="timeline">',
        "\n".join(items),
        f"</ol><footer>{escape(footer)}.</footer></main></body></html>\n",
    ])
