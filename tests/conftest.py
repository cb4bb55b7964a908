"""Session fixtures: a real Azurite, a fresh archive per test, the published test vectors (tests/vectors)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from archiving import bootstrap
from archiving.settings import Settings

from .azurite import Azurite

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors"  # published ACS examples, copied with provenance (tests/vectors/README.md)
HASH_KEY = "test-hash-key"


@pytest.fixture(scope="session")
def azurite():
    server = Azurite().start()
    yield server
    server.stop()


@pytest.fixture
def archive_env(azurite, monkeypatch):
    """Environment for one test's own archive and rejected containers; the app reads it lazily."""
    suffix = uuid.uuid4().hex[:12]
    values = {
        "ArchiveStorage": azurite.connection_string,
        "ARCHIVE_CONTAINER": f"archive-{suffix}",
        "ARCHIVE_REJECTED_CONTAINER": f"rejected-{suffix}",
        "ARCHIVE_HASH_KEY": HASH_KEY,
        "SWEEP_QUEUE": f"sweep-{suffix}",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    bootstrap.reset()
    yield values
    bootstrap.reset()


@pytest.fixture
def services(archive_env):
    svc = bootstrap.Services(settings=Settings.from_env(archive_env))
    yield svc
    svc.close()


def load_vector(relative: str):
    return json.loads((VECTORS / relative).read_text(encoding="utf-8"))


def vector_files(schema: str) -> list[Path]:
    return sorted((VECTORS / "eventgrid" / schema).glob("*.json"))


@pytest.fixture(scope="session")
def app_functions():
    """function_app.app as the host indexes it (get_functions() may be called once per app object)."""
    import function_app

    return {fn.get_function_name(): fn for fn in function_app.app.get_functions()}


@pytest.fixture(scope="session")
def indexed(app_functions):
    """The binding metadata the host reads, per function."""
    from .host import function_json

    return {name: function_json(fn) for name, fn in app_functions.items()}


@pytest.fixture(scope="module")
def acs():
    """The HTTPS ACS chat and identity test server, one per test module."""
    from .acs_server import AcsTestServer

    with AcsTestServer() as server:
        yield server


@pytest.fixture
def acs_env(acs, archive_env, monkeypatch):
    """archive_env plus ACS settings for a new archiver user; the functions read them lazily, and
    trust the test server's CA through the environment, as clients in Azure trust theirs."""
    archiver = acs.create_user()
    values = dict(archive_env, ACS_CONNECTION_STRING=acs.connection_string, ARCHIVER_USER_ID=archiver)
    for name, value in {"ACS_CONNECTION_STRING": acs.connection_string, "ARCHIVER_USER_ID": archiver,
                        **acs.trust_env()}.items():
        monkeypatch.setenv(name, value)
    bootstrap.reset()
    yield values
    bootstrap.reset()


@pytest.fixture
def acs_services(acs_env, acs):
    svc = bootstrap.Services(settings=Settings.from_env(acs_env), acs_options=acs.client_kwargs())
    yield svc
    svc.close()
