"""`pip install .`: a wheel of the core package alone, its dependencies, and `acs-archive` from any folder.

The wheel is built from a copy of the repository's files (what a `pip install git+…` sees), without
build isolation (the build backend is in requirements-dev.txt, no download), and installed with
--no-deps into a fresh virtual environment that borrows this one's installed dependencies.
"""

from __future__ import annotations

import ast
import email
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .conftest import ROOT
from .test_repo import repository_files

CORE = "archiving"


def _requirements(path: Path) -> dict[str, Requirement]:
    reqs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            reqs[canonicalize_name(req.name)] = req
    return reqs


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for path in repository_files():
        if path.is_file():
            target = src / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out)], check=True, capture_output=True, timeout=120)
    (built,) = out.glob("*.whl")
    return built


def _metadata(wheel: Path) -> tuple[list[str], email.message.Message, str]:
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_bytes(z.read(f"{info}/METADATA"))
        entry_points = z.read(f"{info}/entry_points.txt").decode()
    return names, meta, entry_points


def test_the_wheel_holds_the_core_package_and_its_schemas_only(wheel):
    names, _, entry_points = _metadata(wheel)
    files = [n for n in names if ".dist-info/" not in n]
    tracked = sorted(str(p.relative_to(ROOT)) for p in repository_files()
                     if p.is_file() and p.relative_to(ROOT).parts[0] == CORE and "__pycache__" not in p.parts)
    assert sorted(files) == tracked  # every module and schema, nothing else
    assert any(n.startswith(f"{CORE}/store/schemas/") and n.endswith(".schema.json") for n in files)
    assert not [n for n in files if n.startswith(("tests/", "bench/", "samples/", "blueprints/", "function_app"))]
    assert "acs-archive = archiving.cli.main:main" in entry_points.splitlines()


def test_the_package_declares_exactly_requirements_txt(wheel):
    _, meta, _ = _metadata(wheel)
    declared = {canonicalize_name(r.name): r for r in map(Requirement, meta.get_all("Requires-Dist") or [])}
    wanted = _requirements(ROOT / "requirements.txt")
    assert sorted(declared) == sorted(wanted)
    for name, req in wanted.items():
        assert declared[name].specifier == req.specifier, name


def _imports(*paths: Path) -> set[str]:
    found = set()
    for path in (p for top in paths for p in ([top] if top.is_file() else top.rglob("*.py"))):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
    local = {CORE, "blueprints", "function_app"}
    return {m for m in found if m.split(".")[0] not in sys.stdlib_module_names and m.split(".")[0] not in local}


def _distribution_of(module: str) -> str:
    """The installed distribution that holds ``module`` (namespace packages such as azure.* included)."""
    spec = find_spec(module)
    assert spec is not None and spec.origin, f"{module} is not installed"
    origin = Path(spec.origin).resolve()
    for dist in metadata.distributions():
        for f in dist.files or ():
            if f.name == origin.name and Path(dist.locate_file(f)).resolve() == origin:
                return canonicalize_name(dist.metadata["Name"])
    raise AssertionError(f"no distribution holds {module}")


def test_every_third_party_import_of_the_app_is_a_requirement():
    """A module of archiving/ or blueprints/ importing what requirements.txt does not name (directly, or as
    a dependency of what it names) would work here and fail in a `pip install` or a Functions deployment."""
    wanted = _requirements(ROOT / "requirements.txt")
    allowed = set(wanted)
    for name in wanted:  # and what those pull in (azure-core, for example)
        for req in metadata.requires(name) or ():
            r = Requirement(req)
            if not r.marker or r.marker.evaluate({"extra": ""}):
                allowed.add(canonicalize_name(r.name))
    imported = {module: _distribution_of(module)
                for module in _imports(ROOT / CORE, ROOT / "blueprints", ROOT / "function_app.py")}
    assert {"azure.functions", "lz4.frame"} <= set(imported), "the check sees the imports"
    missing = {module: dist for module, dist in imported.items() if dist not in allowed}
    assert missing == {}


def test_acs_archive_runs_from_any_folder(wheel, tmp_path, archive_env):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # This environment's installed packages stand in for the dependencies (--no-deps: no download).
    Path(purelib, "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True, timeout=120)

    case = tmp_path / "case-4711"  # an operator's case folder, far from the checkout
    case.mkdir()
    shutil.copy(ROOT / "samples" / "conversation.json", case / "events.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("Archive", "ARCHIVE", "PYTHON"))}

    def run(*args, **extra):
        return subprocess.run([str(bindir / "acs-archive"), *args], cwd=case, env={**env, **extra},
                              capture_output=True, text=True, timeout=120)

    where = subprocess.run([str(python), "-c", "import archiving; print(archiving.__file__)"], cwd=case, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(venv) and not Path(where).is_relative_to(ROOT)

    helped = run("--help")
    assert helped.returncode == 0 and "exit codes" in helped.stdout.lower()
    as_module = subprocess.run([str(python), "-m", "archiving", "--help"], cwd=case, env=env, capture_output=True,
                               text=True, check=True)
    assert helped.stdout == as_module.stdout  # acs-archive is python -m archiving
    # Settings from local.settings.json in the case folder, as from the checkout.
    (case / "local.settings.json").write_text(json.dumps({"IsEncrypted": False, "Values": archive_env}))
    replayed = run("--quiet", "replay", "events.json")
    assert replayed.returncode == 0, replayed.stderr
    assert "12 archived" in replayed.stdout + replayed.stderr
    verified = run("--quiet", "verify")  # the JSON Schemas come from the installed package
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "12 blobs verified" in verified.stdout + verified.stderr
