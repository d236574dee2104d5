/**
 * The analysis check names `rollout.critical` may list. config/ may not import analysis/, so the names are
 * mirrored here; test/config-validation.test.ts reads analysis/'s sources and keeps the two lists equal.
 */
export const CHECK_NAMES = [
  'slo.errorRate',
  'slo.successRate',
  'slo.p95',
  'slo.p99',
  'compare.errorRate',
  'compare.successRate',
  'compare.p95',
  'compare.p99',
  'compare.latency',
  'anomaly.canary.p95',
  'anomaly.canary.errorRate',
  'anomaly.canary.requestRate',
] as const;
