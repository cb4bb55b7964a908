#!/usr/bin/env bash
# azd postdeploy hook: the code is published, so archive_event exists and Event Grid will
# accept a subscription to it. Re-run the same Bicep (same parameters as `azd provision`, read
# from infra/main.parameters.json and the azd environment) with deployEventSubscription=true.
#
# Runs under azd (which exports the environment: AZURE_ENV_NAME, AZURE_RESOURCE_GROUP, ...);
# for the manual path see docs/deployment.md.
set -euo pipefail

cd "$(dirname "$0")/../.."
: "${AZURE_ENV_NAME:?run through azd (azd up / azd deploy), or see docs/deployment.md}"
: "${AZURE_RESOURCE_GROUP:?AZURE_RESOURCE_GROUP is not set in the azd environment}"
: "${ACS_RESOURCE_ID:?set it first: azd env set ACS_RESOURCE_ID <resource id of the ACS resource>}"

params=$(mktemp)
trap 'rm -f "$params"' EXIT

# Substitute ${VAR} / ${VAR=default} / ${VAR:-default} as azd does. archiveHashKey is blanked:
# the secret exists since provisioning, and an empty value leaves it untouched.
python3 - infra/main.parameters.json > "$params" <<'PY'
import json, os, re, sys

pattern = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-=]([^}]*))?\}")

def substitute(value):
    if isinstance(value, str):
        return pattern.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), value)
    if isinstance(value, dict):
        return {k: substitute(v) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v) for v in value]
    return value

with open(sys.argv[1], encoding="utf-8") as f:
    doc = json.load(f)
doc["parameters"] = substitute(doc["parameters"])
doc["parameters"]["archiveHashKey"] = {"value": ""}
json.dump(doc, sys.stdout, indent=2)
PY

echo "postdeploy: creating the Event Grid subscription to archive_event..."
az deployment group create \
    --resource-group "$AZURE_RESOURCE_GROUP" \
    --name "${AZURE_ENV_NAME}-event-subscription" \
    --template-file infra/main.bicep \
    --parameters "@$params" \
    --parameters deployEventSubscription=true \
    --query "properties.outputs.AZURE_EVENT_SUBSCRIPTION_DEPLOYED.value" -o tsv
echo "postdeploy: done. Events of ${ACS_RESOURCE_ID##*/} now reach archive_event."
