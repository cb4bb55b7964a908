"""Checks of the deployment (infra/*.bicep, infra/main.parameters.json, azure.yaml).

No Bicep compiler can be installed in CI, so every .bicep file is parsed with pycep-parser
(a syntax error fails), and the parse trees are used for what a compiler would catch that
matters here: the app settings against the settings the code reads (archiving.settings.SPECS),
module parameters against the modules' declarations, and the azd wiring.

Needs pycep-parser and PyYAML (requirements-dev.txt).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import pytest
import yaml
from pycep import BicepParser

from archiving.settings import SPECS

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

# Settings the platform reads, not the archiver's code: allowed in the Bicep without a spec.
PLATFORM_SETTINGS = {
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}
PLATFORM_PREFIXES = ("AzureWebJobsStorage__", "AzureFunctionsJobHost__")
# Flex Consumption rejects these as app settings (they live in functionAppConfig).
FLEX_FORBIDDEN = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTSHARE",
}
THREAD_LEVEL_EVENTS = {
    "Microsoft.Communication." + name
    for name in (
        "ChatMessageReceivedInThread",
        "ChatMessageEditedInThread",
        "ChatMessageDeletedInThread",
        "ChatThreadCreated",
        "ChatThreadDeleted",
        "ChatThreadPropertiesUpdated",
        "ChatThreadParticipantAdded",
        "ChatThreadParticipantRemoved",
    )
}
USER_LEVEL_EVENTS = {
    "Microsoft.Communication." + name
    for name in (
        "ChatMessageReceived",
        "ChatMessageEdited",
        "ChatMessageDeleted",
        "ChatThreadCreatedWithUser",
        "ChatThreadWithUserDeleted",
        "ChatThreadPropertiesUpdatedPerUser",
        "ChatParticipantAddedToThreadWithUser",
        "ChatParticipantRemovedFromThreadWithUser",
    )
}


@lru_cache(maxsize=None)
def parse(path: Path) -> dict:
    return BicepParser().parse(file_path=path)


def unwrap(config: dict) -> dict:
    """The body of a resource or module (pycep nests it under `config` when it has an `if`)."""
    while isinstance(config, dict) and "condition" in config and "config" in config:
        config = config["config"]
    return config


def resources(tree: dict, type_: str) -> list[dict]:
    found = []
    for res in (tree.get("resources") or {}).values():
        if res.get("type") == type_ and not res.get("existing"):
            found.append(unwrap(res["config"]))
    return found


def app_settings_of(tree: dict) -> dict[str, object]:
    """App settings of every Microsoft.Web/sites (siteConfig.appSettings) and sites/config
    'appsettings' resource of one parsed file, name -> value expression."""
    settings: dict[str, object] = {}
    for site in resources(tree, "Microsoft.Web/sites"):
        for item in ((site.get("properties") or {}).get("siteConfig") or {}).get("appSettings") or []:
            assert isinstance(item, dict) and "name" in item, f"app setting without a literal name: {item!r}"
            assert item["name"] not in settings, f"app setting {item['name']} set twice"
            settings[item["name"]] = item.get("value")
    for cfg in resources(tree, "Microsoft.Web/sites/config"):
        if cfg.get("name") == "appsettings":
            props = cfg.get("properties")
            assert isinstance(props, dict), "sites/config appsettings must be a literal object"
            settings.update(props)
    return settings


@lru_cache(maxsize=None)
def bicep_app_settings() -> dict[str, object]:
    settings: dict[str, object] = {}
    for path in BICEP_FILES:
        for name, value in app_settings_of(parse(path)).items():
            assert name not in settings, f"app setting {name} set in two places"
            settings[name] = value
    return settings


def is_platform(name: str) -> bool:
    return name in PLATFORM_SETTINGS or name.startswith(PLATFORM_PREFIXES)


def missing_settings(specs, settings) -> list[str]:
    """Spec names set neither themselves nor through one of their alternatives."""
    return [s.name for s in specs if s.name not in settings and not any(a in settings for a in s.alternatives)]


def unknown_settings(specs, settings) -> list[str]:
    known = {s.name for s in specs} | {a for s in specs for a in s.alternatives}
    return sorted(n for n in settings if n not in known and not is_platform(n))


# --- 1. every .bicep parses ---------------------------------------------------------------------


def test_bicep_files_found():
    names = {p.relative_to(INFRA).as_posix() for p in BICEP_FILES}
    assert "main.bicep" in names
    assert len(names) >= 5, names


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_bicep_parses(path):
    tree = parse(path)
    assert tree.get("resources") or tree.get("modules"), f"{path} declares no resource or module"


def test_parser_rejects_a_syntax_error():
    text = (INFRA / "main.bicep").read_text(encoding="utf-8")
    broken = text.replace("targetScope = 'resourceGroup'", "targetScope = 'resourceGroup'\nresource broken 'A/b@2020-01-01' = {\n", 1)
    with pytest.raises(Exception):
        BicepParser().parse(text=broken)


# --- 2. settings parity ------------------------------------------------------------------------


def test_every_setting_the_code_reads_is_deployed():
    settings = bicep_app_settings()
    assert settings, "no app settings found in infra/ (Microsoft.Web/sites siteConfig.appSettings)"
    assert missing_settings(SPECS, settings) == []


def test_every_deployed_setting_is_known():
    assert unknown_settings(SPECS, bicep_app_settings()) == []


def test_parity_check_fails_on_a_forgotten_setting():
    settings = dict(bicep_app_settings())
    for spec in SPECS:
        trimmed = {k: v for k, v in settings.items() if k != spec.name and k not in spec.alternatives}
        assert spec.name in missing_settings(SPECS, trimmed)
    assert unknown_settings(SPECS, {**settings, "NEW_SETTING": "x"}) == ["NEW_SETTING"]


def test_binding_settings_are_explicit_app_settings():
    settings = bicep_app_settings()
    for spec in SPECS:
        if spec.binding:
            assert spec.name in settings or any(a in settings for a in spec.alternatives), spec.name


def test_names_match_local_settings_example():
    example = json.loads((ROOT / "local.settings.json.example").read_text(encoding="utf-8"))["Values"]
    alternatives = {a for s in SPECS for a in s.alternatives}
    for name in bicep_app_settings():
        if not is_platform(name):
            assert name in example or name in alternatives, f"{name} is not in local.settings.json.example"


def test_identity_based_and_keyless():
    settings = bicep_app_settings()
    assert "ArchiveStorage__blobServiceUri" in settings and "ArchiveStorage__queueServiceUri" in settings
    assert "ArchiveStorage" not in settings, "connection string instead of identity-based ArchiveStorage"
    assert "ACS_ENDPOINT" in settings and "ACS_CONNECTION_STRING" not in settings
    assert "AzureWebJobsStorage" not in settings and any(n.startswith("AzureWebJobsStorage__") for n in settings)
    assert settings.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING") == "Authorization=AAD"
    assert str(settings["ARCHIVE_HASH_KEY"]).startswith("@Microsoft.KeyVault(")
    assert not FLEX_FORBIDDEN & set(settings), "Flex Consumption rejects these app settings"
    text = "\n".join(p.read_text(encoding="utf-8") for p in BICEP_FILES)
    for secretish in ("AccountKey=", "listKeys(", "SharedAccessKey", "accesskey="):
        assert secretish.lower() not in text.lower(), secretish


def test_function_app_is_flex_python_311_with_system_identity():
    sites = [s for p in BICEP_FILES for s in resources(parse(p), "Microsoft.Web/sites")]
    assert len(sites) == 1
    site = sites[0]
    assert site["identity"]["type"] == "SystemAssigned"
    runtime = site["properties"]["functionAppConfig"]["runtime"]
    assert runtime == {"name": "python", "version": "3.11"}
    plans = [s for p in BICEP_FILES for s in resources(parse(p), "Microsoft.Web/serverfarms")]
    assert [p["sku"]["tier"] for p in plans] == ["FlexConsumption"]


# --- Bicep wiring a compiler would check ------------------------------------------------------


def declared_params(path: Path) -> tuple[set[str], set[str]]:
    params = parse(path).get("parameters") or {}
    required = {n for n, p in params.items() if p.get("default") is None}
    return set(params), required


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_module_parameters_match_declarations(path):
    for name, module in (parse(path).get("modules") or {}).items():
        target = (path.parent / module["detail"]["path"]).resolve()
        assert target.is_file(), f"{path.name}: module {name} -> {target} missing"
        given = set((unwrap(module["config"]).get("params") or {}))
        declared, required = declared_params(target)
        assert given <= declared, f"{path.name}: module {name} passes undeclared {sorted(given - declared)}"
        assert required <= given, f"{path.name}: module {name} misses {sorted(required - given)}"


def test_parameters_file_matches_main():
    doc = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    given = set(doc["parameters"])
    declared, required = declared_params(INFRA / "main.bicep")
    assert given <= declared, sorted(given - declared)
    assert required <= given, sorted(required - given)
    assert doc["parameters"]["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert doc["parameters"]["location"]["value"] == "${AZURE_LOCATION}"


def test_event_subscription_waits_for_the_code_and_targets_the_function():
    main = parse(INFRA / "main.bicep")
    flag = main["parameters"]["deployEventSubscription"]
    assert flag["type"] == "bool" and flag["default"] is False
    module = main["modules"]["eventSubscription"]["config"]
    assert module.get("condition") == "deployEventSubscription"
    assert unwrap(module)["params"]["functionResourceId"].endswith("/functions/archive_event")

    tree = parse(INFRA / "modules" / "event-subscription.bicep")
    assert set(tree["variables"]["threadLevelEvents"]["value"]) == THREAD_LEVEL_EVENTS
    assert set(tree["variables"]["userLevelEvents"]["value"]) == USER_LEVEL_EVENTS
    assert tree["parameters"]["chatEventLevel"]["type"] == "string"
    assert main["parameters"]["chatEventLevel"]["default"] == "thread"
    (sub,) = resources(tree, "Microsoft.EventGrid/systemTopics/eventSubscriptions")
    props = sub["properties"]
    assert props["destination"]["endpointType"] == "AzureFunction"
    assert props["eventDeliverySchema"] == "EventGridSchema"
    assert props["retryPolicy"]
    assert props["deadLetterWithResourceIdentity"]["identity"]["type"] == "SystemAssigned"


def test_dead_letter_role_is_scoped_to_the_container():
    tree = parse(INFRA / "modules" / "dead-letter-access.bicep")
    (assignment,) = resources(tree, "Microsoft.Authorization/roleAssignments")
    assert assignment["scope"] == "container"
    assert tree["resources"]["container"]["type"] == "Microsoft.Storage/storageAccounts/blobServices/containers"


def test_archive_storage_hardening():
    tree = parse(INFRA / "modules" / "archive-storage.bicep")
    (account,) = resources(tree, "Microsoft.Storage/storageAccounts")
    props = account["properties"]
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["allowBlobPublicAccess"] is False
    assert props["allowSharedKeyAccess"] is False
    assert "immutableStorageWithVersioning" in props
    (blob,) = resources(tree, "Microsoft.Storage/storageAccounts/blobServices")
    assert blob["properties"]["isVersioningEnabled"] is True
    assert blob["properties"]["deleteRetentionPolicy"]["enabled"] is True
    assert blob["properties"]["containerDeleteRetentionPolicy"]["enabled"] is True
    assert resources(tree, "Microsoft.Storage/storageAccounts/managementPolicies")


# --- 3. azure.yaml -----------------------------------------------------------------------------


def test_azure_yaml():
    doc = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))
    assert doc["infra"]["provider"] == "bicep" and doc["infra"]["path"] == "infra"
    service = doc["services"]["archiver"]
    assert service == {"project": ".", "language": "python", "host": "function"}
    for hook in ("preprovision", "postdeploy"):
        spec = doc["hooks"][hook]
        assert spec["shell"] == "sh"
        script = ROOT / spec["run"]
        assert script.is_file() and script.parent == INFRA / "hooks", spec["run"]
    post = (ROOT / doc["hooks"]["postdeploy"]["run"]).read_text(encoding="utf-8")
    assert "az deployment group create" in post and "deployEventSubscription=true" in post
    assert "infra/main.bicep" in post and "main.parameters.json" in post


def test_azd_service_tag_matches_azure_yaml():
    text = (INFRA / "modules" / "function-app.bicep").read_text(encoding="utf-8")
    assert re.search(r"'azd-service-name':\s*'archiver'", text)


def test_subscription_targets_a_function_of_the_app():
    """The Event Grid destination (…/functions/<name>) must be a function the app registers."""
    main = parse(INFRA / "main.bicep")
    target = unwrap(main["modules"]["eventSubscription"]["config"])["params"]["functionResourceId"]
    name = target.rsplit("/functions/", 1)[1]
    sources = [ROOT / "function_app.py", *sorted((ROOT / "blueprints").glob("*.py"))]
    code = "\n".join(p.read_text(encoding="utf-8") for p in sources if p.is_file())
    assert re.search(r"function_name\(\s*(name\s*=\s*)?[\"']%s[\"']" % re.escape(name), code), (
        f"no function named {name} in function_app.py or blueprints/"
    )


def test_subscription_covers_every_channel_by_default():
    """The event types per channel in Bicep are the ones the code archives; the default takes every channel."""
    from archiving.ingest.types import CALL_TYPES, CHANNEL_TYPES

    tree = parse(INFRA / "modules" / "event-subscription.bicep")
    in_bicep = set()
    for name in ("smsEvents", "whatsappEvents", "emailEvents"):
        in_bicep |= set(tree["variables"][name]["value"])
    assert in_bicep == set(CHANNEL_TYPES)
    assert set(tree["variables"]["callEvents"]["value"]) == set(CALL_TYPES)  # calls (issue 23)
    main = parse(INFRA / "main.bicep")
    assert main["parameters"]["archivedChannels"]["default"] == ["chat", "sms", "whatsapp", "email", "calls"]
    assert tree["parameters"]["channels"]["default"] == main["parameters"]["archivedChannels"]["default"]
    assert unwrap(main["modules"]["eventSubscription"]["config"])["params"]["channels"] == "archivedChannels"
