/**
 * Prometheus-backed checks (`rollout.metrics`): one sample of a PromQL query per version, judged against a
 * threshold range or against the baseline. Unlike the inline checks these are POINT-IN-TIME evidence: one
 * number per query, no sample size and no error bound, so they carry no false-rollback guarantee (the
 * judge's alpha budget does not cover them). Two rules stand in for one:
 *   - a check reports `fail` only after `failures` consecutive failing samples (default rollout.failureLimit);
 *     fewer report `marginal`, which holds the step without spending the failure budget;
 *   - no sample, a stale one, or one that could not be read is `nodata`, which holds: never a pass.
 * Pure functions: the controller (controller/prometheus.ts) owns the HTTP client, the timers and the streak.
 */
import type { CheckResult, CheckStatus } from '../report.js';
import type { ArmValue } from './result.js';

export type MetricDirection = 'lower-is-better' | 'higher-is-better';

export interface MetricCheckSpec {
  /** the config's name; the check is reported as `metric.<name>` */
  name: string;
  query: string;
  thresholdRange?: { min?: number; max?: number };
  compare?: { maxDegradation: number; direction: MetricDirection };
  critical: boolean;
  /** how often the query runs, ms */
  intervalMs: number;
  /** consecutive failing samples before the check reports fail */
  failures: number;
}

/** One evaluation of a check: the canary's value, and the baseline's when it compares. */
export interface MetricSample {
  /** epoch ms the queries were answered */
  at: number;
  canary: ArmValue;
  baseline?: ArmValue;
}

export interface SampleVerdict {
  status: Exclude<CheckStatus, 'marginal'>;
  /** the sentence after the check's name */
  detail: string;
  observed: number | null;
  threshold: number | null;
  stats: Record<string, number | string | boolean | null>;
}

export const metricCheckName = (name: string): string => `metric.${name}`;

const num = (v: number): string =>
  Math.abs(v) >= 1000 || v === Math.round(v) ? String(Math.round(v * 100) / 100) : Number(v.toPrecision(4)).toString();
const pct = (v: number): string => `${Math.round(v * 1000) / 10} %`;

/**
 * How much worse the canary is than the baseline, relative to the baseline (0.1 = 10 % worse; negative:
 * better). A zero baseline gives 0 when the canary is equal or better, +Infinity when it is worse.
 */
export function relativeDegradation(canary: number, baseline: number, direction: MetricDirection): number {
  const worse = direction === 'lower-is-better' ? canary - baseline : baseline - canary;
  if (baseline === 0) return worse > 0 ? Infinity : worse < 0 ? -Infinity : 0;
  return worse / Math.abs(baseline);
}

/** Judges one sample on its own: pass, fail, or nodata with the reason. */
export function judgeSample(spec: MetricCheckSpec, sample: MetricSample): SampleVerdict {
  const base = { evidence: 'point-in-time', sampledAt: sample.at } as const;
  if (!sample.canary.ok)
    return {
      status: 'nodata',
      detail: `no data for the canary: ${sample.canary.reason}`,
      observed: null,
      threshold: null,
      stats: { ...base },
    };
  const c = sample.canary.value;
  if (spec.compare) {
    const b = sample.baseline;
    if (b === undefined || !b.ok)
      return {
        status: 'nodata',
        detail: `no data for the baseline: ${b?.ok === false ? b.reason : 'not queried'}`,
        observed: c,
        threshold: null,
        stats: { ...base, canary: c },
      };
    const d = relativeDegradation(c, b.value, spec.compare.direction);
    const limit = spec.compare.maxDegradation;
    const fail = d > limit;
    const how = d === Infinity ? 'worse than a zero baseline' : d <= 0 ? `${pct(-d)} better` : `${pct(d)} worse`;
    return {
      status: fail ? 'fail' : 'pass',
      detail: `canary ${num(c)} vs baseline ${num(b.value)}: ${how} (${spec.compare.direction}), ${fail ? 'over' : 'within'} the ${pct(limit)} allowed`,
      observed: Number.isFinite(d) ? d : null,
      threshold: limit,
      stats: { ...base, canary: c, baseline: b.value, degradation: Number.isFinite(d) ? d : null, direction: spec.compare.direction },
    };
  }
  const { min, max } = spec.thresholdRange ?? {};
  const below = min !== undefined && c < min;
  const above = max !== undefined && c > max;
  const range = `[${min ?? '-∞'}, ${max ?? '∞'}]`;
  return {
    status: below || above ? 'fail' : 'pass',
    detail: `canary ${num(c)} ${below ? `below the minimum ${min}` : above ? `above the maximum ${max}` : `within ${range}`}`,
    observed: c,
    threshold: below ? min! : above ? max! : (max ?? min ?? null),
    stats: { ...base, canary: c, min: min ?? null, max: max ?? null },
  };
}

/**
 * The check as the judge sees it at `now`: the latest sample's verdict, turned into marginal while the
 * failing streak is shorter than spec.failures, and into nodata when the sample is missing or older than
 * `staleAfterMs`.
 */
export function metricCheck(
  spec: MetricCheckSpec,
  latest: { sample: MetricSample; verdict: SampleVerdict } | null,
  streak: number,
  now: number,
  staleAfterMs: number,
): CheckResult {
  const name = metricCheckName(spec.name);
  const common = { name, kind: 'metric' as const, critical: spec.critical, hard: false };
  if (latest === null) {
    return {
      ...common,
      status: 'nodata',
      message: `${name}: no data yet (point-in-time Prometheus check; the first query has not been answered)`,
      observed: null,
      threshold: null,
      stats: { evidence: 'point-in-time' },
    };
  }
  const age = now - latest.sample.at;
  if (age > staleAfterMs) {
    return {
      ...common,
      status: 'nodata',
      message: `${name}: no data: the last answer is ${Math.round(age / 1000)} s old (Prometheus not answering?)`,
      observed: null,
      threshold: null,
      stats: { ...latest.verdict.stats, ageMs: age },
    };
  }
  const v = latest.verdict;
  let status: CheckStatus = v.status;
  let tail = '';
  if (v.status === 'fail' && streak < spec.failures) {
    status = 'marginal';
    tail = `; failing sample ${streak} of ${spec.failures} before it fails (holding)`;
  } else if (v.status === 'fail') tail = `; ${streak} failing samples in a row`;
  return {
    ...common,
    status,
    message: `${name}: ${v.detail}${tail} (point-in-time, ${Math.round(age / 1000)} s old)`,
    observed: v.observed,
    threshold: v.threshold,
    stats: { ...v.stats, ageMs: age, failingSamples: streak, failuresToFail: spec.failures },
  };
}
