/**
 * FinOps (docs/prometheus.md#finops): what a version costs, from the CPU cores and memory it uses and the
 * requests it serves (all read from Prometheus by the caller), and the `compare.costPerRequest` check: a
 * canary at least `maxDegradation` (default 20 %) costlier per request than the baseline is a regression,
 * like a slower one. Pure arithmetic; point-in-time evidence like every Prometheus-backed check.
 */
import type { CheckResult } from '../report.js';

export interface CostPrices {
  cpuCoreHour: number;
  /** per GiB (2^30 bytes) of working set, per hour */
  memoryGbHour: number;
  requestMillion: number;
}

export interface VersionUsage {
  cores: number;
  memoryBytes: number;
  requestsPerSecond: number;
}

export interface VersionCost {
  perHour: number;
  /** null without traffic: no requests to divide by */
  per1kRequests: number | null;
  perDay: number;
}

const GIB = 1024 ** 3;

export function versionCost(u: VersionUsage, p: CostPrices): VersionCost {
  const resources = u.cores * p.cpuCoreHour + (u.memoryBytes / GIB) * p.memoryGbHour;
  const requestsPerHour = u.requestsPerSecond * 3600;
  const perHour = resources + (requestsPerHour / 1e6) * p.requestMillion;
  return { perHour, per1kRequests: requestsPerHour > 0 ? (perHour / requestsPerHour) * 1000 : null, perDay: perHour * 24 };
}

export const COST_CHECK = 'compare.costPerRequest';

/** The check from both versions' costs (null: a version's usage could not be read, with the reason). */
export function costCheck(
  canary: VersionCost | { reason: string },
  baseline: VersionCost | { reason: string },
  o: { maxDegradation: number; critical: boolean; ageMs: number },
): CheckResult {
  const common = { name: COST_CHECK, kind: 'metric' as const, critical: o.critical, hard: false };
  const missing = 'reason' in canary ? `canary: ${canary.reason}` : 'reason' in baseline ? `baseline: ${baseline.reason}` : null;
  if (missing !== null)
    return {
      ...common,
      status: 'nodata',
      message: `${COST_CHECK}: no data (${missing})`,
      observed: null,
      threshold: o.maxDegradation,
      stats: { evidence: 'point-in-time' },
    };
  const c = (canary as VersionCost).per1kRequests;
  const b = (baseline as VersionCost).per1kRequests;
  if (c === null || b === null || b <= 0) {
    return {
      ...common,
      status: 'nodata',
      message: `${COST_CHECK}: no data (${c === null || b === null ? 'a version served no requests' : 'the baseline costs nothing'})`,
      observed: null,
      threshold: o.maxDegradation,
      stats: { evidence: 'point-in-time' },
    };
  }
  const d = c / b - 1;
  const fail = d >= o.maxDegradation;
  const pct = (x: number) => `${Math.round(x * 1000) / 10} %`;
  return {
    ...common,
    status: fail ? 'fail' : 'pass',
    message: `${COST_CHECK}: canary ${c.toPrecision(3)} vs baseline ${b.toPrecision(3)} per 1,000 requests: ${d >= 0 ? `${pct(d)} costlier` : `${pct(-d)} cheaper`}, ${fail ? 'at or over' : 'under'} the ${pct(o.maxDegradation)} allowed (point-in-time, ${Math.round(o.ageMs / 1000)} s old)`,
    observed: d,
    threshold: o.maxDegradation,
    stats: { evidence: 'point-in-time', canaryPer1k: c, baselinePer1k: b, degradation: d, ageMs: o.ageMs },
  };
}
