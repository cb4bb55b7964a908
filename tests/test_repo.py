"""The repository stands on its own: no file names the folder that sits beside it on our machines."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT

# Built, not written out, so that this file does not name the folder itself.
DOTS, NAME = "." * 2, "shar" + "ed"
Q = "[\"']"
SIBLING = re.compile(
    "|".join((
        rf"\.\.(?:[\\/]|%2f|%5c)+{NAME}(?![\w-])",  # DOTS/NAME, with backslashes, URL-encoded
        # os.path.join(.., NAME), Path(..) / NAME, .. + NAME
        rf"{Q}\.\.[\\/]?{Q}\s*\)?\s*[,/+]\s*(?:Path\(\s*)?{Q}[\\/]?{NAME}(?![\w-])",
        rf"\.parent\s*/\s*{Q}{NAME}(?![\w-])",  # ROOT.parent / NAME
        rf"\.parent\s*,\s*{Q}{NAME}(?![\w-])",  # os.path.join(ROOT.parent, NAME)
    )),
    re.IGNORECASE,
)


def repository_files() -> list[Path]:
    """Every file of the repository (tracked, and new ones not ignored) but .git."""
    if (ROOT / ".git").exists():
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, check=True).stdout
        return [ROOT / p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]
    # Not a git checkout (an archive of the repository): walk it, skipping what .gitignore names.
    ignored = {line.strip().strip("/") for line in (ROOT / ".gitignore").read_text().splitlines()
               if line.strip().endswith("/")}
    files = []
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d != ".git" and d not in ignored and not d.startswith(".venv")]
        files += [Path(folder) / n for n in names]
    return files


def names_sibling(text: str) -> list[str]:
    return [m.group(0) for m in SIBLING.finditer(text)]


def test_no_file_names_the_folder_beside_the_repository():
    files = repository_files()
    assert ROOT / "tests" / "conftest.py" in files and len(files) > 50
    offenders = {}
    for path in files:
        if not path.is_file():  # deleted in the work tree, not yet committed
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        if found := names_sibling(text):
            offenders[str(path.relative_to(ROOT))] = found
    assert offenders == {}, "copy what is needed into the repository (see tests/vectors/README.md)"


@pytest.mark.parametrize("text", [
    f"{DOTS}/{NAME}/vectors/eventgrid/x.json",
    f"-d @{DOTS}/{NAME}/vectors/a.json",
    f"see {DOTS}\\{NAME}\\vectors",
    f"{DOTS}/{DOTS}/{NAME}",
    f"{DOTS}%2F{NAME}%2Fvectors",
    f"Path('{DOTS}') / '{NAME}' / 'vectors'",
    f'os.path.join(ROOT, "{DOTS}", "{NAME}", "vectors")',
    f'ROOT.parent / "{NAME}" / "vectors"',
    f'os.path.join(here.parent, "{NAME}")',
    f'"{DOTS}/" + "{NAME}"',
    f"{DOTS}/{NAME.upper()}/x",
])
def test_the_check_finds_the_ways_of_naming_it(text):
    assert names_sibling(text)


@pytest.mark.parametrize("text", [
    "Figures from a shared 2-core machine",
    "shared keys are off",
    f"../{NAME}-keys.md",
    f"{DOTS}/{NAME}_access/x",
    f"{DOTS}/docs/{NAME}.md",
    f"parent of the {NAME} folder",
    f"ROOT / '{NAME}'",
])
def test_the_check_lets_other_uses_of_the_word_pass(text):
    assert names_sibling(text) == []


# -- `make test` without root: the browser test skips, with how to enable it, unless CI=true ----------


def test_without_chromium_the_browser_test_skips_and_says_how_to_enable_it(tmp_path):
    from .browser import chromium

    with pytest.raises(pytest.skip.Exception, match=r"sudo make browser.*CHROMIUM_BIN.*CI=true"):
        chromium({"PATH": str(tmp_path)})
    with pytest.raises(AssertionError, match="CI=true"):
        chromium({"PATH": str(tmp_path), "CI": "true"})
    with pytest.raises(AssertionError, match="CHROMIUM_BIN"):
        chromium({"PATH": str(tmp_path), "CHROMIUM_BIN": str(tmp_path / "nothing")})
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert chromium({"PATH": str(tmp_path), "CI": "true"}) == str(fake)


def test_make_browser_installs_only_as_root_or_in_ci(tmp_path):
    """The Makefile's browser step, as a user without root and without Chromium, prints and passes."""
    import shutil

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "make").symlink_to(shutil.which("make"))
    (bin_dir / "id").write_text("#!/bin/sh\necho 1000\n")  # a user without root, whoever runs the tests
    (bin_dir / "id").chmod(0o755)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    result = subprocess.run(["make", "-s", "browser"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Chromium not found: the browser test will be skipped" in result.stdout
    assert "sudo make browser" in result.stdout
    # In CI the same step installs it, with sudo (here: sudo is missing, so the step fails loudly).
    ci = subprocess.run(["make", "-s", "browser"], cwd=ROOT, env={**env, "CI": "true"}, capture_output=True,
                        text=True)
    assert ci.returncode != 0 and "sudo" in ci.stderr
