// Key Vault (RBAC, purge protection) holding ARCHIVE_HASH_KEY. The app reads it through a Key
// Vault reference (@Microsoft.KeyVault(...)) with the Key Vault Secrets User role.
param location string
param tags object
param name string
param secretName string

@secure()
@description('Empty: leave the secret as it is (it must exist already).')
param secretValue string

param logAnalyticsWorkspaceId string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  // checkov:skip=CKV_AZURE_109: Key Vault references of a Flex Consumption app without VNet integration are resolved over the public endpoint (App Service is not a trusted service of the vault firewall); access needs Entra ID + RBAC.
  // checkov:skip=CKV_AZURE_189: Same reason as CKV_AZURE_109: public network access is needed to resolve the Key Vault reference.
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

// Written only when a value is given, so that re-deployments never change the key.
module secret 'hash-key-secret.bicep' = if (!empty(secretValue)) {
  name: 'hash-key-secret'
  params: {
    vaultName: vault.name
    secretName: secretName
    secretValue: secretValue
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'key-vault-audit'
  scope: vault
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

output name string = vault.name
