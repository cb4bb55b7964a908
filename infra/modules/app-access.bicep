// Role assignments of the function app's system-assigned identity, each at the narrowest scope
// the runtime and the code work with. See docs/deployment.md ("What each role is for").
param principalId string
param hostStorageName string
param archiveStorageName string
param queueNames array
param keyVaultName string
param hashKeySecretName string
param applicationInsightsName string
@description('Optional person or group given read access to the archive (to check a deployment).')
param readerPrincipalId string = ''

var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageName
}

resource archiveStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: archiveStorageName
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: archiveStorage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = [for queueName in queueNames: {
  parent: queueService
  name: queueName
}]

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

// Scoped to the one secret; it must exist (the first deployment creates it from archiveHashKey).
resource hashKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = {
  parent: vault
  name: hashKeySecretName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Host storage (AzureWebJobsStorage + the Flex deployment container): the Functions host needs
// to read/write blobs and create containers there.
resource hostBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, principalId, roles.storageBlobDataOwner)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Archive blobs: write records with blob index tags, read them and their tags back, find blobs
// by tags, create the containers. The same assignment covers the roll-up container
// (ROLLUP_CONTAINER, same account): rollup_archive writes and replaces parts and manifests there,
// and deletes replaced parts (blobs/delete, in the role). Storage Blob Data Owner is the built-in role that has the
// tags/read, tags/write and filter/action data actions (Contributor has not). Records management uses the same
// assignment: Set Blob Tier to rehydrate (blobs/write), Delete Blob for dispose (blobs/delete) and, with
// enableImmutability, Set Blob Legal Hold (blobs/immutableStorage/runAsSuperUser/action, in the role's blobs/*).
resource archiveBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(archiveStorage.id, principalId, roles.storageBlobDataOwner)
  scope: archiveStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Sweep queue and its poison queue only: the timer's output binding and the code enqueue, the
// queue trigger reads and deletes, the host moves failures to <queue>-poison and creates the
// queues if missing (queues/write, which only Queue Data Contributor has).
resource queueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (queueName, i) in queueNames: {
  name: guid(queues[i].id, principalId, roles.storageQueueDataContributor)
  scope: queues[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

// ARCHIVE_HASH_KEY through the Key Vault reference.
resource secretUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hashKeySecret.id, principalId, roles.keyVaultSecretsUser)
  scope: hashKeySecret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Telemetry with Entra ID (Application Insights local auth is off).
resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, principalId, roles.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource archiveReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(readerPrincipalId)) {
  name: guid(archiveStorage.id, readerPrincipalId, roles.storageBlobDataReader)
  scope: archiveStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataReader)
    principalId: readerPrincipalId
  }
}
