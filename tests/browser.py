"""Opening a page in a real headless browser: Debian's Chromium (`make browser` installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")


def chromium() -> str:
    """The Chromium binary; fails (never skips) with what to do when it is missing."""
    override = os.environ.get("CHROMIUM_BIN")
    for candidate in ((override,) if override else ()) + CANDIDATES:
        path = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
        if path:
            return path
    raise AssertionError("Chromium is not installed: run `make browser` (apt-get install chromium), "
                         "or set CHROMIUM_BIN to a Chromium binary")


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
