// The seal log (docs/integrity.md) in the archive account: its container is write-once (version-level WORM
// with a default time-based retention policy).  New blobs reach the seal through the account's change feed
// (archive-storage.bicep), not through a journal of our own.
param storageAccountName string
param sealContainerName string

@minValue(1)
@maxValue(146000)
@description('Days each manifest, checkpoint and public key of the seal log is kept immutable.')
param sealImmutabilityDays int

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

// Version-level immutability on this container (the account has versioning on): no manifest or checkpoint can
// be overwritten or deleted while its retention lasts.
resource sealContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: sealContainerName
  properties: {
    publicAccess: 'None'
    immutableStorageWithVersioning: {
      enabled: true
    }
  }
}

// The container's default time-based retention. Created unlocked (Azure cannot create a locked one); lock it
// once verified: `az storage container immutability-policy lock` (docs/integrity.md). A locked policy can be
// extended, never shortened or removed.
resource sealPolicy 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = {
  parent: sealContainer
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: sealImmutabilityDays
    allowProtectedAppendWrites: false
  }
}

output sealContainerName string = sealContainer.name
