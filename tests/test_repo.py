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
