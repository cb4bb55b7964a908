"""The read side (show, export, find, verify, reconcile, replay of dead letters) on realistic archives.

Archives are built as in production: a conversation happens in the HTTPS ACS test server, the
Event Grid events it would raise are delivered (twice, shuffled) to the real ``archive_event``
function, and transcripts come from the real ``archive_thread`` queue function.  Some events are
"lost" on purpose to show that the reader merges transcripts in and that reconcile finds the gaps.
The HTML page is opened in a real headless Chromium.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
import logging
import random
import uuid
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

import azure.functions as func
import pytest

from archiving.store import codec
from archiving.cli.main import main
from archiving.store.records import user_hash
from archiving.threads.sweep import ThreadToArchive

from .acs_server import AcsTestServer
from .browser import chromium, dump_dom, screenshot
from .conftest import HASH_KEY
from .host import Out, grid_event

UTC = timezone.utc
P = "Microsoft.Communication."
RESOURCE = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/support-rg/providers/"
            "Microsoft.Communication/communicationServices/contoso-chat")
_first = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
MONTH_START = (_first - timedelta(days=1)).replace(day=1)  # the first of last month, 00:00 UTC
T0 = MONTH_START - timedelta(minutes=10)  # 23:50 on the last day of the month before: crosses a month

HTML_BODY = ("<p>Sorry! <b>Checking</b> with the warehouse.</p><script>document.title='pwned'</script>"
             "<img src=x onerror=\"document.title='pwned'\">")
SCRIPT_TEXT = "<script>document.title='pwned'</script> Use code <b>A&B</b>"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def stamp(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ident(raw: str) -> dict:
    return {"rawId": raw, "communicationUser": {"id": raw}}


# -- a conversation in ACS and the events Event Grid delivers for it ----------------------------------


class Conversation:
    """Drives the ACS test server and records the thread-level events the service would publish."""

    def __init__(self, acs: AcsTestServer, topic: str, creator: str, members: dict[str, str], when: datetime):
        self.acs, self.names, self.events = acs, dict(members), []
        self.tid = acs.create_thread(topic, creator, [(u, n) for u, n in members.items()], created_on=when)
        self.emit("ChatThreadCreated", when, createdByCommunicationIdentifier=ident(creator),
                  properties={"topic": topic}, metadata={},
                  participants=[self.participant(u) for u in members], createTime=stamp(when),
                  version=int(when.timestamp() * 1000))

    def participant(self, user: str) -> dict:
        return {"displayName": self.names[user], "participantCommunicationIdentifier": ident(user), "metadata": {}}

    def emit(self, event_type: str, when: datetime, **data) -> dict:
        event = {"id": str(uuid.uuid4()), "topic": RESOURCE, "subject": f"thread/{self.tid}",
                 "eventType": P + event_type, "eventTime": stamp(when + timedelta(milliseconds=300)),
                 "dataVersion": "1.0", "metadataVersion": "1",
                 "data": {**data, "threadId": self.tid, "transactionId": uuid.uuid4().hex}}
        self.events.append(event)
        return event

    def _message_event(self, kind: str, mid: str, when: datetime, **extra) -> dict:
        m = self.acs.message(self.tid, mid)
        sender = m["senderCommunicationIdentifier"]["rawId"]
        # Versions come as numbers in some events and as strings in others.
        version = m["version"] if kind == "Edited" else int(m["version"])
        return self.emit(f"ChatMessage{kind}InThread", when, messageId=mid, senderCommunicationIdentifier=ident(sender),
                         senderDisplayName=self.names[sender], composeTime=m["createdOn"],
                         type=m["type"].capitalize(), version=version, **extra)

    def send(self, sender: str, text: str, minutes: float, kind: str = "text") -> str:
        mid = self.acs.send_message(self.tid, sender, text, type=kind, created_on=at(minutes),
                                    sender_display_name=self.names[sender])
        self._message_event("Received", mid, at(minutes), messageBody=text, metadata={})
        return mid

    def edit(self, mid: str, text: str, minutes: float) -> None:
        self.acs.edit_message(self.tid, mid, text, edited_on=at(minutes))
        self._message_event("Edited", mid, at(minutes), messageBody=text, metadata={}, editTime=stamp(at(minutes)))

    def delete(self, mid: str, minutes: float) -> None:
        self.acs.delete_message(self.tid, mid, deleted_on=at(minutes))
        self._message_event("Deleted", mid, at(minutes), deleteTime=stamp(at(minutes)))

    def add(self, user: str, name: str, by: str, minutes: float) -> None:
        self.names[user] = name
        self.acs.add_participant(self.tid, user, name, by=by, added_on=at(minutes))
        self.emit("ChatThreadParticipantAdded", at(minutes), time=stamp(at(minutes)),
                  addedByCommunicationIdentifier=ident(by), participantAdded=self.participant(user),
                  version=int(at(minutes).timestamp() * 1000))

    def remove(self, user: str, by: str, minutes: float) -> None:
        self.acs.remove_participant(self.tid, user, by=by, removed_on=at(minutes))
        self.emit("ChatThreadParticipantRemoved", at(minutes), time=stamp(at(minutes)),
                  removedByCommunicationIdentifier=ident(by), participantRemoved=self.participant(user),
                  version=int(at(minutes).timestamp() * 1000))

    def retopic(self, topic: str, by: str, minutes: float) -> None:
        self.acs.update_topic(self.tid, topic, by=by, updated_on=at(minutes))
        self.emit("ChatThreadPropertiesUpdated", at(minutes), editedByCommunicationIdentifier=ident(by),
                  editTime=stamp(at(minutes)), properties={"topic": topic}, metadata={},
                  version=int(at(minutes).timestamp() * 1000))


@pytest.fixture
def env(acs_env):
    return acs_env


@pytest.fixture
def svc(acs_services):
    return acs_services


@pytest.fixture
def deliver(app_functions):
    fn = app_functions["archive_event"].get_user_function()

    def run(events, copies: int = 2, seed: int = 7):
        # At least once and in no particular order, as Event Grid delivers.
        batch = [copy.deepcopy(e) for e in events for _ in range(copies)]
        random.Random(seed).shuffle(batch)
        for raw in batch:
            out = Out()
            fn(event=grid_event(raw), rejected=out)
            assert out.value is None, out.value
    return run


@pytest.fixture
def transcript(app_functions):
    """Write a thread's transcript through the real archive_thread queue function."""
    fn = app_functions["archive_thread"].get_user_function()

    def run(acs: AcsTestServer, tid: str):
        last = max(datetime.fromisoformat(m["createdOn"].replace("Z", "+00:00")) for m in acs.messages(tid))
        body = ThreadToArchive(tid, last).to_message()
        fn(msg=func.QueueMessage(id=uuid.uuid4().hex, body=body.encode("utf-8")))
    return run


@pytest.fixture
def cli(capsys, tmp_path):
    """python -m archiving in this process (an empty settings file: the environment only)."""
    empty = tmp_path / "empty.settings.json"  # a --settings file must exist (exit 2 otherwise)
    empty.write_text('{"Values": {}}', encoding="utf-8")

    def run(*args: str) -> tuple[int, str, str]:
        # main() configures logging for a process of its own: leave this one's as it was.
        loggers = [logging.getLogger(name) for name in ("", "azure", "urllib3")]
        levels = [logger.level for logger in loggers]
        try:
            code = main(["--quiet", "--settings", str(empty), *args])
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)
        out, err = capsys.readouterr()
        return code, out, err
    return run


@pytest.fixture
def people(acs, env):
    return {"alice": acs.create_user(), "bob": acs.create_user(), "carol": acs.create_user(),
            "archiver": env["ARCHIVER_USER_ID"]}


def support_thread(acs, people) -> tuple[Conversation, dict[str, str]]:
    """The support conversation: across a month boundary, an edit, a deletion, html, people in and out."""
    alice, bob, carol, archiver = people["alice"], people["bob"], people["carol"], people["archiver"]
    c = Conversation(acs, "Order 4711: late delivery", alice,
                     {alice: "Alice (Contoso support)", bob: "Bob Jones", archiver: "Archiver"}, at(0))
    ids = {
        "hello": c.send(alice, "Hello Bob, I'm Alice from Contoso. How can I help?", 2),
        "order": c.send(bob, 'My order 4711 was due yesterday, "express" shipping, still nothing.', 12),
    }
    c.edit(ids["order"], "My order 4711 was due yesterday (express shipping), still nothing. 📦", 13)
    ids["html"] = c.send(alice, HTML_BODY, 14, kind="html")
    ids["oops"] = c.send(alice, "Oops, wrong window.", 15)
    c.delete(ids["oops"], 15.5)
    c.add(carol, "Carol (supervisor)", alice, 16)
    ids["script"] = c.send(carol, SCRIPT_TEXT, 17)
    c.retopic("Order 4711: late delivery (resolved)", alice, 18)
    ids["thanks"] = c.send(bob, "Thanks, got it!", 19)
    c.remove(bob, alice, 20)
    return c, ids


def lost(c: Conversation, *message_ids: str, types: tuple[str, ...] = ()) -> list[dict]:
    """The events minus those of the given messages (and of the given event types): "lost" in transit."""
    return [e for e in c.events if e["data"].get("messageId") not in message_ids
            and e["eventType"].removeprefix(P) not in types]


# -- show --------------------------------------------------------------------------------------------


class _Messages(HTMLParser):
    """The rendered messages of a page: each li.message's text and the elements inside it."""

    VOID = {"area", "br", "col", "hr", "img", "input", "link", "meta", "wbr"}

    def __init__(self):
        super().__init__()
        self.messages: dict[str, str] = {}
        self.tags_in: dict[str, list[str]] = {}
        self.title = ""
        self.stack: list[tuple[str, str | None]] = []

    def _current(self) -> str | None:
        return next((mid for _, mid in reversed(self.stack) if mid), None)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        mid = None
        if tag == "li" and "message" in (a.get("class") or "").split():
            mid = a["data-message-id"]
            self.messages[mid], self.tags_in[mid] = "", []
        elif self._current():
            self.tags_in[self._current()].append(tag)
        if tag not in self.VOID:
            self.stack.append((tag, mid))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        if self.stack and self.stack[-1][0] == "title":
            self.title += data
        if self._current():
            self.messages[self._current()] += data


def test_show_merges_records_and_transcripts_across_months(acs, people, svc, deliver, transcript, cli, tmp_path):
    c, ids = support_thread(acs, people)
    deliver(lost(c, ids["thanks"]))  # Bob's thanks never arrived in real time...
    transcript(acs, c.tid)  # ...but the thread's transcript has it
    months = sorted({n.split("/")[1] for n in svc.store.list_names("chat/")})
    assert months == [f"{T0:%Y%m}", f"{MONTH_START:%Y%m}"]

    code, text, _ = cli("show", c.tid)
    assert code == 0
    assert "Topic: Order 4711: late delivery (resolved)\n" in text
    assert "Participants: Alice (Contoso support), Archiver, Carol (supervisor)\n" in text
    assert "Messages: 6 (1 edited, 1 deleted)\n" in text
    lines = text.splitlines()
    body = [l for l in lines if l[:4].isdigit()]
    d = f"{MONTH_START:%Y-%m-%d}"
    assert body == [
        f"{T0:%Y-%m-%d} 23:50:00Z  * Alice (Contoso support) created the thread \"Order 4711: late delivery\" "
        f"with Alice (Contoso support), Bob Jones, Archiver",
        f"{T0:%Y-%m-%d} 23:52:00Z  Alice (Contoso support): Hello Bob, I'm Alice from Contoso. How can I help?",
        f"{d} 00:02:00Z  Bob Jones: My order 4711 was due yesterday (express shipping), still nothing. 📦  "
        f"[edited {d} 00:03:00Z]",
        f"{d} 00:04:00Z  Alice (Contoso support): {HTML_BODY}",
        f"{d} 00:05:00Z  Alice (Contoso support): [deleted {d} 00:05:30Z]",
        f"{d} 00:06:00Z  * Alice (Contoso support) added Carol (supervisor)",
        f"{d} 00:07:00Z  Carol (supervisor): {SCRIPT_TEXT}",
        f"{d} 00:08:00Z  * Alice (Contoso support) changed the thread topic to \"Order 4711: late delivery (resolved)\"",
        f"{d} 00:09:00Z  Bob Jones: Thanks, got it!",
        f"{d} 00:10:00Z  * Alice (Contoso support) removed Bob Jones",
    ]

    code, history, _ = cli("show", c.tid, "--history")
    order_version = acs.message(c.tid, ids["order"])["version"]
    assert f"      v{ids['order']} received: My order 4711 was due yesterday, \"express\" shipping, still nothing.\n" in history
    assert f"      v{order_version} edited: My order 4711 was due yesterday (express shipping), still nothing. 📦\n" in history
    assert f"      v{ids['oops']} received: Oops, wrong window.\n" in history
    oops_version = acs.message(c.tid, ids["oops"])["version"]
    assert f"      v{oops_version} deleted: (no content)\n" in history

    code, out, _ = cli("show", c.tid, "--format", "json")
    doc = json.loads(out)
    assert doc["thread_id"] == c.tid and doc["topic"] == "Order 4711: late delivery (resolved)"
    assert [p["display_name"] for p in doc["participants"]] == ["Alice (Contoso support)", "Archiver", "Carol (supervisor)"]
    assert [m["message_id"] for m in doc["messages"]] == [ids[k] for k in ("hello", "order", "html", "oops", "script", "thanks")]
    order = doc["messages"][1]
    assert order["sender_id"] == people["bob"] and order["created_at"] == stamp(at(12))
    assert order["edited_at"] == stamp(at(13)) and order["deleted_at"] is None
    assert [(v["version"], v["action"]) for v in order["versions"]] == [(ids["order"], "received"), (order_version, "edited")]
    # Real-time record and transcript agree on the edited version: one version, the record's copy first.
    assert "/messages/" in order["versions"][1]["source"]
    oops = doc["messages"][3]
    assert oops["content"] is None and oops["deleted_at"] == stamp(at(15.5))
    thanks = doc["messages"][5]
    assert thanks["content"] == "Thanks, got it!" and "/transcripts/" in thanks["versions"][0]["source"]

    code, out, _ = cli("show", c.tid, "--format", "csv", "--history")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["message_id"], r["action"]) for r in rows][:3] == [
        (ids["hello"], "received"), (ids["order"], "received"), (ids["order"], "edited")]
    assert rows[1]["content"] == 'My order 4711 was due yesterday, "express" shipping, still nothing.'
    assert rows[1]["sender_display_name"] == "Bob Jones" and len(rows) == 8


def test_show_html_renders_in_chromium(acs, people, svc, deliver, transcript, cli, tmp_path):
    chromium()  # skips when Chromium is missing (fails instead with CI=true), before the thread is made
    c, ids = support_thread(acs, people)
    deliver(lost(c, ids["thanks"]))
    transcript(acs, c.tid)
    page = tmp_path / "thread.html"
    code, _, err = cli("show", c.tid, "--format", "html", "--history", "--out", str(page))
    assert code == 0 and f"wrote {page}" in err
    source = page.read_text(encoding="utf-8")
    assert "<script" not in source and "onerror" not in source  # sanitized and escaped
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt; Use code &lt;b&gt;A&amp;B&lt;/b&gt;" in source

    dom = dump_dom(page)
    parsed = _Messages()
    parsed.feed(dom)
    assert parsed.title == "Order 4711: late delivery (resolved)"  # no script ran
    assert list(parsed.messages) == [ids[k] for k in ("hello", "order", "html", "oops", "script", "thanks")]
    assert "Hello Bob, I'm Alice from Contoso." in parsed.messages[ids["hello"]]
    assert "(express shipping), still nothing. 📦" in parsed.messages[ids["order"]]
    assert "edited" in parsed.messages[ids["order"]]
    # The html message is rendered as html (bold kept), without its script or image.
    assert "Sorry! Checking with the warehouse." in parsed.messages[ids["html"]]
    assert "b" in parsed.tags_in[ids["html"]] and "script" not in parsed.tags_in[ids["html"]]
    assert "img" not in parsed.tags_in[ids["html"]]
    # The text message shows its markup as text.
    assert SCRIPT_TEXT in parsed.messages[ids["script"]]
    assert "script" not in parsed.tags_in[ids["script"]] and "b" not in parsed.tags_in[ids["script"]]
    assert "This message was deleted at" in parsed.messages[ids["oops"]]
    assert "Oops, wrong window." in parsed.messages[ids["oops"]]  # in its history only
    assert "Thanks, got it!" in parsed.messages[ids["thanks"]]

    png = screenshot(page, tmp_path / "thread.png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000  # a page with text, not a blank one


def test_show_from_a_transcript_alone_and_conflict_copies(acs, people, svc, deliver, transcript, cli):
    c, ids = support_thread(acs, people)
    transcript(acs, c.tid)  # no event arrived at all: the service's system messages tell the thread's story
    code, text, _ = cli("show", c.tid)
    assert code == 0
    d = f"{MONTH_START:%Y-%m-%d}"
    events = [l for l in text.splitlines() if "  * " in l]
    assert events == [
        f"{T0:%Y-%m-%d} 23:50:00Z  * Alice (Contoso support) created the thread",
        f"{T0:%Y-%m-%d} 23:50:00Z  * Alice (Contoso support) added Alice (Contoso support), Bob Jones, Archiver",
        f"{T0:%Y-%m-%d} 23:50:00Z  * Alice (Contoso support) changed the thread topic to \"Order 4711: late delivery\"",
        f"{d} 00:06:00Z  * Alice (Contoso support) added Carol (supervisor)",
        f"{d} 00:08:00Z  * Alice (Contoso support) changed the thread topic to \"Order 4711: late delivery (resolved)\"",
        f"{d} 00:10:00Z  * Alice (Contoso support) removed Bob Jones",
    ]
    assert "Messages: 6 (1 edited, 1 deleted)\n" in text
    assert f"{d} 00:05:00Z  Alice (Contoso support): [deleted {d} 00:05:30Z]\n" in text

    # A later copy of a message that differs from the archived one is kept beside it, and shown.
    hello = next(e for e in c.events if e["data"].get("messageId") == ids["hello"])
    deliver([hello], copies=1)
    differing = copy.deepcopy(hello)
    differing["id"], differing["data"]["messageBody"] = str(uuid.uuid4()), "Hello Bob, this copy differs."
    deliver([differing], copies=1)
    code, text, _ = cli("show", c.tid, "--history")
    assert "Conflicting copies: 1 (see --history)\n" in text
    assert f"      v{ids['hello']} received: Hello Bob, I'm Alice from Contoso. How can I help?\n" \
           f"      v{ids['hello']} received (conflicting copy): Hello Bob, this copy differs.\n" in text
    assert "Alice (Contoso support): Hello Bob, I'm Alice from Contoso. How can I help?\n" in text


def test_show_unknown_thread_exits_3(env, cli):
    code, out, err = cli("show", "19:nothing@thread.v2", "--format", "html")
    assert (code, out) == (3, "") and "nothing archived for thread 19:nothing@thread.v2" in err


# -- export ------------------------------------------------------------------------------------------


def test_export_finds_a_version_filed_in_a_month_before_the_range(acs, people, svc, deliver, cli, tmp_path):
    """A message record is filed by the message's creation: an edit made in the range of a message created the
    month before sits in that month's folder, which the listing of the range does not reach; the export must
    still hold it (and not the creation, which is outside the range)."""
    alice, bob = people["alice"], people["bob"]
    c = Conversation(acs, "Across the month", alice, {alice: "Alice", bob: "Bob"}, at(0))
    mid = c.send(bob, "Created the month before", 2)  # 23:52 on the last day of the month before
    c.edit(mid, "Edited in the range", 20)  # 00:10 on the first of the month
    deliver(c.events, copies=1)
    edited = next(n for n in svc.store.list_names("chat/") if f"/messages/{mid}/" in n and n.endswith("-edited.json.lz4"))
    assert edited.startswith(f"chat/{T0:%Y%m}/")  # filed in the month before the range

    out = tmp_path / "e.jsonl"
    code, text, err = cli("export", "--from", f"{MONTH_START:%Y-%m-%d}", "--to", f"{MONTH_START:%Y-%m-%d}",
                          "--out", str(out))
    assert code == 0, err
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    versions = [(l["document"]["message_id"], l["document"]["action"], l["source"]) for l in lines
                if l["kind"] == "message"]
    assert versions == [(mid, "edited", edited)]


def test_export_jsonl_and_csv_with_manifest(acs, people, svc, deliver, transcript, cli, tmp_path):
    c, ids = support_thread(acs, people)
    deliver(lost(c, ids["thanks"]))
    transcript(acs, c.tid)
    other, _ = support_thread(acs, {**people, "alice": acs.create_user()})
    deliver(other.events)

    # The new month only (the day of T0 is the month before): from its first day to 00:05:10 UTC.
    out = tmp_path / "export.jsonl"
    code, text, _ = cli("export", "--from", f"{MONTH_START:%Y-%m-%d}", "--to", stamp(at(15 + 1 / 6)),
                        "--thread", c.tid, "--format", "jsonl", "--out", str(out))
    assert code == 0, text
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    kinds = [(l["kind"], l["document"].get("message_id"), l["document"].get("action")) for l in lines]
    assert sorted(k for k in kinds if k[0] == "message") == sorted([
        ("message", ids["order"], "received"), ("message", ids["order"], "edited"),
        ("message", ids["html"], "received"), ("message", ids["oops"], "received")])
    transcript_ids = sorted(k[1] for k in kinds if k[0] == "transcript-message")
    assert transcript_ids == sorted([ids["order"], ids["html"], ids["oops"]])  # created or edited in range
    assert not [k for k in kinds if k[0] == "thread"]  # created the month before; the rest after 00:05:10
    assert all(l["thread_id"] == c.tid for l in lines)
    first = next(l for l in lines if l["kind"] == "message")
    blob_data, metadata = svc.store.read_raw(first["source"])
    assert first["source_sha256"] == metadata["sha256"] == hashlib.sha256(codec.decompress(blob_data)).hexdigest()

    manifest = json.loads((tmp_path / "export.jsonl.manifest.json").read_text())
    assert manifest["counts"] == {"message": 4, "thread": 0, "transcript-message": 3}
    assert manifest["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert manifest["bytes"] == out.stat().st_size and manifest["items"] == len(lines) == 7
    assert manifest["range"]["from"] == stamp(MONTH_START) and manifest["range"]["to"] == stamp(at(15 + 1 / 6))
    assert manifest["first_at"] == stamp(at(12)) and manifest["last_at"] == stamp(at(15))
    assert "exported 7 items (4 message records, 0 thread records, 3 transcript messages)" in text
    assert not (tmp_path / "export.jsonl.partial").exists()

    # Every thread, both months, as CSV: the date as --to includes that whole day.
    out_csv = tmp_path / "all.csv"
    code, text, _ = cli("export", "--from", f"{T0:%Y-%m-%d}", "--to", f"{MONTH_START:%Y-%m-%d}",
                        "--format", "csv", "--out", str(out_csv))
    assert code == 0
    assert out_csv.read_bytes().startswith(b"\xef\xbb\xbfkind,")  # a byte-order mark: Excel reads UTF-8
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text(encoding="utf-8-sig"), newline="")))
    assert {r["thread_id"] for r in rows} == {c.tid, other.tid}
    by_kind = {k: sum(1 for r in rows if r["kind"] == k) for k in ("message", "thread", "transcript-message")}
    # 8 message records per thread (the lost one absent from the first), 4 thread records each.
    assert by_kind == {"message": 7 + 8, "thread": 4 + 4, "transcript-message": len(acs.messages(c.tid))}
    edited = next(r for r in rows if r["kind"] == "message" and r["action"] == "edited" and r["thread_id"] == c.tid)
    assert edited["content"] == "My order 4711 was due yesterday (express shipping), still nothing. 📦"
    assert edited["sender_id"] == people["bob"] and edited["sender_hash"] == user_hash(HASH_KEY.encode(), people["bob"])
    manifest = json.loads((tmp_path / "all.csv.manifest.json").read_text())
    assert manifest["sha256"] == hashlib.sha256(out_csv.read_bytes()).hexdigest() and manifest["format"] == "csv"

    # Nothing in range: an empty export and its manifest, exit 3.
    empty = tmp_path / "empty.jsonl"
    code, _, err = cli("export", "--from", "2001-01-01", "--to", "2001-01-31", "--out", str(empty))
    assert code == 3 and empty.read_bytes() == b"" and "nothing archived in that range" in err
    assert json.loads((tmp_path / "empty.jsonl.manifest.json").read_text())["items"] == 0

    code, _, err = cli("export", "--from", "2026-02-01", "--to", "2026-01-01", "--out", str(empty))
    assert code == 2 and "is not before" in err


# -- find --------------------------------------------------------------------------------------------


def test_find_a_users_records_through_tags(acs, people, svc, deliver, transcript, cli, monkeypatch):
    c, ids = support_thread(acs, people)
    deliver(lost(c, ids["thanks"]))
    transcript(acs, c.tid)
    other, other_ids = support_thread(acs, {**people, "alice": acs.create_user()})  # Bob in a second thread
    deliver(other.events)

    code, out, err = cli("find", "--sender", people["bob"], "--format", "jsonl")
    assert code == 0, err
    items = [json.loads(line) for line in out.splitlines()]
    records = sorted((i["thread_id"] == c.tid, i["document"].get("message_id"), i["document"]["action"])
                     for i in items if i["kind"] == "message")
    assert records == sorted([
        (True, ids["order"], "received"), (True, ids["order"], "edited"),
        (False, other_ids["order"], "received"), (False, other_ids["order"], "edited"),
        (False, other_ids["thanks"], "received")])
    threads = sorted((i["thread_id"] == c.tid, i["document"]["action"]) for i in items if i["kind"] == "thread")
    assert threads == [(False, "participant-removed"), (True, "participant-removed")]
    from_transcript = sorted(i["document"]["message_id"] for i in items if i["kind"] == "transcript-message")
    removed = next(m["id"] for m in acs.messages(c.tid) if m["type"] == "participantRemoved")
    added = acs.messages(c.tid)[0]["id"]  # the creation's participantAdded names Bob
    assert from_transcript == sorted([ids["order"], ids["thanks"], added, removed])
    thanks = next(i for i in items if i["document"].get("message_id") == ids["thanks"])
    assert thanks["document"]["content"] == "Thanks, got it!"
    assert all(people["alice"] != (i["document"].get("sender") or {}).get("raw_id") for i in items)
    assert "11 items: 5 message records, 2 thread records, 4 transcript messages, in 2 threads (1 transcripts read)" in err

    code, out, _ = cli("find", "--sender", people["bob"], "--from", stamp(at(12.5)), "--to", stamp(at(19.5)))
    assert code == 0
    lines = out.splitlines()
    assert f"{stamp(at(13))}  message  edited  {c.tid}  {ids['order']} v{acs.message(c.tid, ids['order'])['version']}  " \
           f"'My order 4711 was due yesterday (express shipping), still nothing. 📦'" in lines
    assert f"{stamp(at(19))}  transcript received  {c.tid}  {ids['thanks']} v{ids['thanks']}  'Thanks, got it!'" in lines
    assert not any(ids["order"] in l and "received" in l for l in lines)  # composed before the range
    assert len(lines) == 5  # two edits, the second thread's thanks; the transcript's order and thanks

    code, out, err = cli("find", "--sender", "8:acs:nobody")
    assert (code, out) == (3, "") and err.startswith("0 items")


# -- verify ------------------------------------------------------------------------------------------


def test_verify_reports_each_damaged_blob(acs, people, svc, deliver, transcript, cli):
    c, ids = support_thread(acs, people)
    deliver(c.events)
    transcript(acs, c.tid)
    names = sorted(svc.store.list_names("chat/"))
    code, out, _ = cli("verify")
    assert code == 0 and out.splitlines() == [f"{len(names)} blobs verified in {svc.settings.container}/chat/, sms/, "
                                              "whatsapp/, email/, call/, outbound/, holds/, dispositions/, "
                                              "rehydrations/: "
                                              f"{len(names)} ok, 0 corrupt, 0 unreadable, 0 invalid"]

    container = svc.store.container
    record = next(n for n in names if n.endswith(f"/{ids['hello']}-received.json.lz4"))
    doc = svc.store.read_document(record)
    _, metadata = svc.store.read_raw(record)
    # 1. corrupt: the content changed, the metadata did not
    tampered = dict(doc, content="Hello Bob, tampered.")
    container.upload_blob(record, codec.encode(tampered).data, overwrite=True, metadata=metadata)
    # 2. unreadable: a truncated lz4 frame
    edited = next(n for n in names if "-edited.json.lz4" in n)
    data, meta = svc.store.read_raw(edited)
    container.upload_blob(edited, data[:-9], overwrite=True, metadata=meta)
    # 3. invalid: a sound blob whose document breaks the schema
    html_record = next(n for n in names if f"/{ids['html']}-received" in n)
    bad = dict(svc.store.read_document(html_record), message_version="v1")
    encoded = codec.encode(bad)
    container.upload_blob(html_record, encoded.data, overwrite=True, metadata={"sha256": encoded.sha256})
    # 4. invalid: no sha256 metadata
    created = next(n for n in names if n.endswith("-created.json.lz4"))
    data, _ = svc.store.read_raw(created)
    container.upload_blob(created, data, overwrite=True, metadata={})
    # 5. invalid: a document under another message's name
    oops = next(n for n in names if f"/{ids['oops']}-received" in n)
    moved = dict(svc.store.read_document(oops), message_id=ids["script"])
    encoded = codec.encode(moved)
    container.upload_blob(oops, encoded.data, overwrite=True, metadata={"sha256": encoded.sha256})
    # 6. unreadable: not an lz4 frame at all (a CSV transcript overwritten with plain text)
    csv_name = next(n for n in names if n.endswith(".csv.lz4"))
    container.upload_blob(csv_name, b"plain text", overwrite=True, metadata={"sha256": hashlib.sha256(b"x").hexdigest()})

    code, out, _ = cli("verify", "--prefix", "chat/")
    assert code == 1
    found = {line.split("\t")[1]: line.split("\t") for line in out.splitlines()[:-1]}
    assert set(found) == {record, edited, html_record, created, oops, csv_name}
    assert found[record][0] == "corrupt" and found[record][2].startswith("sha256 of the content is ")
    assert found[edited][0] == "unreadable" and found[edited][2] == "the lz4 frame is truncated"
    assert found[html_record][0] == "invalid" and found[html_record][2].startswith("schema: message_version: 'v1'")
    assert found[created][0] == "invalid" and "no sha256 metadata" in found[created][2]
    assert found[oops][0] == "invalid" and "name says" in found[oops][2]
    assert found[csv_name][0] == "unreadable" and found[csv_name][2].startswith("not a valid lz4 frame")
    assert out.splitlines()[-1].endswith(f"{len(names) - 6} ok, 1 corrupt, 2 unreadable, 3 invalid")

    month_prefix = f"chat/{T0:%Y%m}/"  # the month before holds the creation and the first message
    code, out, _ = cli("verify", "--prefix", month_prefix)
    assert code == 1 and out.splitlines()[-1].startswith(f"2 blobs verified in {svc.settings.container}/{month_prefix}")
    code, out, _ = cli("verify", "--prefix", "chat/190001/")
    assert code == 3 and "0 blobs verified" in out


def test_exit_codes_of_the_real_process(acs, people, env, svc, deliver):
    import os
    import subprocess
    import sys

    from .conftest import ROOT

    c, ids = support_thread(acs, people)
    deliver(c.events, copies=1)
    name = next(n for n in svc.store.list_names("chat/") if n.endswith(f"/{ids['hello']}-received.json.lz4"))
    data, metadata = svc.store.read_raw(name)
    svc.store.container.upload_blob(name, data[:-9], overwrite=True, metadata=metadata)

    def run(*args):
        return subprocess.run([sys.executable, "-m", "archiving", *args], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, timeout=120)

    verified = run("verify")
    assert verified.returncode == 1 and verified.stdout.startswith(f"unreadable\t{name}\tthe lz4 frame is truncated\n")
    assert people["bob"] not in verified.stderr
    found = run("--quiet", "find", "--sender", "8:acs:nobody")
    # The damaged blob lost its tags too: find cannot rule it out, so it names it and exits 1.
    assert (found.returncode, found.stdout) == (1, "") and f"unreadable\t{name}\tthe lz4 frame is truncated" in found.stderr
    assert "Traceback" not in found.stderr


def test_verify_rejected_container(svc, cli, tmp_path):
    bad = {"id": "bad-1", "eventType": P + "ChatMessageReceivedInThread", "data": [], "subject": "s", "topic": "t",
           "eventTime": "2024-01-01T00:00:00Z", "dataVersion": "1.0"}
    (tmp_path / "bad.json").write_text(json.dumps([bad]))
    assert cli("replay", str(tmp_path / "bad.json"))[0] == 1
    code, out, _ = cli("verify", "--rejected")
    assert code == 0 and out.endswith(": 1 ok, 0 corrupt, 0 unreadable, 0 invalid\n")
    svc.rejected_store.create_blob("junk.json", b"{not json", {})
    code, out, _ = cli("verify", "--rejected")
    assert code == 1 and out.startswith("unreadable\tjunk.json\tnot JSON")


# -- reconcile ---------------------------------------------------------------------------------------


def test_reconcile_reports_and_fills_gaps(acs, people, svc, deliver, cli):
    c, ids = support_thread(acs, people)
    edit_event = next(e for e in c.events if e["eventType"] == P + "ChatMessageEditedInThread")
    received_order = next(e for e in c.events if e["data"].get("messageId") == ids["order"]
                          and e["eventType"] == P + "ChatMessageReceivedInThread")
    received_oops = next(e for e in c.events if e["data"].get("messageId") == ids["oops"]
                         and e["eventType"] == P + "ChatMessageReceivedInThread")
    kept = [e for e in lost(c, ids["thanks"], types=("ChatThreadParticipantAdded",))
            if e is not received_order and e is not received_oops]
    assert edit_event in kept
    deliver(kept)

    code, out, _ = cli("reconcile", c.tid)
    assert code == 1
    lines = out.splitlines()
    order_version = acs.message(c.tid, ids["order"])["version"]
    oops_version = acs.message(c.tid, ids["oops"])["version"]
    added = next(m for m in acs.messages(c.tid) if m["type"] == "participantAdded" and m["sequenceId"] != "1")
    assert lines[0] == f"thread {c.tid}: 4 missing of {len(acs.messages(c.tid))} listed (1 content, 1 event, 1 message, 1 original)"
    assert sorted(lines[1:]) == sorted([
        f"  missing message\t{ids['thanks']} v{ids['thanks']} (text, created {stamp(at(19))}): "
        "no record or transcript of this message",
        f"  missing original\t{ids['order']} v{order_version} (text, created {stamp(at(12))}): edited "
        f"{stamp(at(13))}; the text before the edit was never archived [cannot be filled]",
        f"  missing content\t{ids['oops']} v{oops_version} (text, created {stamp(at(15))}): deleted "
        f"{stamp(at(15.5))} before its content was archived [cannot be filled]",
        f"  missing event\t{added['id']} v{added['version']} (participantAdded, created {stamp(at(16))}): "
        f"no thread record or transcript tells: added {people['carol']}",
    ])

    code, out, _ = cli("reconcile", c.tid, "--fill")
    assert code == 1  # what the service no longer has cannot be filled
    lines = out.splitlines()
    assert lines[0].startswith(f"thread {c.tid}: filled 2 of 4 gaps with a transcript (archived: chat/")
    assert lines[1] == f"thread {c.tid}: 2 missing of {len(acs.messages(c.tid))} listed (1 content, 1 original)"
    transcripts = [n for n in svc.store.list_names("chat/") if "/transcripts/" in n]
    assert len(transcripts) == 2  # json and csv

    # A thread archived in full is complete; so is the filled one once every gap is fillable.
    whole, _ = support_thread(acs, {**people, "alice": acs.create_user()})
    deliver(whole.events)
    code, out, _ = cli("reconcile", whole.tid)
    assert (code, out) == (0, f"thread {whole.tid}: complete ({len(acs.messages(whole.tid))} messages listed by "
                              "the service, all archived)\n")


def test_reconcile_inactive_threads(acs, people, svc, deliver, cli):
    complete, _ = support_thread(acs, people)
    deliver(complete.events)
    gappy, gappy_ids = support_thread(acs, {**people, "alice": acs.create_user()})
    deliver(lost(gappy, gappy_ids["hello"]))
    alice = acs.create_user()
    recent = Conversation(acs, "Still talking", alice, {alice: "Alice", people["archiver"]: "Archiver"},
                          datetime.now(UTC) - timedelta(minutes=5))
    recent.send(alice, "hi", (datetime.now(UTC) - T0).total_seconds() / 60 - 1)  # a minute ago
    deleted = Conversation(acs, "Gone", alice, {alice: "Alice", people["archiver"]: "Archiver"}, at(0))
    deleted.send(alice, "bye", 1)
    acs.delete_thread(deleted.tid)

    code, out, _ = cli("reconcile", "--inactive")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"thread {gappy.tid}: 1 missing of {len(acs.messages(gappy.tid))} listed (1 message)"
    assert lines[1].startswith(f"  missing message\t{gappy_ids['hello']} v{gappy_ids['hello']} (text")
    assert lines[-1] == ("2 inactive threads compared: 1 complete, 1 with gaps (4 listed by the service: "
                         "1 active, 1 deleted, 0 without messages, not compared)")

    code, out, _ = cli("reconcile", "--inactive", "--fill")
    assert code == 0 and out.splitlines()[-1].startswith("2 inactive threads compared: 2 complete, 0 with gaps")


def test_reconcile_errors_and_settings(acs, people, svc, cli, monkeypatch):
    code, out, _ = cli("reconcile", "19:00000000000000000000000000000000@thread.v2")
    assert code == 3 and "the service does not know this thread (404)" in out
    alice = acs.create_user()
    outsider = acs.create_thread("Private", alice, [alice], created_on=at(0))
    code, out, _ = cli("reconcile", outsider)
    assert code == 4 and "not a participant of this thread (403)" in out
    code, _, err = cli("reconcile")
    assert code == 2 and "give a THREAD_ID or --inactive" in err
    monkeypatch.delenv("ACS_CONNECTION_STRING")
    code, _, err = cli("reconcile", outsider)
    assert code == 2 and "setting ACS_CONNECTION_STRING: not set" in err


# -- replay of dead letters --------------------------------------------------------------------------


def test_replay_dead_letter_container(acs, people, svc, cli):
    c, _ = support_thread(acs, people)
    dead = svc.blob_service.get_container_client("deadletter-" + uuid.uuid4().hex[:8])
    dead.create_container()
    reasons = ("MaxDeliveryAttemptsExceeded", "TimeToLiveExceeded")
    blobs = []
    for n, chunk in enumerate((c.events[:8], c.events[8:])):
        items = [dict(e, deadLetterReason=reasons[n], deliveryAttempts=30, lastDeliveryOutcome="TimedOut",
                      publishTime=e["eventTime"], lastDeliveryAttemptTime=e["eventTime"]) for e in chunk]
        name = f"CONTOSO-CHAT/ARCHIVE-EVENTS/{T0:%Y/%-m/%-d}/23/{uuid.uuid4()}.json"
        dead.upload_blob(name, json.dumps(items).encode())
        blobs.append(name)
    wrapped = [{"event": copy.deepcopy(c.events[1]), "deadLetterProperties": {"deadLetterReason": "Unauthorized",
                                                                              "deliveryAttempts": 1}}]
    dead.upload_blob(f"CONTOSO-CHAT/OTHER/{uuid.uuid4()}.json", json.dumps(wrapped).encode())
    dead.upload_blob("CONTOSO-CHAT/ARCHIVE-EVENTS/notes.txt", b"not a dead letter")

    total = len(c.events)
    code, out, _ = cli("replay", "--container", dead.container_name, "--prefix", "CONTOSO-CHAT/ARCHIVE-EVENTS/")
    assert code == 0, out
    assert out.splitlines() == [f"{total} events: {total} archived", f"{total} of them were dead-lettered by Event Grid"]
    code, out, _ = cli("replay", "--container", dead.container_name)
    assert code == 0 and out.splitlines()[0] == f"{total + 1} events: {total + 1} duplicate"
    code, text, _ = cli("show", c.tid)
    assert "Messages: 6 (1 edited, 1 deleted)" in text and "Bob Jones: Thanks, got it!" in text

    code, _, err = cli("replay", "--container", dead.container_name, "--prefix", "NOTHING/")
    assert code == 3 and "no dead-letter blobs" in err
    code, _, err = cli("replay", "--container", dead.container_name, "--connection-setting", "DEADLETTER_STORAGE")
    assert code == 2 and "setting DEADLETTER_STORAGE: not set" in err
    code, _, err = cli("replay")
    assert code == 2 and "--container" in err


# -- every command -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["replay", "show", "export", "find", "verify", "reconcile"])
def test_help_has_an_example_and_exit_codes(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0
    assert "example:\n  python -m archiving " + command in out
    assert "exit codes:\n  0 " in out


@pytest.mark.parametrize("command", [["show", "19:x@thread.v2"], ["export", "--from", "2026-01-01", "--to", "2026-01-02",
                                     "--out", "x.jsonl"], ["find", "--sender", "8:acs:x"], ["verify"]])
def test_missing_setting_is_named(command, env, cli, monkeypatch, tmp_path):
    monkeypatch.delenv("ARCHIVE_HASH_KEY")
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(*command)
    assert code == 2 and "setting ARCHIVE_HASH_KEY: not set" in err


def test_logs_carry_no_content_nor_raw_ids(acs, people, svc, deliver, transcript, cli, caplog, tmp_path):
    c, ids = support_thread(acs, people)
    deliver(lost(c, ids["thanks"]))
    transcript(acs, c.tid)
    caplog.set_level(logging.DEBUG, logger="archiving")
    for args in (["show", c.tid, "--format", "html", "--out", str(tmp_path / "p.html")],
                 ["export", "--from", f"{T0:%Y-%m-%d}", "--to", f"{MONTH_START:%Y-%m-%d}", "--out", str(tmp_path / "e.jsonl")],
                 ["find", "--sender", people["bob"]], ["verify"], ["reconcile", c.tid]):
        assert cli(*args)[0] in (0, 1)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("archiving"))
    assert "export items=" in logged and "find records=" in logged and "reconcile thread=" in logged
    for secret in ("Hello Bob", "express", "Thanks, got it", "Oops", *people.values(), "Alice (Contoso", "Bob Jones"):
        assert secret not in logged
