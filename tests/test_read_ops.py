"""replay (streamed, bad input named and skipped, idempotent rejections), reconcile --ack, redrive counts,
and a storage outage on the command line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid

from .conftest import ROOT
from .test_read_side import P, T0, cli, deliver, env, lost, people, support_thread, svc  # noqa: F401 - fixtures

BAD = {"id": "bad-1", "eventType": P + "ChatMessageReceivedInThread", "data": [], "subject": "s", "topic": "t",
       "eventTime": "2024-01-01T00:00:00Z", "dataVersion": "1.0"}


# -- 6: replay ------------------------------------------------------------------------------------------


def test_replay_goes_on_past_bad_input_and_names_it(acs, people, svc, cli, tmp_path):
    c, _ = support_thread(acs, people)
    good = tmp_path / "good.jsonl"
    # A UTF-8 byte-order mark (Windows tools write one), then JSON lines with one broken line.
    lines = [json.dumps(e) for e in c.events[:5]] + ["{not json"] + [json.dumps(e) for e in c.events[5:]]
    good.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode("utf-8") + b"\n")
    binary = tmp_path / "archive.zip"
    binary.write_bytes(b"PK\x03\x04\x00\x00binary\xff\xfe")
    array = tmp_path / "cut.json"
    array.write_text(json.dumps([c.events[0]])[:-1] + ", {", encoding="utf-8")  # cut short in the second item
    missing = tmp_path / "missing.json"

    code, out, err = cli("replay", str(binary), str(good), str(array), str(missing))
    assert code == 1 and "Traceback" not in err
    total = len(c.events) + 1  # the cut file's first event again: a duplicate
    assert out.splitlines()[0] == f"{total} events: {len(c.events)} archived, 1 duplicate"
    assert "4 inputs could not be read (named on stderr); everything else was replayed" in out
    assert f"unreadable: {binary}: binary content" in err
    assert f"unreadable: {good}: line 6: not JSON" in err
    assert f"unreadable: {array}: line 1: " in err
    assert f"unreadable: {missing}: cannot be read" in err


def test_replay_rejections_are_idempotent_and_the_rejected_container_replays(svc, cli, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([BAD]), encoding="utf-8")
    assert cli("replay", str(path))[0] == 1
    assert cli("replay", str(path))[0] == 1
    names = list(svc.rejected_store.list_names(""))
    assert len(names) == 1 and names[0].startswith("replay-")  # named by content: the second run added nothing

    # The rejected container holds a rejection (as the function's binding writes it) of an event that is
    # fine once fixed, and the still malformed one: replaying the container unwraps both.
    fixed = {"reason": "threadId is missing", "received_at": "2026-01-01T00:00:00.000000Z",
             "event": {"id": str(uuid.uuid4()), "eventType": P + "ChatThreadCreated", "subject": "thread/19:x@thread.v2",
                       "topic": "t", "eventTime": "2026-01-01T00:00:00Z", "dataVersion": "1.0",
                       "data": {"threadId": "19:fixed@thread.v2", "createTime": "2026-01-01T00:00:00Z",
                                "createdByCommunicationIdentifier": {"rawId": "8:acs:a", "communicationUser": {"id": "8:acs:a"}},
                                "properties": {"topic": "Fixed"}, "participants": [], "metadata": {}, "version": 1}}}
    body = json.dumps(fixed).encode()
    svc.rejected_store.create_blob("2026-01-01T00-00-00Z-00000000-0000-0000-0000-000000000001.json", body, {})
    container = svc.settings.rejected_container
    for _ in range(2):
        code, out, err = cli("replay", "--container", container)
        assert code == 1 and "Traceback" not in err
        assert out.splitlines()[0] in ("2 events: 1 archived, 1 still rejected", "2 events: 1 duplicate, 1 still rejected")
        assert len(list(svc.rejected_store.list_names(""))) == 2  # no rejection of a rejection
    svc.rejected_store.create_blob("junk.json", b"{not json", {})
    code, out, err = cli("replay", "--container", container)
    assert code == 1 and "unreadable: blob junk.json: unreadable: not JSON" in err
    assert out.splitlines()[0] == "2 events: 1 duplicate, 1 still rejected"


# -- 7: reconcile --ack ---------------------------------------------------------------------------------


def test_reconcile_ack_records_permanent_gaps(acs, people, svc, deliver, cli):
    c, ids = support_thread(acs, people)
    received_oops = next(e for e in c.events if e["data"].get("messageId") == ids["oops"]
                         and e["eventType"] == P + "ChatMessageReceivedInThread")
    deliver([e for e in c.events if e is not received_oops], copies=1)  # the deleted message's text is lost
    code, out, _ = cli("reconcile", c.tid)
    assert code == 1 and "missing content" in out

    code, _, err = cli("reconcile", "--ack", c.tid)
    assert code == 2 and "--ack needs --reason TEXT" in err
    code, out, _ = cli("reconcile", "--ack", c.tid, "--reason", "lost before the archiver was deployed (INC-42)")
    assert code == 0
    assert out.splitlines()[0].startswith(f"thread {c.tid}: acknowledged 1 gaps (acks/{c.tid}/")
    assert out.splitlines()[1].endswith("all archived; 1 acknowledged gap(s))")
    assert "lost before the archiver was deployed (INC-42)" in out.splitlines()[2]

    code, out, _ = cli("reconcile", c.tid)  # later runs: acknowledged, not a finding
    assert code == 0 and "acknowledged content" in out
    code, out, _ = cli("reconcile", "--inactive")
    assert code == 0 and "1 complete, 0 with gaps" in out.splitlines()[-1]
    code, out, _ = cli("verify", "--prefix", "acks/")
    assert code == 0 and out.endswith(": 1 ok, 0 corrupt, 0 unreadable, 0 invalid\n")


def test_reconcile_validates_its_arguments(env, cli):
    for bad in ("0", "-5", "x"):
        try:
            code = cli("reconcile", "--inactive", "--inactive-after", bad)[0]
        except SystemExit as exc:
            code = exc.code
        assert code == 2


# -- 8: redrive -----------------------------------------------------------------------------------------


def test_redrive_counts_what_remains_and_accepts_a_missing_poison_queue(env, svc, cli):
    name = svc.settings.sweep_queue
    code, out, _ = cli("redrive")
    assert (code, out) == (0, f"0 messages moved: there is no queue {name}-poison (nothing has failed)\n")

    poison = svc.queue_service.get_queue_client(f"{name}-poison")
    poison.create_queue()
    svc.queue_service.get_queue_client(name).create_queue()
    for i in range(3):
        poison.send_message(f"m{i}")
    taken = list(poison.receive_messages(max_messages=1, visibility_timeout=60))  # a failed attempt left one invisible
    assert len(taken) == 1
    code, out, err = cli("redrive")
    assert code == 1
    assert out == f"2 messages moved from {name}-poison to {name}; 1 remain in {name}-poison (of 3 at the start)\n"
    code, out, err = cli("redrive")
    assert code == 1 and out.startswith(f"0 messages moved from {name}-poison to {name}; 1 remain")
    assert "invisible for now" in err


# -- 9: a storage outage --------------------------------------------------------------------------------


def test_storage_outage_is_announced_and_fails_within_30_seconds(tmp_path):
    with socket.socket() as s:  # a free port nobody listens on: storage is down
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    account_key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    env = {k: v for k, v in os.environ.items() if not k.startswith(("Archive", "ARCHIVE"))}
    env.update(PYTHONPATH=str(ROOT), ARCHIVE_HASH_KEY="k", ArchiveStorage=(
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={account_key};"
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"))
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "archiving", "show", "19:x@thread.v2"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = process.stderr.readline()
    announced = time.monotonic() - started
    rest = process.stderr.read()
    process.wait(timeout=60)
    elapsed = time.monotonic() - started
    assert "storage did not answer (ServiceRequestError): retrying in" in first and announced < 8, (first, announced)
    assert process.returncode == 4 and elapsed < 30, (process.returncode, elapsed, rest)
    assert "error: service failed" in rest and "Traceback" not in rest


def test_progress_bar_and_log_lines_do_not_interleave_on_a_terminal(archive_env):
    """On a terminal (a pty), each log line stands on a line of its own: never after a bar's text."""
    import pty
    import re
    import select

    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # a terminal of 160 columns
    env = {k: v for k, v in os.environ.items() if not k.startswith(("Archive", "ARCHIVE"))}
    env.update(archive_env, PYTHONPATH=str(ROOT), COLUMNS="120")
    process = subprocess.Popen([sys.executable, "-m", "archiving", "replay", str(ROOT / "samples/conversation.json")],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            seen += data
        elif process.poll() is not None:
            break
    process.wait(timeout=60)
    os.close(master)
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", seen.decode("utf-8", "replace"))
    logs = [line for line in text.split("\n") if "INFO archiving" in line]
    assert len(logs) >= 30, text[-2000:]  # one per event, as before
    bars = [line for line in text.split("\n") if "B/s]" in line or "%|" in line]
    assert bars, "no progress bar on a terminal"
    for line in logs:
        visible = line.rstrip("\r").split("\r")[-1]  # what is left on screen: after the last carriage return
        assert visible.lstrip().startswith("INFO archiving"), repr(line)  # not after a bar's text
        assert "%|" not in visible


def test_export_during_an_outage_leaves_no_partial_file(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    account_key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    env = {k: v for k, v in os.environ.items() if not k.startswith(("Archive", "ARCHIVE"))}
    env.update(PYTHONPATH=str(ROOT), ARCHIVE_HASH_KEY="k", ArchiveStorage=(
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={account_key};"
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"))
    result = subprocess.run([sys.executable, "-m", "archiving", "--quiet", "export", "--from", "2026-01-01", "--to",
                             "2026-01-31", "--out", str(tmp_path / "e.jsonl")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 4 and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # neither the export nor its .partial
