// The key that signs the seal's checkpoints: an EC P-256 key in Key Vault (ES256). The private key never leaves
// the vault; the function's identity gets a custom role that allows only reading the key (its public half) and
// the sign operation: Key Vault Crypto User would also allow encrypt, decrypt, wrap, unwrap and verify.
param vaultName string
param keyName string
param principalId string

@description('Expiry of the key, in seconds since 1970 (checkpoints signed before it stay verifiable).')
param keyExpiresAt int

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

resource key 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  // checkov:skip=CKV_AZURE_112: An HSM-backed key (EC-HSM) needs a Premium vault; the vault of this template is Standard. The key is non-exportable either way and only the sign operation is granted.
  parent: vault
  name: keyName
  properties: {
    kty: 'EC'
    curveName: 'P-256'
    keyOps: [
      'sign'
      'verify'
    ]
    attributes: {
      enabled: true
      exp: keyExpiresAt
      exportable: false
    }
    // New versions expire too; no automatic rotation (a new key version is a new public key: auditors must get
    // it, and `verify` trusts an old one only with --public-key), only a notice before expiry.
    rotationPolicy: {
      attributes: {
        expiryTime: 'P10Y'
      }
      lifetimeActions: [
        {
          trigger: {
            timeBeforeExpiry: 'P90D'
          }
          action: {
            type: 'notify'
          }
        }
      ]
    }
  }
}

// Sign and read, nothing else, on this one key.
resource signerRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, vault.id, keyName, 'seal-signer')
  properties: {
    roleName: 'Archive seal signer (${vaultName}/${keyName})'
    description: 'Read the seal key (public half) and sign with it; no other key operation.'
    type: 'CustomRole'
    assignableScopes: [
      resourceGroup().id
    ]
    permissions: [
      {
        actions: []
        notActions: []
        dataActions: [
          'Microsoft.KeyVault/vaults/keys/read'
          'Microsoft.KeyVault/vaults/keys/sign/action'
        ]
        notDataActions: []
      }
    ]
  }
}

resource signer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(key.id, principalId, signerRole.id)
  scope: key
  properties: {
    roleDefinitionId: signerRole.id
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output keyUri string = key.properties.keyUri
