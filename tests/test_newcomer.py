"""Rough edges a new user meets first: settings files, output streams and pipes, malformed connection
strings, --help, identity create twice, the storage client's connection pool."""

from __future__ import annotations

import json
import logging
import os
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
