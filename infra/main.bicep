// ACS chat archiver: Azure Functions (Flex Consumption, Python 3.11) + archive storage + Event Grid.
//
// Deploy (see docs/deployment.md):
//   az deployment group create -g <rg> -f infra/main.bicep -p acsResourceId=<id> archiveHashKey=<secret>
//   (publish the code), then the same command again with -p deployEventSubscription=true.
// `azd up` does the same through azure.yaml and infra/hooks/postdeploy.sh.
targetScope = 'resourceGroup'

// ---------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------

@minLength(1)
@maxLength(40)
@description('Environment name (azd AZURE_ENV_NAME): seeds the resource names and the azd-env-name tag.')
param environmentName string

@description('Region of every regional resource (the system topic of ACS is global).')
param location string = resourceGroup().location

@description('Resource id of the EXISTING Azure Communication Services resource whose chat events are archived.')
param acsResourceId string

@description('Name of the Event Grid system topic of the ACS resource. An ACS resource can have only one system topic: if it has one already, give its name here (it is updated, with a system-assigned identity added). Empty: a new name.')
param eventGridSystemTopicName string = ''

// The same role authorizes the send endpoint (POST /api/send/{channel}, docs/outbound.md): SMS, Email and
// Advanced Messages calls with ACS_ENDPOINT + the app's managed identity, and chat tokens for the sender.
@description('Built-in role the app gets on the ACS resource so that it can issue its archiver token, download WhatsApp media and download (and optionally delete) call recordings with its managed identity. Default: Communication and Email Service Owner. Replace with a custom role (Microsoft.Communication/CommunicationServices/read and write) for a narrower grant.')
param acsRoleDefinitionId string = '09976791-48a7-449e-bb21-39d1a415f350'

@description('ACS user id of the archiver (python -m archiving identity create). Empty until created: the sweep refuses to run without it.')
param archiverUserId string = ''

@secure()
@description('HMAC key of the user-id hashes. Given: stored as the Key Vault secret. Empty: the secret is left as it is (every later deployment). Keep it stable: a new key changes every hash.')
param archiveHashKey string = ''

@description('Create the Event Grid subscription to archive_event. Event Grid checks that the function exists: turn this on only once the code is published.')
param deployEventSubscription bool = false

@allowed([
  'thread'
  'user'
  'both'
])
@description('Which chat events to subscribe to: thread-level (once per thread, the default), user-level (once per recipient), or both.')
param chatEventLevel string = 'thread'

@description('Channels whose Event Grid events are archived (chat, sms, whatsapp, email, calls); default every channel an ACS resource can have. Subscribing to a channel the resource does not use costs nothing.')
param archivedChannels array = [
  'chat'
  'sms'
  'whatsapp'
  'email'
  'calls'
]

@minValue(1)
@maxValue(30)
@description('Event Grid delivery attempts before an event is dead-lettered.')
param maxDeliveryAttempts int = 30

@minValue(1)
@maxValue(1440)
@description('Event time-to-live in minutes before an undelivered event is dead-lettered.')
param eventTimeToLiveInMinutes int = 1440

// App settings (names exactly as the code reads them; see archiving/settings.py).
@description('ARCHIVE_CONTAINER: container of the archive.')
param archiveContainerName string = 'chat-archive'

@description('ARCHIVE_REJECTED_CONTAINER: container of malformed events.')
param rejectedContainerName string = 'chat-archive-rejected'

@description('Container where Event Grid dead-letters events it could not deliver.')
param deadLetterContainerName string = 'chat-archive-deadletter'

@description('SWEEP_QUEUE: queue between the sweep and archive_thread.')
param sweepQueueName string = 'archive-threads'

@description('SWEEP_SCHEDULE: NCRONTAB schedule of the inactive-thread sweep.')
param sweepSchedule string = '0 0 * * * *'

@description('INACTIVE_AFTER_MINUTES: a thread is inactive after this many minutes without a message.')
param inactiveAfterMinutes int = 1440

@description('TRANSCRIPT_FORMATS: json, csv or both.')
param transcriptFormats string = 'json,csv'

@description('DELETE_THREAD_AFTER_ARCHIVE: delete the thread in ACS once its transcript is committed.')
param deleteThreadAfterArchive bool = false

@description('DELETE_RECORDING_AFTER_ARCHIVE: delete a call recording from ACS once every chunk is archived.')
param deleteRecordingAfterArchive bool = false

// The seal (docs/integrity.md): a signed Merkle log of every blob.
@description('SEAL_SCHEDULE: NCRONTAB schedule of seal_archive.')
param sealSchedule string = '0 */15 * * * *'

@description('ARCHIVE_SEAL_CONTAINER: container of the seal log (version-level WORM).')
param sealContainerName string = 'chat-archive-seal'

@description('SEAL_AUDIT_SCHEDULE: NCRONTAB schedule of seal_audit, the weekly listing audit of the seal.')
param sealAuditSchedule string = '0 0 3 * * 0'

@minValue(1)
@maxValue(146000)
@description('Days each manifest, checkpoint and public key of the seal log stays immutable.')
param sealImmutabilityDays int = 2555

@minValue(1)
@maxValue(146000)
@description('Days the archive account\'s change feed keeps its records (the seal reads it): longer than the worst seal outage planned for.')
param changeFeedRetentionDays int = 30

@description('Name of the Key Vault key (EC P-256) that signs the checkpoints.')
param sealKeyName string = 'archive-seal'

@description('Expiry of the seal key, seconds since 1970 (default 2036-01-01).')
param sealKeyExpiresAt int = 2082758400
@description('ROLLUP_CONTAINER: container of the daily Parquet roll-ups (derived data, rebuilt at will; not tiered).')
param rollupContainerName string = 'chat-archive-rollup'

@description('ROLLUP_SCHEDULE: NCRONTAB schedule of the daily roll-up (UTC).')
param rollupSchedule string = '0 30 1 * * *'

@description('DISPOSE_SCHEDULE: NCRONTAB schedule of dispose_archive, which deletes the records past retention that no hold covers (UTC).')
param disposeSchedule string = '0 0 3 * * *'

@minValue(25)
@description('ROLLUP_GRACE_HOURS: a day is rolled up once it ended this many hours ago (more than Event Grid\'s 24 h of retries).')
param rollupGraceHours int = 36

// Archive storage: tiers, retention, immutability.
@allowed([
  'Standard_LRS'
  'Standard_GRS'
  'Standard_RAGRS'
])
@description('Replication of the archive account (the archive tier needs LRS, GRS or RA-GRS).')
param archiveStorageSku string = 'Standard_GRS'

@minValue(0)
@description('Days after creation before a record moves to the cool tier (0: never). Default 0: for records of a few KB a tier move costs more than the capacity it saves over the whole retention (docs/cost.md).')
param coolAfterDays int = 0

@minValue(0)
@description('Days after creation before a record moves to the cold tier (0: skip the cold tier; default, docs/cost.md).')
param coldAfterDays int = 0

@minValue(0)
@description('Days after creation before a record moves to the archive tier (0: never, the default, docs/cost.md; archived blobs must be rehydrated before they can be read: python -m archiving rehydrate).')
param archiveAfterDays int = 0

@minValue(1)
@description('Retention (ARCHIVE_RETENTION_DAYS): days after a record\'s own time before dispose_archive deletes it, unless a hold covers it; previous versions are deleted this many days after their creation. Must be at least immutabilityDays.')
param retentionDays int = 2555

@minValue(1)
@maxValue(365)
@description('Soft-delete retention of deleted blobs and containers, in days.')
param softDeleteDays int = 30

@description('Enable version-level immutability (WORM) on the archive account. Irreversible on the account once deployed.')
param enableImmutability bool = false

@minValue(1)
@maxValue(146000)
@description('Time-based retention of every blob version, in days, when enableImmutability is on.')
param immutabilityDays int = 2555

@allowed([
  'Unlocked'
  'Locked'
])
@description('State of the default immutability policy. Create it Unlocked (Azure refuses to create a Locked policy); once verified, re-deploy with Locked: a locked policy can be extended but never shortened or removed.')
param immutabilityPolicyState string = 'Unlocked'

// Function app scale.
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Zone-redundant Flex Consumption plan (only in the regions that offer it).')
param planZoneRedundant bool = false

@description('Object id of a person or group that may read the archive (Storage Blob Data Reader), e.g. to check a deployment. azd passes the signed-in user. Empty: none.')
param readerPrincipalId string = ''

// Alerts and the workbook (modules/alerts.bicep, modules/workbook.bicep; runbooks in docs/operations.md).
@description('Deploy the alert rules, their action group and the operators\' workbook.')
param deployMonitoring bool = true

@description('E-mail address the alerts are sent to. Empty: no e-mail (give a webhook, or add receivers to the action group).')
param alertEmail string = ''

@secure()
@description('HTTPS webhook the alerts are posted to (common alert schema). Empty: none.')
param alertWebhookUrl string = ''

@minValue(1)
@description('Alert when the 95th percentile of the archiving lag (eventTime to archived_at) over 15 minutes exceeds this many seconds.')
param lagAlertSeconds int = 300

@description('Name of the seal timer function once it is deployed (e.g. seal_archive): alert when it stops succeeding. Empty: no seal alert.')
param sealFunctionName string = ''

@description('Name of the roll-up timer function once it is deployed: alert when it stops succeeding. Empty: no roll-up alert.')
param rollupFunctionName string = ''

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-archiver-${token}'
var hostStorageName = take('stfn${token}', 24)
var archiveStorageName = take('starc${token}', 24)
var keyVaultName = take('kv-arc-${token}', 24)
var hashKeySecretName = 'archive-hash-key'
var deploymentContainerName = 'app-package-${take(token, 12)}'

var acsSubscriptionId = split(acsResourceId, '/')[2]
var acsResourceGroupName = split(acsResourceId, '/')[4]
var acsName = last(split(acsResourceId, '/'))

resource acs 'Microsoft.Communication/communicationServices@2023-04-01' existing = {
  name: acsName
  scope: resourceGroup(acsSubscriptionId, acsResourceGroupName)
}

// ---------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: tags
    logAnalyticsName: 'log-archiver-${token}'
    applicationInsightsName: 'appi-archiver-${token}'
  }
}

module hostStorage 'modules/host-storage.bicep' = {
  name: 'host-storage'
  params: {
    location: location
    tags: tags
    name: hostStorageName
    deploymentContainerName: deploymentContainerName
  }
}

module archiveStorage 'modules/archive-storage.bicep' = {
  name: 'archive-storage'
  params: {
    location: location
    tags: tags
    name: archiveStorageName
    skuName: archiveStorageSku
    archiveContainerName: archiveContainerName
    rejectedContainerName: rejectedContainerName
    deadLetterContainerName: deadLetterContainerName
    changeFeedRetentionDays: changeFeedRetentionDays
    rollupContainerName: rollupContainerName
    queueNames: [
      sweepQueueName
      '${sweepQueueName}-poison'
    ]
    coolAfterDays: coolAfterDays
    coldAfterDays: coldAfterDays
    archiveAfterDays: archiveAfterDays
    retentionDays: retentionDays
    softDeleteDays: softDeleteDays
    enableImmutability: enableImmutability
    immutabilityDays: immutabilityDays
    immutabilityPolicyState: immutabilityPolicyState
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
  }
}

module keyVault 'modules/key-vault.bicep' = {
  name: 'key-vault'
  params: {
    location: location
    tags: tags
    name: keyVaultName
    secretName: hashKeySecretName
    secretValue: archiveHashKey
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  params: {
    location: location
    tags: tags
    name: functionAppName
    planName: 'plan-archiver-${token}'
    hostStorageName: hostStorage.outputs.name
    deploymentContainerUrl: '${hostStorage.outputs.blobEndpoint}${deploymentContainerName}'
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    archiveBlobEndpoint: archiveStorage.outputs.blobEndpoint
    archiveQueueEndpoint: archiveStorage.outputs.queueEndpoint
    keyVaultName: keyVault.outputs.name
    hashKeySecretName: hashKeySecretName
    archiveContainerName: archiveContainerName
    rejectedContainerName: rejectedContainerName
    sweepQueueName: sweepQueueName
    sweepSchedule: sweepSchedule
    inactiveAfterMinutes: inactiveAfterMinutes
    transcriptFormats: transcriptFormats
    deleteThreadAfterArchive: deleteThreadAfterArchive
    deleteRecordingAfterArchive: deleteRecordingAfterArchive
    rollupContainerName: rollupContainerName
    rollupSchedule: rollupSchedule
    rollupGraceHours: rollupGraceHours
    retentionDays: retentionDays
    disposeSchedule: disposeSchedule
    // Azure legal holds need version-level immutability (ARCHIVE_LEGAL_HOLD).
    legalHold: enableImmutability
    acsEndpoint: 'https://${acs.properties.hostName}'
    archiverUserId: archiverUserId
    sealSchedule: sealSchedule
    sealContainerName: sealContainerName
    sealAuditSchedule: sealAuditSchedule
    // Known before the key exists (the key's module needs the app's identity first).
    sealKeyUri: 'https://${keyVaultName}${environment().suffixes.keyvaultDns}/keys/${sealKeyName}'
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    zoneRedundant: planZoneRedundant
  }
}

// What the app's identity may do, resource by resource (least privilege).
module appAccess 'modules/app-access.bicep' = {
  name: 'app-access'
  params: {
    principalId: functionApp.outputs.principalId
    hostStorageName: hostStorage.outputs.name
    archiveStorageName: archiveStorage.outputs.name
    queueNames: [
      sweepQueueName
      '${sweepQueueName}-poison'
    ]
    keyVaultName: keyVault.outputs.name
    hashKeySecretName: hashKeySecretName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    readerPrincipalId: readerPrincipalId
  }
}

// Event Grid system topic on the existing ACS resource (in its own resource group), and the
// app's role on ACS.
module acsEvents 'modules/acs-events.bicep' = {
  name: 'acs-events'
  scope: resourceGroup(acsSubscriptionId, acsResourceGroupName)
  params: {
    acsName: acsName
    topicName: empty(eventGridSystemTopicName) ? 'evgt-acs-archiver-${token}' : eventGridSystemTopicName
    tags: tags
    appPrincipalId: functionApp.outputs.principalId
    acsRoleDefinitionId: acsRoleDefinitionId
  }
}

// The seal log's containers, and the key that signs its checkpoints (the app may only read it and sign).
module sealStorage 'modules/seal-storage.bicep' = {
  name: 'seal-storage'
  params: {
    storageAccountName: archiveStorage.outputs.name
    sealContainerName: sealContainerName
    sealImmutabilityDays: sealImmutabilityDays
  }
}

module sealKey 'modules/seal-key.bicep' = {
  name: 'seal-key'
  params: {
    vaultName: keyVault.outputs.name
    keyName: sealKeyName
    principalId: functionApp.outputs.principalId
    keyExpiresAt: sealKeyExpiresAt
  }
}

// The topic's identity may write dead-lettered events to the dead-letter container, and nothing else.
module deadLetterAccess 'modules/dead-letter-access.bicep' = {
  name: 'dead-letter-access'
  params: {
    storageAccountName: archiveStorage.outputs.name
    containerName: deadLetterContainerName
    principalId: acsEvents.outputs.topicPrincipalId
  }
}

module eventSubscription 'modules/event-subscription.bicep' = if (deployEventSubscription) {
  name: 'event-subscription'
  scope: resourceGroup(acsSubscriptionId, acsResourceGroupName)
  params: {
    topicName: acsEvents.outputs.topicName
    functionResourceId: '${functionApp.outputs.id}/functions/archive_event'
    chatEventLevel: chatEventLevel
    channels: archivedChannels
    maxDeliveryAttempts: maxDeliveryAttempts
    eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    deadLetterStorageAccountId: archiveStorage.outputs.id
    deadLetterContainerName: deadLetterContainerName
  }
  dependsOn: [
    deadLetterAccess
    appAccess
  ]
}

// Alerts that page someone and the operators' workbook. The system topic lives in the ACS
// resource group; the alert rules and the workbook live here.
var systemTopicId = resourceId(acsSubscriptionId, acsResourceGroupName, 'Microsoft.EventGrid/systemTopics', acsEvents.outputs.topicName)

module alerts 'modules/alerts.bicep' = if (deployMonitoring) {
  name: 'alerts'
  params: {
    location: location
    tags: tags
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    systemTopicId: systemTopicId
    alertEmail: alertEmail
    alertWebhookUrl: alertWebhookUrl
    sweepQueueName: sweepQueueName
    lagAlertSeconds: lagAlertSeconds
    sealFunctionName: sealFunctionName
    rollupFunctionName: rollupFunctionName
  }
}

module workbook 'modules/workbook.bicep' = if (deployMonitoring) {
  name: 'workbook'
  params: {
    location: location
    tags: tags
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    systemTopicId: systemTopicId
    sweepQueueName: sweepQueueName
  }
}

// ---------------------------------------------------------------------------------------------
// Outputs (azd stores them in the environment; the postdeploy hook and the docs use them)
// ---------------------------------------------------------------------------------------------

output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_ARCHIVE_STORAGE_ACCOUNT string = archiveStorage.outputs.name
output AZURE_ARCHIVE_CONTAINER string = archiveContainerName
output AZURE_ROLLUP_CONTAINER string = rollupContainerName
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_EVENTGRID_SYSTEM_TOPIC string = acsEvents.outputs.topicName
output AZURE_EVENT_SUBSCRIPTION_DEPLOYED bool = deployEventSubscription
output AZURE_SEAL_CONTAINER string = sealStorage.outputs.sealContainerName
output AZURE_SEAL_KEY_URI string = sealKey.outputs.keyUri
