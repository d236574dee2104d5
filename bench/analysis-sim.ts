/**
 * Rollout traffic simulator for the analysis benchmark: per-second WindowRecords for both arms, drawn
 * bucket by bucket (a Poisson count per latency bucket, so 10,000 req/s costs the same as 10), from
 *  - a heavy-tailed latency model: lognormal body (median 40 ms, σ 0.45) with a 4 % Pareto tail
 *    (x_m 80 ms, shape 2.2) — p95 ≈ 95 ms, p99 ≈ 150 ms;
 *  - a shared environment: diurnal-like rate swings (±30 % over an hour), slow drift of latency (±10 %)
 *    and error rate (±20 %), and error/latency bursts (one every ~5 min, 5–30 s, errors ×3–10, latency
 *    ×1.3–2.5) that hit both arms alike;
 *  - the canary's regression on top (error ratio, added error share, latency scale, or one endpoint).
 * Seeded (sfc32), so every rollout is reproducible from (seed, scenario, index).
 */
import { LATENCY_BOUNDS_MS, LATENCY_BUCKETS, type WindowCounts, type WindowRecord } from '../core/index.js';

export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  #spare = NaN;
  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = next();
    this.#b = next();
    this.#c = next();
    this.#d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }
  u32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t;
  }
  /** uniform in (0, 1) */
  next(): number {
    return (this.u32() + 0.5) / 4294967296;
  }
  normal(): number {
    if (!Number.isNaN(this.#spare)) {
      const v = this.#spare;
      this.#spare = NaN;
      return v;
    }
    const r = Math.sqrt(-2 * Math.log(this.next()));
    const th = 2 * Math.PI * this.next();
    this.#spare = r * Math.sin(th);
    return r * Math.cos(th);
  }
  poisson(lambda: number): number {
    if (!(lambda > 0)) return 0;
    if (lambda < 30) {
      let k = 0;
      let p = Math.exp(-lambda);
      let cum = p;
      const u = this.next();
      while (u > cum && k < 1000) {
        k++;
        p *= lambda / k;
        cum += p;
      }
      return k;
    }
    return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * this.normal()));
  }
  binomial(n: number, p: number): number {
    if (n <= 0 || p <= 0) return 0;
    if (p >= 1) return n;
    const mean = n * p;
    if (mean * (1 - p) >= 30) return Math.min(n, Math.max(0, Math.round(mean + Math.sqrt(mean * (1 - p)) * this.normal())));
    // inversion with the recursive pmf
    const q = 1 - p;
    let pk = Math.pow(q, n);
    let cum = pk;
    let k = 0;
    const u = this.next();
    while (u > cum && k < n) {
      pk *= ((n - k) / (k + 1)) * (p / q);
      k++;
      cum += pk;
    }
    return k;
  }
}

// ---- latency model ----
const BODY_MEDIAN = 40;
const BODY_SIGMA = 0.45;
const TAIL_SHARE = 0.04;
const TAIL_XM = 80;
const TAIL_SHAPE = 2.2;

function phi(z: number): number {
  // Φ via erfc (Abramowitz–Stegun 7.1.26 is too coarse in the tail; use W. J. Cody-style rational erfc)
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * x);
  const r =
    t *
    Math.exp(
      -x * x -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return z >= 0 ? 1 - r / 2 : r / 2;
}

/** CDF of the base latency model at x ms, latency scaled by m. */
export function latencyCdf(x: number, m: number): number {
  if (!(x > 0)) return 0;
  if (x === Infinity) return 1;
  const y = x / m;
  const body = phi((Math.log(y) - Math.log(BODY_MEDIAN)) / BODY_SIGMA);
  const tail = y > TAIL_XM ? 1 - Math.pow(TAIL_XM / y, TAIL_SHAPE) : 0;
  return (1 - TAIL_SHARE) * body + TAIL_SHARE * tail;
}

/** Bucket probabilities of a mixture of scaled base models: [weight, scale] pairs. */
export function bucketProbs(out: Float64Array, parts: readonly (readonly [number, number])[]): void {
  let prev = 0;
  for (let i = 0; i < LATENCY_BUCKETS; i++) {
    let f = 0;
    for (const [w, m] of parts) f += w * latencyCdf(LATENCY_BOUNDS_MS[i], m);
    out[i] = Math.max(0, f - prev);
    prev = f;
  }
}

// ---- scenarios ----
export interface Scenario {
  name: string;
  /** 'good' (within the margin), 'margin' (exactly at it), 'bad' (beyond it) */
  kind: 'good' | 'margin' | 'bad';
  errorRatio?: number;
  errorAdd?: number;
  latencyScale?: number;
  /** one endpoint: this share of canary requests is `endpointScale`× slower and has `endpointErrorAdd` more errors */
  endpointShare?: number;
  endpointScale?: number;
  endpointErrorAdd?: number;
}

/** The bench's scenarios (bench/analysis-bench.ts runs them; scripts may import them from here). */
export const SCENARIOS: Scenario[] = [
  { name: 'A/A', kind: 'good' },
  { name: 'near-margin good (+3 % latency, ×1.03 errors)', kind: 'good', latencyScale: 1.03, errorRatio: 1.03 },
  { name: '+10 % p95 (at the margin)', kind: 'margin', latencyScale: 1.1 },
  { name: '+20 % p95', kind: 'bad', latencyScale: 1.2 },
  { name: '+0.5 pp errors', kind: 'bad', errorAdd: 0.005 },
  { name: '2× errors', kind: 'bad', errorRatio: 2 },
  { name: '+100 % latency', kind: 'bad', latencyScale: 2 },
  { name: 'one endpoint (10 %: 3× slower, +5 pp errors)', kind: 'bad', endpointShare: 0.1, endpointScale: 3, endpointErrorAdd: 0.05 },
  // appended (seeds follow the scenario's index): a mild regression, within the exposure-scaled promote
  // margin of the first three steps (1.25 < 1.3), beyond it from the 50 % step on
  { name: '×1.25 errors', kind: 'bad', errorRatio: 1.25 },
];

export const BASE_ERROR_RATE = 0.01;
export const BASE_4XX_RATE = 0.005;

export interface Environment {
  rng: Rng;
  /** histograms are cut from one buffer per rollout (views share it: no backing store per window) */
  pool: Uint32Array;
  poolAt: number;
  rate: number;
  phase: [number, number, number];
  burstUntil: number;
  burstError: number;
  burstLatency: number;
}

export function newEnvironment(seed: number, rate: number): Environment {
  const rng = new Rng(seed);
  return {
    rng,
    rate,
    pool: new Uint32Array(0),
    poolAt: 0,
    phase: [rng.next() * 6.283, rng.next() * 6.283, rng.next() * 6.283],
    burstUntil: -1,
    burstError: 1,
    burstLatency: 1,
  };
}

const EMPTY: WindowCounts = {
  requests: 0,
  statusClass: [0, 0, 0, 0, 0],
  gatewayErrors: 0,
  latency: new Uint32Array(LATENCY_BUCKETS),
  latencySumMs: 0,
};
const PROBS = new Float64Array(LATENCY_BUCKETS);
const MIDS = Float64Array.from({ length: LATENCY_BUCKETS }, (_, i) =>
  i === 0
    ? LATENCY_BOUNDS_MS[0] / 2
    : i === LATENCY_BUCKETS - 1
      ? LATENCY_BOUNDS_MS[i - 1] * 1.09
      : Math.sqrt(LATENCY_BOUNDS_MS[i - 1] * LATENCY_BOUNDS_MS[i]),
);

function draw(
  env: Environment,
  version: 'baseline' | 'canary',
  start: number,
  lambda: number,
  errorRate: number,
  parts: readonly (readonly [number, number])[],
): WindowRecord {
  const rng = env.rng;
  bucketProbs(PROBS, parts);
  if (env.poolAt + LATENCY_BUCKETS > env.pool.length) {
    env.pool = new Uint32Array(LATENCY_BUCKETS * 4096);
    env.poolAt = 0;
  }
  const latency = env.pool.subarray(env.poolAt, env.poolAt + LATENCY_BUCKETS);
  env.poolAt += LATENCY_BUCKETS;
  let n = 0;
  let sum = 0;
  for (let i = 0; i < LATENCY_BUCKETS; i++) {
    const l = lambda * PROBS[i];
    if (l < 1e-7) continue;
    const k = rng.poisson(l);
    latency[i] = k;
    n += k;
    sum += k * MIDS[i];
  }
  const e5 = rng.binomial(n, Math.min(1, errorRate));
  const e4 = rng.binomial(n - e5, BASE_4XX_RATE);
  const gw = rng.binomial(e5, 0.2);
  return {
    version,
    start,
    durationMs: 1000,
    clean: { requests: n, statusClass: [0, n - e5 - e4, 0, e4, e5], gatewayErrors: gw, latency, latencySumMs: sum },
    faulted: EMPTY,
  };
}

/** Both arms' windows for second `t` (from the rollout start) at canary weight `weightPct`. */
export function simulateSecond(
  env: Environment,
  sc: Scenario,
  t: number,
  weightPct: number,
): { baseline: WindowRecord; canary: WindowRecord } {
  const rng = env.rng;
  if (t >= env.burstUntil && rng.next() < 1 / 300) {
    env.burstUntil = t + 5 + rng.next() * 25;
    env.burstError = 3 + rng.next() * 7;
    env.burstLatency = 1.3 + rng.next() * 1.2;
  }
  const inBurst = t < env.burstUntil;
  const rate = env.rate * (1 + 0.3 * Math.sin((2 * Math.PI * t) / 3600 + env.phase[0]));
  const lat = Math.exp(0.1 * Math.sin((2 * Math.PI * t) / 1800 + env.phase[1])) * (inBurst ? env.burstLatency : 1);
  const err = BASE_ERROR_RATE * Math.exp(0.2 * Math.sin((2 * Math.PI * t) / 2400 + env.phase[2])) * (inBurst ? env.burstError : 1);
  const w = weightPct / 100;
  const start = t * 1000;
  const baseline = draw(env, 'baseline', start, rate * (1 - w), err, [[1, lat]]);
  const ls = sc.latencyScale ?? 1;
  let cErr = err * (sc.errorRatio ?? 1) + (sc.errorAdd ?? 0);
  let parts: (readonly [number, number])[] = [[1, lat * ls]];
  if (sc.endpointShare) {
    parts = [
      [1 - sc.endpointShare, lat * ls],
      [sc.endpointShare, lat * ls * (sc.endpointScale ?? 1)],
    ];
    cErr += sc.endpointShare * (sc.endpointErrorAdd ?? 0);
  }
  const canary = draw(env, 'canary', start, rate * w, cErr, parts);
  return { baseline, canary };
}
