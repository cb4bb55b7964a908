"""RSMF 2.0 export (``export --format rsmf``) on a real Azurite.

The archive is the sample conversation (samples/conversation.json) replayed as the function archives
it, plus an html message edited twice and a second thread.  Every file written is checked against the
published RSMF 2.0.0 JSON Schema (tests/specs/rsmf, copied with its license), parsed with Python's
``email`` package, and its ids, counts and timestamps are cross-checked; the mapping of edits,
deletions, participant changes and html is asserted event by event.
"""

from __future__ import annotations

import copy
import email
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from email import policy
from pathlib import Path

import pytest
from jsonschema import Draft7Validator

from archiving.cli.main import main
from archiving.ingest.replay import read_files, replay
from archiving.read.rsmf import MANIFEST, RsmfRequest, html_text
from archiving.read.rsmf_export import export_rsmf
from archiving.read.verified import Findings
from archiving.store import codec
from archiving.store.records import user_hash

from .conftest import HASH_KEY, ROOT

SPECS = ROOT / "tests" / "specs" / "rsmf"
SCHEMA = json.loads((SPECS / "rsmf_schema_2_0_0.json").read_text(encoding="utf-8"))
# Ours are checked with format checking on (date-time as RFC 3339: an offset or Z is required).
VALIDATOR = Draft7Validator(SCHEMA, format_checker=Draft7Validator.FORMAT_CHECKER)
STRUCTURE = Draft7Validator(SCHEMA)  # the schema's structure only
SAMPLE = ROOT / "samples" / "conversation.json"
THREAD = "19:3f2504e0d4f14c7a9b1c6e2a5d7f8a90@thread.v2"
OTHER = "19:0a0b0c0d0e0f40418283848586878889@thread.v2"
ALICE = "8:acs:7b5e2f4c-1d3a-4c8e-9f60-2a1b3c4d5e6f_00000020-0001-4e2a-8c1b-0a1b2c3d4e5f"
BOB = "8:acs:7b5e2f4c-1d3a-4c8e-9f60-2a1b3c4d5e6f_00000020-0002-4e2a-8c1b-0a1b2c3d4e5f"
CAROL = "8:acs:7b5e2f4c-1d3a-4c8e-9f60-2a1b3c4d5e6f_00000020-0003-4e2a-8c1b-0a1b2c3d4e5f"
UTC_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")

HTML_V1 = "<p>Tracking: <b>1Z999</b></p><script>alert('x')</script><img src=x onerror=alert(1)>"
HTML_V2 = "<p>Tracking: <b>1Z999AA1</b></p>"
HTML_V3 = "<p>Tracking: <b>1Z999AA10123456784</b><br>Due <i>Monday</i> &amp; signed</p>"


# -- the archive --------------------------------------------------------------------------------------


def sample_events() -> list[dict]:
    return [event for _, event in read_files([SAMPLE])]


def _message(base: dict, *, mid: str, version: int, kind: str, body: str | None, compose: str,
             msg_type: str = "Text", **extra) -> dict:
    event = copy.deepcopy(base)
    event["id"] = f"extra-{mid}-{version}-{kind}"
    event["eventType"] = f"Microsoft.Communication.ChatMessage{kind}InThread"
    data = event["data"]
    data.update(messageId=mid, version=version, composeTime=compose, type=msg_type,
                transactionId=f"extra-{mid}-{version}", **extra)
    if body is None:
        data.pop("messageBody", None)
    else:
        data["messageBody"] = body
    return event


def extra_events(events: list[dict]) -> list[dict]:
    """An html message edited twice (Nov 1), and a second thread with one message (Nov 1)."""
    received = next(e for e in events if e["eventType"].endswith("ChatMessageReceivedInThread")
                    and e["data"]["senderCommunicationIdentifier"]["rawId"] == BOB)
    compose = "2026-11-01T02:00:00.000Z"
    out = [
        _message(received, mid="1761962400000", version=1761962400000, kind="Received", body=HTML_V1,
                 compose=compose, msg_type="Html"),
        _message(received, mid="1761962400000", version=1761962460000, kind="Edited", body=HTML_V2,
                 compose=compose, msg_type="Html", editTime="2026-11-01T02:01:00Z"),
        _message(received, mid="1761962400000", version=1761962520000, kind="Edited", body=HTML_V3,
                 compose=compose, msg_type="Html", editTime="2026-11-01T02:02:00Z"),
    ]
    other = _message(received, mid="1761966000000", version=1761966000000, kind="Received",
                     body="A second thread, same day.", compose="2026-11-01T03:00:00Z")
    other["data"]["threadId"] = OTHER
    other["subject"] = other["subject"].replace(THREAD, OTHER)
    out.append(other)
    return out


@pytest.fixture
def archive(services):
    events = sample_events()
    counts = replay(events + extra_events(events), services.store, services.rejected_store, HASH_KEY.encode())
    assert counts["rejected"] == 0, counts
    return services


# -- reading an .rsmf file back -----------------------------------------------------------------------


class Rsmf:
    def __init__(self, path: Path):
        self.path = path
        self.raw = path.read_bytes()
        self.message = email.message_from_bytes(self.raw, policy=policy.default)
        zips = [p for p in self.message.iter_attachments() if p.get_filename() == "rsmf.zip"]
        assert len(zips) == 1, [p.get_filename() for p in self.message.iter_attachments()]
        self.zip = zipfile.ZipFile(io.BytesIO(zips[0].get_content()))
        self.manifest = json.loads(self.zip.read("rsmf_manifest.json"))
        self.text = self.message.get_body(("plain",)).get_content()

    @property
    def events(self) -> list[dict]:
        return self.manifest["events"]

    def header(self, name: str) -> str:
        return str(self.message[name])


def rsmf_files(out: Path) -> list[Rsmf]:
    return [Rsmf(p) for p in sorted(out.glob("*.rsmf"))]


def custom(item: dict) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for pair in item.get("custom") or []:
        found.setdefault(pair["name"], []).append(pair["value"])
    return found


def check_file(f: Rsmf, store) -> None:
    """Everything a valid RSMF file of ours must satisfy, whatever its content."""
    errors = [e.message for e in VALIDATOR.iter_errors(f.manifest)]
    assert not errors, errors
    m = f.manifest
    assert m["version"] == "2.0.0" and f.header("X-RSMF-Version") == "2.0.0"
    assert f.raw.startswith(b"From: ") and b"\r\n\r\n" in f.raw and b"\n" not in f.raw.replace(b"\r\n", b"")
    for name in ("X-RSMF-Generator", "X-RSMF-BeginDate", "X-RSMF-EndDate", "X-RSMF-EventCount",
                 "X-RSMF-Application", "X-RSMF-EventCollectionID", "X-RSMF-AttachmentCount",
                 "X-RSMF-Participants", "X-RSMF-Custodian"):
        assert f.message[name], name
    # Counts in the headers are those of the manifest.
    assert int(f.header("X-RSMF-EventCount")) == len(m["events"]) >= 1
    assert int(f.header("X-RSMF-AttachmentCount")) == sum(len(e.get("attachments") or ()) for e in m["events"])
    assert f.header("X-RSMF-EventCollectionID") == m["eventcollectionid"]
    assert len(m["events"]) <= 10_000
    # Every id resolves.
    pids = [p["id"] for p in m["participants"]]
    cids = [c["id"] for c in m["conversations"]]
    assert len(set(pids)) == len(pids) and len(set(cids)) == len(cids)
    for c in m["conversations"]:
        assert set(c["participants"]) <= set(pids)
        assert c.get("custodian") is None or c["custodian"] in c["participants"]
    files = set(f.zip.namelist())
    assert "rsmf_manifest.json" in files
    for e in m["events"]:
        assert e["conversation"] in cids
        refs = [e.get("participant")] + [x["participant"] for x in e.get("edits") or []] + \
               [x["participant"] for x in e.get("read_receipts") or []]
        assert {r for r in refs if r is not None} <= set(pids), e
        for a in e.get("attachments") or []:
            assert a["id"] in files
    assert f.header("X-RSMF-Participants") == ", ".join(p.get("display", p["id"]) for p in m["participants"])
    # Timestamps: ISO 8601 UTC, and the header dates bound the events.
    stamps = [e["timestamp"] for e in m["events"]]
    stamps += [x["timestamp"] for e in m["events"] for x in e.get("edits") or [] if "timestamp" in x]
    for stamp in stamps + [f.header("X-RSMF-BeginDate"), f.header("X-RSMF-EndDate")]:
        assert UTC_STAMP.match(stamp), stamp
        datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    times = [e["timestamp"] for e in m["events"]]
    assert f.header("X-RSMF-BeginDate") == min(times) and f.header("X-RSMF-EndDate") == max(times)
    assert times == sorted(times)
    # Every event names its source blob and the sha256 of what was read, which matches the archive.
    for e in m["events"]:
        c = custom(e)
        blob, sha = c["source_blob"][0], c["source_sha256"][0]
        data, metadata = store.read_raw(blob)
        assert hashlib.sha256(codec.decompress(data)).hexdigest() == sha == metadata["sha256"]
    assert f"Events: {len(m['events'])} " in f.text


# -- the schema and the sample --------------------------------------------------------------------------


def test_the_published_sample_passes_and_a_bad_manifest_fails():
    sample = Rsmf(SPECS / "sample.rsmf")
    assert not list(STRUCTURE.iter_errors(sample.manifest))
    # Relativity's own sample has local times without an offset ("2013-01-10T15:53:00"): ISO 8601, but
    # not an RFC 3339 date-time; ours always end in Z, so they pass the stricter check too.
    assert [e.validator for e in VALIDATOR.iter_errors(sample.manifest)] == ["format"]
    assert sample.header("X-RSMF-Version") == "2.0.0" and "AV1" in sample.zip.namelist()
    bad = json.loads((SPECS / "sample4_rsmf_manifest.json").read_text(encoding="utf-8"))
    assert [e.validator for e in STRUCTURE.iter_errors(bad)] == ["type"]  # participant id 1, not "1"
    wrong_time = copy.deepcopy(sample.manifest)
    wrong_time["events"][0]["timestamp"] = "2013-01-10T15:53:00Z"
    assert not list(VALIDATOR.iter_errors(wrong_time))
    wrong_time["events"][0]["timestamp"] = "yesterday at noon"
    assert [e.validator for e in VALIDATOR.iter_errors(wrong_time)] == ["format"]


def test_html_becomes_readable_text():
    # What the sanitizer removed stays visible to a reviewer, as in `show`.
    assert html_text(HTML_V1) == "Tracking: 1Z999\n[script removed][image removed]"
    assert html_text(HTML_V3) == "Tracking: 1Z999AA10123456784\nDue Monday & signed"


# -- the export ---------------------------------------------------------------------------------------


def export(store, tmp_path, start="2026-10-31", end="2026-11-02", **kwargs):
    from archiving.read.scan import parse_bound

    out = tmp_path / "rsmf"
    findings = Findings()
    result = export_rsmf(store, RsmfRequest(parse_bound(start), parse_bound(end, end=True), out, **kwargs),
                         hash_key=HASH_KEY.encode(), findings=findings, container="test")
    return result, findings, rsmf_files(out)


def test_every_file_is_valid_and_the_manifest_lists_them(archive, tmp_path):
    _, findings, files = export(archive.store, tmp_path)
    assert not findings
    # One file per conversation per UTC day: the thread on Oct 31 and Nov 1, the other thread on Nov 1.
    assert [(f.events[0]["timestamp"][:10], f.manifest["eventcollectionid"]) for f in files] == [
        ("2026-10-31", THREAD), ("2026-11-01", OTHER), ("2026-11-01", THREAD)]
    for f in files:
        check_file(f, archive.store)
    manifest = json.loads((tmp_path / "rsmf" / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["range"] == {"from": "2026-10-31T00:00:00.000000Z", "to": "2026-11-03T00:00:00.000000Z",
                                 "to_is_exclusive": True}
    listed = {entry["file"]: entry for entry in manifest["files"]}
    assert set(listed) == {f.path.name for f in files}
    for f in files:
        entry = listed[f.path.name]
        assert entry["sha256"] == hashlib.sha256(f.raw).hexdigest() and entry["bytes"] == len(f.raw)
        assert entry["events"] == len(f.events) and entry["eventcollectionid"] == f.manifest["eventcollectionid"]
    kinds = {k: sum(1 for f in files for e in f.events if e["type"] == k) for k in ("message", "join", "leave", "history")}
    assert manifest["counts"] == kinds == {"message": 8, "join": 1, "leave": 1, "history": 2}
    assert manifest["events"] == sum(kinds.values()) and manifest["conversations"] == 2
    assert manifest["messages_edited"] == 2 and manifest["messages_deleted"] == 1
    assert manifest["damaged_blobs"] == []
    # The manifest is written last: every file it names is older than it.
    assert all(f.path.stat().st_mtime_ns <= (tmp_path / "rsmf" / MANIFEST).stat().st_mtime_ns for f in files)


def test_mapping_of_edits_deletions_participants_and_html(archive, tmp_path):
    _, _, files = export(archive.store, tmp_path, thread_id=THREAD)
    assert {f.manifest["eventcollectionid"] for f in files} == {THREAD}
    oct31, nov1 = files
    assert oct31.events[0]["type"] == "history" and "created the thread" in oct31.events[0]["body"]
    assert custom(oct31.events[0])["action"] == ["created"]
    people = {p["account_id"]: p for p in nov1.manifest["participants"]}
    alice, bob, carol = people[ALICE], people[BOB], people[CAROL]
    assert alice["display"] == "Alice (Contoso support)"
    assert custom(bob) == {"identity_kind": ["communicationUser"],
                           "user_hash": [user_hash(HASH_KEY.encode(), BOB)]}
    conv = nov1.manifest["conversations"][0]
    assert conv["type"] == "channel" and conv["platform"] == "acs-chat" and conv["display"] == "Order 4711: late delivery"
    # Members at the first event of Nov 1: Alice and Bob (created on Oct 31); Carol joins later.
    assert set(conv["participants"]) == {alice["id"], bob["id"]}
    by_id = {e.get("id"): e for e in nov1.events if e["type"] == "message"}

    edited = by_id["1761955150000"]
    assert edited["body"] == "My order 4711 was due yesterday (express shipping), still nothing. 📦"
    assert edited["edits"] == [{"participant": bob["id"], "timestamp": "2026-11-01T01:00:00.000000Z",
                                "previous": 'My order 4711 was due yesterday, "express" shipping, still nothing.',
                                "new": edited["body"]}]
    assert len(custom(edited)) >= 2 and sum(1 for c in edited["custom"] if c["name"].startswith("version ")) == 2

    deleted = by_id["1761958960000"]
    assert deleted["deleted"] is True and deleted["body"] == "Oops, wrong window."  # the last text stays readable
    assert custom(deleted)["deleted_at"] == ["2026-11-01T01:02:50.000000Z"]
    assert custom(deleted)["source_blob"][0].endswith("-deleted.json.lz4")
    assert custom(deleted)["body_source_blob"][0].endswith("-received.json.lz4")

    html = by_id["1761962400000"]
    assert html["body"] == "Tracking: 1Z999AA10123456784\nDue Monday & signed"
    assert [(e["previous"], e["new"]) for e in html["edits"]] == [
        ("Tracking: 1Z999\n[script removed][image removed]", "Tracking: 1Z999AA1"), ("Tracking: 1Z999AA1", html["body"])]
    assert custom(html)["html_original"] == [HTML_V3] and custom(html)["message_type"] == ["html"]
    assert "alert" not in json.dumps([html["body"], html["edits"]])

    joins = [e for e in nov1.events if e["type"] == "join"]
    leaves = [e for e in nov1.events if e["type"] == "leave"]
    assert [e["participant"] for e in joins] == [carol["id"]] == [e["participant"] for e in leaves]
    assert joins[0]["timestamp"] < leaves[0]["timestamp"]
    assert custom(joins[0])["source_blob"][0].split("/thread/")[1].startswith("1761958980862-participant-added-")
    topic = [e for e in nov1.events if e["type"] == "history"]
    assert len(topic) == 1 and custom(topic[0])["action"] == ["updated"]
    assert all(e.get("direction") is None for e in nov1.events)  # chat: no direction relative to a custodian

    assert nov1.header("X-RSMF-Custodian") == "contoso-chat"
    assert nov1.header("X-RSMF-Participants") == "Alice (Contoso support), Bob Jones, Carol (supervisor)"
    assert "1 deleted" in nov1.text and "Oops" not in nov1.text  # the body summarizes, it does not quote


def test_slices_of_one_day_share_the_event_collection(archive, tmp_path):
    _, _, files = export(archive.store, tmp_path, start="2026-11-01", end="2026-11-01", thread_id=THREAD,
                              max_events=3)
    assert [len(f.events) for f in files] == [3, 3, 3]
    assert {f.manifest["eventcollectionid"] for f in files} == {THREAD}
    assert {f.header("X-RSMF-EventCollectionID") for f in files} == {THREAD}
    assert [f.path.name[-9:] for f in files] == ["_001.rsmf", "_002.rsmf", "_003.rsmf"]
    for f in files:
        check_file(f, archive.store)
    # Each slice lists the members as of its own first event: Carol joins with the first event of the
    # second slice (so she is not yet a member there) and is one at the start of the third.
    assert "part 2 of 3" in files[1].header("Subject")
    assert files[1].events[0]["type"] == "join"
    carol = files[1].events[0]["participant"]
    assert carol not in files[1].manifest["conversations"][0]["participants"]
    assert carol in files[2].manifest["conversations"][0]["participants"]
    assert carol not in files[0].manifest["conversations"][0]["participants"]


def test_a_damaged_blob_is_named_left_out_and_exit_1(archive, tmp_path, capsys):
    name = f"chat/202611/{THREAD}/messages/1761958900000/1761958900000-received.json.lz4"
    data, metadata = archive.store.read_raw(name)
    archive.store.container.upload_blob(name, data[:-9], overwrite=True, metadata=metadata)
    out = tmp_path / "out"
    code = main(["--quiet", "--settings", str(_no_settings(tmp_path)), "export", "--format", "rsmf",
                 "--from", "2026-11-01", "--to", "2026-11-01", "--out", str(out)])
    _, stderr = capsys.readouterr()
    assert code == 1
    assert f"unreadable\t{name}\tthe lz4 frame is truncated" in stderr and "1 damaged blobs left out" in stderr
    files = rsmf_files(out)
    assert len(files) == 2  # the rest is exported
    ids = [e.get("id") for f in files for e in f.events]
    assert "1761958900000" not in ids and "1761958960000" in ids
    for f in files:
        check_file(f, archive.store)
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert [d["blob"] for d in manifest["damaged_blobs"]] == [name]
    assert BOB not in stderr and "Oops" not in stderr


def _no_settings(folder):
    """A settings file with no values: the environment gives every setting (a named file must exist)."""
    path = folder / "empty.settings.json"
    path.write_text('{"Values": {}}', encoding="utf-8")
    return path


def test_usage_errors(archive, tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("x")
    code = main(["--quiet", "--settings", str(_no_settings(tmp_path)), "export", "--format", "rsmf",
                 "--from", "2026-11-01", "--to", "2026-11-01", "--out", str(target)])
    assert code == 2 and "is a directory" in capsys.readouterr().err
    code = main(["--quiet", "--settings", str(_no_settings(tmp_path)), "export", "--format", "rsmf",
                 "--from", "2020-01-01", "--to", "2020-01-02", "--out", str(tmp_path / "empty")])
    assert code == 3 and json.loads((tmp_path / "empty" / MANIFEST).read_text())["files"] == []


def test_cli_contract_in_a_subprocess(archive, archive_env, tmp_path):
    out = tmp_path / "DIR"
    env = {**os.environ, **archive_env, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "archiving", "export", "--format", "rsmf", "--from", "2026-11-01",
                          "--to", "2026-11-02", "--out", str(out)], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    names = sorted(p.name for p in out.glob("*.rsmf"))
    assert len(names) == 2 and all(":" not in n for n in names)  # portable names (Windows forbids ':')
    for path in out.glob("*.rsmf"):
        message = email.message_from_bytes(path.read_bytes())
        assert message["X-RSMF-Version"] == "2.0.0"
        parts = [p for p in message.walk() if p.get_filename() == "rsmf.zip"]
        assert len(parts) == 1
        with zipfile.ZipFile(io.BytesIO(parts[0].get_payload(decode=True))) as z:
            assert "rsmf_manifest.json" in z.namelist()
            assert not list(VALIDATOR.iter_errors(json.loads(z.read("rsmf_manifest.json"))))
    assert "exported 10 events" in run.stdout
    assert "Carol" not in run.stderr and CAROL not in run.stderr + run.stdout


# -- transcripts: merged as show merges them ---------------------------------------------------------


def put_transcript(store, thread_id: str, doc: dict) -> str:

    from archiving.store import keys, schemas

    assert schemas.errors(doc) == [], schemas.errors(doc)
    last = datetime.fromisoformat(doc["last_message_at"].replace("Z", "+00:00")).astimezone(UTC)
    name = keys.transcript_key(thread_id, last, int(last.timestamp() * 1000), "json")
    encoded = codec.encode(doc)
    assert store.create_blob(name, encoded.data, {"sha256": encoded.sha256}, {"kind": "transcript",
                             "thread": keys.thread_tag(thread_id), "at": doc["last_message_at"]})
    return name


def ident_doc(raw: str, name: str) -> dict:
    return {"raw_id": raw, "kind": "communicationUser", "display_name": name}


def test_a_transcript_fills_what_records_miss(archive, tmp_path):
    """A transcript of the sample thread: its copy of a recorded version yields no second event; a message
    and a participant change known only from it are exported, traced to the transcript."""
    alice, dave = ident_doc(ALICE, "Alice (Contoso support)"), ident_doc("8:acs:dave", "Dave")

    def msg(mid, created, content, **extra):
        return {"message_id": mid, "sequence_id": str(len(mid)), "message_type": "text", "content": content,
                "sender": alice, "created_at": created, "edited_at": None, "deleted_at": None, "metadata": {},
                "version": mid, **extra}

    doc = {
        "schema_version": 1, "channel": "chat", "kind": "transcript", "thread_id": THREAD,
        "topic": "Order 4711: late delivery (resolved)", "created_at": "2026-10-31T23:58:02.123456Z",
        "created_by": alice,
        "participants": [{**alice, "share_history_time": None}],
        "messages": [
            # The same version as the archived record: merged, the record wins.
            msg("1761958900000", "2026-11-01T01:01:40.120000Z",
                "Sorry about that! Let me check with the warehouse, one moment."),
            # Only in the transcript.
            msg("1761970000000", "2026-11-01T04:06:40.000000Z", "Closing this ticket now."),
            {**msg("1761969000000", "2026-11-01T03:50:00.000000Z", None), "message_type": "participantAdded",
             "participants": [{**dave, "share_history_time": None}], "initiator": alice},
        ],
        "message_count": 3, "first_message_at": "2026-11-01T01:01:40.120000Z",
        "last_message_at": "2026-11-01T04:06:40.000000Z", "archived_at": "2026-11-01T05:00:00.000000Z",
    }
    name = put_transcript(archive.store, THREAD, doc)
    _, findings, files = export(archive.store, tmp_path, start="2026-11-01", end="2026-11-01", thread_id=THREAD)
    assert not findings
    (nov1,) = files
    check_file(nov1, archive.store)
    ids = [e.get("id") for e in nov1.events if e["type"] == "message"]
    assert len(ids) == len(set(ids)) and "1761970000000" in ids
    recorded = next(e for e in nov1.events if e.get("id") == "1761958900000")
    assert custom(recorded)["source_blob"][0].endswith("/1761958900000-received.json.lz4")
    closing = next(e for e in nov1.events if e.get("id") == "1761970000000")
    assert custom(closing)["source_blob"] == [name]
    assert custom(closing)["source_sha256"] == [codec.sha256_hex(codec.dumps(doc))]
    (join,) = [e for e in nov1.events if e["type"] == "join" and custom(e)["source_blob"] == [name]]
    dave_id = next(p["id"] for p in nov1.manifest["participants"] if p.get("account_id") == "8:acs:dave")
    assert join["participant"] == dave_id and join["body"] == "Alice (Contoso support) added Dave"


def test_header_values_cannot_start_a_header():
    from archiving.read.rsmf_eml import header_lines

    raw = header_lines([("Subject", "acs-chat: topic\r\nX-RSMF-EventCount: 0"), ("X-RSMF-Participants", "Zoë, Bob")])
    message = email.message_from_bytes(raw + b"\r\n", policy=policy.default)
    assert message["X-RSMF-EventCount"] is None
    assert str(message["Subject"]) == "acs-chat: topic X-RSMF-EventCount: 0"
    assert str(message["X-RSMF-Participants"]) == "Zoë, Bob" and raw.isascii()


# -- SMS and WhatsApp (records as laid out in docs/archive-format.md section 13) -----------------------

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"pixels" * 50


def party(address: str, normalized: str, kind: str) -> dict:
    return {"address": address, "kind": kind, "normalized": normalized,
            "hash": user_hash(HASH_KEY.encode(), normalized)}


def put_record(store, name: str, doc: dict) -> None:
    """A channel record with the index tags the archiver writes (the RSMF export finds them by ``at``)."""
    encoded = codec.encode(doc)
    tags = {"kind": doc["kind"], "channel": doc["channel"], "conversation": doc["conversation_id"],
            "at": doc.get("received_at") or doc.get("reported_at")}
    assert store.create_blob(name, encoded.data, {"sha256": encoded.sha256}, tags)


def direct_record(channel: str, kind: str, conv: str, mid: str, frm: dict, to: dict, at: str, **fields) -> dict:
    return {"schema_version": 1, "channel": channel, "kind": kind, **fields, "conversation_id": conv,
            "message_id": mid, "from": frm, "to": to,
            ("reported_at" if kind.endswith("report") else "received_at"): at,
            "event": {"id": f"evt-{mid}-{at}", "type": "Microsoft.Communication.X", "time": at,
                      "topic": "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Communication/communicationServices/contoso-acs",
                      "subject": "/phonenumber/x"},
            "archived_at": "2026-11-02T00:00:00.000000Z"}


@pytest.fixture
def channels(services):
    store = services.store
    business = party("+18005550100", "4:+18005550100", "phoneNumber")
    customer = party("+15555550123", "4:+15555550123", "phoneNumber")
    sms = f"{business['hash'][:16]}-{customer['hash'][:16]}"
    put_record(store, f"sms/202611/{sms}/messages/Incoming_1/received.json.lz4",
               direct_record("sms", "sms-message", sms, "Incoming_1", customer, business, "2026-11-01T08:00:00.000000Z",
                             action="received", content="Where is my parcel?", segment_count=1))
    put_record(store, f"sms/202611/{sms}/messages/Outgoing_1/reports/1793541000000-delivered.json.lz4",
               direct_record("sms", "sms-report", sms, "Outgoing_1", business, customer, "2026-11-01T13:50:00.000000Z",
                             status="Delivered", status_details=None, attempts=[], tag=None))
    wa_business = party("9a3b0c1d-2e3f-4a5b-8c6d-7e8f9a0b1c2d", "9a3b0c1d-2e3f-4a5b-8c6d-7e8f9a0b1c2d", "channel")
    wa = f"{wa_business['hash'][:16]}-{customer['hash'][:16]}"
    sha = hashlib.sha256(PNG).hexdigest()
    media_blob = f"whatsapp/media/{sha}.lz4"
    assert store.create_blob(media_blob, codec.encode_bytes(PNG).data, {"sha256": sha}, {"kind": "media"})
    bad_sha = hashlib.sha256(b"original").hexdigest()
    bad_blob = f"whatsapp/media/{bad_sha}.lz4"
    assert store.create_blob(bad_blob, codec.encode_bytes(b"altered!").data, {"sha256": bad_sha}, {"kind": "media"})

    def media(blob, digest, size, caption):
        return {"id": f"m-{digest[:6]}", "mime_type": "image/png", "file_name": None, "caption": caption,
                "animated": None, "status": "stored", "blob": blob, "sha256": digest, "size": size, "reason": None}

    for mid, at, m in (("evt-photo", "2026-11-01T09:00:00.000000Z", media(media_blob, sha, len(PNG), "the box")),
                       ("evt-bad", "2026-11-01T09:01:00.000000Z", media(bad_blob, bad_sha, 8, "another"))):
        put_record(store, f"whatsapp/202611/{wa}/messages/{mid}/received.json.lz4",
                   direct_record("whatsapp", "whatsapp-message", wa, mid, customer, wa_business, at, action="received",
                                 channel_message_id=None, channel_type="whatsapp", message_type="image", content=None,
                                 media=m, reaction=None, context=None, button=None, interactive=None, error=None))
    put_record(store, f"whatsapp/202611/{wa}/messages/out-1/reports/1793538000000-read.json.lz4",
               direct_record("whatsapp", "whatsapp-report", wa, "out-1", wa_business, customer,
                             "2026-11-01T13:00:00.000000Z", channel_type="whatsapp", status="Read", error=None))
    return services, {"sms": sms, "whatsapp": wa, "business": business, "customer": customer,
                      "wa_business": wa_business, "bad_blob": bad_blob}


def test_sms_and_whatsapp_are_direct_conversations(channels, tmp_path):
    svc, ids = channels
    _, findings, files = export(svc.store, tmp_path, start="2026-11-01", end="2026-11-01")
    by_platform = {f.manifest["conversations"][0]["platform"]: f for f in files}
    assert set(by_platform) == {"acs-sms", "acs-whatsapp"}
    # The altered media is named and left out; its message is still exported.
    assert [(d.name, d.kind) for d in findings.items] == [(ids["bad_blob"], "corrupt")]
    for f in files:
        check_file(f, svc.store)
    sms = by_platform["acs-sms"]
    conv = sms.manifest["conversations"][0]
    people = {p["account_id"]: p for p in sms.manifest["participants"]}
    business, customer = people["4:+18005550100"]["id"], people["4:+15555550123"]["id"]
    assert conv["type"] == "direct" and conv["id"] == ids["sms"] == sms.manifest["eventcollectionid"]
    assert set(conv["participants"]) == {business, customer} and conv["custodian"] == business
    assert custom(people["4:+15555550123"])["user_hash"] == [ids["customer"]["hash"]]
    assert sms.header("X-RSMF-Custodian") == "+18005550100"
    incoming, outgoing = sms.events
    assert (incoming["direction"], incoming["participant"], incoming["body"]) == ("incoming", customer,
                                                                                  "Where is my parcel?")
    assert (outgoing["direction"], outgoing["participant"], outgoing["body"]) == ("outgoing", business, "")
    assert outgoing["read_receipts"] == [{"participant": customer, "timestamp": "2026-11-01T13:50:00.000000Z",
                                          "action": "delivered"}]
    assert "delivery reports only" in custom(outgoing)["note"][0]

    wa = by_platform["acs-whatsapp"]
    photo, bad, read = wa.events
    assert photo["body"] == "the box" and photo["direction"] == "incoming"
    (attachment,) = photo["attachments"]
    assert wa.zip.read(attachment["id"]) == PNG and attachment["size"] == len(PNG)
    assert int(wa.header("X-RSMF-AttachmentCount")) == 1 and sorted(wa.zip.namelist()) == sorted(
        ["rsmf_manifest.json", attachment["id"]])
    assert "attachments" not in bad and json.loads(custom(bad)["media"][0])["blob"] == ids["bad_blob"]
    assert read["read_receipts"][0]["action"] == "read" and read["direction"] == "outgoing"
    assert wa.header("X-RSMF-Custodian") == ids["wa_business"]["address"]


def test_the_progress_total_is_known_before_reading(archive, tmp_path):
    class Progress:
        total, done, total_at_first_update = None, 0, None

        def update(self, n):
            if self.done == 0:
                self.total_at_first_update = self.total
            self.done += n

    from archiving.read.scan import parse_bound

    bar = Progress()
    export_rsmf(archive.store, RsmfRequest(parse_bound("2026-10-31"), parse_bound("2026-11-01", end=True),
                                           tmp_path / "p"), hash_key=HASH_KEY.encode(), progress=bar)
    blobs = sum(1 for _ in archive.store.list_names("chat/"))
    assert bar.total_at_first_update == bar.total == bar.done == blobs == 16  # the sample's 12 records and 4 more
