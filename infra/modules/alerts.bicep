// Alerts that page someone: an action group (e-mail and/or webhook), metric alerts on the Event
// Grid system topic, and log search alerts on Application Insights. Each alert has a runbook
// section in docs/operations.md (section 7); the KQL is in ./queries/*.kql and parses
// the outcome lines the code writes (archiving/ops/logfields.py; tests/test_alerts.py checks both).
// Written without lambdas and multi-line call arguments: the Bicep parser of checkov (.ci/checkov.sh) reads neither.
param location string
param tags object

@description('Name prefix of the alert rules.')
param namePrefix string = 'archiver'

@description('Application Insights component the app sends its telemetry to.')
param applicationInsightsName string

@description('Resource id of the Event Grid system topic of the ACS resource (it may be in another resource group).')
param systemTopicId string

@description('Name of the event subscription of archive_event on the system topic.')
param eventSubscriptionName string = 'archive-chat-event'

@description('E-mail address that receives the alerts. Empty: no e-mail receiver.')
param alertEmail string = ''

@secure()
@description('HTTPS webhook (Teams, PagerDuty, Opsgenie...) that receives the alerts, common alert schema. Empty: none.')
param alertWebhookUrl string = ''

@description('SWEEP_QUEUE: the poison queue is <SWEEP_QUEUE>-poison.')
param sweepQueueName string

@description('Functions triggered by Event Grid (their 30 s budget is watched).')
param eventGridFunctionNames array = [
  'archive_event'
]

@minValue(1)
@description('Delivery failures of the event subscription in 15 minutes that raise an alert (Event Grid retries: a few are normal).')
param deliveryFailureThreshold int = 10

@minValue(1)
@description('Failed invocations of one function in 15 minutes that raise an alert.')
param functionFailureThreshold int = 3

@minValue(1)
@maxValue(30)
@description('99th percentile duration, in seconds, of an Event Grid function over 15 minutes that raises an alert (Event Grid gives up after 30 s).')
param durationAlertSeconds int = 20

@minValue(1)
@description('95th percentile of the archiving lag (eventTime to archived_at), in seconds, over 15 minutes that raises an alert.')
param lagAlertSeconds int = 300

@minValue(60)
@description('Minutes the seal\'s cut-off may trail the clock (the change feed\'s lag and the seal\'s: normally 30 to 90) before an alert.')
param sealLagMinutes int = 240

@description('Name of the seal timer function once deployed (e.g. seal_archive). Empty: no seal alert.')
param sealFunctionName string = ''

@description('Window without a successful seal run that raises an alert (ISO 8601; the seal runs every 15 minutes by default).')
param sealMissingWindow string = 'PT1H'

@description('Name of the roll-up timer function once deployed. Empty: no roll-up alert.')
param rollupFunctionName string = ''

@description('Window without a successful roll-up run that raises an alert (ISO 8601, at most P2D; the roll-up runs daily).')
param rollupMissingWindow string = 'P2D'

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

var emailReceivers = empty(alertEmail) ? [] : [
  {
    name: 'operator-email'
    emailAddress: alertEmail
    useCommonAlertSchema: true
  }
]
var webhookReceivers = empty(alertWebhookUrl) ? [] : [
  {
    name: 'operator-webhook'
    serviceUri: alertWebhookUrl
    useCommonAlertSchema: true
  }
]

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-${namePrefix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: take(namePrefix, 12)
    enabled: true
    emailReceivers: emailReceivers
    webhookReceivers: webhookReceivers
  }
}

var actions = {
  actionGroups: [
    actionGroup.id
  ]
}

// ---------------------------------------------------------------------------------------------
// Event Grid (platform metrics of Microsoft.EventGrid/systemTopics)
// ---------------------------------------------------------------------------------------------

var topicMetricAlerts = [
  {
    key: 'dead-lettered'
    severity: 1
    metricName: 'DeadLetteredCount'
    threshold: 0
    description: 'Event Grid dead-lettered chat events after all delivery attempts: they are in the dead-letter container, not in the archive. Runbook: docs/operations.md, "Event Grid dead-lettered events".'
  }
  {
    key: 'dropped'
    severity: 0
    metricName: 'DroppedEventCount'
    threshold: 0
    description: 'Event Grid dropped chat events (delivery and dead-lettering both failed): they are lost to the real-time path. Runbook: docs/operations.md, "Event Grid dropped events".'
  }
  {
    key: 'delivery-failures'
    severity: 2
    metricName: 'DeliveryAttemptFailCount'
    threshold: deliveryFailureThreshold
    description: 'Event Grid keeps failing to deliver chat events to the function (sustained over 15 minutes). Runbook: docs/operations.md, "Event Grid delivery failures".'
  }
]

resource topicAlerts 'Microsoft.Insights/metricAlerts@2018-03-01' = [
  for alert in topicMetricAlerts: {
    name: '${namePrefix}-eventgrid-${alert.key}'
    location: 'global'
    tags: tags
    properties: {
      description: alert.description
      severity: alert.severity
      enabled: true
      scopes: [
        systemTopicId
      ]
      evaluationFrequency: 'PT5M'
      windowSize: 'PT15M'
      autoMitigate: true
      criteria: {
        'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
        allOf: [
          {
            criterionType: 'StaticThresholdCriterion'
            name: alert.metricName
            metricNamespace: 'Microsoft.EventGrid/systemTopics'
            metricName: alert.metricName
            dimensions: [
              {
                name: 'EventSubscriptionName'
                operator: 'Include'
                values: [
                  eventSubscriptionName
                ]
              }
            ]
            operator: 'GreaterThan'
            threshold: alert.threshold
            timeAggregation: 'Total'
          }
        ]
      }
      actions: [
        {
          actionGroupId: actionGroup.id
        }
      ]
    }
  }
]

// ---------------------------------------------------------------------------------------------
// Log search alerts on Application Insights (tables traces and requests)
// ---------------------------------------------------------------------------------------------

// KQL list of quoted names: "a", "b"
var eventFunctionList = '"${join(eventGridFunctionNames, '", "')}"'
var poisonQueueName = '${sweepQueueName}-poison'

var logAlerts = [
  {
    key: 'rejected-events'
    severity: 2
    query: loadTextContent('queries/rejected-events.kql')
    timeAggregation: 'Count'
    metricMeasureColumn: null
    dimension: null
    operator: 'GreaterThan'
    threshold: 0
    windowSize: 'PT15M'
    frequency: 'PT5M'
    description: 'archive_event wrote rejected events (malformed events of archived types) to the rejected container. Runbook: docs/operations.md, "Rejected events".'
  }
  {
    key: 'conflict-copies'
    severity: 2
    query: loadTextContent('queries/conflict-copies.kql')
    timeAggregation: 'Count'
    metricMeasureColumn: null
    dimension: null
    operator: 'GreaterThan'
    threshold: 0
    windowSize: 'PT15M'
    frequency: 'PT5M'
    description: 'Two copies of one record differ in substance; the second is kept as a conflict copy. Runbook: docs/operations.md, "Conflict copies".'
  }
  {
    key: 'archiving-lag'
    severity: 2
    query: loadTextContent('queries/archiving-lag.kql')
    timeAggregation: 'Maximum'
    metricMeasureColumn: 'lag_p95_ms'
    dimension: null
    operator: 'GreaterThan'
    threshold: lagAlertSeconds * 1000
    windowSize: 'PT15M'
    frequency: 'PT5M'
    description: 'Archiving falls behind: the 95th percentile from eventTime to archived_at is above ${lagAlertSeconds} s. Runbook: docs/operations.md, "Archiving falls behind".'
  }
  {
    key: 'function-failures'
    severity: 2
    query: loadTextContent('queries/function-failures.kql')
    timeAggregation: 'Count'
    metricMeasureColumn: null
    dimension: 'function_name'
    operator: 'GreaterThanOrEqual'
    threshold: functionFailureThreshold
    windowSize: 'PT15M'
    frequency: 'PT5M'
    description: 'A function keeps failing (one alert per function). Runbook: docs/operations.md, "Function failures".'
  }
  {
    key: 'event-function-duration'
    severity: 2
    query: replace(loadTextContent('queries/event-function-duration.kql'), '{{EVENT_FUNCTIONS}}', eventFunctionList)
    timeAggregation: 'Maximum'
    metricMeasureColumn: 'duration_p99_ms'
    dimension: 'function_name'
    operator: 'GreaterThan'
    threshold: durationAlertSeconds * 1000
    windowSize: 'PT15M'
    frequency: 'PT5M'
    description: 'An Event Grid function runs close to the 30 s Event Grid waits for (99th percentile above ${durationAlertSeconds} s). Runbook: docs/operations.md, "Event function near its 30 s budget".'
  }
  {
    key: 'poison-messages'
    severity: 2
    query: replace(loadTextContent('queries/poison-messages.kql'), '{{POISON_QUEUE}}', poisonQueueName)
    timeAggregation: 'Count'
    metricMeasureColumn: null
    dimension: null
    operator: 'GreaterThan'
    threshold: 0
    windowSize: 'PT15M'
    frequency: 'PT5M'
    description: 'A thread failed maxDequeueCount times and its message is in ${poisonQueueName}. Runbook: docs/operations.md, "Poison queue not empty".'
  }
  {
    key: 'poison-queue-not-empty'
    severity: 2
    query: replace(loadTextContent('queries/poison-depth.kql'), '{{POISON_QUEUE}}', poisonQueueName)
    timeAggregation: 'Count'
    metricMeasureColumn: null
    dimension: null
    operator: 'GreaterThan'
    threshold: 0
    windowSize: 'P1D'
    frequency: 'PT15M'
    description: 'The latest sweep run found messages in ${poisonQueueName}; stays on until the queue is empty. Runbook: docs/operations.md, "Poison queue not empty".'
  }
  {
    key: 'recording-not-archived'
    severity: 1
    query: loadTextContent('queries/recording-not-archived.kql')
    timeAggregation: 'Count'
    metricMeasureColumn: null
    dimension: null
    operator: 'GreaterThan'
    threshold: 0
    windowSize: 'PT1H'
    frequency: 'PT15M'
    description: 'A call recording is still not archived 12 hours after it started (ACS deletes it after 24). Runbook: docs/operations.md, "A call recording that is not archived".'
  }
  {
    key: 'sweep-unsafe-threads'
    severity: 3
    query: loadTextContent('queries/sweep-unsafe.kql')
    timeAggregation: 'Count'
    metricMeasureColumn: null
    dimension: null
    operator: 'GreaterThan'
    threshold: 0
    windowSize: 'PT1H'
    frequency: 'PT15M'
    description: 'The sweep found threads it could not enqueue (ids unsafe for a blob name). Runbook: docs/operations.md, "Sweep could not enqueue threads".'
  }
  {
    key: 'seal-lag'
    severity: 2
    query: replace(loadTextContent('queries/seal-lag.kql'), '{{SEAL_LAG_MINUTES}}', string(sealLagMinutes))
    timeAggregation: 'Count'
    metricMeasureColumn: null
    dimension: null
    operator: 'GreaterThan'
    threshold: 0
    windowSize: 'PT1H'
    frequency: 'PT15M'
    description: 'The seal\'s cut-off trails the clock by more than ${sealLagMinutes} minutes: the change feed is late, or the seal is not keeping up. Runbook: docs/operations.md, "Seal or roll-up missing".'
  }
]

var sealAlerts = empty(sealFunctionName) ? [] : [
  {
    key: 'seal-missing'
    function: sealFunctionName
    windowSize: sealMissingWindow
    description: 'No successful run of ${sealFunctionName} in ${sealMissingWindow}. Runbook: docs/operations.md, "Seal or roll-up missing".'
  }
]
var rollupAlerts = empty(rollupFunctionName) ? [] : [
  {
    key: 'rollup-missing'
    function: rollupFunctionName
    windowSize: rollupMissingWindow
    description: 'No successful run of ${rollupFunctionName} in ${rollupMissingWindow}. Runbook: docs/operations.md, "Seal or roll-up missing".'
  }
]
var runAlerts = concat(sealAlerts, rollupAlerts)

resource logSearchAlerts 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [
  for alert in logAlerts: {
    name: '${namePrefix}-${alert.key}'
    location: location
    tags: tags
    kind: 'LogAlert'
    properties: {
      displayName: '${namePrefix}: ${alert.key}'
      description: alert.description
      severity: alert.severity
      enabled: true
      scopes: [
        applicationInsights.id
      ]
      evaluationFrequency: alert.frequency
      windowSize: alert.windowSize
      autoMitigate: true
      criteria: {
        allOf: [
          {
            query: alert.query
            timeAggregation: alert.timeAggregation
            metricMeasureColumn: alert.metricMeasureColumn
            dimensions: alert.dimension == null ? [] : [
              {
                name: alert.dimension
                operator: 'Include'
                values: [
                  '*'
                ]
              }
            ]
            operator: alert.operator
            threshold: alert.threshold
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      actions: actions
    }
  }
]

resource runMissingAlerts 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [
  for alert in runAlerts: {
    name: '${namePrefix}-${alert.key}'
    location: location
    tags: tags
    kind: 'LogAlert'
    properties: {
      displayName: '${namePrefix}: ${alert.key}'
      description: alert.description
      severity: 1
      enabled: true
      scopes: [
        applicationInsights.id
      ]
      evaluationFrequency: 'PT15M'
      windowSize: alert.windowSize
      autoMitigate: true
      criteria: {
        allOf: [
          {
            query: replace(loadTextContent('queries/function-runs.kql'), '{{FUNCTION}}', alert.function)
            timeAggregation: 'Count'
            operator: 'LessThan'
            threshold: 1
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      actions: actions
    }
  }
]

output actionGroupId string = actionGroup.id
output metricAlertCount int = length(topicMetricAlerts)
output logAlertCount int = length(logAlerts) + length(runAlerts)
