/**
 * The always-valid machinery under the judge, checked by simulation with fixed seeds: confidence sequences
 * keep their time-uniform coverage however often they are peeked at, and the judge peeked at every window
 * of a step keeps P(fail) and P(promote) at the margin within α (binomial bounds on the counts).
 */
import t from 'tap';
import { judge } from '../analysis/index.js';
import { lgamma } from '../analysis/judge/special.js';
import { beyond, exactRankRange, proportionCS, quantileRankRange } from '../analysis/judge/sequential.js';
import type { WindowRecord } from '../core/index.js';
import type { JudgeSettings } from '../analysis/index.js';
import { randomCounts, rng, settings, windowOf } from './helpers/windows.js';

/** upper 99.9 % point of Binomial(n, p) by the normal approximation with continuity correction */
const binomialUpper = (n: number, p: number): number => Math.ceil(n * p + 3.09 * Math.sqrt(n * p * (1 - p)) + 0.5);

t.test('lgamma matches known values and is continuous where Stirling takes over from Lanczos', async (t) => {
  t.ok(Math.abs(lgamma(0.5) - 0.5723649429247001) < 1e-12);
  t.ok(Math.abs(lgamma(1)) < 1e-12);
  t.ok(Math.abs(lgamma(10) - 12.801827480081469) < 1e-11);
  t.ok(Math.abs(lgamma(171.5) - 709.1431630309282) < 1e-9);
  t.ok(Math.abs(lgamma(1e6 + 0.5) - 12815511.476902764) < 1e-6);
  const h = 1e-6; // d/dx lnΓ(10) = ψ(10)
  t.ok(Math.abs(lgamma(10 + h) - lgamma(10 - h) - 2 * h * 2.251752589066721) < 1e-9);
});

t.test('the beta-binomial confidence sequence covers the true rate at every peek (time-uniform)', async (t) => {
  const alpha = 0.05;
  const p = 0.03;
  const r = rng(11);
  let missed = 0;
  const runs = 400;
  for (let k = 0; k < runs; k++) {
    let s = 0;
    for (let n = 1; n <= 3000; n++) {
      if (r() < p) s++;
      if (beyond(s, n, p, alpha) !== 0) {
        missed++;
        break;
      }
    }
  }
  t.ok(missed <= binomialUpper(runs, alpha), `${missed} of ${runs} sequences ever excluded p (α = ${alpha})`);
  // the interval form agrees with the single-evaluation form
  const cs = proportionCS(30, 1000, 0.01);
  t.ok(cs.lo < 0.03 && 0.03 < cs.hi);
  t.equal(beyond(30, 1000, cs.lo * 0.99, 0.01), 1);
  t.equal(beyond(30, 1000, cs.hi * 1.01, 0.01), -1);
  t.equal(beyond(30, 1000, 0.03, 0.01), 0);
});

t.test('quantile rank radii grow with t, and the memoised grid range contains the exact one', async (t) => {
  for (const [q, a] of [
    [0.95, 0.0003],
    [0.99, 0.0014],
    [0.95, 0.002],
  ] as const) {
    let prevLo = 0;
    let prevHi = 0;
    for (let tt = 300; tt < 3e6; tt = Math.ceil(tt * 1.01)) {
      const ex = exactRankRange(tt, q, a);
      const dLo = ex.lo < 0 ? Infinity : tt * q - ex.lo;
      const dHi = ex.hi > tt ? Infinity : ex.hi - tt * q;
      // "no limit yet" (∞) may turn finite; among finite radii none may shrink
      if ((Number.isFinite(prevLo) && dLo < prevLo - 1e-6) || (Number.isFinite(prevHi) && dHi < prevHi - 1e-6))
        t.fail(`radius shrank at t=${tt} (q ${q}, α ${a})`);
      prevLo = dLo;
      prevHi = dHi;
    }
    for (const tt of [257, 1000, 12345, 999_999]) {
      const ex = exactRankRange(tt, q, a);
      const gr = quantileRankRange(tt, q, a);
      t.ok(gr.lo <= ex.lo + 1e-9 && gr.hi >= ex.hi - 1e-9, `grid contains exact at t=${tt}, q=${q}`);
      t.ok(ex.lo - gr.lo < 0.01 * (tt * q - ex.lo) + 1, 'and is at most ~1 % wider');
    }
  }
});

/**
 * One step of `windows` windows, peeked at every window; returns whether any peek said fail / promoted, and
 * which comparisons were ever shown within the promote margin by their own test (whatever the fail side
 * said at the time: the false-promotion event of each test on its own).
 */
function step(
  seed: number,
  windows: number,
  canary: { errorRate: number; medianMs: number },
  alpha: number,
  over: Partial<JudgeSettings> = {},
): { failed: boolean; promoted: boolean; shownWithin: Set<string> } {
  const r = rng(seed);
  const baseline: WindowRecord[] = [];
  const canaryW: WindowRecord[] = [];
  let failed = false;
  let promoted = false;
  const shownWithin = new Set<string>();
  for (let i = 0; i < windows; i++) {
    baseline.push(windowOf('baseline', i, randomCounts(r, 200, 0.02, 50)));
    canaryW.push(windowOf('canary', i, randomCounts(r, 50, canary.errorRate, canary.medianMs)));
    const rep = judge(
      { at: (i + 1) * 1000, from: 0, baseline, canary: canaryW },
      settings({ alpha, slo: { maxErrorRate: 0.05, maxP95Ms: 500, maxP99Ms: 1000, minSuccessRate: 0.95 }, ...over }),
    );
    if (rep.verdict === 'fail' || rep.hardBreach) failed = true;
    if (rep.verdict === 'pass' && rep.nonInferior) promoted = true;
    for (const c of rep.checks) {
      const st = c.stats;
      if (c.kind !== 'comparison' || !st || c.status === 'nodata') continue;
      const k = st.promoteMarginRatio as number;
      const within =
        c.name === 'compare.p95' || c.name === 'compare.p99'
          ? typeof st.niCanaryHiMs === 'number' && st.niCanaryHiMs < k * (st.niBaselineLoMs as number) // null: an unbounded upper end
          : c.name === 'compare.latency'
            ? typeof st.niHiRatio === 'number' && st.niHiRatio < k
            : (st.niEvidence as number) >= (st.niBoundary as number) || st.floorNiShown === true;
      if (within) shownWithin.add(c.name);
    }
  }
  return { failed, promoted, shownWithin };
}

t.test('peeked at every window, a canary exactly at the margin fails and is promoted within α', async (t) => {
  // canary 10 % worse on every metric: 5xx 2.2 % vs 2 %, latency ×1.1 — the least favourable good canary
  const alpha = 0.05;
  const runs = 300;
  let fails = 0;
  let promotions = 0;
  for (let k = 0; k < runs; k++) {
    const s = step(1000 + k, 60, { errorRate: 0.022, medianMs: 55 }, alpha);
    if (s.failed) fails++;
    if (s.promoted) promotions++;
  }
  const bound = binomialUpper(runs, alpha);
  t.ok(fails <= bound, `${fails} of ${runs} steps ever failed (bound ${bound} for α = ${alpha})`);
  t.ok(promotions <= bound, `${promotions} of ${runs} steps ever promoted (bound ${bound})`);
});

t.test('peeked at every window, an identical canary almost never fails', async (t) => {
  const alpha = 0.05;
  const runs = 150;
  let fails = 0;
  for (let k = 0; k < runs; k++) if (step(5000 + k, 60, { errorRate: 0.02, medianMs: 50 }, alpha).failed) fails++;
  t.ok(fails <= binomialUpper(runs, alpha), `${fails} of ${runs} A/A steps ever failed`);
});

t.test('with a promote margin wider than the fail margin, both sides still hold their α', async (t) => {
  const alpha = 0.05;
  const runs = 200;
  const bound = binomialUpper(runs, alpha);
  // at the fail margin (10 % worse): failing is the error to bound, and the promote margin (50 %) must not change it
  let fails = 0;
  for (let k = 0; k < runs; k++)
    if (step(1000 + k, 60, { errorRate: 0.022, medianMs: 55 }, alpha, { promoteMaxDegradation: 0.5 }).failed) fails++;
  t.ok(fails <= bound, `${fails} of ${runs} steps at the fail margin ever failed (bound ${bound})`);
  // exactly at the promote margin (50 % worse on every metric): each comparison's test may show it within
  // the promote margin with probability ≤ α, even though the fail side fails it
  const shown = new Map<string, number>();
  for (let k = 0; k < runs; k++)
    for (const n of step(7000 + k, 60, { errorRate: 0.03, medianMs: 75 }, alpha, {
      promoteMaxDegradation: 0.5,
      errorRateFloor: 0.001,
      nonSuccessFloor: 0.001,
    }).shownWithin)
      shown.set(n, (shown.get(n) ?? 0) + 1);
  for (const n of ['compare.errorRate', 'compare.successRate', 'compare.p95', 'compare.p99', 'compare.latency']) {
    const k = shown.get(n) ?? 0;
    t.ok(k <= bound, `${n}: ${k} of ${runs} steps at the promote margin ever shown within it (bound ${bound})`);
  }
});
