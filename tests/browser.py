"""Opening a page in a real headless browser: Debian's Chromium (`make browser` installs it as root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

CANDIDATES = ("chromium", "chromium-browser")  # Debian and Ubuntu names, looked up on PATH
HOW_TO_ENABLE = ("install Chromium (`sudo make browser`, or `sudo apt-get install chromium`) or set CHROMIUM_BIN "
                 "to a Chromium binary; with CI=true this test fails instead of skipping")


def in_ci(env=os.environ) -> bool:
    """CI=true (GitHub Actions, Azure Pipelines with it set, most CI services)."""
    return env.get("CI", "").strip().lower() in ("true", "1", "yes")


def find_chromium(env=os.environ) -> str | None:
    override = env.get("CHROMIUM_BIN")
    if override:
        found = shutil.which(override) or (override if Path(override).is_file() else None)
        assert found, f"CHROMIUM_BIN={override} is not a Chromium binary"
        return found
    path = env.get("PATH", os.defpath)
    return next((found for name in CANDIDATES if (found := shutil.which(name, path=path))), None)


def chromium(env=os.environ) -> str:
    """The Chromium binary.  Missing: skipped with how to enable it, so that `make test` passes on a
    machine without root; in CI (CI=true) a failure, so that CI always runs the browser test."""
    found = find_chromium(env)
    if found:
        return found
    if in_ci(env):
        raise AssertionError(f"Chromium is not installed and CI=true: {HOW_TO_ENABLE}")
    pytest.skip(f"Chromium not found: {HOW_TO_ENABLE}")


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        command = [
            chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
            f"--user-data-dir={profile}", *args,
        ]
        result = subprocess.run(command, capture_output=True, timeout=timeout, text=True,
                                env={**os.environ, "HOME": profile})
        return result
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def dump_dom(page: Path) -> str:
    """The DOM of a local page after Chromium loaded and rendered it (scripts, if any, have run)."""
    result = _run("--virtual-time-budget=2000", "--dump-dom", Path(page).resolve().as_uri())
    assert result.returncode == 0, f"chromium failed ({result.returncode}): {result.stderr[-2000:]}"
    assert "<html" in result.stdout, f"chromium printed no DOM: {result.stderr[-2000:]}"
    return result.stdout


def screenshot(page: Path, png: Path, width: int = 1000, height: int = 1400) -> bytes:
    """A PNG of the rendered page; returns its bytes."""
    result = _run(f"--screenshot={png}", f"--window-size={width},{height}", Path(page).resolve().as_uri())
    assert result.returncode == 0 and png.is_file(), f"chromium failed ({result.returncode}): {result.stderr[-2000:]}"
    return png.read_bytes()
