/**
 * The rollout controller inside a real canaryd (in-process Sidecar, real sockets): operator commands through
 * the admin API, the analysis tick driven by a ManualClock with a scripted judge (the judge itself is tested
 * on data elsewhere), instant rollback seen by the next request, audit log lines, metrics, 400/401/409.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { ManualClock } from '../core/index.js';
import type { Judge, JudgeSettings, Verdict } from '../analysis/index.js';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml, tempDir } from './helpers/canaryd.js';
import { call, startAdminSidecar, type AdminSidecar, type TapTest } from './helpers/admin.js';
import { report } from './helpers/reports.js';

const TOKEN = 'rollout-token';
const ROLLOUT = `rollout: { steps: [5, 25, 50, 100], interval: 10s, minRequests: 0, analysisInterval: 1h, failureLimit: 2, evidence: rollout }\n`;

interface Setup extends AdminSidecar {
  clock: ManualClock;
  verdict: { next: Verdict; hard?: boolean };
  /** the settings of every judge call, in order */
  seen: JudgeSettings[];
  stateDir: string;
}

async function setup(t: TapTest, extra = ROLLOUT, stateDir = tempDir()): Promise<Setup> {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const clock = new ManualClock(1_700_000_000_000);
  const verdict: Setup['verdict'] = { next: 'inconclusive' };
  const seen: JudgeSettings[] = [];
  const judge: Judge = (input, settings) => (
    seen.push(settings),
    { ...report(verdict.next, { hardBreach: verdict.hard, at: input.at }), window: { from: input.from, to: input.at } }
  );
  const yaml = configYaml(base.url, can.url, extra, stateDir).replace(
    'admin: { listen: "127.0.0.1:0" }',
    `admin: { listen: "127.0.0.1:0", token: "${TOKEN}" }`,
  );
  const s = await startAdminSidecar(yaml, { judge, clock });
  t.teardown(async () => (await s.stop(), await base.close(), await can.close()));
  return Object.assign(s, { clock, verdict, seen, stateDir });
}

const post = (s: AdminSidecar, path: string, body?: unknown) => call(s.app, 'POST', path, { token: TOKEN, body });

async function versionOf(url: string): Promise<string> {
  const r = await request(url);
  await r.body.dump();
  return String(r.headers['x-canaryd-version']);
}

t.test('operator commands move the weight at once and answer 409 when they do not fit', async (t) => {
  const s = await setup(t);
  let r = await call(s.app, 'GET', '/api/v1/rollout');
  t.equal(r.json.phase, 'idle');
  t.equal((await call(s.app, 'GET', '/api/v1/analysis')).status, 404, 'no analysis before a rollout');
  t.equal((await call(s.app, 'POST', '/api/v1/rollout/start')).status, 401, 'mutating routes need the token');
  r = await post(s, '/api/v1/rollout/start', { reason: 'deploy 42' });
  t.equal(r.status, 200);
  t.equal(r.json.phase, 'progressing');
  t.equal(r.json.canaryWeight, 5);
  t.equal(s.sidecar.traffic.weight().canary, 5);
  r = await post(s, '/api/v1/rollout/start');
  t.equal(r.status, 409);
  t.match(r.json.message, /already progressing/);
  r = await call(s.app, 'PUT', '/api/v1/weights', { token: TOKEN, body: { canary: 50 } });
  t.equal(r.status, 409, 'a rollout owns the weight');
  t.match(r.json.message, /rollout is progressing/);
  r = await post(s, '/api/v1/rollout/promote', { full: 'yes' });
  t.equal(r.status, 400);
  t.match(r.json.message, /body\.full/);
  r = await post(s, '/api/v1/rollout/promote');
  t.equal(r.json.canaryWeight, 25);
  t.equal(r.json.step, 1);
  r = await post(s, '/api/v1/rollout/pause', { reason: 'lunch' });
  t.equal(r.json.phase, 'paused');
  t.match(r.json.reason, /lunch/);
  t.equal((await post(s, '/api/v1/rollout/pause')).status, 409);
  r = await post(s, '/api/v1/rollout/resume');
  t.equal(r.json.phase, 'progressing');
  // instant rollback: the very next request reaches baseline
  await post(s, '/api/v1/rollout/promote', { full: true }).then((x) => t.equal(x.json.phase, 'promoted'));
  t.equal(await versionOf(s.url), 'canary');
  t.equal((await post(s, '/api/v1/rollout/rollback')).status, 409, 'a finished rollout cannot be rolled back');
  await post(s, '/api/v1/rollout/start');
  r = await post(s, '/api/v1/rollout/rollback', { reason: 'pager' });
  t.equal(r.json.phase, 'rolledback');
  t.equal(r.json.canaryWeight, 0);
  for (let i = 0; i < 20; i++) t.equal(await versionOf(s.url), 'baseline');
  r = await post(s, '/api/v1/rollout/retry');
  t.equal(r.json.phase, 'progressing');
  t.equal(r.json.id, 3);
  const status = (await call(s.app, 'GET', '/api/v1/status')).json;
  t.equal(status.rollout.phase, 'progressing');
  t.equal(status.weights.owner, 'rollout');
  const rb = (await call(s.app, 'GET', '/api/v1/rollbacks')).json.rollbacks;
  t.equal(rb.length, 1);
  t.match(rb[0].reason, /pager/);
  t.equal((await call(s.app, 'GET', '/api/v1/decisions?limit=0')).status, 400, 'limit is validated');
});

t.test('the analysis tick: failureLimit, hard breach, promotion, records and metrics', async (t) => {
  const s = await setup(t);
  await post(s, '/api/v1/rollout/start');
  const ctl = s.sidecar.rollout;
  s.verdict.next = 'inconclusive';
  s.clock.advance(11_000);
  t.equal(ctl.tick()?.decision?.action, 'CONTINUE', 'silence holds');
  s.verdict.next = 'pass';
  t.equal(ctl.tick()?.decision?.action, 'PROMOTE', 'pass + non-inferior + interval promotes');
  t.equal(s.sidecar.traffic.weight().canary, 25);
  s.verdict.next = 'fail';
  s.clock.advance(1000);
  t.equal(ctl.tick()?.decision?.action, 'CONTINUE', 'one failure spends the budget');
  s.clock.advance(1000);
  const tr = ctl.tick();
  t.equal(tr?.decision?.action, 'ROLLBACK', 'failureLimit 2 reached');
  t.equal(s.sidecar.traffic.weight().canary, 0);
  t.equal(await versionOf(s.url), 'baseline');
  const a = await call(s.app, 'GET', '/api/v1/analysis');
  t.equal(a.json.verdict, 'fail', 'the latest report with its checks');
  t.equal(a.json.checks[0].name, 'compare.errorRate');
  const decisions = (await call(s.app, 'GET', '/api/v1/decisions')).json.decisions;
  t.same(
    decisions.slice(0, 3).map((d: any) => d.action),
    ['ROLLBACK', 'CONTINUE', 'PROMOTE'],
    'newest first, every change recorded',
  );
  t.equal(decisions[0].report.verdict, 'fail', 'each decision carries its report');
  // the hard breach path
  await post(s, '/api/v1/rollout/retry');
  s.verdict.hard = true;
  s.clock.advance(1000);
  t.match(ctl.tick()?.decision?.reasons[0], /hard SLO breach/);
  t.equal(ctl.status().phase, 'rolledback');
  const lines = readFileSync(join(s.stateDir, 'audit.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.ok(
    lines.every((l) => typeof l.at === 'number' && typeof l.type === 'string' && typeof l.reason === 'string'),
    'every audit line has at, type, reason',
  );
  t.same(
    [...new Set(lines.map((l) => l.type))].sort(),
    ['decision', 'pins', 'rollback', 'weights'],
    'decisions, rollbacks, the pins a rollback suspends and weight changes are audited',
  );
  t.equal(lines.filter((l) => l.type === 'rollback').length, 2);
  const metrics = (await call(s.app, 'GET', '/metrics')).body;
  t.match(metrics, /canary_decision_total\{action="ROLLBACK"\} 2/);
  t.match(metrics, /canary_rollout_phase\{phase="rolledback"\} 1/);
  t.match(metrics, /canary_analysis_check_status\{check="compare.errorRate"\} 0/);
  t.match(metrics, /canary_traffic_percent\{version="canary"\} 0/);
});

t.test("each analysis judges with its step's α and promote margin (analysis/rollout/plan.ts)", async (t) => {
  const s = await setup(t);
  await post(s, '/api/v1/rollout/start');
  const ctl = s.sidecar.rollout;
  const at: JudgeSettings[] = [];
  for (let k = 0; k < 3; k++) {
    s.clock.advance(11_000);
    s.verdict.next = 'pass';
    t.equal(ctl.tick()?.decision?.action, 'PROMOTE', `step ${k + 1} promoted`);
    at.push(s.seen[s.seen.length - 1]);
  }
  t.equal(ctl.status().phase, 'promoted');
  // steps [5, 25, 50, 100]: W = 50, promote margins 10 % × min(10, 50/w)
  t.same(
    at.map((x) => Math.round(x.promoteMaxDegradation! * 1e9) / 1e9),
    [1, 0.2, 0.1],
  );
  t.same(
    at.map((x) => x.maxDegradation),
    [0.1, 0.1, 0.1],
    'the rollback margin never moves',
  );
  // evidence carried across steps (the default): one test over the rollout spends the whole 1 %, its
  // e-process restarting at each step's start with a fixed share (¾ on the rollout's start, ⅛ per later step)
  t.same(
    at.map((x) => x.alpha),
    [0.01, 0.01, 0.01],
  );
  t.same(
    at.map((x) => x.failMix),
    [
      { rollout: 0.75, step: 0, rest: 0.25 },
      { rollout: 0.75, step: 0.125, rest: 0.125 },
      { rollout: 0.75, step: 0.125, rest: 0 },
    ],
  );
  // falsePromotionRate 5 %: ⅕ to the margin tests, ⅘ to the harm bound, judged at the next step's weight
  t.same(
    at.map((x) => Math.round(x.promoteAlpha! * 1e12) / 1e12),
    [0.01, 0.01, 0.01],
  );
  t.same(
    at.map((x) => ({ ...x.harm!, alpha: Math.round(x.harm!.alpha * 1e12) / 1e12 })),
    [0.25, 0.5, 1].map((nextWeight) => ({ nextWeight, budget: nextWeight === 1 ? 0.25 : 0.5, alpha: 0.04 })),
  );
  t.equal(at[1].promoteMarginBasis, 'exposure 25 % of 50 %');
});

t.test('dry run: verdicts are recorded, the weight never moves', async (t) => {
  const s = await setup(t, ROLLOUT.replace('failureLimit: 2', 'failureLimit: 1, dryRun: true'));
  await post(s, '/api/v1/rollout/start');
  s.verdict.next = 'fail';
  s.clock.advance(1000);
  const tr = s.sidecar.rollout.tick();
  t.equal(tr?.decision?.action, 'ROLLBACK');
  t.equal(tr?.decision?.dryRun, true);
  t.equal(s.sidecar.traffic.weight().canary, 5, 'weight unchanged');
  t.equal(s.sidecar.rollout.status().phase, 'progressing');
  const rb = (await call(s.app, 'GET', '/api/v1/rollbacks')).json.rollbacks;
  t.equal(rb[0].dryRun, true, 'the would-be rollback is in the audit trail, marked');
  t.ok(
    s.lines.some((l) => l.event === 'decision' && l.dryRun === true && /\[dry run\] ROLLBACK/.test(l.msg)),
    'and logged',
  );
});

t.test('state survives a restart of the sidecar: same step, same weight', async (t) => {
  const stateDir = tempDir();
  const a = await setup(t, ROLLOUT, stateDir);
  await post(a, '/api/v1/rollout/start');
  await post(a, '/api/v1/rollout/promote');
  await post(a, '/api/v1/rollout/promote');
  await a.stop();
  const b = await setup(t, ROLLOUT, stateDir);
  const st = (await call(b.app, 'GET', '/api/v1/rollout')).json;
  t.equal(st.phase, 'progressing');
  t.equal(st.step, 2);
  t.equal(st.canaryWeight, 50);
  t.equal(b.sidecar.traffic.weight().canary, 50);
  t.equal((await call(b.app, 'GET', '/api/v1/decisions')).json.decisions.length, 3, 'decisions reloaded from the audit log');
  const audit = readFileSync(join(stateDir, 'audit.jsonl'), 'utf8');
  t.match(audit, /"type":"recovery"/);
});
