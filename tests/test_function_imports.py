"""What each function's import pulls in (issue 21, item 6): for every function of function_app.app, its
blueprint's imports and the imports in the function's own body, in a fresh interpreter after
azure.functions.  Heavy packages stay out of the functions that do not use them; the lists are printed
(`pytest -s`) so that a new dependency shows where it lands.  The import-time figure is
bench/cold_start.py's (by hand, docs/performance.md)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from .conftest import ROOT

HEAVY = ("duckdb", "pyarrow", "cryptography", "jsonschema", "azure.communication", "azure.identity",
         "azure.storage", "azure.eventgrid", "tqdm")
# What a function may pull in when it runs (imports inside its body), beyond the app's own import.
ALLOWED = {
    "archive_event": (),
    "sweep_inactive_threads": ("azure.storage",),
    "archive_thread": ("azure.storage", "azure.communication", "azure.identity"),
    "send_message": (),  # the SDKs are imported when a channel's client is built, not with the endpoint
    "seal_archive": ("azure.storage", "cryptography"),
    "seal_audit": ("azure.storage", "cryptography"),
    "dispose_archive": ("azure.storage", "cryptography"),  # the disposition record is signed with the seal's key
    "rollup_archive": (),  # DuckDB is imported when the first part is written, not with the writer
}


def function_imports() -> dict[str, tuple[str, list[str]]]:
    """function name -> (blueprint module, modules its body imports)."""
    found = {}
    for path in sorted((ROOT / "blueprints").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef):
                continue
            names = [d.args[0].value for d in node.decorator_list if isinstance(d, ast.Call)
                     and getattr(d.func, "attr", "") == "function_name"]
            if not names:
                continue
            body = sorted({n.module for n in ast.walk(node) if isinstance(n, ast.ImportFrom) and n.module}
                          | {a.name for n in ast.walk(node) if isinstance(n, ast.Import) for a in n.names})
            found[names[0]] = (f"blueprints.{path.stem}", body)
    return found


def loaded(blueprint: str, body: list[str]) -> list[str]:
    code = ("import sys, json, azure.functions; base = set(sys.modules); import " + blueprint
            + "".join(f"; import {m}" for m in body)
            + "; print(json.dumps(sorted(set(sys.modules) - base)))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_every_function_is_listed(app_functions):
    assert set(function_imports()) == set(app_functions) == set(ALLOWED)


@pytest.mark.parametrize("function", sorted(ALLOWED))
def test_a_function_pulls_in_only_what_it_uses(function):
    blueprint, body = function_imports()[function]
    modules = loaded(blueprint, body)
    ours = [m for m in modules if m.startswith(("archiving", "blueprints"))]
    heavy = sorted({h for m in modules for h in HEAVY if m == h or m.startswith(h + ".")})
    print(f"\n{function}: {len(modules)} modules; ours: {', '.join(ours)}; heavy: {', '.join(heavy) or 'none'}")
    assert blueprint in modules  # the listing sees the function's module
    assert set(heavy) <= set(ALLOWED[function]), heavy


def test_archiving_an_event_loads_no_heavy_package_it_does_not_use(archive_env):
    """The event function run for real (Azurite): the storage SDK, and through it cryptography (the SDK's
    client-side encryption module imports it), but no DuckDB, jsonschema, send SDK or identity."""
    import os

    code = ("import sys, json, function_app; from azure.functions import EventGridEvent; "
            "fn = next(f for f in function_app.app.get_functions() if f.get_function_name() == 'archive_event')"
            ".get_user_function(); e = json.load(open('samples/conversation.json'))[1]; "
            "fn(event=EventGridEvent(id=e['id'], data=e['data'], topic=e['topic'], subject=e['subject'], "
            "event_type=e['eventType'], event_time=None, data_version=e['dataVersion']), "
            "rejected=type('Out', (), {'set': lambda self, v: None})()); "
            "print(json.dumps(sorted(sys.modules)))")
    env = {**os.environ, **archive_env, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    modules = json.loads(result.stdout.splitlines()[-1])
    assert "azure.storage.blob" in modules  # it did write
    for package in ("duckdb", "pyarrow", "jsonschema", "azure.communication", "azure.identity", "archiving.read",
                    "archiving.rollup", "archiving.outbound"):
        assert not any(m == package or m.startswith(package + ".") for m in modules), package
