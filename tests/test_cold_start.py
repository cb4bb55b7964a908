"""Cold start: what `import function_app` loads (the figure itself is bench/cold_start.py's, by hand)."""

from __future__ import annotations

import subprocess
import sys

from .conftest import ROOT

# Nothing the Event Grid path needs at import: SDK clients are built on first use, the sweep's and the
# read side's modules are imported by the functions that run them.
NOT_AT_IMPORT = ("azure.eventgrid", "azure.storage.blob", "azure.storage.queue", "azure.identity",
                 "azure.communication", "archiving.threads", "archiving.read", "archiving.cli", "tqdm",
                 "jsonschema")


def test_importing_the_app_loads_only_the_event_path():
    code = "import sys, function_app; print('\\n'.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.split()
    assert "archiving.ingest.archiver" in loaded  # the check sees what the app imports
    heavy = [m for m in loaded if m.startswith(NOT_AT_IMPORT)]
    assert heavy == []


def test_event_type_names_are_the_sdks():
    """archiving.ingest.types spells the names out instead of importing azure.eventgrid (~60 ms)."""
    from azure.eventgrid import SystemEventNames

    from archiving.ingest import types

    spelled = {k: v for k, v in vars(types._N).items() if not k.startswith("_")}
    assert len(spelled) == len(types.ARCHIVED_TYPES) == 30
    for name, value in spelled.items():
        assert getattr(SystemEventNames, name).value == value
