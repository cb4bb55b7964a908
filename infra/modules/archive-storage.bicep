// The archive: a storage account of its own, identity-only (no shared keys), versioned, with
// soft delete, lifecycle tiering/retention and, optionally, version-level WORM immutability.
param location string
param tags object
param name string
@allowed([
  'Standard_LRS'
  'Standard_GRS'
  'Standard_RAGRS'
])
param skuName string = 'Standard_GRS'
param archiveContainerName string
param rejectedContainerName string
param deadLetterContainerName string
@minValue(1)
@maxValue(146000)
@description('Days the change feed (read by the seal, docs/integrity.md) keeps its records: longer than the worst seal outage planned for.')
param changeFeedRetentionDays int = 30
@description('Daily Parquet roll-ups: derived data, replaced on re-runs; outside the lifecycle rule (not tiered, not deleted by age).')
param rollupContainerName string
param queueNames array
param coolAfterDays int
param coldAfterDays int
param archiveAfterDays int
param retentionDays int
param softDeleteDays int
param enableImmutability bool
param immutabilityDays int
param immutabilityPolicyState string
param logAnalyticsWorkspaceId string

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: The Flex Consumption app (no VNet integration in this template) reaches the archive over its public endpoint; every request needs an Entra ID token with a data role, shared keys are off.
  // checkov:skip=CKV_AZURE_59: Same reason as CKV_AZURE_35: public network access stays on for the app; access is Entra ID + RBAC only.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    isLocalUserEnabled: false
    isSftpEnabled: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    // Version-level WORM: every blob version is protected for immutabilityDays after it is
    // written; legal holds can then be set per blob version. Cannot be switched off once on.
    immutableStorageWithVersioning: enableImmutability ? {
      enabled: true
      immutabilityPolicy: {
        immutabilityPeriodSinceCreationInDays: immutabilityDays
        state: immutabilityPolicyState
        allowProtectedAppendWrites: false
      }
    } : null
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    isVersioningEnabled: true
    // The seal reads new blobs from the change feed (written by the service: nothing on the write path).
    // Rules out hierarchical namespace and account failover while it is on (docs/deployment.md).
    changeFeed: {
      enabled: true
      retentionInDays: changeFeedRetentionDays
    }
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for containerName in [
  archiveContainerName
  rejectedContainerName
  deadLetterContainerName
  rollupContainerName
]: {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
  }
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// Created here so that the app's queue role can be scoped to these queues alone.
resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queueName in queueNames: {
  parent: queueService
  name: queueName
}]

// Records are tiered by age but never deleted by a rule: the product disposes of them (the dispose_archive
// function, docs/operations.md "Records management"), so that holds are honored and every disposal is recorded
// and signed. Previous versions (what a disposal or any delete leaves behind with versioning on) are deleted on
// the retention calendar, counted from their own creation. Only the record roots are tiered: the audit records of
// holds, dispositions and rehydrations (holds/, dispositions/, rehydrations/) must stay readable.
var coolAction = coolAfterDays > 0 ? {
  tierToCool: {
    daysAfterCreationGreaterThan: coolAfterDays
  }
} : {}
var coldAction = coldAfterDays > 0 ? {
  tierToCold: {
    daysAfterCreationGreaterThan: coldAfterDays
  }
} : {}
var archiveAction = archiveAfterDays > 0 ? {
  tierToArchive: {
    daysAfterCreationGreaterThan: archiveAfterDays
  }
} : {}
var deleteAction = {
  delete: {
    daysAfterCreationGreaterThan: retentionDays
  }
}
var tieringActions = union(coolAction, coldAction, archiveAction)
var versionActions = union(coolAction, coldAction, archiveAction, deleteAction)
var recordRoots = [
  'chat/'
  'sms/'
  'whatsapp/'
  'email/'
  'call/'
  'outbound/'
]

resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'archive-records-tiering'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [for root in recordRoots: '${archiveContainerName}/${root}']
            }
            actions: {
              // No tiering (the default, docs/cost.md): no base-blob action at all.
              baseBlob: empty(tieringActions) ? null : tieringActions
              version: versionActions
            }
          }
        }
        {
          name: 'rejected-and-dead-letter-retention'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${rejectedContainerName}/'
                '${deadLetterContainerName}/'
              ]
            }
            actions: {
              baseBlob: union(coolAction, deleteAction)
              version: union(coolAction, deleteAction)
            }
          }
        }
      ]
    }
  }
  dependsOn: [
    containers
  ]
}

// Audit trail of every read, write and delete on the archive.
resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'archive-blob-audit'
  scope: blobService
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        category: 'StorageRead'
        enabled: true
      }
      {
        category: 'StorageWrite'
        enabled: true
      }
      {
        category: 'StorageDelete'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'Transaction'
        enabled: true
      }
    ]
  }
}

resource queueDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'archive-queue-audit'
  scope: queueService
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        category: 'StorageRead'
        enabled: true
      }
      {
        category: 'StorageWrite'
        enabled: true
      }
      {
        category: 'StorageDelete'
        enabled: true
      }
    ]
  }
}

output id string = storage.id
output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue
