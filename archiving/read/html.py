"""A thread as one self-contained HTML page, for a person to read in a browser.

Self-contained: inline CSS, no script, nothing loaded from anywhere (a Content-Security-Policy
forbids it too).  Text messages are escaped; html messages are sanitized with nh3 (the Ammonia
sanitizer): scripts, event handlers, styles, forms, frames and images are removed, links keep
only http, https and mailto and get rel="noopener noreferrer".

Honest about what it shows:

- names, ids and times are isolated with ``<bdi>`` (and message bodies get ``dir="auto"``), so a
  right-to-left name does not reorder the date or phone number beside it;
- every person is shown with the kind of their raw id and a short hash (the first 8 characters of
  the user hash, as in ``find`` and the index tags), so two people with one display name can be
  told apart; ``raw_ids=True`` shows the raw ids instead, where policy allows;
- what the sanitizer removes leaves a visible placeholder (``[image removed: <alt text>]``,
  ``[script removed]``);
- each message names its source blob and the sha256 computed when it was read (under "source");
- damaged blobs (failed checks, left out) are listed at the top.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from html.parser import HTMLParser
from typing import Any

from archiving.read.reader import MessageView, ThreadView, summary, timeline, when
from archiving.read.safe import html_text as escape  # every stored value goes out through it
from archiving.read.safe import visible_controls

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
.who{font-size:11px;color:#5a606b;font-family:ui-monospace,monospace;margin-left:4px}
.removed{display:inline-block;font-size:12px;font-style:italic;color:#8a4b4b;border:1px dashed #c99;padding:0 4px;border-radius:4px}
.damaged{background:#fbf2f2;border:1px solid #e5c4c4;border-radius:8px;padding:10px 14px;margin-bottom:16px}
.source code{word-break:break-all;font-size:11px}
details ol{margin:4px 0;padding-left:22px}
footer{color:#5a606b;font-size:12px;margin-top:24px}
"""


# Elements the page never shows.  Void ones and script/style (whose content goes too) become a placeholder;
# for the others a placeholder marks where they were and their text content is kept (Ammonia unwraps them).
_VOID_REMOVED = {"img", "input", "embed", "link", "meta", "source", "track", "param", "base", "area", "image"}
_DROPPED = {"script", "style", "noscript", "template"}
_MARKED = {"iframe", "object", "video", "audio", "svg", "math", "form", "button", "select", "textarea",
           "frame", "frameset", "canvas", "picture", "dialog", "applet"}


class _Placeholders(HTMLParser):
    """Replaces removed elements by tokens, so that the sanitized text can say what was removed."""

    def __init__(self, nonce: str):
        super().__init__(convert_charrefs=False)
        self.nonce = nonce
        self.out: list[str] = []
        self.labels: list[str] = []
        self.skipping: str | None = None

    def _mark(self, label: str) -> None:
        self.out.append(f" @@{self.nonce}-{len(self.labels)}@@ ")
        self.labels.append(label)

    def handle_starttag(self, tag, attrs):
        if self.skipping:
            return
        if tag in _VOID_REMOVED:
            alt = dict(attrs).get("alt") or dict(attrs).get("title")
            what = "image" if tag in ("img", "image") else tag
            self._mark(f"{what} removed" + (f": {alt}" if alt else ""))
        elif tag in _DROPPED:
            self._mark(f"{tag} removed")
            self.skipping = tag
        elif tag in _MARKED:
            self._mark(f"{tag} removed")
        else:
            self.out.append(self.get_starttag_text() or "")

    def handle_startendtag(self, tag, attrs):
        if tag in _DROPPED or tag in _MARKED or tag in _VOID_REMOVED:
            self.handle_starttag(tag, attrs)
            if self.skipping == tag:
                self.skipping = None
        elif not self.skipping:
            self.out.append(self.get_starttag_text() or "")

    def handle_endtag(self, tag):
        if self.skipping:
            if tag == self.skipping:
                self.skipping = None
            return
        if tag not in _MARKED:
            self.out.append(f"</{tag}>")

    def handle_data(self, data):
        if not self.skipping:
            self.out.append(data)

    def handle_entityref(self, name):
        if not self.skipping:
            self.out.append(f"&{name};")

    def handle_charref(self, name):
        if not self.skipping:
            self.out.append(f"&#{name};")


def sanitize(html_text: str) -> str:
    """An html message made safe to show: Ammonia's defaults, without images, links tamed; what is
    removed leaves a visible placeholder (``[image removed: alt]``, ``[script removed]``)."""
    import nh3

    nonce = secrets.token_hex(6)  # the author cannot forge a placeholder token
    marker = _Placeholders(nonce)
    marker.feed(html_text)
    marker.close()
    tags = set(nh3.ALLOWED_TAGS) - {"img"}
    cleaned = nh3.clean("".join(marker.out), tags=tags, url_schemes={"http", "https", "mailto"},
                        link_rel="noopener noreferrer nofollow")
    for number, label in enumerate(marker.labels):
        cleaned = cleaned.replace(f" @@{nonce}-{number}@@ ", f'<span class="removed">[{escape(label)}]</span>', 1)
    return cleaned


def content_block(message_type: str, content: str | None) -> str:
    if content is None:
        return ""
    if message_type == "html":
        return f'<div class="content html" dir="auto">{sanitize(visible_controls(content))}</div>'
    return f'<div class="content" dir="auto">{escape(content)}</div>'


def time_tag(stamp: str | None) -> str:
    return f'<bdi><time datetime="{escape(stamp or "")}">{escape(when(stamp))}</time></bdi>'



def person(name: str, who: Mapping[str, Any] | None, hash_key: bytes | None, raw_ids: bool) -> str:
    """A person: the name isolated, and what tells two of one name apart (their id's kind and a short hash
    of it, or with ``raw_ids`` the raw id itself)."""
    shown = f'<bdi class="name">{escape(name)}</bdi>'
    raw = (who or {}).get("raw_id")
    if not raw:
        return shown
    if raw_ids:
        detail = raw
    else:
        if hash_key:
            from archiving.store.records import user_hash

            short = user_hash(hash_key, raw)[:8]
        else:  # without the key: a plain hash, still tells two people apart on one page
            short = hashlib.sha256(str(raw).encode("utf-8")).hexdigest()[:8]
        detail = f"{who.get('kind') or 'unknown'} · {short}"
    return f'{shown}<bdi class="who" title="identity">{escape(detail)}</bdi>'


class _People:
    """How a person of a thread is shown (``person``, with the thread's name for them)."""

    def __init__(self, view: ThreadView, hash_key: bytes | None, raw_ids: bool):
        self.view, self.hash_key, self.raw_ids = view, hash_key, raw_ids

    def tag(self, who: Mapping[str, Any] | None) -> str:
        return person(self.view.name(who), who, self.hash_key, self.raw_ids)

    def line(self, doc: Mapping[str, Any]) -> str:
        """A thread event in words, names isolated."""
        actor = self.tag(doc.get("actor")) if doc.get("actor") else "(system)"
        names = ", ".join(self.tag(p) for p in doc.get("participants") or [])
        action = doc.get("action")
        topic = (doc.get("properties") or {}).get("topic")
        quoted = f'"<bdi>{escape(topic)}</bdi>"' if topic is not None else ""
        return {
            "created": f"{actor} created the thread" + (f" {quoted}" if topic else "") + (f" with {names}" if names else ""),
            "updated": f"{actor} changed the thread" + (f" topic to {quoted}" if topic is not None else " properties"),
            "deleted": f"{actor} deleted the thread",
            "participant-added": f"{actor} added {names}",
            "participant-removed": f"{actor} removed {names}",
        }.get(action, f"{actor}: {escape(str(action))}")


def source_tag(source: str, sha256: str | None) -> str:
    """The blob an entry was read from and the sha256 computed when it was read."""
    return (f'<details class="source"><summary>source</summary><bdi><code>{escape(source)}</code></bdi><br>sha256 '
            f'<bdi><code>{escape(sha256 or "?")}</code></bdi></details>')



def damaged_section(items: Iterable[Any]) -> str:
    """The damaged blobs a read left out (``Damage``: name, reason), at the top of the page."""
    items = list(items)
    if not items:
        return ""
    entries = "".join(f"<li><bdi><code>{escape(d.name)}</code></bdi>: <bdi>{escape(d.reason)}</bdi></li>" for d in items)
    return (f'<section class="damaged"><strong>DAMAGED, LEFT OUT: {plural(len(items), "damaged blob")}</strong> '
            f"(failed the checks of every read; see python -m archiving verify):<ul>{entries}</ul></section>")


def page(title: str, heading: str, rows: Iterable[tuple[str, str]], damaged: str, items: Iterable[str],
         footer: str, style: str = "") -> str:
    """The page shell: CSP, no script, inline style.  ``title``, ``heading`` and ``footer`` are plain text
    (escaped here); ``rows`` are (plain label, html value) pairs, ``items`` html ``<li>`` entries."""
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\" dir=\"ltr\"><head><meta charset=\"utf-8\">",
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{escape(title)}</title><style>{STYLE}{style}</style></head><body><main>",
        f'<header class="thread"><h1 dir="auto">{escape(heading)}</h1><dl>',
        "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in rows),
        '</dl></header>', damaged, '<ol class="timeline">',
        "\n".join(items),
        f"</ol><footer>{escape(footer)}.</footer></main></body></html>\n",
    ])


def _message(view: ThreadView, m: MessageView, history: bool, people: _People) -> str:
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
        body = content_block(m.message_type, m.content)
    parts = [
        f'<li class="{classes}" id="m-{escape(m.message_id)}" data-message-id="{escape(m.message_id)}">',
        f'<div class="meta"><span class="sender">{people.tag(m.sender)}</span> {time_tag(m.composed_at)}'
        f'{"".join(badges)}</div>',
        body,
        source_tag(m.latest.source, m.latest.source_sha256),
    ]
    if history:
        items = []
        for v in m.history():
            label = f"v{v.version} {v.action}" + (" (conflicting copy)" if v.conflict else "")
            shown = content_block(v.message_type, v.content) if v.content is not None else '<div class="gone">(no content)</div>'
            items.append(f'<li class="version" data-version="{v.version}"><span class="label">{escape(label)}</span>{shown}'
                         f'{source_tag(v.source, v.source_sha256)}</li>')
        label = "1 version" if len(items) == 1 else f"{len(items)} versions"
        parts.append(f'<details open><summary>{label}</summary><ol>{"".join(items)}</ol></details>')
    parts.append("</li>")
    return "".join(parts)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _event(people: _People, doc: Mapping[str, Any]) -> str:
    return f'<li class="event">{time_tag(doc.get("occurred_at"))} · {people.line(doc)}</li>'


def render_html(view: ThreadView, history: bool = False, generated_at: str | None = None,
                hash_key: bytes | None = None, raw_ids: bool = False) -> str:
    edited, deleted = summary(view)
    people = _People(view, hash_key, raw_ids)
    title = view.topic or view.thread_id
    participants = ", ".join(people.tag(p) for p in view.participants.values()) or "(unknown)"
    rows = [
        ("Thread", f"<bdi>{escape(view.thread_id)}</bdi>"),
        ("Participants", participants),
        ("Messages", escape(f"{len(view.messages)} ({edited} edited, {deleted} deleted)")),
        ("Sources", escape(f"{plural(view.blobs, 'archived blob')}, {plural(view.transcripts, 'transcript')}")),
    ]
    if view.conflicts:
        rows.append(("Conflicting copies", escape(str(view.conflicts))))
    items = []
    for kind, item in timeline(view):
        items.append(_event(people, item) if kind == "event" else _message(view, item, history, people))
    footer = "Reassembled from the archive by python -m archiving show"
    if generated_at:
        footer += f" at {generated_at}"
    return page(title, view.topic or "(no topic)", rows, damaged_section(view.findings.items), items, footer)
