"""python -m archiving: replay and show, in a real process, against Azurite."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from archiving.store.schemas import errors as schema_errors

from .conftest import ROOT, vector_files

THREAD = "19:3f2504e0d4f14c7a9b1c6e2a5d7f8a90@thread.v2"


def cli(*args, env=None, cwd=None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("Archive", "ARCHIVE"))}
    full_env.update(env or {})
    full_env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "archiving", "--quiet", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or ROOT, timeout=120)


def test_replay_then_show(archive_env, services):
    first = cli("replay", "samples/conversation.json", env=archive_env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0] == "30 events: 12 archived, 17 duplicate, 1 skipped"
    again = cli("replay", "samples/conversation.json", env=archive_env)
    assert again.stdout.splitlines()[0] == "30 events: 29 duplicate, 1 skipped"

    shown = cli("show", THREAD, env=archive_env)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "Topic: Order 4711: late delivery (resolved)" in text
    assert "Participants: Alice (Contoso support), Bob Jones\n" in text
    assert "Messages: 6 (1 edited, 1 deleted)" in text
    assert "Bob Jones: My order 4711 was due yesterday (express shipping), still nothing. 📦  [edited 2026-11-01 01:00:00Z]" in text
    assert "Alice (Contoso support): [deleted 2026-11-01 01:02:50Z]" in text
    assert "Oops, wrong window." not in text  # the deleted content shows only with --history
    lines = text.splitlines()
    # Compose order across the month boundary: the first message (October) before the second (November).
    assert lines.index(next(l for l in lines if "Hello Bob" in l)) < lines.index(next(l for l in lines if "My order" in l))

    history = cli("show", THREAD, "--history", env=archive_env).stdout
    assert "v1761958960000 received: Oops, wrong window." in history
    assert "v1761958970000 deleted: (no content)" in history

    as_json = json.loads(cli("show", THREAD, "--format", "json", env=archive_env).stdout)
    assert as_json["thread_id"] == THREAD and len(as_json["messages"]) == 6
    edited = next(m for m in as_json["messages"] if m["message_id"] == "1761955150000")
    assert [v["action"] for v in edited["versions"]] == ["received", "edited"]
    assert edited["created_at"] == "2026-11-01T00:59:10.000000Z"


@pytest.mark.parametrize("path", vector_files("cloud-events-schema"), ids=lambda p: p.name)
def test_replay_cloud_events_vectors(path, archive_env, services, request):
    raw = json.loads(path.read_text(encoding="utf-8"))
    env = archive_env
    media = (raw.get("data") or {}).get("media")
    if media:  # WhatsApp media is fetched from ACS (the HTTPS test server) while replaying
        from .acs_server.media import add_media

        acs = request.getfixturevalue("acs")
        add_media(acs, media["id"], b"replayed media", "image/jpeg")
        env = dict(archive_env, ACS_CONNECTION_STRING=acs.connection_string, **acs.trust_env())
    result = cli("replay", str(path), env=env)
    assert result.returncode == 0, result.stderr
    blobs = [n for root in ("chat/", "sms/", "whatsapp/", "email/") for n in services.store.list_names(root)
             if not n.startswith("whatsapp/media/")]
    from archiving.ingest.events import ARCHIVED_TYPES

    if raw["type"] in ARCHIVED_TYPES:
        assert result.stdout.startswith("1 events: 1 archived"), result.stdout
        (name,) = blobs
        doc = services.store.read_document(name)
        assert schema_errors(doc) == []
        assert doc["event"]["topic"] == raw["source"] and doc["event"]["id"] == raw["id"]
    else:
        assert result.stdout.startswith("1 events: 1 skipped")
        assert blobs == []


def test_replay_rejects_into_the_rejected_container(tmp_path, archive_env, services):
    bad = {"id": "bad-1", "eventType": "Microsoft.Communication.ChatMessageReceivedInThread", "data": [],
           "subject": "s", "topic": "t", "eventTime": "2024-01-01T00:00:00Z", "dataVersion": "1.0"}
    lines = tmp_path / "events.jsonl"
    lines.write_text(json.dumps(bad) + "\n", encoding="utf-8")
    result = cli("replay", str(lines), env=archive_env)
    assert result.returncode == 1
    assert "1 rejected" in result.stdout
    (name,) = services.rejected_store.list_names("")
    doc = json.loads(services.rejected_store.container.download_blob(name).readall())
    assert doc["reason"] == "data is a list, expected a JSON object"
    assert doc["event"] == bad
    assert schema_errors(doc) == []


def test_show_unknown_thread_exits_3(archive_env):
    result = cli("show", "19:nothing@thread.v2", env=archive_env)
    assert result.returncode == 3
    assert "nothing archived" in result.stderr


def test_missing_setting_exits_2_and_names_it(archive_env, tmp_path):
    env = {k: v for k, v in archive_env.items() if k != "ARCHIVE_HASH_KEY"}
    result = cli("replay", str(ROOT / "samples/conversation.json"), env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "ARCHIVE_HASH_KEY" in result.stderr


def test_settings_from_local_settings_json(archive_env, tmp_path, services):
    (tmp_path / "local.settings.json").write_text(json.dumps({"IsEncrypted": False, "Values": archive_env}))
    result = cli("replay", str(ROOT / "samples/conversation.json"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(list(services.store.list_names("chat/"))) == 12


def test_help_has_an_example_for_each_command():
    for command in ("replay", "show"):
        result = cli(command, "--help")
        assert result.returncode == 0 and "example:" in result.stdout
