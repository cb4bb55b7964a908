// Event subscription of the ACS system topic to the archive_event function. Deployed only
// once the code is published (Event Grid checks that the function exists).
param topicName string
param functionResourceId string

@allowed([
  'thread'
  'user'
  'both'
])
param chatEventLevel string
@description('Channels whose events are archived: chat, sms, whatsapp, email, calls.')
param channels array = [
  'chat'
  'sms'
  'whatsapp'
  'email'
  'calls'
]
param maxDeliveryAttempts int
param eventTimeToLiveInMinutes int
param deadLetterStorageAccountId string
param deadLetterContainerName string

// Once per thread.
var threadLevelEvents = [
  'Microsoft.Communication.ChatMessageReceivedInThread'
  'Microsoft.Communication.ChatMessageEditedInThread'
  'Microsoft.Communication.ChatMessageDeletedInThread'
  'Microsoft.Communication.ChatThreadCreated'
  'Microsoft.Communication.ChatThreadDeleted'
  'Microsoft.Communication.ChatThreadPropertiesUpdated'
  'Microsoft.Communication.ChatThreadParticipantAdded'
  'Microsoft.Communication.ChatThreadParticipantRemoved'
]

// Once per recipient (never to the sender).
var userLevelEvents = [
  'Microsoft.Communication.ChatMessageReceived'
  'Microsoft.Communication.ChatMessageEdited'
  'Microsoft.Communication.ChatMessageDeleted'
  'Microsoft.Communication.ChatThreadCreatedWithUser'
  'Microsoft.Communication.ChatThreadWithUserDeleted'
  'Microsoft.Communication.ChatThreadPropertiesUpdatedPerUser'
  'Microsoft.Communication.ChatParticipantAddedToThreadWithUser'
  'Microsoft.Communication.ChatParticipantRemovedFromThreadWithUser'
]

var chatEvents = chatEventLevel == 'thread' ? threadLevelEvents : (chatEventLevel == 'user' ? userLevelEvents : concat(threadLevelEvents, userLevelEvents))

// The other channels (docs/archive-format.md, section 13).
var smsEvents = [
  'Microsoft.Communication.SMSReceived'
  'Microsoft.Communication.SMSDeliveryReportReceived'
]
var whatsappEvents = [
  'Microsoft.Communication.AdvancedMessageReceived'
  'Microsoft.Communication.AdvancedMessageDeliveryStatusUpdated'
]
var emailEvents = [
  'Microsoft.Communication.EmailDeliveryReportReceived'
  'Microsoft.Communication.EmailEngagementTrackingReportReceived'
]

// Calls and their Call Automation recordings (docs/archive-format.md, section 14).
var callEvents = [
  'Microsoft.Communication.CallStarted'
  'Microsoft.Communication.CallEnded'
  'Microsoft.Communication.CallParticipantAdded'
  'Microsoft.Communication.CallParticipantRemoved'
  'Microsoft.Communication.IncomingCall'
  'Microsoft.Communication.RecordingFileStatusUpdated'
]

var includedEventTypes = concat(contains(channels, 'chat') ? chatEvents : [], contains(channels, 'sms') ? smsEvents : [], contains(channels, 'whatsapp') ? whatsappEvents : [], contains(channels, 'email') ? emailEvents : [], contains(channels, 'calls') ? callEvents : [])

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: topicName
}

resource subscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: systemTopic
  name: 'archive-chat-event'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: functionResourceId
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: includedEventTypes
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    // Dead-lettering through the topic's own identity (no storage key), into one container.
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output name string = subscription.name
