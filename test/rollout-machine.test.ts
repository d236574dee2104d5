/** The rollout state machine, step by step with a fake clock: every transition, the policy rules, overrides. */
import t from 'tap';
import { RolloutMachine, type RolloutSettings } from '../analysis/index.js';
import { report } from './helpers/reports.js';

const S: RolloutSettings = {
  steps: [5, 10, 25, 50, 75, 100],
  intervalMs: 60_000,
  minRequests: 200,
  maxStepDurationMs: 600_000,
  failureLimit: 3,
  hardBreach: 'rollback',
  dryRun: false,
};
const machine = (over: Partial<RolloutSettings> = {}) => new RolloutMachine({ ...S, ...over });

t.test('idle -> progressing through every step -> promoted at 100 %', async (t) => {
  const m = machine();
  t.equal(m.state.phase, 'idle');
  const s = m.start(0);
  t.equal(s.weight, 5);
  t.equal(m.state.phase, 'progressing');
  t.equal(m.state.id, 1);
  let now = 0;
  const weights: number[] = [];
  for (let i = 0; i < 5; i++) {
    now += 60_000;
    const tr = m.evaluate(now, report('pass'));
    t.equal(tr.decision?.action, 'PROMOTE', `step ${i + 1} promoted`);
    weights.push(tr.weight!);
  }
  t.same(weights, [10, 25, 50, 75, 100]);
  t.equal(m.state.phase, 'promoted');
  t.equal(m.state.canaryWeight, 100);
  t.match(m.state.lastDecision?.reasons.join(' '), /rollout complete/);
  t.same(m.evaluate(now + 1, report('pass')), { decision: null, weight: null, changed: false }, 'a finished rollout does nothing');
});

t.test('a step is promoted only with pass AND non-inferiority AND interval AND minRequests', async (t) => {
  const m = machine();
  m.start(0);
  let tr = m.evaluate(59_999, report('pass'));
  t.equal(tr.decision?.action, 'CONTINUE', 'interval not yet run');
  t.match(tr.decision?.reasons[0], /step time 60s of 1m/);
  tr = m.evaluate(60_000, report('pass', { canaryRequests: 199 }));
  t.equal(tr.decision?.action, 'CONTINUE', 'too few canary requests');
  t.match(tr.decision?.reasons[0], /199 of 200 canary requests/);
  tr = m.evaluate(60_000, report('pass', { nonInferior: false }));
  t.equal(tr.decision?.action, 'CONTINUE', 'no harm seen is not enough');
  t.match(tr.decision?.reasons[0], /not yet shown non-inferior/);
  tr = m.evaluate(60_000, report('inconclusive'));
  t.equal(tr.decision?.action, 'CONTINUE', 'silence never promotes');
  t.equal(tr.weight, null);
  t.equal(m.state.step, 0);
  tr = m.evaluate(60_000, report('pass'));
  t.equal(tr.decision?.action, 'PROMOTE');
  t.equal(m.state.step, 1);
  t.equal(m.state.stepStartedAt, 60_000, 'the new step starts its own clock');
});

t.test('failureLimit consecutive failures roll back; a non-failing analysis refills the budget', async (t) => {
  const m = machine();
  m.start(0);
  t.equal(m.evaluate(1000, report('fail')).decision?.action, 'CONTINUE');
  t.equal(m.evaluate(2000, report('fail')).decision?.action, 'CONTINUE');
  t.equal(m.state.failures, 2);
  m.evaluate(3000, report('inconclusive'));
  t.equal(m.state.failures, 0, 'failures must be consecutive');
  m.evaluate(4000, report('fail'));
  m.evaluate(5000, report('fail'));
  const tr = m.evaluate(6000, report('fail', { reason: 'compare.errorRate: canary 4 % vs baseline 1 %' }));
  t.equal(tr.decision?.action, 'ROLLBACK');
  t.equal(tr.weight, 0);
  t.equal(m.state.phase, 'rolledback');
  t.equal(m.state.step, 0, 'remembers the step it failed at');
  t.match(m.state.reason, /3 consecutive failed analyses \(failureLimit 3\)/);
  t.match(tr.decision?.reasons.join('\n'), /canary 4 % vs baseline 1 %/, 'the failing check and its numbers are in the reasons');
});

t.test('hard breach rolls back at once, or counts when configured', async (t) => {
  const m = machine();
  m.start(0);
  const tr = m.evaluate(1000, report('fail', { hardBreach: true }));
  t.equal(tr.decision?.action, 'ROLLBACK');
  t.match(tr.decision?.reasons[0], /hard SLO breach/);
  const c = machine({ hardBreach: 'count' });
  c.start(0);
  t.equal(c.evaluate(1000, report('fail', { hardBreach: true })).decision?.action, 'CONTINUE');
  t.equal(c.state.failures, 1);
});

t.test('pause stops promotions but not the safety net; resume continues the step', async (t) => {
  const m = machine();
  m.start(0);
  m.pause(10_000);
  t.equal(m.state.phase, 'paused');
  let tr = m.evaluate(120_000, report('pass'));
  t.equal(tr.decision?.action, 'CONTINUE', 'no promotion while paused');
  t.match(tr.decision?.reasons[0], /paused/);
  m.resume(130_000);
  t.equal(m.state.phase, 'progressing');
  t.equal(m.state.stepStartedAt, 0, 'the step keeps its data');
  tr = m.evaluate(130_001, report('pass'));
  t.equal(tr.decision?.action, 'PROMOTE');
  m.pause(140_000);
  for (let i = 0; i < 3; i++) tr = m.evaluate(141_000 + i, report('fail'));
  t.equal(tr.decision?.action, 'ROLLBACK', 'a paused rollout still rolls back');
});

t.test('manual overrides: promote one step, promote fully, rollback, retry', async (t) => {
  const m = machine();
  m.start(0);
  let tr = m.promote(1000);
  t.equal(tr.weight, 10);
  t.equal(tr.decision?.source, 'manual');
  tr = m.promote(2000, { full: true });
  t.equal(tr.weight, 100);
  t.equal(m.state.phase, 'promoted');
  t.throws(() => m.rollback(3000), { code: 'CANARYD_ERR_CONFLICT' }, 'cannot roll back a finished rollout');
  t.throws(() => m.retry(3000), { code: 'CANARYD_ERR_CONFLICT' });
  m.start(4000);
  t.equal(m.state.id, 2);
  t.equal(m.state.canaryWeight, 5);
  tr = m.rollback(5000, 'bad deploy');
  t.equal(tr.weight, 0);
  t.equal(m.state.reason, 'bad deploy');
  t.throws(() => m.pause(6000), { code: 'CANARYD_ERR_CONFLICT' });
  t.throws(() => m.resume(6000), { code: 'CANARYD_ERR_CONFLICT' });
  t.throws(() => m.promote(6000), { code: 'CANARYD_ERR_CONFLICT' });
  tr = m.retry(7000);
  t.equal(tr.weight, 5);
  t.equal(m.state.id, 3);
  t.equal(m.state.phase, 'progressing');
  t.throws(() => m.start(8000), { code: 'CANARYD_ERR_CONFLICT' }, 'one rollout at a time');
  m.pause(9000);
  tr = m.promote(9500);
  t.equal(m.state.phase, 'progressing', 'a manual promotion of a paused rollout resumes it');
});

t.test('confirm-promotion gate holds the final promotion only', async (t) => {
  const m = machine({ steps: [50, 100] });
  m.start(0);
  t.equal(m.nextIsFinal, true);
  let tr = m.evaluate(60_000, report('pass'), 'pending');
  t.equal(tr.decision?.action, 'CONTINUE');
  t.equal(tr.awaitingConfirmation, true);
  tr = m.evaluate(61_000, report('pass'), 'refused');
  t.equal(tr.decision?.action, 'CONTINUE', 'a refused gate holds the step');
  t.match(tr.decision?.reasons[0], /confirm-promotion gate \(refused\)/);
  tr = m.evaluate(62_000, report('pass'), 'approved');
  t.equal(tr.decision?.action, 'PROMOTE');
  t.equal(m.state.phase, 'promoted');
  const g = machine({ steps: [5, 50, 100] });
  g.start(0);
  t.equal(g.evaluate(60_000, report('pass'), 'pending').decision?.action, 'PROMOTE', 'the gate only guards the final promotion');
});

t.test('an inconclusive step pauses after maxStepDuration; resume gives it a new deadline', async (t) => {
  const m = machine({ maxStepDurationMs: 120_000 });
  m.start(0);
  t.equal(m.evaluate(119_999, report('inconclusive')).decision?.action, 'CONTINUE');
  t.equal(m.state.phase, 'progressing');
  const tr = m.evaluate(120_000, report('inconclusive'));
  t.equal(m.state.phase, 'paused');
  t.match(tr.decision?.reasons[0], /still undecided after 2m/);
  m.resume(130_000);
  m.evaluate(131_000, report('inconclusive'));
  t.equal(m.state.phase, 'progressing', 'not paused again at once');
  t.equal(m.state.stepDeadlineAt, 250_000);
  const never = machine({ maxStepDurationMs: 0 });
  never.start(0);
  never.evaluate(10 ** 9, report('inconclusive'));
  t.equal(never.state.phase, 'progressing', 'maxStepDuration 0 never pauses');
});

t.test('dry run returns every verdict and changes nothing', async (t) => {
  const m = machine({ dryRun: true });
  m.start(0);
  let tr = m.evaluate(60_000, report('pass'));
  t.equal(tr.decision?.action, 'PROMOTE');
  t.equal(tr.decision?.dryRun, true);
  t.equal(tr.weight, null);
  t.equal(m.state.step, 0);
  for (let i = 0; i < 3; i++) tr = m.evaluate(61_000 + i, report('fail'));
  t.equal(tr.decision?.action, 'ROLLBACK');
  t.equal(tr.decision?.dryRun, true);
  t.equal(tr.weight, null);
  t.equal(m.state.phase, 'progressing');
  t.equal(m.state.canaryWeight, 5);
  tr = m.rollback(70_000);
  t.equal(tr.weight, 0, 'manual actions act even in dry run');
});

t.test('configure clamps the step to a shorter list and the state is plain data', async (t) => {
  const m = machine();
  m.start(0);
  for (let i = 0; i < 4; i++) m.promote(i);
  t.equal(m.state.step, 4);
  m.configure({ ...S, steps: [10, 50] });
  t.equal(m.state.step, 1);
  const copy = new RolloutMachine(S, JSON.parse(JSON.stringify(m.state)));
  t.same(copy.state, m.state, 'state survives a JSON round trip (persistence)');
});

t.test(
  'maxStepPolicy promote-if-no-harm: an undecided step is promoted at maxStepDuration when the harm bound is within budget',
  async (t) => {
    const harm = (within: boolean) => ({
      nextWeight: 0.1,
      budget: 0.5,
      alpha: 0.04,
      within,
      metrics: [],
      neededCanaryRequests: within ? 0 : 5000,
    });
    const m = machine({ maxStepDurationMs: 120_000, maxStepPolicy: 'promote-if-no-harm' });
    m.start(0);
    let tr = m.evaluate(119_000, { ...report('inconclusive'), harm: harm(true), promotable: false });
    t.equal(tr.decision?.action, 'CONTINUE', 'before the deadline an undecided step waits');
    tr = m.evaluate(120_000, { ...report('inconclusive'), harm: harm(false), promotable: false });
    t.equal(tr.decision?.action, 'CONTINUE', 'harm not bounded: keeps waiting, never pauses');
    t.equal(m.state.phase, 'progressing');
    t.match(tr.decision?.reasons[0], /waiting for the harm bound/);
    tr = m.evaluate(121_000, { ...report('inconclusive'), harm: harm(true), promotable: false });
    t.equal(tr.decision?.action, 'PROMOTE');
    t.equal(tr.weight, 10);
    t.match(tr.decision?.reasons[0], /weaker guarantee/, 'the decision says what the promotion did not show');
    const held = machine({ maxStepDurationMs: 120_000, maxStepPolicy: 'promote-if-no-harm' });
    held.start(0);
    const holding = { ...report('inconclusive'), harm: harm(true), promotable: false };
    holding.checks = [
      ...holding.checks,
      { name: 'anomaly.canary.p95', kind: 'anomaly', status: 'marginal', critical: false, hard: false, message: 'anomaly' },
    ];
    t.equal(held.evaluate(130_000, holding).decision?.action, 'CONTINUE', 'a holding check blocks it');
    const paused = machine({ maxStepDurationMs: 120_000, maxStepPolicy: 'pause' });
    paused.start(0);
    paused.evaluate(130_000, { ...report('inconclusive'), harm: harm(true), promotable: false });
    t.equal(paused.state.phase, 'paused', 'pause: the old behaviour, selectable');
  },
);

t.test('a promotable report promotes (harm route) and a critical crossing rolls back at once', async (t) => {
  const m = machine();
  m.start(0);
  const harm = { nextWeight: 0.1, budget: 0.5, alpha: 0.04, within: true, metrics: [], neededCanaryRequests: 0 };
  const tr = m.evaluate(60_000, { ...report('pass', { nonInferior: false }), promotable: true, harm, stepCanaryRequests: 300 });
  t.equal(tr.decision?.action, 'PROMOTE', 'promotable without non-inferiority: the harm route');
  t.match(tr.decision?.reasons[0], /harm at the next weight bounded/);
  t.equal(
    m.evaluate(120_000, { ...report('pass', { nonInferior: false }), promotable: true, stepCanaryRequests: 199 }).decision?.action,
    'CONTINUE',
    "minRequests counts the step's own canary requests",
  );
  const rb = m.evaluate(121_000, { ...report('fail'), criticalBreach: true });
  t.equal(rb.decision?.action, 'ROLLBACK', 'no failureLimit wait');
  t.match(rb.decision?.reasons[0], /critical check compare\.errorRate crossed its fail boundary/);
  t.match(rb.decision?.summary, /^ROLLBACK: critical check/, 'one-line summary');
  t.notOk(m.state.pinsSuspended, 'pins untouched unless the settings ask');
  const p = machine({ suspendPinsOnRollback: true });
  p.start(0);
  p.rollback(1, 'test');
  t.equal(p.state.pinsSuspended, true);
  p.retry(2);
  t.equal(p.state.pinsSuspended, false, 'a retry re-enables them');
  const counting = machine({ hardBreach: 'count' });
  counting.start(0);
  t.equal(
    counting.evaluate(1, { ...report('fail'), criticalBreach: true }).decision?.action,
    'CONTINUE',
    'hardBreach: count spends failureLimit instead',
  );
});
