/**
 * The exposure-scaled promote margin and the α plan (analysis/rollout/plan.ts), and how the judge uses a
 * promote margin wider than the fail margin: what it promotes, what it never changes (the fail side), what
 * its reports say. Replayed on synthetic windows built here (test/helpers/windows.ts).
 */
import t from 'tap';
import {
  alphaForStep,
  alphaShare,
  judge,
  promotionMargin,
  promotionMarginBasis,
  type AnalysisReport,
  type CheckResult,
  type JudgeSettings,
} from '../analysis/index.js';
import type { WindowCounts, WindowRecord } from '../core/index.js';
import { exactCounts, randomCounts, rng, settings, windowOf } from './helpers/windows.js';

const STEPS = [5, 10, 25, 50, 75, 100];
const EXPOSURE = { mode: 'exposure', cap: 10 } as const;
const FIXED = { mode: 'fixed', cap: 10 } as const;
const close = (a: number, b: number): boolean => Math.abs(a - b) < 1e-12;

t.test('promotionMargin: the default steps give 1.0 / 0.75 / 0.3 / 0.15 / 0.1 at δ = 0.1', async (t) => {
  t.same(
    STEPS.slice(0, 5).map((_, k) => Math.round(promotionMargin(0.1, STEPS, k, EXPOSURE) * 1e9) / 1e9),
    [1, 0.75, 0.3, 0.15, 0.1],
  );
  t.ok(close(promotionMargin(0.1, STEPS, 4, EXPOSURE), 0.1), 'the last analysed step needs the full margin');
  t.ok(close(promotionMargin(0.1, STEPS, 5, EXPOSURE), 0.1), 'a step at 100 % (never analysed) gets δ');
  t.ok(close(promotionMargin(0.1, STEPS, 99, EXPOSURE), 0.1), 'an index out of range gets δ');
  t.equal(promotionMarginBasis(STEPS, 0, EXPOSURE), 'exposure 5 % of 75 %, capped at 10×');
  t.equal(promotionMarginBasis(STEPS, 1, EXPOSURE), 'exposure 10 % of 75 %');
  t.equal(promotionMarginBasis(STEPS, 4, EXPOSURE), 'exposure 75 % of 75 %');
});

t.test('promotionMargin: the cap, fixed mode, and steps that end below 100', async (t) => {
  t.ok(close(promotionMargin(0.1, STEPS, 0, { mode: 'exposure', cap: 3 }), 0.3), 'W/w = 15 capped at 3');
  t.ok(close(promotionMargin(0.1, STEPS, 2, { mode: 'exposure', cap: 3 }), 0.3), 'W/w = 3: at the cap');
  t.ok(close(promotionMargin(0.1, STEPS, 3, { mode: 'exposure', cap: 3 }), 0.15));
  t.ok(close(promotionMargin(0.1, STEPS, 0, { mode: 'exposure', cap: 1 }), 0.1), 'cap 1 is the fixed margin');
  t.ok(close(promotionMargin(0.1, STEPS, 0, { mode: 'exposure', cap: 0.5 }), 0.1), 'a cap under 1 never narrows the margin');
  for (let k = 0; k < STEPS.length; k++) t.ok(close(promotionMargin(0.1, STEPS, k, FIXED), 0.1), `fixed: δ at step ${k + 1}`);
  t.equal(promotionMarginBasis(STEPS, 0, FIXED), 'fixed margin');
  // steps ending below 100: the last step is analysed, and its promotion goes to 100 % (the machine)
  const short = [5, 10, 25];
  t.same(
    short.map((_, k) => Math.round(promotionMargin(0.1, short, k, EXPOSURE) * 1e9) / 1e9),
    [0.5, 0.25, 0.1],
  );
  t.ok(close(promotionMargin(0.2, [50], 0, EXPOSURE), 0.2), 'one analysed step: the full margin');
  t.ok(close(promotionMargin(0.1, [100], 0, EXPOSURE), 0.1), 'no analysed step at all: δ');
  t.equal(promotionMargin(0, STEPS, 0, EXPOSURE), 0, 'no margin stays no margin');
});

t.test('alphaForStep: equal and front plans each spend exactly the rollout budget over the analysed steps', async (t) => {
  for (const plan of ['equal', 'front'] as const) {
    for (const steps of [STEPS, [5, 10, 25], [50, 100], [1, 2, 3, 4, 5, 6, 7, 8, 100]]) {
      const analysed = steps.filter((w) => w < 100).length;
      let sum = 0;
      for (let k = 0; k < analysed; k++) sum += alphaShare(steps, k, plan);
      t.ok(close(sum, 1), `${plan} over ${steps.join('/')}: shares sum to ${sum}`);
    }
  }
  t.same(
    [0, 1, 2, 3, 4].map((k) => alphaForStep(0.01, STEPS, k, 'equal')),
    [0.002, 0.002, 0.002, 0.002, 0.002],
  );
  t.same(
    [0, 1, 2, 3, 4].map((k) => alphaForStep(0.01, STEPS, k, 'front')),
    [0.005, 0.0025, 0.00125, 0.000625, 0.000625],
  );
  t.ok(alphaForStep(0.01, STEPS, 5, 'front') > 0, 'past the analysed steps: never 0 (the last share)');
});

// ---- the judge with a promote margin wider than the fail margin ----

function series(n: number, b: () => WindowCounts, c: () => WindowCounts): { baseline: WindowRecord[]; canary: WindowRecord[] } {
  const baseline: WindowRecord[] = [];
  const canary: WindowRecord[] = [];
  for (let i = 0; i < n; i++) {
    baseline.push(windowOf('baseline', i, b()));
    canary.push(windowOf('canary', i, c()));
  }
  return { baseline, canary };
}
const check = (r: AnalysisReport, name: string): CheckResult => r.checks.find((c) => c.name === name)!;

/** Peeks at every window of a step; the first decision (promote or fail) and where it came. */
function firstDecision(
  s: { baseline: WindowRecord[]; canary: WindowRecord[] },
  over: Partial<JudgeSettings>,
): { what: 'promote' | 'fail' | 'none'; at: number; report: AnalysisReport } {
  let report = judge({ at: 0, from: 0, baseline: [], canary: [] }, settings(over));
  for (let i = 1; i <= s.baseline.length; i++) {
    report = judge({ at: i * 1000, from: 0, baseline: s.baseline.slice(0, i), canary: s.canary.slice(0, i) }, settings(over));
    if (report.verdict === 'fail' || report.hardBreach) return { what: 'fail', at: i, report };
    if (report.verdict === 'pass' && report.nonInferior) return { what: 'promote', at: i, report };
  }
  return { what: 'none', at: s.baseline.length, report };
}

// 1.5× the baseline's 5xx rate (0.75 % vs 0.5 %); identical latency. The floor is set low so the ratio half
// of the test decides (with the default SLO-derived floor the promote floor would help the 5 % step more).
const FLOOR = { errorRateFloor: 0.0001, nonSuccessFloor: 0.0001 };
const at5 = series(
  200,
  () => exactCounts(7600, 38),
  () => exactCounts(400, 3),
); // canary share 5 %
const at75 = series(
  200,
  () => exactCounts(1000, 5),
  () => exactCounts(3000, 22),
); // canary share 75 %

t.test('a canary 1.5× worse on errors: promoted at the 5 % step under exposure, not at 75 %, never under fixed', async (t) => {
  const exposure5 = firstDecision(at5, {
    ...FLOOR,
    promoteMaxDegradation: promotionMargin(0.1, STEPS, 0, EXPOSURE),
    promoteMarginBasis: promotionMarginBasis(STEPS, 0, EXPOSURE),
  });
  t.equal(exposure5.what, 'promote', exposure5.report.reasons.join('\n'));
  const c = check(exposure5.report, 'compare.errorRate');
  t.equal(c.stats!.floorNiShown, false, 'shown within 2× by the ratio test, not the floor');
  t.match(c.message, /shown within the promote margin max\(2\.00× baseline, 0\.10 %\) \(exposure 5 % of 75 %, capped at 10×\)/);
  t.match(exposure5.report.reasons[0], /within the promote margin 100 % \(exposure 5 % of 75 %, capped at 10×; fail margin 10 %\)/);

  const fixed5 = firstDecision(at5, { ...FLOOR });
  t.equal(fixed5.what, 'fail', 'fixed: the fail side catches it at the same step');
  const exposure75 = firstDecision(at75, { ...FLOOR, promoteMaxDegradation: promotionMargin(0.1, STEPS, 4, EXPOSURE) });
  t.equal(exposure75.what, 'fail', 'the last analysed step needs the full 10 %: rolled back there');
  for (const s of [at5, at75]) {
    const never = firstDecision(s, { ...FLOOR });
    t.not(never.what, 'promote', 'never promoted under the fixed margin');
  }
});

t.test('the fail side does not depend on promoteMaxDegradation: the same fail verdicts on the same data', async (t) => {
  const r = rng(99);
  const cases = [
    at5,
    series(
      120,
      () => exactCounts(1900, 19),
      () => exactCounts(100, 3),
    ), // 3× errors
    series(
      90,
      () => exactCounts(1000, 5, 50),
      () => exactCounts(100, 0, 70),
    ), // 1.4× slower
    series(
      90,
      () => randomCounts(r, 900, 0.01, 50),
      () => randomCounts(r, 100, 0.013, 56),
    ),
    series(
      60,
      () => randomCounts(r, 500, 0.02, 50),
      () => randomCounts(r, 500, 0.02, 50),
    ),
  ];
  const failKeys = [
    'failEvidence',
    'failEvidenceMax',
    'failBoundary',
    'crossedAt',
    'floorFailShown',
    'marginRatio',
    'floor',
    'failCanaryLoMs',
    'failBaselineHiMs',
    'failLoRatio',
    'alphaFail',
  ];
  const differences: string[] = [];
  let fails = 0;
  let compared = 0;
  for (const [i, s] of cases.entries()) {
    for (let n = 10; n <= s.baseline.length; n += 10) {
      const input = { at: n * 1000, from: 0, baseline: s.baseline.slice(0, n), canary: s.canary.slice(0, n) };
      const fixed = judge(input, settings());
      if (fixed.verdict === 'fail') fails++;
      for (const wide of [0.3, 1]) {
        const exp = judge(input, settings({ promoteMaxDegradation: wide }));
        const where = `case ${i}, ${n} windows, δ_k ${wide}`;
        compared++;
        if ((exp.verdict === 'fail') !== (fixed.verdict === 'fail') || exp.hardBreach !== fixed.hardBreach)
          differences.push(`${where}: verdict ${exp.verdict} vs ${fixed.verdict}`);
        for (const c of fixed.checks) {
          const e = check(exp, c.name);
          if ((e.status === 'fail') !== (c.status === 'fail')) differences.push(`${where}: ${c.name} ${e.status} vs ${c.status}`);
          if (c.kind !== 'comparison' && e.status !== c.status) differences.push(`${where}: SLO ${c.name} ${e.status} vs ${c.status}`);
          for (const k of failKeys)
            if (c.stats && k in c.stats && e.stats![k] !== c.stats[k])
              differences.push(`${where}: ${c.name}.${k} ${e.stats![k]} vs ${c.stats[k]}`);
        }
      }
    }
  }
  t.same(differences, [], `${compared} reports compared`);
  t.ok(fails >= 10, `the cases include failing reports (${fails})`);
});

t.test('reports show both margins; moreCanaryRequestsNeeded is sized against the promote margin', async (t) => {
  // the demo's case: 0.5 % errors on both arms at a 5 % step after ~2,300 canary requests
  const s = series(
    23,
    () => exactCounts(1900, 10),
    () => exactCounts(100, 0),
  );
  s.canary.forEach((w, i) => i % 2 === 0 && (w.clean.statusClass[1]--, w.clean.statusClass[4]++));
  const input = { at: 23_000, from: 0, ...s };
  const fixed = judge(input, settings());
  const exp = judge(input, settings({ promoteMaxDegradation: 1, promoteMarginBasis: 'exposure 5 % of 75 %, capped at 10×' }));
  const cf = check(fixed, 'compare.errorRate');
  const ce = check(exp, 'compare.errorRate');
  t.equal(cf.status, 'marginal');
  t.equal(ce.status, 'marginal', ce.message);
  t.match(
    ce.message,
    /undecided: fail beyond max\(1\.10× baseline, 0\.10 %\), promote within max\(2\.00× baseline, 1\.00 %\) \(exposure 5 % of 75 %, capped at 10×\)/,
  );
  t.match(cf.message, /fail beyond max\(1\.10× baseline, 0\.10 %\), promote within max\(1\.10× baseline, 0\.10 %\) \(fixed margin\)/);
  t.equal(ce.stats!.marginRatio, 1.1);
  t.equal(ce.stats!.promoteMarginRatio, 2);
  t.equal(ce.stats!.promoteFloor, 0.01, 'promote floor scaled 10×, capped at the SLO limit 1 %');
  t.equal(ce.stats!.floor, 0.001, 'fail floor unchanged');
  const nf = cf.stats!.needed as number;
  const ne = ce.stats!.needed as number;
  t.ok(nf > 20 * ne, `needed: fixed ${nf} vs exposure ${ne}`);
  t.equal(
    exp.moreCanaryRequestsNeeded,
    Math.max(...exp.checks.filter((c) => c.kind === 'comparison' && c.status !== 'pass').map((c) => c.stats!.needed as number)),
  );
  t.match(exp.reasons[0], /fail margin 10 %, promote margin 100 %: exposure 5 % of 75 %/);
  for (const n of ['compare.p95', 'compare.p99', 'compare.latency'])
    t.match(check(exp, n).message, /2\.00×/, `${n} names the promote margin`);
});

t.test('latency: a canary 1.12× slower is shown within a 2× promote margin, never within the fixed 1.1×', async (t) => {
  const s = series(
    120,
    () => exactCounts(1900, 0, 50),
    () => exactCounts(100, 0, 56),
  );
  const exp = firstDecision(s, { promoteMaxDegradation: 1 });
  t.equal(exp.what, 'promote', exp.report.reasons.join('\n'));
  for (const n of ['compare.p95', 'compare.p99', 'compare.latency'])
    t.equal(check(exp.report, n).status, 'pass', check(exp.report, n).message);
  const fixed = firstDecision(s, {});
  t.not(fixed.what, 'promote', fixed.report.reasons.join('\n'));
  for (const n of ['compare.p95', 'compare.latency']) t.not(check(fixed.report, n).status, 'pass', `fixed: ${n} never shown within 1.1×`);
});

t.test('a promote margin narrower than the fail margin is refused', async (t) => {
  t.throws(() => judge({ at: 1000, from: 0, baseline: [], canary: [] }, settings({ promoteMaxDegradation: 0.05 })), {
    code: 'CANARYD_ERR_INTERNAL',
  });
});
