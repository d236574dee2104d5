/**
 * Synthetic WindowRecords for the judge's replay tests: deterministic (exact counts) or seeded-random
 * (binomial errors, lognormal latencies), built in the test so every expected verdict is reproducible.
 */
import { LATENCY_BUCKETS, latencyBucket, type WindowCounts, type WindowRecord, type VersionName } from '../../core/index.js';
import type { JudgeSettings } from '../../analysis/index.js';

export function emptyCounts(): WindowCounts {
  return { requests: 0, statusClass: [0, 0, 0, 0, 0], gatewayErrors: 0, latency: new Uint32Array(LATENCY_BUCKETS), latencySumMs: 0 };
}

/** Small seeded PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ArmSpec {
  requests: number;
  /** 5xx per window: exact count (deterministic mode) */
  errors?: number;
  /** 5xx probability per request (random mode) */
  errorRate?: number;
  /** latency: lognormal with this median (ms) and sigma 0.5 */
  medianMs?: number;
}

/** Exact counts: latencies spread over a fixed lognormal-like pattern so both arms can share a shape. */
export function exactCounts(requests: number, errors: number, medianMs = 50): WindowCounts {
  const c = emptyCounts();
  c.requests = requests;
  c.statusClass[1] = requests - errors;
  c.statusClass[4] = errors;
  // deterministic quantiles of a lognormal(σ = 0.5): request i sits at the (i + 0.5)/n quantile
  for (let i = 0; i < requests; i++) {
    const z = normalQuantile((i + 0.5) / requests);
    const ms = medianMs * Math.exp(0.5 * z);
    c.latency[latencyBucket(ms)]++;
    c.latencySumMs += ms;
  }
  return c;
}

export function randomCounts(r: () => number, requests: number, errorRate: number, medianMs = 50): WindowCounts {
  const c = emptyCounts();
  c.requests = requests;
  let e = 0;
  for (let i = 0; i < requests; i++) {
    if (r() < errorRate) e++;
    const u1 = r() || 1e-12;
    const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * r());
    const ms = medianMs * Math.exp(0.5 * z);
    c.latency[latencyBucket(ms)]++;
    c.latencySumMs += ms;
  }
  c.statusClass[1] = requests - e;
  c.statusClass[4] = e;
  return c;
}

export function windowOf(version: VersionName, i: number, clean: WindowCounts, faulted: WindowCounts = emptyCounts()): WindowRecord {
  return { version, start: i * 1000, durationMs: 1000, clean, faulted };
}

/** Acklam's rational approximation of Φ⁻¹ (enough for building test data). */
export function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
  );
}

export function settings(over: Partial<JudgeSettings> = {}): JudgeSettings {
  return {
    slo: { maxErrorRate: 0.01, maxP95Ms: 500, maxP99Ms: 1000, minSuccessRate: 0.99 },
    maxDegradation: 0.1,
    alpha: 0.002,
    scoring: { pass: 95, marginal: 75 },
    critical: ['slo.errorRate', 'compare.errorRate'],
    countFaulted: false,
    ...over,
  };
}
