"""``show --format html`` for SMS, WhatsApp and email conversations (issue 19): one self-contained page, every
message in time order with its direction, outcome, delivery status, source blob and sha256; the calls of the
two parties (``--between``) as entries too.  Built as in production (the real ACS SDKs against the HTTPS test
server, real Azurite); the hostile-text property test feeds every field of every record kind; the page is
opened in a headless Chromium where one is installed (tests/browser.py: skipped otherwise, failed with CI=true).
"""

from __future__ import annotations

import copy
import hashlib
import re
from html.parser import HTMLParser

import nh3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiving.ingest.archiver import archive_event

from .acs_server.media import add_media
from .conftest import load_vector
from .test_channels import media_services  # noqa: F401 - Services that can download WhatsApp media
from .test_two_way import (  # noqa: F401 - outbound: the archive the clients write to
    ANN, BUSINESS, CUSTOMER, HOSTILE, KEY, SHOP, WA_CHANNEL, _records, at, email_client, email_message, email_report,
    outbound, sms_client, sms_conversation, wa_client)

# Every element the page itself writes.  An html-only email body adds what the sanitizer keeps (below).
PAGE_ELEMENTS = {"html", "head", "meta", "title", "style", "body", "main", "header", "h1", "dl", "dt", "dd",
                 "section", "strong", "ul", "ol", "li", "code", "footer", "bdi", "time", "div", "span", "details",
                 "summary", "br"}
PAGE_ATTRIBUTES = {"lang", "dir", "charset", "http-equiv", "content", "name", "class", "id", "datetime", "title", "open"}
SANITIZED = set(nh3.ALLOWED_TAGS) - {"img"}
BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
VOID = {"meta", "br", "img", "hr", "wbr", "input", "link", "col", "area", "base", "embed", "source", "track"}


class Page(HTMLParser):
    """What a page holds: its elements and attributes, and each entry's text by its direction."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: set[str] = set()
        self.foreign: list[tuple[str, list]] = []  # elements or attributes the page never writes
        self.stack: list[tuple[str, dict]] = []
        self.entries: list[dict] = []
        self.feed(html)
        self.close()

    def _in_sanitized_html(self) -> bool:
        return any("html" in (a.get("class") or "").split() and t == "div" for t, a in self.stack)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elements.add(tag)
        allowed = SANITIZED if self._in_sanitized_html() else PAGE_ELEMENTS
        if tag not in allowed or tag in ("script", "img", "iframe", "style") and self.stack[-1:][0][0] != "head":
            self.foreign.append((tag, attrs))
        for name, value in attrs:
            if name.startswith("on") or (name not in PAGE_ATTRIBUTES and not (self._in_sanitized_html() and name in
                                                                              ("href", "rel", "title", "lang"))):
                self.foreign.append((tag, attrs))
            if name == "href" and not re.match(r"^(https?:|mailto:)", value or "", re.I):
                self.foreign.append((tag, attrs))
        if tag == "li" and "entry" in (a.get("class") or "").split():
            self.entries.append({"class": a["class"].split(), "text": ""})
        if tag not in VOID:
            self.stack.append((tag, a))

    def handle_endtag(self, tag):
        if any(t == tag for t, _ in self.stack):  # the page and the sanitizer write well-formed markup
            while self.stack.pop()[0] != tag:
                pass

    def handle_data(self, data):
        tags = [t for t, _ in self.stack]
        if set(data) & BIDI and "title" not in tags and "style" not in tags:
            # A bidi control is only ever inside an isolate: <bdi> or an element with dir.
            assert any(t == "bdi" or "dir" in a for t, a in self.stack[2:]), (data, tags)
        if any(t == "li" and "entry" in (a.get("class") or "").split() for t, a in self.stack):
            self.entries[-1]["text"] += data


def check(html: str) -> Page:
    page = Page(html)
    assert page.foreign == [], page.foreign[:3]
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    return page


# -- the hostile-text property ---------------------------------------------------------------------------

MARKUP = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "' onmouseover='alert(1)",
          "</bdi></li><script>x</script>", "<a href=\"javascript:alert(1)\">x</a>", "<b onclick=x>bold</b>",
          "&lt;script&gt;", "<!--", "]]>", "<svg/onload=alert(1)>", "\u202e<iframe src=//e.example>", "a\x00<b>",
          "\x1b[2J\x1b]0;t\x07<style>*{}</style>", "<title>x</title>", "`${x}`", "</textarea><form>"]
HTML_HOSTILE = st.one_of(HOSTILE, st.sampled_from(MARKUP),
                         st.lists(st.sampled_from(["<", ">", '"', "'", "&", "=", "/", " ", "script", "on", "img",
                                                   "\u202e", "\u2066", "\x00", "\x1b", "\r", "\n", "a", "b"]),
                                  max_size=20).map("".join))


def _call_records(h):
    who = {"raw_id": h, "kind": h, "hash": "0" * 64, "display_name": h}
    head = {"schema_version": 1, "channel": "call", "call_id": h, "server_call_id": h, "correlation_id": h}
    return [
        {**head, "kind": "call-started", "at": h, "started_by": who},
        {**head, "kind": "call-ended", "at": h, "ended_by": who, "duration_seconds": h, "reason": h},
        {**head, "kind": "call-participant", "at": h, "action": "added", "participant": who},
        {**head, "kind": "call-incoming", "at": h, "from": who, "to": who},
        {**head, "kind": "call-recording", "at": h, "recording_key_id": h, "recording_id": h, "status": h,
         "recording_start_time": h, "duration_ms": h, "content_type": h, "format_type": h,
         "chunks": [{"index": h, "content": {"status": h, "sha256": h, "size": h, "content_type": h, "blob": h},
                     "metadata": {"sha256": h, "blob": h}}]},
        {**head, "kind": "call-recording-announced", "at": h, "recording_key_id": h + "2", "recording_id": h,
         "recording_start_time": h, "duration_ms": h, "content_type": h, "format_type": h, "chunks": []},
    ]


def hostile_views(h):
    """A conversation holding one record of every SMS, WhatsApp, email and outbound kind, an html-only email,
    a message known by its report alone, damage, and a call: each field the hostile string ``h``."""
    from archiving.read import conversations as conv
    from archiving.read.calls import CallView
    from archiving.read.verified import Findings

    findings = Findings()
    findings.add(h, f"invalid: name says {h}")
    docs = _records(h)
    html_only = {**docs[-1], "body": {"html": h}, "channel": "email"}
    messages, shas = [], {}
    for n, doc in enumerate([*docs, html_only]):
        direction = conv.direction_of(doc) or "inbound"
        name = f"{doc['channel']}/{h}/{n}/" + ("reports/r" if "report" in doc["kind"] or "engagement" in doc["kind"]
                                               else "m")
        m = conv.MessageView(h, doc["channel"], direction=direction, outcome=h if direction == "outbound" else None,
                             not_archived_before_send=direction == "outbound")
        (m.reports if "/reports/" in name else m.records).append((name, doc))
        shas[name] = h
        if direction == "outbound":
            m.reports.append((name + "r", docs[1]))
        messages.append(m)
    call = CallView(h, [(f"call/{h}/{n}", d) for n, d in enumerate(_call_records(h))], findings=findings)
    call.shas = {name: h for name, _ in call.records}
    return conv.ConversationView([h], messages, findings, shas), [call]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=HTML_HOSTILE, raw_ids=st.booleans())
def test_the_conversation_page_shows_hostile_stored_text_as_text(h, raw_ids):
    from archiving.read.conversation_html import render_conversation_html

    view, calls = hostile_views(h)
    html = render_conversation_html(view, calls, between=[h, h], generated_at="2026-12-06T00:00:00Z", hash_key=KEY, raw_ids=raw_ids)
    page = check(html)
    assert len(page.entries) == len(view.messages) + 1  # every record kind is an entry, and the call
    assert "DAMAGED, LEFT OUT: 2 damaged blobs" in html
    # Controls are shown, never written: a browser would drop a NUL, a terminal would run an escape.
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", html)


def test_markup_in_each_field_is_text_on_the_page():
    """The property, with one known string: it comes out escaped where it was stored, and only there."""
    from archiving.read.conversation_html import render_conversation_html

    h = '<script>alert("x")</script>\u202e'
    view, calls = hostile_views(h)
    html = render_conversation_html(view, calls, hash_key=KEY)
    check(html)
    assert "<script" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert html.count("sha256 <bdi><code>&lt;script&gt;") >= len(view.messages)  # each record's sha256, as stored
    # Call participants by their id's kind and a short hash; their raw ids only with raw_ids.
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;\u202e · " in html
    assert "not archived before send" in html


# -- a real conversation, through the command -------------------------------------------------------------


def _whatsapp_in(event_id: str, when: str, media: dict | None = None, text: str | None = None) -> dict:
    event = copy.deepcopy(load_vector("eventgrid/event-grid-schema/advanced_message_received.json"))
    event["id"] = event_id
    event["data"] = {"channelType": "whatsapp", "from": CUSTOMER, "to": WA_CHANNEL, "receivedTimestamp": when,
                     "messageType": "image" if media else "text", **({"media": media} if media else {}),
                     **({"content": text} if text else {})}
    return event


def _run(archive_env, *args):
    from .test_cli import cli

    return cli("show", *args, env=archive_env)


def _entries(page_html: str) -> list[tuple[str, str]]:
    """(direction, text) of each entry, in page order."""
    return [(next(c for c in e["class"] if c in ("inbound", "outbound", "call")), e["text"])
            for e in check(page_html).entries]


def test_sms_conversation_page_lists_both_directions_with_outcome_and_delivery(acs, archive_env, services,
                                                                                outbound, tmp_path):
    from azure.core.exceptions import HttpResponseError

    sms_conversation(acs, services, outbound)  # sent + Delivered, then the customer's reply
    acs.faults.add(400, path=r"^/sms$", method="POST", times=1, retry_after=None)
    with pytest.raises(HttpResponseError):
        sms_client(acs, outbound).send(BUSINESS, CUSTOMER, "<b>refused</b> \u202ebackwards")
    page = tmp_path / "sms.html"
    shown = _run(archive_env, "--between", CUSTOMER, BUSINESS, "--format", "html", "--out", str(page))
    assert shown.returncode == 0, shown.stderr
    html = page.read_text(encoding="utf-8")
    entries = _entries(html)
    assert [d for d, _ in entries] == ["outbound", "outbound", "inbound"], entries  # the reply is a minute later
    sent, failed, reply = (t for _, t in entries)
    assert "Shall we book you in?" in sent and "sent" in sent and "delivery Delivered" in sent
    assert f"{BUSINESS} → {CUSTOMER}" in sent and f"{CUSTOMER} → {BUSINESS}" in reply  # as the text view shows
    assert "yes please" in reply and "received" in reply
    assert "failed" in failed and "<b>refused</b> \u202ebackwards" in failed  # as text, isolated
    assert "&lt;b&gt;refused&lt;/b&gt;" in html and "<b>" not in html
    # Each record names its blob and the sha256 computed when it was read, equal to the blob's metadata.
    for name, sha in re.findall(r'<summary>source</summary><bdi><code>([^<]+)</code></bdi><br>sha256 '
                                r'<bdi><code>([0-9a-f]{64})</code></bdi>', html):
        assert services.store.read_raw(name)[1]["sha256"] == sha
    assert html.count("<summary>source</summary>") == 4  # 3 messages, 1 delivery report
    # By the conversation id: the same entries.
    conversation = _run(archive_env, "--between", CUSTOMER, BUSINESS).stdout.splitlines()[0].split()[1].rstrip(",")
    by_id = _run(archive_env, conversation, "--format", "html")
    assert by_id.returncode == 0 and [d for d, _ in _entries(by_id.stdout)] == ["outbound", "outbound", "inbound"]


def test_email_page_shows_subject_body_attachment_and_delivery(acs, archive_env, services, outbound):
    result = email_client(acs, outbound).begin_send(email_message()).result()
    archive_event(email_report(result["id"], "Delivered", at(3)), services.store, KEY)
    shown = _run(archive_env, "--between", SHOP, ANN, "--format", "html")
    assert shown.returncode == 0, shown.stderr
    ((direction, text),) = _entries(shown.stdout)
    assert direction == "outbound" and "Subject: Your statement" in text and "Balance: 12.00" in text
    sha = hashlib.sha256(b"statement body").hexdigest()
    assert f"statement.txt · sha256 {sha}" in text and "delivery Delivered" in text and "sent" in text
    assert f"{SHOP} → {ANN}" in text
    # One message's delivery history (--message) is such a page too.
    one = _run(archive_env, "--message", result["id"], "--format", "html")
    ((direction, text),) = _entries(one.stdout)
    assert one.returncode == 0 and direction == "outbound" and "delivery Delivered" in text


def test_whatsapp_page_names_media_by_file_and_sha256_and_never_loads_it(acs, archive_env, media_services,
                                                                         outbound):
    svc = media_services
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    add_media(acs, "media-html", data, "image/png")
    media = {"id": "media-html", "mimeType": "image/png", "fileName": "Lageplan \u202egnp.exe", "caption": "<i>here</i>"}
    wa_client(acs, outbound).send({"kind": "text", "channelRegistrationId": WA_CHANNEL, "to": [CUSTOMER],
                                   "content": "Where should we deliver?"})
    for event in (_whatsapp_in("wa-html-1", at(5), media=media), _whatsapp_in("wa-html-2", at(6), text="thanks")):
        assert archive_event(event, svc.store, KEY, media=svc.media).status == "archived"
    shown = _run(archive_env, "--between", CUSTOMER, WA_CHANNEL, "--format", "html")
    assert shown.returncode == 0, shown.stderr
    html = shown.stdout
    entries = _entries(html)
    assert [d for d, _ in entries] == ["outbound", "inbound", "inbound"]
    assert "Where should we deliver?" in entries[0][1] and "outcome unknown" not in entries[0][1]
    sha = hashlib.sha256(data).hexdigest()
    assert f"Lageplan \u202egnp.exe · sha256 {sha}" in entries[1][1] and "caption <i>here</i>" in entries[1][1]
    assert "<img" not in html and "src=" not in html and "href=" not in html  # named, never loaded or linked
    assert "<bdi>Lageplan \u202egnp.exe</bdi>" in html  # the override stays inside its isolate
    assert "thanks" in entries[2][1]


def test_a_damaged_record_is_listed_at_the_top_and_left_out(acs, archive_env, services, outbound):
    sms_conversation(acs, services, outbound)
    name = next(n for n in services.store.list_names("sms/") if n.endswith("/received.json.lz4"))
    data, metadata = services.store.read_raw(name)
    tags = services.store.container.get_blob_client(name).get_blob_tags()
    services.store.container.upload_blob(name, data[:-7], overwrite=True, metadata=metadata, tags=tags)
    shown = _run(archive_env, "--between", CUSTOMER, BUSINESS, "--format", "html")
    assert shown.returncode == 1 and "Traceback" not in shown.stderr  # as show's other formats
    assert f"unreadable\t{name}\t" in shown.stderr  # named on stderr, as show's help says
    assert "DAMAGED, LEFT OUT: 1 damaged blob</strong>" in shown.stdout and f"<code>{name}</code>" in shown.stdout
    assert [d for d, _ in _entries(shown.stdout)] == ["outbound"]  # the reply is left out, the rest shown
    assert _run(archive_env, "--between", CUSTOMER, BUSINESS).returncode == 1


def test_nothing_archived_exits_3_as_the_other_formats(archive_env):
    shown = _run(archive_env, "--between", "+14255550100", "+14255550101", "--format", "html")
    assert (shown.returncode, shown.stdout) == (3, "") and "nothing archived" in shown.stderr


def test_the_page_renders_in_chromium_with_directions_apart(acs, archive_env, services, outbound, tmp_path):
    from .browser import chromium, dump_dom, screenshot

    chromium()  # skips when Chromium is missing (fails instead with CI=true), before the conversation is made
    sms_conversation(acs, services, outbound)
    sms_client(acs, outbound).send(BUSINESS, CUSTOMER, "<script>document.title='pwned'</script>ok")
    page = tmp_path / "c.html"
    shown = _run(archive_env, "--between", CUSTOMER, BUSINESS, "--format", "html", "--out", str(page))
    assert shown.returncode == 0, shown.stderr
    dom = dump_dom(page)
    title = re.search(r"<title>(.*?)</title>", dom).group(1)
    assert title.startswith("Conversation ") and "pwned" not in title  # no script ran
    assert "<script" not in dom
    assert [d for d, _ in _entries(dom)] == ["outbound", "outbound", "inbound"]
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;ok" in dom
    png = screenshot(page, tmp_path / "c.png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000  # a page with text, not a blank one

