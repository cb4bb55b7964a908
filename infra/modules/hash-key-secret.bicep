// The ARCHIVE_HASH_KEY secret (written by key-vault.bicep only when a value is given).
param vaultName string
param secretName string

@secure()
param secretValue string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: The HMAC key must stay stable for the life of the archive (a new key changes every hash), so it gets no expiry date; rotating it is a deliberate re-keying.
  parent: vault
  name: secretName
  properties: {
    value: secretValue
    contentType: 'text/plain'
  }
}
