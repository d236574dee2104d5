/**
 * Replay tests of the judge (analysis/judge/): each check and classification on synthetic WindowRecords
 * built here, the hard breach, missing data, shared SLO breaches, faults, reproducibility and a golden case.
 * The sequential bound itself is checked by simulation in analysis-sequential.test.ts.
 */
import t from 'tap';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { judge, type AnalysisReport, type CheckResult } from '../analysis/index.js';
import type { WindowRecord } from '../core/index.js';
import { emptyCounts, exactCounts, randomCounts, rng, settings, windowOf } from './helpers/windows.js';

function series(
  n: number,
  make: (i: number) => { b: ReturnType<typeof exactCounts>; c: ReturnType<typeof exactCounts>; cf?: ReturnType<typeof exactCounts> },
): { baseline: WindowRecord[]; canary: WindowRecord[] } {
  const baseline: WindowRecord[] = [];
  const canary: WindowRecord[] = [];
  for (let i = 0; i < n; i++) {
    const w = make(i);
    baseline.push(windowOf('baseline', i, w.b));
    canary.push(windowOf('canary', i, w.c, w.cf));
  }
  return { baseline, canary };
}

const run = (s: { baseline: WindowRecord[]; canary: WindowRecord[] }, over = {}): AnalysisReport =>
  judge({ at: s.baseline.length * 1000, from: 0, baseline: s.baseline, canary: s.canary }, settings(over));
const check = (r: AnalysisReport, name: string): CheckResult => {
  const c = r.checks.find((x) => x.name === name);
  if (!c) throw new Error(`no check ${name}`);
  return c;
};

t.test('a canary with 10× the baseline 5xx rate fails compare.errorRate (critical) and the verdict', async (t) => {
  const s = series(60, () => ({ b: exactCounts(1000, 10), c: exactCounts(100, 10) }));
  const r = run(s);
  t.equal(check(r, 'compare.errorRate').status, 'fail');
  t.equal(check(r, 'compare.errorRate').critical, true);
  t.equal(r.verdict, 'fail');
  t.equal(r.nonInferior, false);
  t.equal(r.moreCanaryRequestsNeeded, null, 'a verdict exists');
  const st = check(r, 'compare.errorRate').stats!;
  t.equal(st.canaryN, 6000);
  t.equal(st.baselineN, 60000);
  t.ok((st.failEvidenceMax as number) >= (st.failBoundary as number), 'evidence crossed the boundary');
  t.type(st.crossedAt, 'number', 'the window where it crossed is recorded');
  t.match(r.reasons.join('\n'), /compare\.errorRate: canary 5xx rate 10\.00 % vs baseline 1\.00 % \(n=6,000 vs 60,000\)/);
});

t.test('an identical canary with ample data is shown non-inferior on every comparison and passes', async (t) => {
  // no errors: the error comparisons are decided through the absolute floor (δ·maxErrorRate = 0.1 %)
  const s = series(100, () => ({ b: exactCounts(2000, 0), c: exactCounts(200, 0) }));
  const r = run(s);
  for (const c of r.checks.filter((c) => c.kind === 'comparison')) t.equal(c.status, 'pass', c.message);
  for (const c of r.checks.filter((c) => c.kind === 'slo')) t.equal(c.status, 'pass', c.message);
  t.equal(r.nonInferior, true);
  t.equal(r.verdict, 'pass');
  t.equal(r.score, 100);
  t.equal(r.hardBreach, false);
  t.equal(r.moreCanaryRequestsNeeded, null);
});

t.test('a canary twice as slow fails the latency comparisons and, by score, the verdict', async (t) => {
  const s = series(60, () => ({ b: exactCounts(1000, 0, 50), c: exactCounts(100, 0, 100) }));
  const r = run(s);
  for (const n of ['compare.p95', 'compare.p99', 'compare.latency']) t.equal(check(r, n).status, 'fail', check(r, n).message);
  t.ok(Math.abs((check(r, 'compare.latency').stats!.shiftRatio as number) - 2) < 0.1, 'Hodges–Lehmann shift ≈ 2×');
  t.ok(r.score! < 75);
  t.equal(r.verdict, 'fail');
  t.equal(r.hardBreach, false, 'p95 200 ms is within the 500 ms SLO: no hard breach');
});

t.test('a non-critical failure with the score at or above marginal does not fail the verdict', async (t) => {
  // only the tail is worse: p99 regresses, the rest is identical → 1 fail of 5 comparisons, score ≥ 75 if the others pass
  const s = series(100, (i) => {
    const b = exactCounts(2000, 0, 50);
    const c = exactCounts(200, 0, 50);
    // move the canary's slowest 2 % to 4× their latency
    const moved = c.latency.slice();
    let left = 4;
    for (let k = moved.length - 1; k >= 0 && left > 0; k--) {
      const take = Math.min(moved[k], left);
      moved[k] -= take;
      moved[Math.min(moved.length - 1, k + 16)] += take;
      left -= take;
    }
    c.latency.set(moved);
    return { b, c, i };
  });
  const r = run(s);
  t.equal(check(r, 'compare.p99').status, 'fail', check(r, 'compare.p99').message);
  t.equal(check(r, 'compare.p99').critical, false);
  t.not(r.verdict, 'fail', `score ${r.score}`);
  t.not(r.verdict, 'pass');
  t.equal(r.nonInferior, false);
  const critical = run(s, { critical: ['compare.p99'] });
  t.equal(critical.verdict, 'fail', 'made critical, the same failure fails the run on its own');
});

t.test('near-empty data is inconclusive, never fail or promote, and says how many requests are needed', async (t) => {
  for (const n of [0, 1, 3]) {
    const s = series(n, () => ({ b: exactCounts(20, 1), c: exactCounts(1, 1) }));
    const r = judge({ at: Math.max(1, n) * 1000, from: 0, baseline: s.baseline, canary: s.canary }, settings());
    t.equal(r.verdict, 'inconclusive', `${n} windows`);
    t.equal(r.hardBreach, false);
    t.equal(r.nonInferior, false);
    t.type(r.moreCanaryRequestsNeeded, 'number');
    t.ok(r.moreCanaryRequestsNeeded! > 0, `needs more (${r.moreCanaryRequestsNeeded})`);
  }
  const none = judge({ at: 1000, from: 0, baseline: [], canary: [] }, settings());
  t.equal(none.score, null);
  t.equal(none.arms.canary.requests, 0);
  t.equal(none.arms.canary.errorRate, null);
  t.ok(none.checks.every((c) => c.status === 'nodata'));
});

t.test('a 20 %-error canary at 5 % weight (5 req/s) is a hard breach within a few seconds', async (t) => {
  const r0 = rng(42);
  const baseline: WindowRecord[] = [];
  const canary: WindowRecord[] = [];
  let hardAt = -1;
  for (let i = 0; i < 30 && hardAt < 0; i++) {
    baseline.push(windowOf('baseline', i, randomCounts(r0, 95, 0.01)));
    canary.push(windowOf('canary', i, randomCounts(r0, 5, 0.2)));
    const r = judge({ at: (i + 1) * 1000, from: 0, baseline, canary }, settings());
    if (r.hardBreach) {
      hardAt = i + 1;
      t.equal(r.verdict, 'fail');
      const slo = check(r, 'slo.errorRate');
      t.equal(slo.hard, true);
      t.equal(slo.status, 'fail');
      t.ok((slo.stats!.lo as number) > 0.02, 'lower bound beyond 2× the 1 % limit');
      t.match(r.reasons[0], /hard breach/);
    }
  }
  t.ok(hardAt > 0 && hardAt <= 15, `hard breach after ${hardAt} windows (≤ 15)`);
});

t.test('an SLO breach the baseline shares holds the step and never counts against the canary', async (t) => {
  const s = series(120, () => ({ b: exactCounts(1000, 50), c: exactCounts(100, 5) }));
  const r = run(s);
  const slo = check(r, 'slo.errorRate');
  t.equal(slo.status, 'marginal', slo.message);
  t.equal(slo.stats!.shared, true);
  t.equal(slo.hard, false);
  t.match(slo.message, /baseline shares it/);
  t.not(r.verdict, 'fail');
  t.not(r.verdict, 'pass', 'held: no promotion during an environment-wide breach');
  t.equal(r.hardBreach, false);
  t.match(r.reasons[0], /held by slo\.errorRate/);
});

t.test('a shared SLO breach that is over (a burst earlier in the step) no longer holds', async (t) => {
  const s = series(160, (i) => ({ b: exactCounts(2000, i < 10 ? 200 : 0), c: exactCounts(200, i < 10 ? 20 : 0) }));
  const r = run(s, { slo: { maxErrorRate: 0.002, maxP95Ms: 500, maxP99Ms: 1000, minSuccessRate: 0.99 } });
  const slo = check(r, 'slo.errorRate');
  t.equal(slo.stats!.shared, true, slo.message);
  t.equal(slo.stats!.current, false);
  t.equal(slo.status, 'nodata');
  t.match(slo.message, /over in the last 60 s: not holding/);
  t.notMatch(r.reasons[0], /held by slo\.errorRate/);
  const held = run(s, { slo: { maxErrorRate: 0.002, maxP95Ms: 500, maxP99Ms: 1000, minSuccessRate: 0.99 }, sloHoldWindowMs: 200_000 });
  t.equal(check(held, 'slo.errorRate').status, 'marginal', 'with a hold window reaching back into the burst it holds');
});

t.test('fault-touched requests are left out unless countFaulted, and always counted apart', async (t) => {
  const s = series(60, () => ({ b: exactCounts(1000, 10), c: exactCounts(100, 1), cf: exactCounts(50, 50) }));
  const off = run(s);
  t.not(check(off, 'compare.errorRate').status, 'fail');
  t.equal(off.arms.canary.requests, 6000);
  t.equal(off.arms.canary.faultedRequests, 3000);
  const on = run(s, { countFaulted: true });
  t.equal(check(on, 'compare.errorRate').status, 'fail');
  t.equal(on.arms.canary.requests, 9000);
  t.equal(on.arms.canary.faultedRequests, 3000);
  t.equal(on.verdict, 'fail');
});

t.test('the report is a pure function of its input: same input, deep-equal report, whatever ran in between', async (t) => {
  const r0 = rng(7);
  const a = series(90, () => ({ b: randomCounts(r0, 400, 0.01), c: randomCounts(r0, 40, 0.012, 52) }));
  const b = series(30, () => ({ b: exactCounts(300, 3), c: exactCounts(30, 9, 80) }));
  const first = run(a);
  run(b);
  const again = run(a);
  t.same(again, first);
  t.same(JSON.parse(JSON.stringify(first)), first, 'the report survives a JSON round trip (audit log)');
});

t.test('windows outside [from, at) are ignored; unsorted input is sorted; arms may miss windows', async (t) => {
  const s = series(40, () => ({ b: exactCounts(500, 5), c: exactCounts(50, 1) }));
  const ref = judge({ at: 40_000, from: 10_000, baseline: s.baseline.slice(10), canary: s.canary.slice(10) }, settings());
  const wide = judge({ at: 40_000, from: 10_000, baseline: s.baseline, canary: [...s.canary].reverse() }, settings());
  t.same(wide.checks, ref.checks);
  t.equal(wide.arms.canary.requests, 30 * 50);
  const gaps = judge({ at: 40_000, from: 0, baseline: s.baseline, canary: s.canary.filter((_, i) => i % 2 === 0) }, settings());
  t.equal(gaps.arms.canary.requests, 20 * 50);
  t.equal(gaps.verdict === 'fail', false);
});

t.test('a crossing of the error-rate boundary is sticky for the step and names its window', async (t) => {
  const s = series(200, (i) => ({ b: exactCounts(1000, 10), c: i < 40 ? exactCounts(100, 10) : exactCounts(100, 1) }));
  const early = run({ baseline: s.baseline.slice(0, 40), canary: s.canary.slice(0, 40) });
  const late = run(s);
  const ce = check(early, 'compare.errorRate');
  const cl = check(late, 'compare.errorRate');
  t.equal(ce.status, 'fail');
  t.equal(cl.status, 'fail', 'still failed after the canary recovered');
  t.equal(cl.stats!.crossedAt, ce.stats!.crossedAt);
  t.ok((cl.stats!.failEvidence as number) < (cl.stats!.failEvidenceMax as number), 'current evidence fell, the maximum is kept');
});

t.test('anomaly checks merged from the monitor: fail counts against the canary, marginal holds', async (t) => {
  const s = series(100, () => ({ b: exactCounts(2000, 0), c: exactCounts(200, 0) }));
  const base = { kind: 'anomaly' as const, critical: false, hard: false, message: 'anomaly.canary.p95: test' };
  const hold = judge({ at: 100_000, from: 0, ...s, anomalies: [{ ...base, name: 'anomaly.canary.p95', status: 'marginal' }] }, settings());
  t.equal(hold.verdict, 'inconclusive');
  t.equal(hold.nonInferior, true, 'comparisons are unaffected');
  const fail = judge({ at: 100_000, from: 0, ...s, anomalies: [{ ...base, name: 'anomaly.canary.p95', status: 'fail' }] }, settings());
  t.equal(fail.verdict, 'fail');
  t.equal(fail.hardBreach, false);
});

t.test('golden recorded case: the full report of a fixed seeded input is unchanged', async (t) => {
  const r0 = rng(2024);
  const s = series(120, (i) => ({
    b: randomCounts(r0, 300 + (i % 7) * 20, i >= 60 && i < 75 ? 0.08 : 0.01),
    c: randomCounts(r0, 30 + (i % 3), i >= 60 && i < 75 ? 0.08 : 0.025, 56),
  }));
  const r = run(s);
  const file = 'test/fixtures/judge-golden.json';
  if (!existsSync(file) || process.env.CANARYD_UPDATE_GOLDEN === '1') writeFileSync(file, JSON.stringify(r, null, 1) + '\n');
  const golden = JSON.parse(readFileSync(file, 'utf8')) as AnalysisReport;
  t.same(r, golden);
  t.equal(r.verdict, golden.verdict);
});

t.test('SLO checks: pass with evidence, nodata when undecided, latency SLO breach attributed to the canary', async (t) => {
  const good = run(series(60, () => ({ b: exactCounts(1000, 0, 40), c: exactCounts(100, 0, 40) })));
  t.equal(check(good, 'slo.p95').status, 'pass');
  t.equal(check(good, 'slo.errorRate').status, 'pass');
  const thin = run(series(2, () => ({ b: exactCounts(100, 1), c: exactCounts(30, 0) })));
  t.equal(check(thin, 'slo.errorRate').status, 'nodata');
  const slow = run(series(60, () => ({ b: exactCounts(1000, 0, 100), c: exactCounts(100, 0, 1000) })));
  const p95 = check(slow, 'slo.p95');
  t.equal(p95.status, 'fail', p95.message);
  t.equal(p95.hard, true, 'canary p95 ~2.3 s is beyond 2× the 500 ms limit, and its own');
  t.equal(slow.hardBreach, true);
});
