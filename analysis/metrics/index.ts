/** Prometheus-backed checks, pure: query rendering, result reading, sample judging (docs/prometheus.md). */
export {
  judgeSample,
  metricCheck,
  metricCheckName,
  relativeDegradation,
  type MetricCheckSpec,
  type MetricDirection,
  type MetricSample,
  type SampleVerdict,
} from './check.js';
export { queryResultValue, type ArmValue, type ExpectedVersion } from './result.js';
export { checkQuery, expectedVersion, type QueryContext } from './query.js';
export { costCheck, versionCost, COST_CHECK, type CostPrices, type VersionCost, type VersionUsage } from './cost.js';
