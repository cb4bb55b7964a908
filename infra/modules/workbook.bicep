// The operators' workbook (Azure Monitor workbook on Application Insights): events archived per
// minute by channel and outcome, lag percentiles, rejections, duplicates and conflicts, sweep and
// transcript runs, function failures, poison moves and Event Grid dead letters. The workbook
// itself is ./workbook.json; {{…}} placeholders are filled here.
param location string
param tags object

@description('Application Insights component the workbook reads.')
param applicationInsightsName string

@description('Resource id of the Event Grid system topic (dead-letter and delivery metrics).')
param systemTopicId string

@description('SWEEP_QUEUE: the poison queue is <SWEEP_QUEUE>-poison.')
param sweepQueueName string

@description('Display name of the workbook in the portal.')
param displayName string = 'ACS archiver'

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

var template = loadTextContent('workbook.json')
var withInsights = replace(template, '{{APP_INSIGHTS_ID}}', applicationInsights.id)
var withTopic = replace(withInsights, '{{SYSTEM_TOPIC_ID}}', systemTopicId)
var content = replace(withTopic, '{{POISON_QUEUE}}', '${sweepQueueName}-poison')

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  // A workbook's name must be a GUID: stable per resource group, so a new deployment updates it.
  name: guid(resourceGroup().id, 'acs-archiver-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: applicationInsights.id
    serializedData: content
    version: 'Notebook/1.0'
  }
}

output workbookId string = workbook.id
