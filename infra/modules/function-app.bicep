// The archiver: Azure Functions on the Flex Consumption plan, Python 3.11, system-assigned
// identity. Every connection is identity-based; the only secret (ARCHIVE_HASH_KEY) is a Key
// Vault reference.
param location string
param tags object
param name string
param planName string
param hostStorageName string
param deploymentContainerUrl string
param applicationInsightsName string
param archiveBlobEndpoint string
param archiveQueueEndpoint string
param keyVaultName string
param hashKeySecretName string
param archiveContainerName string
param rejectedContainerName string
param sweepQueueName string
param sweepSchedule string
param inactiveAfterMinutes int
param transcriptFormats string
param deleteThreadAfterArchive bool
param deleteRecordingAfterArchive bool = false
param rollupContainerName string
param rollupSchedule string
param rollupGraceHours int
param retentionDays int
param disposeSchedule string
param legalHold bool
param acsEndpoint string
param archiverUserId string
param mediaMaxBytes int = 104857600
param sealSchedule string
param sealContainerName string
param sealAuditSchedule string
param sealKeyUri string
param maximumInstanceCount int
param instanceMemoryMB int
@description('Zone-redundant Flex Consumption plan (only in regions that offer it).')
param zoneRedundant bool = false

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Zone redundancy of Flex Consumption exists only in some regions; it is the zoneRedundant parameter (planZoneRedundant in main.bicep), off by default so that the template deploys everywhere.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
    zoneRedundant: zoneRedundant
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: Event Grid delivers to the Event Grid trigger webhook over the public endpoint (authenticated by the function's system key); there are no HTTP functions.
  // checkov:skip=CKV_AZURE_17: Event Grid cannot present a client certificate, so requiring one would stop event delivery.
  // checkov:skip=CKV_AZURE_212: Flex Consumption allocates and replaces instances itself (scale from zero up to maximumInstanceCount); there is no fixed instance count to set.
  // checkov:skip=CKV_AZURE_213: No HTTP endpoint to probe: the functions are Event Grid, timer and queue triggered, and Flex Consumption manages instance health.
  name: name
  location: location
  // azd finds the app to deploy the `archiver` service to by this tag.
  tags: union(tags, {
    'azd-service-name': 'archiver'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: 'SystemAssigned'
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // Names exactly as in local.settings.json.example; tests/test_infra.py checks them against
      // archiving.settings.SPECS. No keys: every connection uses the managed identity.
      appSettings: [
        // Host storage (identity-based; system-assigned identity needs no __credential).
        {
          name: 'AzureWebJobsStorage__accountName'
          value: hostStorageName
        }
        // Telemetry with Entra ID (local auth is off on Application Insights).
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: applicationInsights.properties.ConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'Authorization=AAD'
        }
        // The archive account (connection `ArchiveStorage` of the bindings and of the code).
        {
          name: 'ArchiveStorage__blobServiceUri'
          value: archiveBlobEndpoint
        }
        {
          name: 'ArchiveStorage__queueServiceUri'
          value: archiveQueueEndpoint
        }
        {
          name: 'ARCHIVE_CONTAINER'
          value: archiveContainerName
        }
        {
          name: 'ARCHIVE_REJECTED_CONTAINER'
          value: rejectedContainerName
        }
        {
          name: 'ARCHIVE_HASH_KEY'
          value: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${hashKeySecretName})'
        }
        {
          name: 'SWEEP_SCHEDULE'
          value: sweepSchedule
        }
        {
          name: 'SWEEP_QUEUE'
          value: sweepQueueName
        }
        {
          name: 'INACTIVE_AFTER_MINUTES'
          value: string(inactiveAfterMinutes)
        }
        {
          name: 'TRANSCRIPT_FORMATS'
          value: transcriptFormats
        }
        {
          name: 'DELETE_THREAD_AFTER_ARCHIVE'
          value: deleteThreadAfterArchive ? 'true' : 'false'
        }
        // Daily Parquet roll-ups (rollup_archive), in the archive account.
        {
          name: 'ROLLUP_CONTAINER'
          value: rollupContainerName
        }
        {
          name: 'ROLLUP_SCHEDULE'
          value: rollupSchedule
        }
        {
          name: 'ROLLUP_GRACE_HOURS'
          value: string(rollupGraceHours)
        }
        // Records management (dispose_archive, docs/operations.md "Records management").
        {
          name: 'ARCHIVE_RETENTION_DAYS'
          value: string(retentionDays)
        }
        {
          name: 'DISPOSE_SCHEDULE'
          value: disposeSchedule
        }
        {
          name: 'ARCHIVE_LEGAL_HOLD'
          value: legalHold ? 'true' : 'false'
        }
        // ACS with the managed identity (ACS_CONNECTION_STRING, an access key, stays unset).
        {
          name: 'ACS_ENDPOINT'
          value: acsEndpoint
        }
        {
          name: 'ARCHIVER_USER_ID'
          value: archiverUserId
        }
        // WhatsApp media downloads also use ACS_ENDPOINT and the managed identity (its role on ACS).
        {
          name: 'MEDIA_MAX_BYTES'
          value: string(mediaMaxBytes)
        }
        // Call recordings are downloaded (and, with this on, deleted) with the same identity and role on ACS.
        {
          name: 'DELETE_RECORDING_AFTER_ARCHIVE'
          value: deleteRecordingAfterArchive ? 'true' : 'false'
        }
        // The seal (docs/integrity.md): signed by the Key Vault key (ARCHIVE_SEAL_KEY_FILE stays unset).
        {
          name: 'SEAL_SCHEDULE'
          value: sealSchedule
        }
        {
          name: 'ARCHIVE_SEAL_CONTAINER'
          value: sealContainerName
        }
        {
          name: 'SEAL_AUDIT_SCHEDULE'
          value: sealAuditSchedule
        }
        {
          name: 'ARCHIVE_SEAL_KEY_ID'
          value: sealKeyUri
        }
      ]
    }
  }
}

// Deployments use Entra ID (azd, func publish on Flex): no FTP or SCM basic auth.
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

output id string = functionApp.id
output name string = functionApp.name
output principalId string = functionApp.identity.principalId
