"""Tests of the ACS test server (tests/acs_server), driven by the real azure-communication-* SDKs."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone

import orjson
import pytest
import requests
from azure.communication.chat import (
    ChatClient,
    ChatMessageType,
    ChatParticipant,
    CommunicationTokenCredential,
    CommunicationUserIdentifier,
)
from azure.communication.identity import CommunicationIdentityClient
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

from tests.acs_server import AcsTestServer, parse_time
from tests.acs_server.certs import generate as generate_certs
from tests.acs_server.state import AcsState

UTC = timezone.utc
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
API = "api-version=2024-03-07"


@pytest.fixture
def acs():
    with AcsTestServer() as server:
        yield server


@pytest.fixture
def env_trust(acs, monkeypatch):
    """Trust the server the documented way, through the environment (requests reads it per request)."""
    for name, value in acs.trust_env().items():
        monkeypatch.setenv(name, value)
    return acs


def error_code(exc: HttpResponseError) -> str:
    return json.loads(exc.response.text())["error"]["code"]


def raw_get(acs: AcsTestServer, path: str, token: str | None = None, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(acs.endpoint + path, headers=headers, verify=acs.ca_file, timeout=10, **kwargs)


# ------------------------------------------------------------------------------------------ transport


def test_https_certificate_addresses_and_stop(tmp_path):
    other_ca = generate_certs(str(tmp_path))
    server = AcsTestServer().start()
    try:
        port = server.port
        assert server.endpoint == f"https://127.0.0.1:{port}/"
        assert server.connection_string == f"endpoint=https://127.0.0.1:{port}/;accesskey={server.access_key}"
        assert len(base64.b64decode(server.access_key)) == 64
        assert open(server.ca_file).read().startswith("-----BEGIN CERTIFICATE-----")
        assert server.trust_env() == {"REQUESTS_CA_BUNDLE": server.ca_file, "SSL_CERT_FILE": server.ca_file}
        # verified TLS works by IP and by name (SAN), and the certificate is really checked
        for host in ("127.0.0.1", "localhost"):
            r = requests.get(f"https://{host}:{port}/chat/threads?{API}", verify=server.ca_file, timeout=10)
            assert r.status_code == 401
            assert r.json() == {"error": {"code": "Unauthorized", "message": "Request is not authorized."}}
            assert r.headers["Content-Type"].startswith("application/json")
        with pytest.raises(requests.exceptions.SSLError):  # a different CA is refused
            requests.get(f"https://127.0.0.1:{port}/chat/threads?{API}", verify=other_ca.ca_file, timeout=10)
    finally:
        server.stop()
    assert not server.running
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"https://127.0.0.1:{port}/chat/threads?{API}", verify=server.ca_file, timeout=5)


def test_keep_alive_connections_are_reused(acs):
    a = acs.create_user()
    tid = acs.create_thread("keep-alive", a)
    client = acs.chat_thread_client(a, tid)
    for i in range(15):
        client.send_message(f"m{i}")
    assert len(list(client.list_messages(results_per_page=5))) == 17
    assert acs.count(method="POST", status=201) == 15
    assert acs.connections_accepted <= 2


# ------------------------------------------------------------------------------------------ identity


def test_identity_create_user_and_token_with_the_right_key(env_trust):
    acs = env_trust
    identity = CommunicationIdentityClient.from_connection_string(acs.connection_string)
    user = identity.create_user()
    raw = user.properties["id"]
    assert raw.startswith(f"8:acs:{acs.resource_id}_") and acs.user_exists(raw)

    before = int(time.time())
    token = identity.get_token(user, ["chat"])
    header, payload, signature = token.token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    assert claims["skypeid"] == raw[2:] and claims["acsScope"] == "chat"
    assert before + 24 * 3600 - 5 <= claims["exp"] <= int(time.time()) + 24 * 3600
    # the SDK credential parses exp from the token itself
    assert CommunicationTokenCredential(token.token).get_token().expires_on == claims["exp"]
    assert parse_time(token.expires_on) == datetime.fromtimestamp(claims["exp"], UTC)

    user2, token2 = identity.create_user_and_token(["chat", "voip"], token_expires_in=timedelta(hours=1))
    exp2 = CommunicationTokenCredential(token2.token).get_token().expires_on
    assert abs(exp2 - (time.time() + 3600)) < 30

    # the token is bound to its user: a thread created with it is created by that user
    chat = ChatClient(acs.endpoint, CommunicationTokenCredential(token.token))
    result = chat.create_chat_thread("by token", thread_participants=[ChatParticipant(identifier=user2)])
    assert result.chat_thread.created_by.raw_id == raw
    assert {p["communicationIdentifier"]["rawId"] for p in acs.participants(result.chat_thread.id)} == {
        raw,
        user2.raw_id,
    }
    assert acs.count(path=r"^/identities", status={200, 201}) == 3


def test_identity_wrong_key_is_401(env_trust):
    acs = env_trust
    wrong = base64.b64encode(os.urandom(64)).decode()
    identity = CommunicationIdentityClient.from_connection_string(f"endpoint={acs.endpoint};accesskey={wrong}")
    with pytest.raises(ClientAuthenticationError) as err:
        identity.create_user()
    assert err.value.status_code == 401 and error_code(err.value) == "Unauthorized"
    good = CommunicationIdentityClient.from_connection_string(acs.connection_string)
    user = good.create_user()
    with pytest.raises(ClientAuthenticationError):
        identity.get_token(user, ["chat"])
    assert acs.count(path=r"^/identities", status=401) == 2
    # unsigned requests, unknown users and bad scopes
    r = requests.post(f"{acs.endpoint}identities?api-version=2023-10-01", verify=acs.ca_file, timeout=10)
    assert r.status_code == 401
    with pytest.raises(HttpResponseError) as err:
        good.get_token(user, ["nonsense"])
    assert err.value.status_code == 400
    with pytest.raises(HttpResponseError) as err:
        good.get_token(CommunicationUserIdentifier(f"8:acs:{acs.resource_id}_nobody"), ["chat"])
    assert err.value.status_code == 404


def test_revoked_token_is_rejected(acs):
    identity = acs.identity_client()
    user = identity.create_user()
    token = identity.get_token(user, ["chat"]).token
    chat = ChatClient(acs.endpoint, CommunicationTokenCredential(token), **acs.client_kwargs())
    assert list(chat.list_chat_threads()) == []
    identity.revoke_tokens(user)
    with pytest.raises(ClientAuthenticationError):
        list(chat.list_chat_threads())


# ------------------------------------------------------------------------------------------ threads


def test_list_threads_paging_only_own_and_deleted(acs):
    alice, bob = acs.create_user(), acs.create_user()
    own = [
        acs.create_thread(f"t{i}", alice, [bob] if i < 2 else (), created_on=T0 + timedelta(hours=i)) for i in range(5)
    ]
    bobs_private = acs.create_thread("bob only", bob, created_on=T0)
    acs.delete_thread(own[1], deleted_on=T0 + timedelta(days=1))

    chat = acs.chat_client(alice)
    pages = [list(page) for page in chat.list_chat_threads(results_per_page=2).by_page()]
    assert [len(p) for p in pages] == [2, 2, 1]
    items = [t for page in pages for t in page]
    assert sorted(t.id for t in items) == sorted(own)
    assert bobs_private not in {t.id for t in items}
    assert acs.count(method="GET", path=r"^/chat/threads$", status=200) == 3
    deleted = {t.id: t.deleted_on for t in items}
    assert deleted[own[1]] == T0 + timedelta(days=1)
    assert all(deleted[t] is None for t in own if t != own[1])
    # most recently active first: the deleted thread (activity = deletion), then t4, t3, ...
    assert [t.id for t in items] == [own[1], own[4], own[3], own[2], own[0]]

    bob_threads = {t.id for t in acs.chat_client(bob).list_chat_threads()}
    assert bob_threads == {own[0], own[1], bobs_private}
    # startTime keeps threads active since then
    recent = {t.id for t in chat.list_chat_threads(start_time=T0 + timedelta(hours=3))}
    assert recent == {own[1], own[3], own[4]}


def test_bogus_token_is_401(acs):
    other = AcsState()
    foreign = other.issue_token(other.create_user())  # well-formed, but not issued by this server
    chat = ChatClient(acs.endpoint, CommunicationTokenCredential(foreign), **acs.client_kwargs())
    with pytest.raises(ClientAuthenticationError) as err:
        list(chat.list_chat_threads())
    assert err.value.status_code == 401 and error_code(err.value) == "Unauthorized"
    assert raw_get(acs, f"chat/threads?{API}").status_code == 401


def test_non_participant_403_unknown_thread_404(acs):
    alice, mallory = acs.create_user(), acs.create_user()
    tid = acs.create_thread("private", alice)
    acs.send_message(tid, alice, "secret")
    stranger = acs.chat_thread_client(mallory, tid)
    with pytest.raises(HttpResponseError) as err:
        stranger.get_properties()
    assert err.value.status_code == 403 and error_code(err.value) == "Forbidden"
    with pytest.raises(HttpResponseError) as err:
        list(stranger.list_messages())
    assert err.value.status_code == 403
    with pytest.raises(HttpResponseError) as err:
        stranger.send_message("let me in")
    assert err.value.status_code == 403
    assert len(acs.messages(tid)) == 3
    with pytest.raises(ResourceNotFoundError):
        acs.chat_thread_client(alice, "19:00000000000000000000000000000000@thread.v2").get_properties()


def test_create_thread_over_rest_is_idempotent_and_reports_invalid_participants(acs):
    alice, bob = acs.create_user(), acs.create_user()
    chat = acs.chat_client(alice)
    nobody = CommunicationUserIdentifier(f"8:acs:{acs.resource_id}_00000000-0000-0000-0000-000000000000")
    participants = [ChatParticipant(identifier=CommunicationUserIdentifier(bob), display_name="Bob"),
                    ChatParticipant(identifier=nobody, display_name="Nobody")]
    first = chat.create_chat_thread("lunch", thread_participants=participants, idempotency_token="req-1")
    again = chat.create_chat_thread("lunch", thread_participants=participants, idempotency_token="req-1")
    assert first.chat_thread.id == again.chat_thread.id and acs.thread_ids == [first.chat_thread.id]
    assert [(p.identifier.raw_id, e.code) for p, e in first.errors] == [(nobody.raw_id, "404")]
    props = acs.thread(first.chat_thread.id)
    assert props["topic"] == "lunch" and props["createdOn"].endswith("Z")
    assert props["createdByCommunicationIdentifier"] == {"rawId": alice, "communicationUser": {"id": alice}}


def test_delete_thread(acs):
    alice = acs.create_user()
    tid = acs.create_thread("doomed", alice)
    chat = acs.chat_client(alice)
    before = datetime.now(UTC)
    chat.delete_chat_thread(tid)
    assert acs.count(method="DELETE", status=204) == 1
    # the SDK's ChatThreadProperties (1.3.0) has no deleted_on; the REST body and the thread list have it
    props = acs.chat_thread_client(alice, tid).get_properties()
    assert props.id == tid and props.topic == "doomed"
    body = raw_get(acs, f"chat/threads/{tid}?{API}", acs.issue_token(alice)).json()
    deleted_on = parse_time(body["deletedOn"])
    assert before - timedelta(seconds=1) <= deleted_on <= datetime.now(UTC)
    assert [t.deleted_on for t in chat.list_chat_threads()] == [deleted_on]
    assert acs.thread(tid)["deletedOn"] == body["deletedOn"]
    # deleted threads stay readable but take no new messages
    assert len(list(acs.chat_thread_client(alice, tid).list_messages())) == 2
    with pytest.raises(ResourceNotFoundError):
        acs.chat_thread_client(alice, tid).send_message("too late")


# ------------------------------------------------------------------------------------------ messages


def test_list_messages_newest_first_over_many_pages(acs):
    alice, bob = acs.create_user(), acs.create_user()
    tid = acs.create_thread("busy", alice, [(bob, "Bob")], created_on=T0)
    acs.add_messages(tid, bob, 450, start=T0 + timedelta(minutes=1), content_fn=lambda i: f"msg {i}",
                     sender_display_name="Bob")
    client = acs.chat_thread_client(alice, tid)

    pages = [list(p) for p in client.list_messages(results_per_page=200).by_page()]
    assert [len(p) for p in pages] == [200, 200, 52]
    messages = [m for p in pages for m in p]
    assert [int(m.sequence_id) for m in messages] == list(range(452, 0, -1))
    assert messages[0].content.message == "msg 449" and messages[0].sender_display_name == "Bob"
    assert messages[0].sender.raw_id == bob
    assert messages[0].created_on == T0 + timedelta(minutes=1, seconds=449)
    assert [m.type for m in messages[-2:]] == [ChatMessageType.TOPIC_UPDATED, ChatMessageType.PARTICIPANT_ADDED]
    assert acs.count(method="GET", path=r"/messages$", status=200) == 3

    # above 200 is capped at 200; startTime filters by createdOn and pages the same way
    first = next(iter(client.list_messages(results_per_page=500).by_page()))
    assert len(list(first)) == 200
    since = T0 + timedelta(minutes=1, seconds=300)
    recent = list(client.list_messages(results_per_page=60, start_time=since))
    assert [m.content.message for m in recent] == [f"msg {i}" for i in range(449, 299, -1)]

    # the data API lists oldest first
    stored = acs.messages(tid)
    assert [int(m["sequenceId"]) for m in stored] == list(range(1, 453))
    assert stored[2]["createdOn"] == "2024-05-01T08:01:00.0000000Z"


def test_system_messages_for_participants_and_topic(acs):
    alice, bob, carol = acs.create_user(), acs.create_user(), acs.create_user()
    chat = acs.chat_client(alice)
    tid = chat.create_chat_thread(
        "first", thread_participants=[ChatParticipant(identifier=CommunicationUserIdentifier(bob), display_name="Bob")]
    ).chat_thread.id
    client = acs.chat_thread_client(alice, tid)
    client.add_participants([ChatParticipant(identifier=CommunicationUserIdentifier(carol), display_name="Carol")])
    client.update_topic("second")
    client.remove_participant(CommunicationUserIdentifier(bob))
    client.send_message("hello")

    messages = list(client.list_messages())[::-1]
    assert [m.type for m in messages] == [
        ChatMessageType.PARTICIPANT_ADDED,
        ChatMessageType.TOPIC_UPDATED,
        ChatMessageType.PARTICIPANT_ADDED,
        ChatMessageType.TOPIC_UPDATED,
        ChatMessageType.PARTICIPANT_REMOVED,
        ChatMessageType.TEXT,
    ]
    assert [m.sequence_id for m in messages] == ["1", "2", "3", "4", "5", "6"]
    assert len({m.id for m in messages}) == 6
    assert {p.identifier.raw_id for p in messages[0].content.participants} == {alice, bob}
    assert messages[1].content.topic == "first" and messages[3].content.topic == "second"
    assert [(p.identifier.raw_id, p.display_name) for p in messages[2].content.participants] == [(carol, "Carol")]
    assert [p.identifier.raw_id for p in messages[4].content.participants] == [bob]
    assert all(m.content.initiator.raw_id == alice for m in messages[:5])
    assert messages[0].sender is None and messages[5].sender.raw_id == alice
    assert client.get_properties().topic == "second"
    assert {p.identifier.raw_id for p in client.list_participants()} == {alice, carol}

    # bob was removed: he reads history up to his removal, no longer lists the thread, cannot write
    bob_client = acs.chat_thread_client(bob, tid)
    assert [m.sequence_id for m in bob_client.list_messages()] == ["5", "4", "3", "2", "1"]
    assert list(acs.chat_client(bob).list_chat_threads()) == []
    with pytest.raises(HttpResponseError) as err:
        bob_client.send_message("still here?")
    assert err.value.status_code == 403


def test_edited_and_deleted_messages(acs):
    alice, bob = acs.create_user(), acs.create_user()
    tid = acs.create_thread("edits", alice, [bob])
    client = acs.chat_thread_client(alice, tid)
    keep = client.send_message("original", sender_display_name="Alice", metadata={"k": "v"}).id
    gone = client.send_message("regrettable").id
    original = client.get_message(keep)
    assert original.version == keep and original.edited_on is None and original.metadata == {"k": "v"}

    client.update_message(keep, content="edited")
    client.delete_message(gone)
    with pytest.raises(HttpResponseError) as err:  # only the sender may edit
        acs.chat_thread_client(bob, tid).update_message(keep, content="hijacked")
    assert err.value.status_code == 403

    listed = {m.id: m for m in client.list_messages()}
    edited, deleted = listed[keep], listed[gone]
    assert edited.content.message == "edited" and edited.edited_on is not None
    assert int(edited.version) > int(original.version) and edited.deleted_on is None
    assert deleted.deleted_on is not None and deleted.content is None
    assert client.get_message(gone).deleted_on == deleted.deleted_on
    raw = acs.message(tid, gone)
    assert "content" not in raw and raw["deletedOn"].endswith("Z")

    # data API edits and deletes look the same
    seeded = acs.send_message(tid, bob, "seeded", created_on=T0, attachments=[
        {"id": "a1", "attachmentType": "image", "name": "cat.png", "url": "https://example.invalid/a1"}])
    acs.edit_message(tid, seeded, "seeded, edited", edited_on=T0 + timedelta(minutes=5))
    got = client.get_message(seeded)
    assert got.content.message == "seeded, edited" and got.edited_on == T0 + timedelta(minutes=5)
    assert got.content.attachments[0].name == "cat.png"
    acs.delete_message(tid, seeded, deleted_on=T0 + timedelta(minutes=6))
    assert client.get_message(seeded).deleted_on == T0 + timedelta(minutes=6)


def test_participants_paging(acs):
    alice = acs.create_user()
    others = [(acs.create_user(), f"user {i}") for i in range(6)]
    tid = acs.create_thread("crowd", alice, [(alice, "Alice"), *others])
    client = acs.chat_thread_client(alice, tid)
    pages = [list(p) for p in client.list_participants(results_per_page=3).by_page()]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [p.display_name for page in pages for p in page] == ["Alice"] + [f"user {i}" for i in range(6)]
    assert acs.count(method="GET", path=r"/participants$") == 3
    assert [p.display_name for p in client.list_participants(skip=5)] == ["user 4", "user 5"]


# ------------------------------------------------------------------------------------------ faults


def test_429_with_retry_after_is_retried_by_the_sdk(acs):
    alice = acs.create_user()
    tid = acs.create_thread("throttled", alice)
    acs.add_messages(tid, alice, 300, start=T0)
    rule = acs.faults.add(status=429, path=r"/messages$", method="GET", times=1, retry_after=0)
    client = acs.chat_thread_client(alice, tid)
    assert len(list(client.list_messages(results_per_page=200))) == 302
    assert rule.fired == 1
    throttled = acs.request_log.filter(status=429)
    assert len(throttled) == 1 and throttled[0].fault and throttled[0].method == "GET"
    assert acs.count(method="GET", path=r"/messages$", status=200) == 2

    # every second POST gets a 503: each one is retried, nothing is stored twice
    acs.faults.clear()
    acs.faults.add(status=503, path=r"/messages$", method="POST", every=2, retry_after=0)
    for i in range(3):
        client.send_message(f"after outage {i}")
    assert acs.count(method="POST", status=503) == 2
    assert acs.count(method="POST", status=201) == 3
    assert [m["content"]["message"] for m in acs.messages(tid)[-3:]] == [f"after outage {i}" for i in range(3)]


def test_fault_bodies_probability_and_delay(acs):
    alice = acs.create_user()
    token = acs.issue_token(alice)
    acs.faults.add(status=429, path=r"^/chat/threads$", probability=0.5, seed=7, retry_after=2)
    statuses = [raw_get(acs, f"chat/threads?{API}", token).status_code for _ in range(20)]
    rng = random.Random(7)
    assert statuses == [429 if rng.random() < 0.5 else 200 for _ in range(20)]
    r = next(r for r in (raw_get(acs, f"chat/threads?{API}", token) for _ in range(50)) if r.status_code == 429)
    assert r.headers["Retry-After"] == "2"
    assert r.json() == {"error": {"code": "TooManyRequests", "message": "Rate limit exceeded."}}

    acs.faults.clear()
    acs.faults.add(status=None, delay=0.3, path=r"^/chat/threads$")
    started = time.perf_counter()
    assert raw_get(acs, f"chat/threads?{API}", token).status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_bad_requests_unknown_routes_and_handler_errors(acs, monkeypatch):
    alice = acs.create_user()
    token = acs.issue_token(alice)
    tid = acs.create_thread("t", alice)
    for query, target in [("maxPageSize=abc", "maxPageSize"), ("maxPageSize=0", "maxPageSize"),
                          ("startTime=yesterday", "startTime"), ("syncState=zz", "syncState")]:
        r = raw_get(acs, f"chat/threads/{tid}/messages?{query}&{API}", token)
        assert r.status_code == 400, query
        assert r.json()["error"]["code"] == "BadRequest" and r.json()["error"]["target"] == target
    assert raw_get(acs, f"chat/threads/{tid}/messages", token).status_code == 400  # no api-version
    r = raw_get(acs, f"nowhere?{API}", token)
    assert r.status_code == 404 and r.json()["error"]["code"] == "NotFound"
    r = requests.put(f"{acs.endpoint}chat/threads?{API}", verify=acs.ca_file, timeout=10)
    assert r.status_code == 405
    bad_json = requests.post(f"{acs.endpoint}chat/threads?{API}", data=b"{not json", verify=acs.ca_file,
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert bad_json.status_code == 400

    def boom(req):
        raise RuntimeError("handler bug")

    monkeypatch.setattr(acs.api, "list_threads", boom)
    r = raw_get(acs, f"chat/threads?{API}", token)
    assert r.status_code == 500 and r.json()["error"]["code"] == "InternalServerError"
    assert "handler bug" in acs.errors[-1]
    assert raw_get(acs, f"chat/threads/{tid}?{API}", token).json()["topic"] == "t"  # still serving


# ------------------------------------------------------------------------------------------ async


def test_async_client_lists_threads_and_messages(acs):
    from azure.communication.chat.aio import ChatClient as AsyncChatClient
    from azure.communication.chat.aio import CommunicationTokenCredential as AsyncCredential

    alice = acs.create_user()
    threads = [acs.create_thread(f"async {i}", alice, created_on=T0 + timedelta(minutes=i)) for i in range(3)]
    acs.add_messages(threads[0], alice, 250, start=T0 + timedelta(hours=1))

    async def main():
        credential = AsyncCredential(acs.issue_token(alice))
        async with AsyncChatClient(acs.endpoint, credential, **acs.client_kwargs()) as chat:
            listed = [t.id async for t in chat.list_chat_threads(results_per_page=2)]
            async with chat.get_chat_thread_client(threads[0], **acs.client_kwargs()) as client:
                seqs = [int(m.sequence_id) async for m in client.list_messages(results_per_page=100)]
                sent = await client.send_message("from asyncio")
        return listed, seqs, sent.id

    listed, seqs, sent_id = asyncio.run(main())
    assert listed == [threads[0], threads[2], threads[1]]
    assert seqs == list(range(252, 0, -1))
    assert acs.messages(threads[0])[-1]["id"] == sent_id
    assert acs.count(method="GET", path=r"/messages$", status=200) == 3


def test_async_sdk_trusts_the_server_through_ssl_cert_file(acs):
    """aiohttp reads SSL_CERT_FILE when imported: prove the env route in a fresh interpreter."""
    alice = acs.create_user()
    tid = acs.create_thread("env", alice)
    acs.add_messages(tid, alice, 5, start=T0)
    script = textwrap.dedent(
        """
        import asyncio, sys
        from azure.communication.chat.aio import ChatThreadClient, CommunicationTokenCredential

        async def main(endpoint, token, thread_id):
            async with ChatThreadClient(endpoint, CommunicationTokenCredential(token), thread_id) as client:
                print(len([m async for m in client.list_messages(results_per_page=2)]))

        asyncio.run(main(*sys.argv[1:]))
        """
    )
    env = {**os.environ, **acs.trust_env()}
    out = subprocess.run(
        [sys.executable, "-c", script, acs.endpoint, acs.issue_token(alice), tid],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "7"


# ------------------------------------------------------------------------------------------ data API, scale


def test_data_api_times_and_ids(acs):
    alice = acs.create_user()
    with pytest.raises(ValueError):
        acs.create_thread("naive", alice, created_on=datetime(2024, 1, 1))
    tid = acs.create_thread("ids", alice, created_on=T0, thread_id="19:0123456789abcdef0123456789abcdef@thread.v2")
    assert tid in acs.thread_ids
    acs.send_message(tid, alice, "later", created_on=T0 + timedelta(hours=2))
    acs.send_message(tid, alice, "earlier", created_on=T0 + timedelta(hours=1))  # seeded out of order
    msgs = acs.messages(tid)
    assert [m["sequenceId"] for m in msgs] == ["1", "2", "3", "4"]
    assert msgs[2]["id"] == str(int((T0 + timedelta(hours=2)).timestamp() * 1000))
    assert msgs[3]["createdOn"] == "2024-05-01T09:00:00.0000000Z"
    client = acs.chat_thread_client(alice, tid)
    assert [m.content.message for m in client.list_messages(start_time=T0 + timedelta(minutes=30))] == [
        "earlier", "later"]  # newest first by sequence id, filtered by createdOn


def test_seed_and_page_through_100k_messages(acs):
    alice = acs.create_user()
    tid = acs.create_thread("huge", alice, created_on=T0)
    started = time.perf_counter()
    acs.add_messages(tid, alice, 100_000, start=T0 - timedelta(days=30), step=timedelta(seconds=2))
    assert time.perf_counter() - started < 5
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {acs.issue_token(alice)}"
    url = f"{acs.endpoint}chat/threads/{tid}/messages?maxPageSize=200&{API}"
    expected, pages = 100_002, 0
    started = time.perf_counter()
    while url:
        body = orjson.loads(session.get(url, verify=acs.ca_file, timeout=30).content)
        seqs = [int(m["sequenceId"]) for m in body["value"]]
        assert seqs == list(range(expected, expected - len(seqs), -1))
        expected -= len(seqs)
        pages += 1
        url = body.get("nextLink")
    assert expected == 0 and pages == 501
    assert time.perf_counter() - started < 20
