/**
 * A small, seeded generator of per-second WindowRecords for both versions — the in-process record's shape —
 * so the anomaly monitor can be replayed on realistic rollout traffic: Poisson arrivals split by the canary
 * weight, log-normal latency with a slow tail, Bernoulli 5xx, a slow rate drift, and optional events
 * (a shared slowdown of both versions, a canary-only regression from some second on). Used by the anomaly
 * bench (false holds on A/A traffic, detection of regressions) and by test/anomaly-monitor.test.ts.
 */
import { emptyHistogram, latencyBucket, type VersionName, type WindowCounts, type WindowRecord } from '../core/index.js';

export interface TrafficProfile {
  /** requests per second to both versions together */
  rps: number;
  medianMs: number;
  /** σ of log latency */
  sigma: number;
  /** share of requests 5× slower (the tail) */
  tail: number;
  errorRate: number;
  /** relative amplitude of a sinusoidal rate drift over `driftPeriodS` */
  drift?: number;
  driftPeriodS?: number;
}

export interface TrafficEvent {
  from: number;
  to: number;
  /** which versions it hits */
  versions: readonly VersionName[];
  latencyFactor?: number;
  /** multiplies the log-normal σ of latency (a variance increase: same median, longer tail) */
  sigmaFactor?: number;
  errorRate?: number;
}

/** xorshift-style 32-bit generator: same seed, same traffic. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0 || 1;
  }
  next(): number {
    let x = this.#s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#s = x >>> 0;
    return this.#s / 4294967296;
  }
  normal(): number {
    return Math.sqrt(-2 * Math.log(this.next() + 1e-300)) * Math.cos(2 * Math.PI * this.next());
  }
  poisson(mean: number): number {
    if (mean > 40) return Math.max(0, Math.round(mean + Math.sqrt(mean) * this.normal()));
    let k = 0;
    let p = Math.exp(-mean);
    let s = p;
    const u = this.next();
    while (u > s && k < 1000) {
      k++;
      p *= mean / k;
      s += p;
    }
    return k;
  }
}

function emptyCounts(): WindowCounts {
  return { requests: 0, statusClass: [0, 0, 0, 0, 0], gatewayErrors: 0, latency: emptyHistogram(), latencySumMs: 0 };
}

/** One second of traffic for both versions, starting at epoch ms `start`. */
export function trafficSecond(
  rng: Rng,
  start: number,
  second: number,
  canaryWeight: number,
  p: TrafficProfile,
  events: readonly TrafficEvent[] = [],
): Record<VersionName, WindowRecord> {
  const drift = 1 + (p.drift ?? 0) * Math.sin((2 * Math.PI * second) / (p.driftPeriodS ?? 3600));
  const out = {} as Record<VersionName, WindowRecord>;
  for (const version of ['baseline', 'canary'] as const) {
    const share = version === 'canary' ? canaryWeight / 100 : 1 - canaryWeight / 100;
    const clean = emptyCounts();
    let factor = 1;
    let sigma = p.sigma;
    let errorRate = p.errorRate;
    for (const e of events) {
      if (second >= e.from && second < e.to && e.versions.includes(version)) {
        factor *= e.latencyFactor ?? 1;
        sigma *= e.sigmaFactor ?? 1;
        if (e.errorRate !== undefined) errorRate = e.errorRate;
      }
    }
    const n = rng.poisson(p.rps * drift * share);
    for (let i = 0; i < n; i++) {
      let ms = p.medianMs * factor * Math.exp(sigma * rng.normal());
      if (rng.next() < p.tail) ms *= 5;
      clean.requests++;
      clean.latency[latencyBucket(ms)]++;
      clean.latencySumMs += ms;
      clean.statusClass[rng.next() < errorRate ? 4 : 1]++;
    }
    out[version] = { version, start, durationMs: 1000, clean, faulted: emptyCounts() };
  }
  return out;
}
