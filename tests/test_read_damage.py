"""Damage on the read side: every read verified, damage named and skipped, untagged blobs found.

The archive is built as in production (the real function, the ACS test server, Azurite); the damage is
then made the way storage or a careless restore makes it, by writing raw bytes, metadata and tags
through the storage SDK.  Each case is run through every command that reads the blob.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json

import pytest

from archiving.read.verified import Findings, read_verified
from archiving.store import codec
from archiving.store.records import key_id

from .conftest import HASH_KEY
from .test_read_side import (  # noqa: F401 - fixtures
    MONTH_START, T0, cli, deliver, env, lost, people, support_thread, svc, transcript,
)

RANGE = ("--from", f"{T0:%Y-%m-%d}", "--to", f"{MONTH_START:%Y-%m-%d}")


@pytest.fixture
def archived(acs, people, svc, deliver, transcript):
    """The support thread, archived in real time and as a transcript: (conversation, message ids, blob names)."""
    c, ids = support_thread(acs, people)
    deliver(c.events, copies=1)
    transcript(acs, c.tid)
    names = sorted(svc.store.list_names("chat/"))
    return c, ids, names


def record_of(names, message_id, action="received"):
    return next(n for n in names if n.endswith(f"/{message_id}/{message_id}-{action}.json.lz4")
                or (f"/messages/{message_id}/" in n and n.endswith(f"-{action}.json.lz4")))


def rewrite(svc, name, data: bytes, metadata: dict, tags: dict | None):
    """Overwrite a blob through the SDK (the archiver never does: this is the damage under test)."""
    svc.store.container.upload_blob(name, data, overwrite=True, metadata=metadata, tags=tags)


def tags_of(svc, name) -> dict:
    return svc.store.container.get_blob_client(name).get_blob_tags()


def jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# -- 1 and 2: every read verifies; damage is reported and skipped -------------------------------------


def test_truncated_record_is_named_and_skipped_by_every_command(archived, svc, cli, people, tmp_path):
    c, ids, names = archived
    name = record_of(names, ids["hello"])
    data, metadata = svc.store.read_raw(name)
    rewrite(svc, name, data[:-9], metadata, tags_of(svc, name))  # metadata and tags intact

    code, out, err = cli("show", c.tid)
    assert code == 1 and "Traceback" not in err
    assert f"unreadable\t{name}\tthe lz4 frame is truncated" in err
    assert "DAMAGED, LEFT OUT: 1 blob(s) failed their checks:" in out and f"[damaged: {name}:" in out
    assert "Bob Jones: My order 4711 was due yesterday (express shipping)" in out  # the rest is shown
    # The transcript still holds the message: it is shown from there, with its source.
    code, out, _ = cli("show", c.tid, "--format", "json")
    doc = json.loads(out)
    assert doc["damaged"] == [{"source": name, "reason": "unreadable: the lz4 frame is truncated"}]
    hello = next(m for m in doc["messages"] if m["message_id"] == ids["hello"])
    assert all("/transcripts/" in v["source"] for v in hello["versions"])

    out_file = tmp_path / "e.jsonl"
    code, text, err = cli("export", *RANGE, "--out", str(out_file))
    assert code == 1 and "Traceback" not in err and f"unreadable\t{name}" in err
    assert not (tmp_path / "e.jsonl.partial").exists()
    items = jsonl(out_file)
    assert name not in {i["source"] for i in items} and len(items) > 10
    manifest = json.loads((tmp_path / "e.jsonl.manifest.json").read_text())
    assert manifest["damaged"] == [{"source": name, "reason": "unreadable: the lz4 frame is truncated"}]

    code, out, err = cli("find", "--sender", people["alice"], "--format", "jsonl")
    assert code == 1 and f"unreadable\t{name}" in err
    assert name not in out and out  # Alice's other records are there

    code, out, _ = cli("verify")
    assert code == 1 and f"unreadable\t{name}\tthe lz4 frame is truncated" in out


def test_altered_content_with_old_metadata_is_left_out(archived, svc, cli, people, tmp_path):
    c, ids, names = archived
    name = record_of(names, ids["order"], "edited")
    doc = svc.store.read_document(name)
    _, metadata = svc.store.read_raw(name)
    tampered = dict(doc, content="I never complained.")
    rewrite(svc, name, codec.encode(tampered).data, metadata, tags_of(svc, name))

    code, out, err = cli("show", c.tid, "--history")
    assert code == 1 and "I never complained." not in out
    assert f"corrupt\t{name}\tsha256 of the content is " in err
    out_file = tmp_path / "e.jsonl"
    code, _, err = cli("export", *RANGE, "--out", str(out_file))
    assert code == 1 and "I never complained." not in out_file.read_text(encoding="utf-8")
    # Every exported item's sha256 is the one of the bytes read, not a copy of the metadata.
    for item in jsonl(out_file):
        data, _ = svc.store.read_raw(item["source"])
        assert item["source_sha256"] == hashlib.sha256(codec.decompress(data)).hexdigest()
    code, out, err = cli("find", "--sender", people["bob"])
    assert code == 1 and "I never complained." not in out and f"corrupt\t{name}" in err


def test_altered_content_with_recomputed_metadata_is_not_detectable_per_blob(archived, svc, cli):
    """The documented limit: a rewrite with a matching sha256 (and tags) passes every per-blob check."""
    c, ids, names = archived
    name = record_of(names, ids["order"], "edited")
    doc = svc.store.read_document(name)
    _, metadata = svc.store.read_raw(name)
    forged = codec.encode(dict(doc, content="I never complained."))
    rewrite(svc, name, forged.data, dict(metadata, sha256=forged.sha256), tags_of(svc, name))
    code, out, _ = cli("show", c.tid)
    assert code == 0 and "I never complained." in out  # only the sealed log of a later issue catches this
    code, out, _ = cli("verify")
    assert code == 0


def test_schema_failure_and_wrong_name_are_invalid(archived, svc, cli, tmp_path):
    c, ids, names = archived
    html_record = record_of(names, ids["html"])
    bad = codec.encode(dict(svc.store.read_document(html_record), message_version="v1"))
    rewrite(svc, html_record, bad.data, {"sha256": bad.sha256}, tags_of(svc, html_record))
    code, out, err = cli("show", c.tid)
    assert code == 1 and f"invalid\t{html_record}\tschema: message_version: 'v1'" in err
    code, _, err = cli("export", *RANGE, "--out", str(tmp_path / "x.jsonl"))
    assert code == 1 and f"invalid\t{html_record}\tschema:" in err


# -- 3: nothing silently missing ------------------------------------------------------------------------


def test_untagged_record_is_found_by_export_and_find_and_flagged_by_verify(archived, svc, cli, people, tmp_path):
    c, ids, names = archived
    name = record_of(names, ids["order"], "edited")  # Bob's edit
    data, metadata = svc.store.read_raw(name)
    rewrite(svc, name, data, metadata, None)  # a copy from URL without its tags

    out_file = tmp_path / "e.jsonl"
    code, text, err = cli("export", *RANGE, "--out", str(out_file))
    assert code == 1 and "1 blobs without index tags were found by listing and included" in err
    assert f"tags\t{name}\tno blob index tags" in err
    assert name in {i["source"] for i in jsonl(out_file)}
    manifest = json.loads((tmp_path / "e.jsonl.manifest.json").read_text())
    assert manifest["untagged_included"] == 1 and manifest["tag_warnings"][0]["source"] == name

    code, out, err = cli("find", "--sender", people["bob"], "--format", "jsonl")
    assert code == 1 and "found by listing only" in err
    assert name in {json.loads(line)["source"] for line in out.splitlines()}

    code, out, _ = cli("verify")
    assert code == 1 and f"tags\t{name}\tno blob index tags" in out
    assert out.splitlines()[-1].endswith("0 corrupt, 0 unreadable, 0 invalid, 1 with missing or wrong index tags")


def test_wrong_tags_are_flagged(archived, svc, cli):
    c, ids, names = archived
    name = record_of(names, ids["hello"])
    data, metadata = svc.store.read_raw(name)
    wrong = dict(tags_of(svc, name), at="2001-01-01T00:00:00.000000Z", sender="0" * 64)
    rewrite(svc, name, data, metadata, wrong)
    code, out, _ = cli("verify")
    assert code == 1
    line = next(l for l in out.splitlines() if name in l)
    assert line.startswith(f"tags\t{name}\ttag at is '2001-01-01T00:00:00.000000Z', the document says")
    code, out, err = cli("show", c.tid)
    assert code == 1 and "Hello Bob" in out  # the content is sound: shown, and the tag problem named
    assert f"tags\t{name}\ttag at is" in err


def test_read_verified_keeps_its_interface(archived, svc):
    """Other read modules (RSMF, roll-ups) call read_verified(store, names, findings, workers=...)."""
    _, ids, names = archived
    findings = Findings()
    blobs = list(read_verified(svc.store, names, findings, workers=2))
    assert not findings and len(blobs) == len(names)
    csv_blob = next(b for b in blobs if b.name.endswith(".csv.lz4"))
    assert csv_blob.document is None and csv_blob.text.startswith("thread_id,message_id,")
    record = next(b for b in blobs if "/messages/" in b.name)
    assert record.tags["kind"] == "message" and record.hash_key_id == key_id(HASH_KEY.encode())
    assert (record.name, record.sha256, record.size) == (record.name, record.metadata["sha256"], len(svc.store.read_raw(record.name)[0]))


# -- 5: find answers the right question ------------------------------------------------------------------


@pytest.mark.parametrize("sender, says", [
    ("4915112345678", "is not an ACS raw id (8:acs:…"),  # a phone number needs its +country code
    ("", "--sender is empty"),
    ("bob@contoso", "is not an ACS raw id (8:acs:…"),
    ("4:+49 151", "a phone raw id is 4:+ followed by digits only (E.164)"),
])
def test_find_rejects_what_is_not_a_raw_id(sender, says, env, cli):
    code, out, err = cli("find", "--sender", sender)
    assert (code, out) == (2, "") and says in err


def test_find_with_another_hash_key_says_so(archived, svc, cli, people, monkeypatch):
    c, ids, names = archived
    record = record_of(names, ids["hello"])
    assert svc.store.read_raw(record)[1]["hash_key_id"] == key_id(HASH_KEY.encode())  # written by the archiver
    monkeypatch.setenv("ARCHIVE_HASH_KEY", "not-the-archive-key")
    code, out, err = cli("find", "--sender", people["bob"])
    assert (code, out) == (2, "")
    assert f"ARCHIVE_HASH_KEY is not the key that wrote this archive: its fingerprint is {key_id(b'not-the-archive-key')}" in err
    assert "0 items" not in err


# -- 4: honest viewers ---------------------------------------------------------------------------------


def test_text_view_neutralizes_escapes_and_indents_lines(acs, people, svc, deliver, cli):
    c, _ = support_thread(acs, people)
    c.send(people["carol"], "line one\nline two\x1b]0;pwned\x07\x1b[2J\u202eevil", 21)
    deliver(c.events, copies=1)
    code, out, _ = cli("show", c.tid)
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    line = next(l for l in out.splitlines() if "line one" in l)
    following = out.splitlines()[out.splitlines().index(line) + 1]
    assert following == " " * 22 + "line two\\x1b]0;pwned\\x07\\x1b[2J\\u202eevil"


def test_csv_cells_are_neutralized_for_spreadsheets(acs, people, svc, deliver, cli, tmp_path):
    c, _ = support_thread(acs, people)
    c.names[people["carol"]] = "=cmd|' /C calc'!A0"
    c.send(people["carol"], "@SUM(1+1)*cmd|' /C calc'!A0", 21)
    deliver(c.events, copies=1)
    path = tmp_path / "t.csv"
    code, _, _ = cli("show", c.tid, "--format", "csv", "--out", str(path))
    assert code == 0 and path.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))
    last = rows[-1]
    assert last["sender_display_name"] == "'=cmd|' /C calc'!A0" and last["content"] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    code, out, _ = cli("show", c.tid, "--format", "csv")  # to stdout: no byte-order mark unless --bom
    assert not out.startswith("\ufeff")
    out_file = tmp_path / "e.jsonl"  # the JSON export stays exact
    cli("export", *RANGE, "--thread", c.tid, "--out", str(out_file))
    cli("export", "--from", f"{T0:%Y-%m-%d}", "--to", "2100-01-01", "--thread", c.tid, "--out", str(out_file))
    assert any(i["document"].get("content") == "@SUM(1+1)*cmd|' /C calc'!A0" for i in jsonl(out_file))


def test_html_isolates_rtl_tells_people_apart_and_marks_removals_in_chromium(acs, people, svc, deliver, cli, tmp_path):
    import re

    from .browser import dump_dom
    from .test_read_side import Conversation, at

    rtl, sam1, sam2, phone = (acs.create_user() for _ in range(4))
    c = Conversation(acs, "Übergabe", rtl, {rtl: "ياسمين الحسيني", sam1: "Sam Lee", sam2: "Sam Lee",
                                             phone: "+49 151 12345678", people["archiver"]: "Archiver"}, at(0))
    ids = {
        "rtl": c.send(rtl, "مرحبا، الطلب 4711 جاهز", 1),
        "sam1": c.send(sam1, "I am the first Sam.", 2),
        "sam2": c.send(sam2, "I am the other Sam.", 3),
        "phone": c.send(phone, "Call me back.", 4),
        "html": c.send(rtl, '<p>See <img src="https://example.com/x.png" alt="Lageplan"> and '
                            '<script>document.title="pwned"</script>this.</p>', 5, kind="html"),
    }
    deliver(c.events, copies=1)
    page = tmp_path / "t.html"
    code, _, err = cli("show", c.tid, "--format", "html", "--out", str(page))
    assert code == 0, err
    dom = dump_dom(page)

    def message(mid: str) -> str:
        match = re.search(rf'<li class="message[^"]*" id="m-{mid}".*?</li>', dom, re.S)
        assert match, mid
        return match.group(0)

    # Names, ids and times are isolated from each other: an RTL name cannot reorder the time beside it.
    rtl_li = message(ids["rtl"])
    assert '<bdi class="name">ياسمين الحسيني</bdi>' in rtl_li
    assert re.search(r'<bdi><time datetime="[^"]+">[0-9-]+ [0-9:]+Z</time></bdi>', rtl_li)
    assert '<div class="content" dir="auto">' in rtl_li
    assert '<bdi class="name">+49 151 12345678</bdi>' in message(ids["phone"])
    # Two people named Sam Lee are told apart by the kind and a short hash of their raw ids.
    who = [re.search(r'<bdi class="who"[^>]*>([^<]+)</bdi>', message(ids[k])).group(1) for k in ("sam1", "sam2")]
    assert who[0] != who[1] and all(w.startswith("communicationUser · ") for w in who)
    assert sam1 not in dom and sam2 not in dom  # raw ids only with --raw-ids
    # What the sanitizer removed leaves a visible trace; nothing ran.
    html_li = message(ids["html"])
    assert '<span class="removed">[image removed: Lageplan]</span>' in html_li
    assert '<span class="removed">[script removed]</span>' in html_li
    assert "<img" not in dom and "<script" not in dom and "pwned" not in re.search(r"<title>(.*?)</title>", dom).group(1)
    # Each message names its source blob and the sha256 of what was read.
    source = re.search(r'<details class="source"><summary>source</summary><bdi><code>([^<]+)</code></bdi><br>sha256 '
                       r'<bdi><code>([0-9a-f]{64})</code></bdi>',
                       rtl_li)
    _, metadata = svc.store.read_raw(source.group(1))
    assert source.group(2) == metadata["sha256"]

    code, _, _ = cli("show", c.tid, "--format", "html", "--raw-ids", "--out", str(page))
    assert sam1 in dump_dom(page)


def test_reconcile_names_a_damaged_transcript_and_does_not_call_the_thread_complete(archived, svc, cli):
    c, ids, names = archived
    code, out, _ = cli("reconcile", c.tid)
    assert code == 0, out
    transcript_json = next(n for n in names if n.endswith(".json.lz4") and "/transcripts/" in n)
    data, metadata = svc.store.read_raw(transcript_json)
    rewrite(svc, transcript_json, data[: len(data) // 2], metadata, tags_of(svc, transcript_json))
    code, out, err = cli("reconcile", c.tid)
    assert code == 1 and "Traceback" not in err
    assert out.splitlines()[0].endswith("; 1 damaged blob(s) left out")
    assert f"  unreadable\t{transcript_json}\t" in out
