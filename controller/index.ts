/** The rollout controller: timers, persistence, audit, webhooks and metrics around the pure analysis core. */
export { RolloutController, type AnomalyFeed, type RolloutControllerOptions } from './controller.js';
export { RolloutMetrics } from './metrics.js';
export { WebhookRunner, type WebhookSpec, type WebhookType, type GateResult, type WebhookResult } from './webhooks.js';
export { RolloutAudit, AUDIT_FILE, ROLLOUT_FILE, type DecisionRecord, type RollbackRecord } from './audit.js';
export { machineSettings, judgeSettings, type RolloutConfig } from './settings.js';
export { FinopsCosts } from './finops.js';
export {
  PrometheusClient,
  PrometheusChecks,
  metricCheckSpecs,
  prometheusChecksFor,
  queryContext,
  type MetricCheckFeed,
  type PrometheusSettings,
  type QueryAnswer,
} from './prometheus.js';
export { OperatorCommands, type CommandFleet } from './commands.js';
export { busEventsToWebhooks } from './bus-webhooks.js';
