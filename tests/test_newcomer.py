"""Rough edges a new user meets first: settings files, output streams and pipes, malformed connection
strings, --help, identity create twice, the storage client's connection pool and environment."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from archiving import bootstrap
from archiving.settings import Settings

from .conftest import ROOT

THREAD = "19:3f2504e0d4f14c7a9b1c6e2a5d7f8a90@thread.v2"


def run(*args, env=None, cwd=None, stdin=None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("Archive", "ARCHIVE", "ACS_"))}
    full_env.update(env or {})
    full_env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "archiving", *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd or ROOT, timeout=120, stdin=stdin)


# -- the storage client's connection pool ---------------------------------------------------------------


@pytest.mark.parametrize("profile", ["EVENT_PROFILE", "BATCH_PROFILE"])
def test_parallel_existence_checks_fit_the_connection_pool(archive_env, profile, caplog):
    """The sweep checks transcripts 16 at a time (in the timer function and in `sweep --once`); a pool
    smaller than that discards connections ("Connection pool is full") and opens new ones."""
    from archiving.read.scan import WORKERS
    from archiving.threads.sweep import CHECK_WORKERS

    assert bootstrap.POOL_SIZE >= max(CHECK_WORKERS, WORKERS)
    svc = bootstrap.Services(settings=Settings.from_env(archive_env), profile=getattr(bootstrap, profile))
    try:
        svc.store.exists("warm-up")  # creates the container
        caplog.set_level(logging.WARNING, logger="urllib3.connectionpool")
        with ThreadPoolExecutor(CHECK_WORKERS) as pool:
            for _ in range(5):
                list(pool.map(svc.store.exists, [f"chat/none/{i}" for i in range(CHECK_WORKERS * 4)]))
    finally:
        svc.close()
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


# -- what the storage client takes from the environment ------------------------------------------------------

REQUESTS_ENVIRONMENT = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@pytest.fixture
def bare_environment(monkeypatch, tmp_path):
    """No proxy, CA bundle or .netrc in the environment (a Functions host's usual case)."""
    for name in REQUESTS_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name in [n for n in os.environ if n.lower().endswith("_proxy")]:  # ftp_proxy, socks_proxy, ...
        monkeypatch.delenv(name)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    return monkeypatch


def test_storage_calls_go_through_the_proxy_the_environment_names(archive_env, azurite, bare_environment):
    from .faultproxy import FaultProxy

    proxy = FaultProxy(("127.0.0.1", azurite.blob_port)).start()  # forwards to Azurite: a proxy that works
    try:
        bare_environment.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        svc = bootstrap.Services(settings=Settings.from_env(archive_env), profile=bootstrap.EVENT_PROFILE)
        assert svc.store.exists("chat/none") is False
        assert proxy.counts["forwarded"] >= 1
        svc.close()
    finally:
        proxy.stop()


def test_without_a_proxy_the_environment_is_read_once_not_on_every_request(archive_env, azurite, bare_environment):
    """requests scans the whole environment on every request when its session trusts it (bench/transport_env.py):
    the clients read it once, when made, as every setting."""
    from .faultproxy import FaultProxy

    proxy = FaultProxy(("127.0.0.1", azurite.blob_port)).start()
    try:
        svc = bootstrap.Services(settings=Settings.from_env(archive_env), profile=bootstrap.EVENT_PROFILE)
        assert svc.store.exists("chat/none") is False
        bare_environment.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")  # named after the clients were made
        assert svc.store.exists("chat/none") is False
        assert proxy.counts["requests"] == 0
        svc.close()
    finally:
        proxy.stop()


def test_the_ca_bundle_the_environment_names_is_trusted(archive_env, acs, bare_environment):
    """REQUESTS_CA_BUNDLE (a TLS-inspecting network's CA) is read once and given to the transport: an HTTPS
    endpoint signed by that CA answers (here the ACS test server, which answers the storage call with HTTP, not a
    TLS failure), without requests reading the environment per request."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError

    from .faultproxy import ACCOUNT, KEY

    bare_environment.setenv("REQUESTS_CA_BUNDLE", acs.ca_file)
    env = dict(archive_env, ArchiveStorage=f"DefaultEndpointsProtocol=https;AccountName={ACCOUNT};AccountKey={KEY};"
                                           f"BlobEndpoint=https://127.0.0.1:{acs.port}/{ACCOUNT};")
    svc = bootstrap.Services(settings=Settings.from_env(env), profile=bootstrap.EVENT_PROFILE)
    try:
        assert svc.store  # the clients are made (lazily, on first use): the environment is read now
        bare_environment.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # named later: never read
        try:
            svc.store.exists("chat/none")  # an HTTP answer of any kind: the TLS handshake trusted the bundle
        except HttpResponseError:
            pass
    except ServiceRequestError as exc:  # TLS refused (the bundle was not used), or the proxy named later was
        pytest.fail(f"the CA bundle of the environment was not trusted, or the environment read again: {exc}")
    finally:
        svc.close()


# -- settings: the environment, then --settings FILE, else ./local.settings.json -----------------------


@pytest.mark.parametrize("where", ["before the command", "after it"])
def test_a_settings_file_that_does_not_exist_is_an_error_naming_it(tmp_path, where):
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": {"ARCHIVE_HASH_KEY": "k"}}))
    option = ("--settings", "prod.settings.json")
    args = (*option, "show", THREAD) if where == "before the command" else ("show", THREAD, *option)
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "error: settings file prod.settings.json: not found\n"
    assert result.stdout == ""


def test_settings_file_from_anywhere_and_the_environment_wins(archive_env, services, tmp_path):
    case = tmp_path / "case"
    case.mkdir()
    settings = tmp_path / "elsewhere" / "archive.settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"IsEncrypted": False, "Values": archive_env}))
    replayed = run("--quiet", "--settings", str(settings), "replay", str(ROOT / "samples/conversation.json"),
                   cwd=case)
    assert replayed.returncode == 0, replayed.stderr
    assert len(list(services.store.list_names("chat/"))) == 12
    # The environment comes first: an empty container named there hides the file's archive.
    other = dict(ARCHIVE_CONTAINER=archive_env["ARCHIVE_CONTAINER"] + "-env")
    shown = run("--quiet", "--settings", str(settings), "show", THREAD, env=other, cwd=case)
    assert shown.returncode == 3, shown.stderr
    assert run("--quiet", "show", THREAD, "--settings", str(settings), cwd=case).returncode == 0


# -- malformed connection strings are setting errors ----------------------------------------------------

KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@pytest.mark.parametrize("conn", [
    f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY[:-7]};EndpointSuffix=core.windows.net",
    f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY}!;EndpointSuffix=core.windows.net",
    "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=;EndpointSuffix=core.windows.net",
    f"DefaultEndpointsProtocol=https;AccountKey={KEY}",
    "DefaultEndpointsProtocol=https;EndpointSuffix=core.windows.net",
    f"AccountName=acct;AccountKey={KEY};BlobEndpoint=127.0.0.1:10000/acct",
    "https://acct.blob.core.windows.net/",
    "acct;key",
])
def test_malformed_connection_string_is_a_setting_error(conn):
    from archiving.settings import SettingError

    with pytest.raises(SettingError) as info:
        Settings.from_env({"ArchiveStorage": conn, "ARCHIVE_HASH_KEY": "k"})
    assert info.value.name == "ArchiveStorage"
    assert KEY[:20] not in str(info.value)  # never quotes the key


@pytest.mark.parametrize("conn", [
    "UseDevelopmentStorage=true",
    bootstrap.AZURITE,
    f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY};EndpointSuffix=core.windows.net",
    "BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sv=2022-11-02&ss=b&sig=a%2Bb%3D",
])
def test_usable_connection_strings_pass(conn):
    Settings.from_env({"ArchiveStorage": conn, "ARCHIVE_HASH_KEY": "k"})


def test_cli_with_a_key_copied_in_part_exits_2_naming_the_setting(tmp_path):
    conn = f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY[:-7]};EndpointSuffix=core.windows.net"
    result = run("--quiet", "show", THREAD, env={"ArchiveStorage": conn, "ARCHIVE_HASH_KEY": "k"}, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "ArchiveStorage" in result.stderr and "AccountKey" in result.stderr and "service failed" not in result.stderr
    assert KEY[:20] not in result.stderr


# -- output streams and closed pipes --------------------------------------------------------------------


@pytest.fixture
def replayed(archive_env, services):
    result = run("--quiet", "replay", "samples/conversation.json", env=archive_env)
    assert result.returncode == 0, result.stderr
    return archive_env


def test_a_closed_pipe_ends_quietly_with_exit_0(replayed):
    """`… | head`: the reader is gone before the answer is written. No `[Errno 32] Broken pipe`, no
    traceback, exit 0 (it was exit 2 with an error)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("Archive", "ARCHIVE"))}
    env.update(replayed, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "archiving", "--quiet", "show", THREAD, "--format", "json"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # nobody reads the answer
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert err == b""


def test_head_gets_the_start_of_the_answer(replayed):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("Archive", "ARCHIVE"))}
    env.update(replayed, PYTHONPATH=str(ROOT))
    script = (f"set -o pipefail; {sys.executable} -m archiving --quiet show '{THREAD}' --history "
              "| head -n 2; echo \"exit=${PIPESTATUS[0]}\" >&2")
    result = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.stdout.splitlines() == [f"Thread {THREAD}", "Topic: Order 4711: late delivery (resolved)"]
    assert result.stderr.strip() == "exit=0"


# -- --help: every command lists its exit codes ---------------------------------------------------------


def _commands(parser, path=()):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield path + (name,), sub
                yield from _commands(sub, path + (name,))


def test_every_command_help_lists_exit_codes_and_an_example():
    from archiving.cli.main import build_parser

    commands = dict(_commands(build_parser()))
    assert {("sweep",), ("redrive",), ("identity",), ("identity", "create"), ("show",)} <= set(commands)
    for path, parser in commands.items():
        text = parser.format_help()
        assert "exit codes:" in text.lower(), " ".join(path)
        codes = text.lower().split("exit codes:", 1)[1]
        assert re.search(r"\b0\b", codes) and re.search(r"\b2\b", codes), " ".join(path)  # at least ok, usage
        assert "example" in text and "python -m archiving " + " ".join(path) in text, " ".join(path)


def test_top_level_help_names_settings_and_exit_codes():
    result = run("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "--settings FILE" in text and "local.settings.json" in text and "Exit codes:" in text
    assert "acs-archive" in text


# -- identity create -----------------------------------------------------------------------------------


def test_identity_create_when_one_is_set_asks_for_force(acs, tmp_path):
    env = dict(ACS_CONNECTION_STRING=acs.connection_string, **acs.trust_env())  # no archive settings needed
    existing = acs.create_user()
    created_before = acs.count(method="POST", path=r"^/identities$")

    refused = run("--quiet", "identity", "create", env=dict(env, ARCHIVER_USER_ID=existing), cwd=tmp_path)
    assert refused.returncode == 2
    assert "ARCHIVER_USER_ID is already set" in refused.stderr and "--force" in refused.stderr
    assert existing not in refused.stderr and refused.stdout == ""
    assert acs.count(method="POST", path=r"^/identities$") == created_before  # no second user

    forced = run("--quiet", "identity", "create", "--force", env=dict(env, ARCHIVER_USER_ID=existing), cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.strip().startswith("8:acs:") and forced.stdout.strip() != existing
    assert acs.count(method="POST", path=r"^/identities$") == created_before + 1

    first = run("--quiet", "identity", "create", env=env, cwd=tmp_path)
    assert first.returncode == 0 and first.stdout.strip().startswith("8:acs:")
