from __future__ import annotations

import json

import pytest

from archiving.settings import SPECS, Settings, SettingError

from .conftest import ROOT

BASE = {"ArchiveStorage": "UseDevelopmentStorage=true", "ARCHIVE_HASH_KEY": "k"}


def test_defaults():
    s = Settings.from_env(BASE)
    assert (s.container, s.rejected_container, s.sweep_queue) == ("chat-archive", "chat-archive-rejected", "archive-threads")
    assert s.inactive_after_minutes == 1440 and s.transcript_formats == ("json", "csv")
    assert s.delete_thread_after_archive is False and s.hash_key == b"k"


def test_identity_based_storage():
    s = Settings.from_env({"ArchiveStorage__blobServiceUri": "https://a.blob.core.windows.net",
                           "ArchiveStorage__queueServiceUri": "https://a.queue.core.windows.net", "ARCHIVE_HASH_KEY": "k"})
    assert s.storage.connection_string is None and s.storage.blob_service_uri == "https://a.blob.core.windows.net"


@pytest.mark.parametrize("name,value", [
    ("ARCHIVE_CONTAINER", "UPPER"), ("SWEEP_QUEUE", "a--b"), ("INACTIVE_AFTER_MINUTES", "ten"),
    ("INACTIVE_AFTER_MINUTES", "0"), ("TRANSCRIPT_FORMATS", "json,pdf"), ("DELETE_THREAD_AFTER_ARCHIVE", "maybe"),
    ("ArchiveStorage__blobServiceUri", "http://plain"),
])
def test_invalid_values_are_named(name, value):
    env = dict(BASE, **{name: value})
    if name.startswith("ArchiveStorage__"):
        env.pop("ArchiveStorage")
    with pytest.raises(SettingError) as info:
        Settings.from_env(env)
    assert info.value.name == name and name in str(info.value)


def test_acs_settings_required_only_by_the_sweep():
    s = Settings.from_env(BASE)
    with pytest.raises(SettingError, match="ACS_CONNECTION_STRING"):
        s.require_acs()
    with pytest.raises(SettingError, match="ARCHIVER_USER_ID"):
        Settings.from_env(dict(BASE, ACS_ENDPOINT="https://x.communication.azure.com")).require_acs()


def test_example_file_lists_every_setting_with_its_default():
    values = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]
    for spec in SPECS:
        assert spec.name in values
        if spec.default is not None:
            assert values[spec.name] == spec.default, spec.name
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for spec in SPECS:
        assert f"`{spec.name}`" in readme, spec.name
