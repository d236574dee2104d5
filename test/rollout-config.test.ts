/** The rollout section of the config: defaults, durations, and every error naming its key and reason. */
import t from 'tap';
import { parseConfigText } from '../config/index.js';
import { judgeSettings } from '../controller/index.js';

const BASE = `upstreams:
  baseline: { url: http://127.0.0.1:3000 }
  canary:   { url: http://127.0.0.1:3001 }
`;

function problems(yaml: string): string[] {
  try {
    parseConfigText(BASE + yaml, {});
  } catch (e) {
    return ((e as { details?: string[] }).details ?? [String(e)]) as string[];
  }
  return [];
}

t.test('defaults and durations', async (t) => {
  const c = parseConfigText(BASE, {});
  t.same(c.rollout.steps, [5, 10, 25, 50, 75, 100]);
  t.equal(c.rollout.interval, 60_000);
  t.equal(c.rollout.analysisInterval, 1000);
  t.equal(c.rollout.maxStepDuration, 300_000);
  t.equal(c.rollout.maxStepPolicy, 'promote-if-no-harm');
  t.equal(c.rollout.evidence, 'step');
  t.equal(c.rollout.harmBudget, 0.5);
  t.equal(c.rollout.finalHarmBudget, 0.25);
  t.equal(c.rollout.falsePromotionRate, 0.05);
  t.equal(c.rollout.power, 0.8);
  t.equal(c.routing.keepPinnedOnRollback, false);
  t.equal(c.rollout.falseRollbackRate, 0.01);
  t.same(c.rollout.slo, { maxErrorRate: 0.01, maxP95Ms: 500, maxP99Ms: 1000, minSuccessRate: 0.99 });
  t.equal(c.rollout.baseline.maxDegradation, 0.1);
  t.equal(c.rollout.baseline.promotionMargin, 'exposure');
  t.equal(c.rollout.baseline.maxExposureFactor, 10);
  t.equal(c.rollout.alphaPlan, 'front');
  const w = parseConfigText(
    `${BASE}rollout: { interval: 1m30s, webhooks: [{ name: gate, type: pre-rollout, url: "http://127.0.0.1:1/x", timeout: 750ms }] }`,
    {},
  );
  t.equal(w.rollout.interval, 90_000);
  t.same(w.rollout.webhooks[0], {
    name: 'gate',
    type: 'pre-rollout',
    url: 'http://127.0.0.1:1/x',
    timeout: 750,
    retries: 2,
    metadata: {},
    format: 'generic',
    headers: {},
    secret: '',
    routingKey: '',
    events: ['phase', 'rollback'],
  });
});

t.test('every problem names its key and the reason', async (t) => {
  t.same(problems('rollout: { steps: [5, 50, 25, 100] }'), ['rollout.steps[2]: steps must rise, got 25 after 50']);
  t.same(problems('rollout: { steps: [] }'), ['rollout.steps: must NOT have fewer than 1 items, got []']);
  t.same(problems('rollout: { steps: [0, 100] }'), ['rollout.steps[0]: must be > 0, got 0']);
  t.same(problems('rollout: { interval: soon }'), [
    'rollout.interval: must be a duration like 500ms, 2s, 1m or a number of ms, got "soon"',
  ]);
  t.same(problems('rollout: { hardBreach: maybe }'), ['rollout.hardBreach: must be one of "rollback", "count", got "maybe"']);
  t.same(problems('rollout: { falseRollbackRate: 0.5 }'), ['rollout.falseRollbackRate: must be <= 0.2, got 0.5']);
  t.same(problems('rollout: { slo: { maxErrorRate: 2 } }'), ['rollout.slo.maxErrorRate: must be <= 1, got 2']);
  t.same(problems('rollout: { scoring: { pass: 60, marginal: 80 } }'), [
    'rollout.scoring.marginal: must be <= rollout.scoring.pass (60), got 80',
  ]);
  t.same(problems('rollout: { failureLimit: 0 }'), ['rollout.failureLimit: must be >= 1, got 0']);
  t.same(problems('rollout: { stepz: [1] }'), ['rollout.stepz: unknown key, did you mean steps?']);
  t.same(problems('rollout: { webhooks: [{ name: a, type: pre-rollout, url: "ftp://x" }] }'), [
    'rollout.webhooks[0].url: must match ^https?://, got "ftp://x"',
  ]);
  t.same(problems('rollout: { webhooks: [{ name: a, type: later, url: "http://127.0.0.1:1" }] }'), [
    'rollout.webhooks[0].type: must be one of "pre-rollout", "confirm-promotion", "post-rollout", "rollback", "event", got "later"',
  ]);
  t.same(
    problems(
      'rollout: { webhooks: [{ name: a, type: event, url: "http://127.0.0.1:1" }, { name: a, type: event, url: "http://127.0.0.1:2" }] }',
    ),
    ['rollout.webhooks[1].name: duplicate webhook name "a"'],
  );
  t.same(problems('rollout: { anomaly: { policy: panic } }'), ['rollout.anomaly.policy: must be one of "hold", "fail", got "panic"']);
  t.same(problems('rollout: { baseline: { promotionMargin: loose } }'), [
    'rollout.baseline.promotionMargin: must be one of "exposure", "fixed", got "loose"',
  ]);
  t.same(problems('rollout: { baseline: { maxExposureFactor: 0.5 } }'), ['rollout.baseline.maxExposureFactor: must be >= 1, got 0.5']);
  t.same(problems('rollout: { alphaPlan: last }'), ['rollout.alphaPlan: must be one of "equal", "front", got "last"']);
});

t.test('judgeSettings: each step gets its α (alphaPlan) and its promote margin (promotionMargin)', async (t) => {
  const c = parseConfigText(`${BASE}rollout: { evidence: rollout }`, {}).rollout;
  const per = [0, 1, 2, 3, 4].map((k) => judgeSettings(c, k));
  t.same(
    per.map((s) => s.maxDegradation),
    [0.1, 0.1, 0.1, 0.1, 0.1],
    'the fail margin never moves',
  );
  t.same(
    per.map((s) => Math.round(s.promoteMaxDegradation! * 1e9) / 1e9),
    [1, 0.75, 0.3, 0.15, 0.1],
  );
  t.equal(per[0].promoteMarginBasis, 'exposure 5 % of 75 %, capped at 10×');
  t.same(
    per.map((s) => s.alpha),
    [0.01, 0.01, 0.01, 0.01, 0.01],
    'evidence carried: one test over the rollout spends the whole falseRollbackRate',
  );
  t.same(
    per.map((s) => s.failMix),
    [
      { rollout: 0.75, step: 0, rest: 0.25 },
      { rollout: 0.75, step: 0.0625, rest: 0.1875 },
      { rollout: 0.75, step: 0.0625, rest: 0.125 },
      { rollout: 0.75, step: 0.0625, rest: 0.0625 },
      { rollout: 0.75, step: 0.0625, rest: 0 },
    ],
    "its e-process: ¾ on the rollout start, the rest on the later steps' starts, fixed in advance",
  );
  t.same(
    per.map((s) => Math.round(s.promoteAlpha! * 1e12) / 1e12),
    [0.01, 0.01, 0.01, 0.01, 0.01],
    'the margin tests get ⅕ of falsePromotionRate',
  );
  t.same(
    per.map((s) => s.harm!.nextWeight),
    [0.1, 0.25, 0.5, 0.75, 1],
    'the harm bound is judged at the next weight',
  );
  t.same(
    per.map((s) => s.harm!.budget),
    [0.5, 0.5, 0.5, 0.5, 0.25],
    'finalHarmBudget for the final promotion',
  );
  t.ok(
    per.every((s) => Math.abs(s.harm!.alpha - 0.04) < 1e-12),
    'the harm bound gets ⅘ of falsePromotionRate',
  );
  const step = parseConfigText(`${BASE}rollout: { evidence: step }`, {}).rollout;
  const perStep = [0, 1, 2, 3, 4].map((k) => judgeSettings(step, k));
  t.same(
    perStep.map((s) => s.alpha),
    [0.005, 0.0025, 0.00125, 0.000625, 0.000625],
    'per-step evidence, front: ½, ¼, … of falseRollbackRate',
  );
  t.ok(Math.abs(perStep.reduce((a, s) => a + s.alpha, 0) - c.falseRollbackRate) < 1e-12, 'the steps spend exactly falseRollbackRate');
  t.ok(perStep.every((s) => s.failMix === undefined));
  const fixed = parseConfigText(
    `${BASE}rollout: { evidence: step, alphaPlan: equal, baseline: { maxDegradation: 0.2, promotionMargin: fixed } }`,
    {},
  ).rollout;
  for (let k = 0; k < 5; k++) {
    const s = judgeSettings(fixed, k);
    t.equal(s.promoteMaxDegradation, 0.2);
    t.equal(s.alpha, 0.002);
    t.equal(s.promoteMarginBasis, 'fixed margin');
  }
  const capped = parseConfigText(`${BASE}rollout: { steps: [1, 20, 100], baseline: { maxExposureFactor: 4 } }`, {}).rollout;
  t.ok(Math.abs(judgeSettings(capped, 0).promoteMaxDegradation! - 0.4) < 1e-12, 'W/w = 20 capped at 4');
  t.ok(Math.abs(judgeSettings(capped, 1).promoteMaxDegradation! - 0.1) < 1e-12);
});
