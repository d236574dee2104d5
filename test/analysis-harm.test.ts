/**
 * The harm bound, evidence carried across steps, the MDE and the forecasts (analysis/judge/harm.ts,
 * analysis/judge/summary.ts, analysis/rollout/forecast.ts): pure functions on data, with the guarantees
 * checked by simulation (seeded, bounded loops).
 */
import t from 'tap';
import { judge, planRollout, type PlanInput } from '../analysis/index.js';
import { excessRate } from '../analysis/judge/harm.js';
import type { Strata } from '../analysis/judge/aggregate.js';
import type { WindowRecord } from '../core/index.js';
import { exactCounts, randomCounts, rng, settings, windowOf } from './helpers/windows.js';

function strata(n: number): Strata {
  const a = (): Float64Array => new Float64Array(n);
  return { count: 0, start: a(), nc: a(), nb: a(), ec: a(), eb: a(), uc: a(), ub: a() };
}

function binomial(r: () => number, n: number, p: number): number {
  let k = 0;
  for (let i = 0; i < n; i++) if (r() < p) k++;
  return k;
}

t.test('the excess-rate bound is always valid: it misses the true excess in at most ~α of runs, however often it is read', async (t) => {
  const alpha = 0.05;
  const runs = 300;
  const windows = 150;
  for (const [pb, d] of [
    [0.002, 0.002],
    [0.01, 0.001],
  ] as const) {
    let missed = 0;
    for (let run = 0; run < runs; run++) {
      const r = rng(1000 + run);
      const st = strata(windows);
      let miss = false;
      for (let w = 0; w < windows; w++) {
        const nc = w < 50 ? 30 : 120;
        const nb = w < 50 ? 270 : 120;
        st.start[w] = w * 1000;
        st.nc[w] = nc;
        st.nb[w] = nb;
        st.ec[w] = binomial(r, nc, pb + d);
        st.eb[w] = binomial(r, nb, pb);
        st.count = w + 1;
        const b = excessRate(st, st.ec, st.eb, alpha);
        if (b.upper !== null && b.upper < d) miss = true; // the bound claims less excess than there is
      }
      if (miss) missed++;
    }
    t.ok(
      missed / runs <= alpha + 0.03,
      `p_b ${pb}, excess ${d}: the bound missed the truth in ${missed} of ${runs} runs (α ${alpha}), read after every window`,
    );
  }
});

function series(
  from: number,
  n: number,
  make: (i: number) => { b: ReturnType<typeof exactCounts>; c: ReturnType<typeof exactCounts> },
): { baseline: WindowRecord[]; canary: WindowRecord[] } {
  const baseline: WindowRecord[] = [];
  const canary: WindowRecord[] = [];
  for (let i = from; i < from + n; i++) {
    const { b, c } = make(i);
    baseline.push(windowOf('baseline', i, b));
    canary.push(windowOf('canary', i, c));
  }
  return { baseline, canary };
}

function join(...parts: Array<{ baseline: WindowRecord[]; canary: WindowRecord[] }>) {
  return { baseline: parts.flatMap((p) => p.baseline), canary: parts.flatMap((p) => p.canary) };
}

const harmAt = (nextWeight: number, budget = nextWeight >= 1 ? 0.25 : 0.5) => ({
  harm: { nextWeight, budget, alpha: 0.04 },
  promoteAlpha: 0.01,
  alpha: 0.01,
});

t.test('a good canary on rare errors is promotable on the harm bound where the ratio proof cannot show it', async (t) => {
  const r = rng(7);
  // two steps of a 0.2 % service: 10 % then 50 % of 250 req/s; the final promotion is judged at 100 %
  const data = join(
    series(0, 60, () => ({ b: randomCounts(r, 225, 0.002, 2), c: randomCounts(r, 25, 0.002, 2) })),
    series(60, 200, () => ({ b: randomCounts(r, 125, 0.002, 2), c: randomCounts(r, 125, 0.002, 2) })),
  );
  const rep = judge({ at: 260_000, from: 0, stepFrom: 60_000, ...data, canaryRate: 125 }, settings(harmAt(1)));
  t.equal(rep.nonInferior, false, 'within 10 % of a 0.2 % rate is not shown on ~27,000 canary requests');
  t.equal(
    rep.harm?.within,
    true,
    `the excess is bounded under the final floor: ${rep.reasons.find((x) => x.startsWith('harm')) ?? JSON.stringify(rep.harm)}`,
  );
  t.equal(rep.promotable, true);
  t.equal(rep.verdict, 'pass');
  t.equal(rep.stepCanaryRequests, 200 * 125, "the step's own canary requests are counted apart");
  t.match(rep.summary, /harm within budget at 100 %; ready to promote/);
  const bad = judge(
    {
      at: 260_000,
      from: 0,
      stepFrom: 60_000,
      ...join(
        series(0, 60, () => ({ b: exactCounts(900, 9), c: exactCounts(100, 2) })),
        series(60, 200, () => ({ b: exactCounts(500, 5), c: exactCounts(500, 8) })),
      ),
    },
    settings(harmAt(1)),
  );
  t.equal(
    bad.promotable,
    false,
    'a canary at +0.6 pp over a 1 % baseline is never promotable at the final step (its excess is over the final floor)',
  );
  t.equal(bad.harm?.within, false);
});

t.test(
  'evidence carried across steps: the error test restarts at the step, so a regression that starts at a higher weight is not diluted',
  async (t) => {
    // good at 10 % for 200 windows, then 3× the baseline's errors at 50 %
    const step1 = series(0, 200, () => ({ b: exactCounts(900, 9), c: exactCounts(100, 1) }));
    const crossing = (mix: { rollout: number; step: number; rest: number } | undefined) => {
      for (let k = 1; k <= 200; k++) {
        const d = join(
          step1,
          series(200, k, () => ({ b: exactCounts(500, 5), c: exactCounts(500, 15) })),
        );
        const rep = judge(
          { at: (200 + k) * 1000, from: 0, stepFrom: 200_000, ...d },
          settings({ alpha: 0.01, ...(mix ? { failMix: mix } : {}) }),
        );
        if (rep.checks.find((c) => c.name === 'compare.errorRate')?.status === 'fail') return k;
      }
      return Infinity;
    };
    const restarted = crossing({ rollout: 0.75, step: 0.125, rest: 0.125 });
    const pooled = crossing(undefined);
    t.ok(restarted < pooled, `shown worse after ${restarted} windows of the new step with the restart component, ${pooled} without`);
    t.ok(Number.isFinite(restarted));
  },
);

t.test('reasons never contradict themselves: no "~0 more" on an undecided check, no "∞ ms" bounds', async (t) => {
  const r = rng(11);
  for (let n = 1; n <= 40; n += 3) {
    const d = series(0, n, () => ({ b: randomCounts(r, 60, 0.01, 40), c: randomCounts(r, 6, 0.01, 40) }));
    const rep = judge({ at: n * 1000, from: 0, ...d, canaryRate: 6 }, settings(harmAt(0.1)));
    const text = rep.reasons.join('\n');
    t.notMatch(text, /~0 more/, `${n} windows`);
    t.notMatch(text, /∞ ms/);
    t.notMatch(rep.summary ?? '', /~0 /);
    if (rep.verdict === 'inconclusive' && rep.forecast?.requests !== null) {
      t.ok(rep.forecast!.requests! >= 1, 'an undecided report never forecasts 0 requests');
      t.equal(rep.forecast!.seconds, Math.ceil(rep.forecast!.requests! / 6), 'seconds = requests / canary rate');
    }
  }
});

t.test('the minimum detectable effect shrinks as traffic accumulates', async (t) => {
  const mde = (n: number) => {
    const d = series(0, n, () => ({ b: exactCounts(1900, 19, 40), c: exactCounts(100, 1, 40) }));
    return judge({ at: n * 1000, from: 0, ...d }, settings()).mde!;
  };
  const [a, b] = [mde(30), mde(300)];
  t.ok(a[0].ratio! > b[0].ratio! && b[0].ratio! > 1.1, `5xx MDE ${a[0].text} after 30 s, ${b[0].text} after 300 s`);
  t.ok(a[1].ratio! > b[1].ratio! && b[1].ratio! > 1.1, `p95 MDE ${a[1].text} → ${b[1].text}`);
});

t.test('the rollout plan: what the traffic can show before a start', async (t) => {
  const base: PlanInput = {
    rate: 2000,
    errorRate: 0.01,
    nonSuccessRate: 0.015,
    steps: [5, 10, 25, 50, 75, 100],
    intervalS: 60,
    minRequests: 200,
    maxStepS: 300,
    maxStepPolicy: 'promote-if-no-harm',
    harmBudget: 0.5,
    finalHarmBudget: 0.25,
    falsePromotionRate: 0.05,
    falseRollbackRate: 0.01,
    maxDegradation: 0.1,
    power: 0.8,
    slo: { maxErrorRate: 0.02, minSuccessRate: 0.97 },
  };
  const busy = planRollout(base);
  t.equal(busy.secondsToFullPromotion, 300, 'at 2,000 req/s the schedule (5 × 60 s) is the floor');
  t.ok(busy.steps.every((s) => s.decidedBy === 'interval'));
  const m = busy.steps.map((s) => s.mde5xxRatio!);
  t.ok(
    m.every((x, i) => i === 0 || x < m[i - 1]),
    `the detectable 5xx regression shrinks step by step: ${m.map((x) => x.toFixed(2)).join(', ')}`,
  );
  const live = planRollout({
    ...base,
    rate: 250,
    errorRate: 0.002,
    nonSuccessRate: 0.002,
    steps: [10, 50, 100],
    intervalS: 3,
    minRequests: 100,
    slo: { maxErrorRate: 0.01, minSuccessRate: 0.99 },
  });
  t.ok(
    live.secondsToFullPromotion !== null && live.secondsToFullPromotion > 6,
    `250 req/s at 0.2 %: ~${live.secondsToFullPromotion} s to 100 %, decided by ${live.steps.map((s) => s.decidedBy).join(', ')}`,
  );
  const thin = planRollout({ ...base, rate: 20, steps: [1, 100], maxStepS: 300, maxStepPolicy: 'pause' });
  t.equal(thin.secondsToFullPromotion, null, 'too little traffic: it says so instead of promising');
  t.match(thin.notes.join(' '), /not expected to reach 100 %/);
});
