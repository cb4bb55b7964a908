#!/usr/bin/env bash
# azd preprovision hook: make sure the first deployment has an ARCHIVE_HASH_KEY to store in Key
# Vault, and that no later deployment replaces it (a new key changes every hash).
#
#   - ARCHIVE_HASH_KEY set in the azd environment: Bicep writes that value (unchanged if it is
#     the value already stored).
#   - not set, and the Key Vault secret exists: nothing to do; Bicep leaves the secret alone.
#   - not set, and no vault or secret yet (first deployment): generate a random key into the
#     azd environment (.azure/<env>/.env). Clear it there once deployed if you prefer:
#     azd env set ARCHIVE_HASH_KEY ''
set -euo pipefail

secret_name=archive-hash-key

if [ -n "${ARCHIVE_HASH_KEY:-}" ]; then
    echo "preprovision: ARCHIVE_HASH_KEY is set in the azd environment; Bicep stores it in Key Vault."
    exit 0
fi

if [ -n "${AZURE_KEY_VAULT_NAME:-}" ] && [ -n "${AZURE_RESOURCE_GROUP:-}" ]; then
    # The environment has been provisioned before: the secret must be there. Check through ARM
    # (needs no data-plane role). If the vault cannot be read, stop rather than risk a new key.
    if ! az keyvault show -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_KEY_VAULT_NAME" --query id -o tsv >/dev/null; then
        echo "preprovision: cannot read Key Vault $AZURE_KEY_VAULT_NAME; not generating a new ARCHIVE_HASH_KEY." >&2
        echo "Set it explicitly (azd env set ARCHIVE_HASH_KEY <the existing key>) or fix access." >&2
        exit 1
    fi
    if az resource show -g "$AZURE_RESOURCE_GROUP" --namespace Microsoft.KeyVault \
        --parent "vaults/$AZURE_KEY_VAULT_NAME" --resource-type secrets -n "$secret_name" \
        --query id -o tsv >/dev/null 2>&1; then
        echo "preprovision: secret $secret_name exists in $AZURE_KEY_VAULT_NAME; it is left as it is."
        exit 0
    fi
fi

echo "preprovision: first deployment: generating ARCHIVE_HASH_KEY into the azd environment."
key=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')
azd env set ARCHIVE_HASH_KEY "$key" >/dev/null
