/**
 * Rollout webhooks against a real local HTTP receiver: pre-rollout gate approval, refusal (409, rollout
 * stays idle), timeout and retries; the confirm-promotion gate holding the final step until it approves;
 * post-rollout and rollback notifications with a Slack-compatible `text`.
 */
import t from 'tap';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ManualClock } from '../core/index.js';
import type { Judge, Verdict } from '../analysis/index.js';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml } from './helpers/canaryd.js';
import { call, startAdminSidecar, until, type AdminSidecar, type TapTest } from './helpers/admin.js';
import { report } from './helpers/reports.js';

interface Receiver {
  url: string;
  calls: Array<{ path: string; body: any }>;
  /** answer per path: status code, or 'hang' */
  answers: Record<string, number | 'hang' | number[]>;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const calls: Receiver['calls'] = [];
  const answers: Receiver['answers'] = {};
  const hanging: IncomingMessage[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const path = req.url ?? '/';
      calls.push({ path, body: JSON.parse(body) });
      let a = answers[path] ?? 200;
      if (Array.isArray(a)) a = a.length > 1 ? a.shift()! : a[0];
      if (a === 'hang') return void hanging.push(req);
      res.writeHead(a, { 'content-type': 'text/plain' }).end(a >= 300 ? 'not today' : 'ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    calls,
    answers,
    close: async () => {
      for (const r of hanging) r.socket.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

const TOKEN = 'hook-token';

async function setup(
  t: TapTest,
  hooks: string,
  steps = '[5, 50, 100]',
): Promise<AdminSidecar & { rx: Receiver; clock: ManualClock; verdict: { next: Verdict } }> {
  const rx = await startReceiver();
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const clock = new ManualClock(1_700_000_000_000);
  const verdict = { next: 'pass' as Verdict };
  const judge: Judge = (input) => report(verdict.next, { at: input.at });
  const yaml = configYaml(
    base.url,
    can.url,
    `rollout:\n  steps: ${steps}\n  interval: 10s\n  minRequests: 0\n  analysisInterval: 1h\n  webhooks:\n${hooks.replaceAll('RX', rx.url)}`,
  ).replace('admin: { listen: "127.0.0.1:0" }', `admin: { listen: "127.0.0.1:0", token: "${TOKEN}" }`);
  const s = await startAdminSidecar(yaml, { judge, clock });
  t.teardown(async () => (await s.stop(), await rx.close(), await base.close(), await can.close()));
  return Object.assign(s, { rx, clock, verdict });
}

const post = (s: AdminSidecar, path: string, body?: unknown) => call(s.app, 'POST', path, { token: TOKEN, body });

t.test('pre-rollout gate: refusal keeps the rollout idle with a 409 naming the gate; approval starts it', async (t) => {
  const s = await setup(t, `    - { name: change-window, type: pre-rollout, url: "RX/gate", retries: 0, metadata: { team: payments } }\n`);
  s.rx.answers['/gate'] = 403;
  let r = await post(s, '/api/v1/rollout/start');
  t.equal(r.status, 409);
  t.equal(r.json.error, 'CANARYD_ERR_GATE_REFUSED');
  t.match(r.json.message, /pre-rollout gate change-window refused: HTTP 403 \(not today\)/);
  t.equal(s.sidecar.rollout.status().phase, 'idle');
  t.equal(s.sidecar.traffic.weight().canary, 0);
  const call0 = s.rx.calls[0];
  t.equal(call0.body.type, 'pre-rollout');
  t.equal(call0.body.metadata.team, 'payments');
  t.match(call0.body.text, /^canaryd: pre-rollout gate/);
  s.rx.answers['/gate'] = 200;
  r = await post(s, '/api/v1/rollout/start');
  t.equal(r.status, 200);
  t.equal(r.json.phase, 'progressing');
});

t.test('gate timeouts refuse; 5xx answers are retried', async (t) => {
  const s = await setup(t, `    - { name: slow, type: pre-rollout, url: "RX/hang", timeout: 300ms, retries: 0 }\n`);
  s.rx.answers['/hang'] = 'hang';
  const r = await post(s, '/api/v1/rollout/start');
  t.equal(r.status, 409);
  t.match(r.json.message, /slow refused: timed out after 300 ms/);
  const f = await setup(t, `    - { name: flaky, type: pre-rollout, url: "RX/flaky", timeout: 2s, retries: 2 }\n`);
  f.rx.answers['/flaky'] = [503, 502, 200];
  const ok = await post(f, '/api/v1/rollout/start');
  t.equal(ok.status, 200, 'approved on the third attempt');
  t.equal(f.rx.calls.length, 3);
  const g = await setup(t, `    - { name: no, type: pre-rollout, url: "RX/no", retries: 3 }\n`);
  g.rx.answers['/no'] = 409;
  t.equal((await post(g, '/api/v1/rollout/start')).status, 409);
  t.equal(g.rx.calls.length, 1, 'a 4xx is an answer, not retried');
});

t.test('confirm-promotion gate holds the final step until it approves; notifications follow', async (t) => {
  const s = await setup(
    t,
    `    - { name: approve-100, type: confirm-promotion, url: "RX/confirm", retries: 0 }\n    - { name: done, type: post-rollout, url: "RX/done" }\n    - { name: pager, type: rollback, url: "RX/rollback" }\n`,
    '[50, 100]',
  );
  s.rx.answers['/confirm'] = 403;
  await post(s, '/api/v1/rollout/start');
  const ctl = s.sidecar.rollout;
  s.clock.advance(11_000);
  let tr = ctl.tick();
  t.equal(tr?.decision?.action, 'CONTINUE');
  t.equal(tr?.awaitingConfirmation, true);
  await until('the gate refused', () => ctl.status().confirmGate === 'refused');
  s.clock.advance(1_000);
  tr = ctl.tick();
  t.equal(tr?.decision?.action, 'CONTINUE', 'a refusal holds the step');
  t.equal(s.sidecar.traffic.weight().canary, 50);
  t.equal(s.rx.calls.filter((c) => c.path === '/confirm').length, 1, 'not re-asked before the recheck delay');
  s.rx.answers['/confirm'] = 200;
  s.clock.advance(10_000);
  ctl.tick();
  await until('the gate approved', () => ctl.status().confirmGate === 'approved');
  tr = ctl.tick();
  t.equal(tr?.decision?.action, 'PROMOTE');
  t.equal(ctl.status().phase, 'promoted');
  const done = await until('post-rollout notification', () => s.rx.calls.find((c) => c.path === '/done'));
  t.equal(done.body.type, 'post-rollout');
  t.match(done.body.text, /PROMOTE .*canary at 100 %/);
  await post(s, '/api/v1/rollout/start');
  await post(s, '/api/v1/rollout/rollback', { reason: 'error budget' });
  const rb = await until('rollback notification', () => s.rx.calls.find((c) => c.path === '/rollback'));
  t.equal(rb.body.type, 'rollback');
  t.match(rb.body.text, /ROLLBACK .*error budget/);
  t.same(rb.body.versions, { baseline: 'v1', canary: 'v2' });
});
