/**
 * How long each step takes to promote a good canary at low traffic, with the exposure-scaled promote margin
 * against the fixed one — the cost of non-inferiority that docs/analysis.md ("Two margins") is about.
 *
 *   node dist/bench/analysis-margin.js [--runs 10] [--max-s 1800] [--peek 5]
 *
 * Each step of the default rollout ([5, 10, 25, 50, 75, 100], δ = 10 %, the analysis bench's SLO,
 * falseRollbackRate 1 %, α plan front, promote level equal) is judged on its own, from its start, on
 * stationary A/A traffic (Poisson arrivals, the bench's latency model, Bernoulli 5xx and 0.5 % 4xx on both
 * arms); the table gives the median seconds until the judge says pass + nonInferior, peeking every `peek`
 * seconds (so times are rounded up to it), and "> max" when the median run had not got there. A last table
 * measures the scaled promote floor on a clean service (0.01 % 5xx). Seeded; traffic only in memory.
 */
import {
  alphaForStep,
  judge,
  promotionMargin,
  promotionMarginBasis,
  type JudgeSettings,
  type PromotionMarginMode,
} from '../analysis/index.js';
import { LATENCY_BUCKETS, type WindowCounts, type WindowRecord } from '../core/index.js';
import { bucketProbs, Rng } from './analysis-sim.js';

const STEPS = [5, 10, 25, 50, 75, 100];
// the analysis bench's SLO for its simulated service (bench/analysis-bench.ts): no SLO breach on these rates
const SLO = { maxErrorRate: 0.02, maxP95Ms: 500, maxP99Ms: 1000, minSuccessRate: 0.97 };
const PROBS = new Float64Array(LATENCY_BUCKETS);
bucketProbs(PROBS, [[1, 1]]);
const EMPTY: WindowCounts = {
  requests: 0,
  statusClass: [0, 0, 0, 0, 0],
  gatewayErrors: 0,
  latency: new Uint32Array(LATENCY_BUCKETS),
  latencySumMs: 0,
};

function counts(rng: Rng, lambda: number, p5xx: number): WindowCounts {
  const latency = new Uint32Array(LATENCY_BUCKETS);
  let n = 0;
  for (let i = 0; i < LATENCY_BUCKETS; i++) {
    if (lambda * PROBS[i] < 1e-7) continue;
    latency[i] = rng.poisson(lambda * PROBS[i]);
    n += latency[i];
  }
  const e5 = rng.binomial(n, p5xx);
  const e4 = rng.binomial(n - e5, 0.005);
  return { requests: n, statusClass: [0, n - e5 - e4, 0, e4, e5], gatewayErrors: 0, latency, latencySumMs: 0 };
}

function settingsFor(step: number, mode: PromotionMarginMode, over: Partial<JudgeSettings> = {}): JudgeSettings {
  const m = { mode, cap: 10 };
  return {
    slo: SLO,
    maxDegradation: 0.1,
    promoteMaxDegradation: promotionMargin(0.1, STEPS, step, m),
    promoteMarginBasis: promotionMarginBasis(STEPS, step, m),
    alpha: alphaForStep(0.01, STEPS, step, 'front'),
    promoteAlpha: alphaForStep(0.01, STEPS, step, 'equal'),
    scoring: { pass: 95, marginal: 75 },
    critical: ['slo.errorRate', 'compare.errorRate'],
    countFaulted: false,
    ...over,
  };
}

/** Seconds (and canary requests) until the step's first pass + nonInferior, or null within maxS. */
function stepTime(
  seed: number,
  rate: number,
  p5xx: number,
  step: number,
  settings: JudgeSettings,
  maxS: number,
  peek: number,
): { s: number; n: number } | null {
  const rng = new Rng(seed);
  const w = STEPS[step] / 100;
  const baseline: WindowRecord[] = [];
  const canary: WindowRecord[] = [];
  let n = 0;
  for (let t = 0; t < maxS; t++) {
    baseline.push({ version: 'baseline', start: t * 1000, durationMs: 1000, clean: counts(rng, rate * (1 - w), p5xx), faulted: EMPTY });
    const c = counts(rng, rate * w, p5xx);
    n += c.requests;
    canary.push({ version: 'canary', start: t * 1000, durationMs: 1000, clean: c, faulted: EMPTY });
    if ((t + 1) % peek !== 0) continue;
    const r = judge({ at: (t + 1) * 1000, from: 0, baseline, canary }, settings);
    if (r.verdict === 'pass' && r.nonInferior) return { s: t + 1, n };
  }
  return null;
}

function median<T>(xs: (T | null)[], key: (x: T) => number): number | null {
  const v = xs.map((x) => (x === null ? Infinity : key(x))).sort((a, b) => a - b);
  const m = v[Math.floor((v.length - 1) / 2)];
  return Number.isFinite(m) ? m : null;
}

function main(): void {
  const argv = process.argv.slice(2);
  const get = (k: string, d: number): number => {
    const i = argv.indexOf(`--${k}`);
    return i >= 0 ? Number(argv[i + 1]) : d;
  };
  const runs = get('runs', 10);
  const maxS = get('max-s', 1800);
  const peek = get('peek', 5);
  const cases = [
    { name: "400 req/s, 0.5 % 5xx (the demo's traffic)", rate: 400, p: 0.005 },
    { name: '200 req/s, 1 % 5xx', rate: 200, p: 0.01 },
    { name: '2,000 req/s, 1 % 5xx', rate: 2000, p: 0.01 },
  ];
  const fmt = (x: number | null): string => (x === null ? `> ${maxS}` : Math.round(x).toLocaleString('en-US'));
  const out: string[] = [];
  out.push(
    `| traffic | promote margin | ${STEPS.slice(0, 5)
      .map((w) => `${w} %`)
      .join(' | ')} | all steps |`,
  );
  out.push(
    `|---|---|${STEPS.slice(0, 5)
      .map(() => '---:')
      .join('|')}|---:|`,
  );
  for (const c of cases) {
    for (const mode of ['exposure', 'fixed'] as const) {
      const cells: string[] = [];
      let total: number | null = 0;
      for (let k = 0; k < 5; k++) {
        const rs = Array.from({ length: runs }, (_, i) => stepTime(1000 * k + i + 1, c.rate, c.p, k, settingsFor(k, mode), maxS, peek));
        const s = median(rs, (r) => r.s);
        const n = median(rs, (r) => r.n);
        cells.push(s === null ? `> ${maxS} s` : `${fmt(s)} s (${fmt(n)} req.)`);
        total = total === null || s === null ? null : total + s;
      }
      out.push(`| ${c.name} | ${mode} | ${cells.join(' | ')} | ${total === null ? '–' : `${fmt(total)} s`} |`);
    }
  }
  console.log(out.join('\n'));
  console.log(
    `\nmedian seconds (canary requests) of ${runs} seeded runs until pass + nonInferior, each step judged alone from its start, peeking every ${peek} s, at most ${maxS} s; δ = 10 %, cap 10×, SLO 5xx ≤ 2 % / success ≥ 97 %, α front / promote level equal`,
  );

  // the scaled promote floor on a clean service, first step
  const clean: string[] = [
    '',
    '| clean service (0.01 % 5xx), 5 % of 2,000 req/s | median canary requests to compare.errorRate pass |',
    '|---|---:|',
  ];
  const floors: [string, Partial<JudgeSettings>][] = [
    ['promote floor scaled with the margin (2 %)', {}],
    ['promote floor = fail floor (0.2 %)', { errorRateFloor: 0.002, slo: { ...SLO, maxErrorRate: 0.002 } }],
  ];
  for (const [label, over] of floors) {
    const rs = Array.from({ length: runs }, (_, i) => {
      const rng = new Rng(500 + i);
      const baseline: WindowRecord[] = [];
      const canary: WindowRecord[] = [];
      let n = 0;
      for (let t = 0; t < maxS; t++) {
        baseline.push({ version: 'baseline', start: t * 1000, durationMs: 1000, clean: counts(rng, 1900, 0.0001), faulted: EMPTY });
        const cw = counts(rng, 100, 0.0001);
        n += cw.requests;
        canary.push({ version: 'canary', start: t * 1000, durationMs: 1000, clean: cw, faulted: EMPTY });
        if ((t + 1) % peek !== 0) continue;
        const r = judge({ at: (t + 1) * 1000, from: 0, baseline, canary }, settingsFor(0, 'exposure', over));
        if (r.checks.find((x) => x.name === 'compare.errorRate')?.status === 'pass') return { n };
      }
      return null;
    });
    clean.push(`| ${label} | ${fmt(median(rs, (r) => r.n))} |`);
  }
  console.log(clean.join('\n'));
}

main();
