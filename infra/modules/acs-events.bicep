// Deployed in the resource group of the existing ACS resource: its Event Grid system topic (with
// a system-assigned identity for dead-lettering) and the app's role on ACS.
param acsName string
param topicName string
param tags object
param appPrincipalId string
param acsRoleDefinitionId string

resource acs 'Microsoft.Communication/communicationServices@2023-04-01' existing = {
  name: acsName
}

// ACS is a global resource, so is its system topic. An ACS resource has at most one system
// topic: if one exists already, deploy with its name (see docs/deployment.md).
resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: topicName
  location: 'global'
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: acs.id
    topicType: 'Microsoft.Communication.CommunicationServices'
  }
}

// Issue the archiver's `chat` token with the app's managed identity (CommunicationIdentityClient
// with ACS_ENDPOINT + DefaultAzureCredential): ACS authorizes Entra ID callers by an RBAC role
// on the resource. The send endpoint (archiving.outbound) uses the same grant to send SMS, email
// and WhatsApp messages, and to issue chat tokens for the users it sends as.
resource appOnAcs 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(acs.id, appPrincipalId, acsRoleDefinitionId)
  scope: acs
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acsRoleDefinitionId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output topicName string = systemTopic.name
output topicPrincipalId string = systemTopic.identity.principalId
