/**
 * Chaos experiments end to end against a real canaryd with live traffic: steps run in order with their
 * rules, each step's availability and p50/p95/p99 are measured and judged, health checks between steps
 * abort the experiment when they fail (HTTP and error-rate bounds), stop and the kill switch end it, and
 * the reports survive a restart of a real canaryd process (a running one comes back as interrupted).
 */
import t from 'tap';
import { Agent, request } from 'undici';
import { call, until } from './helpers/admin.js';
import { configYaml, spawnCanaryd, tempDir } from './helpers/canaryd.js';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { startFaultRig, type FaultRig } from './helpers/faults.js';

const agent = new Agent({ connections: 8 });
t.teardown(() => agent.close());

/** Bounded background traffic: 4 clients, at most `maxMs`, until stopped. */
function traffic(url: string, maxMs = 20_000): { stop(): Promise<number> } {
  let on = true;
  let sent = 0;
  const deadline = Date.now() + maxMs;
  const workers = Array.from({ length: 4 }, async () => {
    while (on && Date.now() < deadline) {
      sent++;
      await request(`${url}/load/${sent % 10}`, { dispatcher: agent }).then(
        (r) => r.body.dump(),
        () => {},
      );
    }
  });
  return {
    stop: async () => {
      on = false;
      await Promise.all(workers);
      return sent;
    },
  };
}

const ended = (rig: FaultRig, id: string) =>
  until(
    `experiment ${id} to end`,
    async () => {
      const r = (await call(rig.sidecar.admin!, 'GET', `/api/v1/experiments/${id}`)).json;
      return r.state !== 'running' ? r : null;
    },
    20_000,
    50,
  );

t.test('two steps with live traffic: measured, judged, health-checked; rules come and go with their step', async (t) => {
  const rig = await startFaultRig('  enabled: true\n  maxErrorRate: 1\n');
  t.teardown(() => rig.stop());
  const events: any[] = [];
  rig.sidecar.events.subscribe((e) => e.type === 'experiment' && events.push(e));
  const load = traffic(rig.url);
  const started = await call(rig.sidecar.admin!, 'POST', '/api/v1/experiments', {
    body: {
      name: 'canary resilience',
      healthCheck: { url: `${rig.canary.url}/healthz`, timeout: '1s' },
      successCriterion: { minSuccessRate: 0.95, maxP99Ms: 2000, minRequests: 20 },
      steps: [
        { name: 'latency', duration: '1200ms', rules: [{ name: 'slow', probability: 1, delay: { ms: 20 } }] },
        { name: 'errors', duration: '1200ms', rules: [{ probability: 0.3, match: { path: '/load/*' }, abort: { status: 503 } }] },
      ],
    },
  });
  t.equal(started.status, 201, JSON.stringify(started.json));
  const id = started.json.id;
  t.match(started.json, {
    name: 'canary resilience',
    state: 'running',
    target: 'all',
    steps: [
      { name: 'latency', state: 'pending', rules: [`${id}.0.slow`] },
      { name: 'errors', state: 'pending', rules: [`${id}.1.abort-0`] },
    ],
  });
  t.equal(started.json.precheck, undefined, 'the pre-check runs before the first step');
  const again = await call(rig.sidecar.admin!, 'POST', '/api/v1/experiments', {
    body: { name: 'x', steps: [{ name: 's', duration: '1s', rules: [] }] },
  });
  t.equal(again.status, 409, 'one experiment at a time');
  await until('step 1 rules installed', () => rig.sidecar.faults.engine.rules.get(`${id}.0.slow`) !== undefined);
  t.equal(
    (await call(rig.sidecar.admin!, 'DELETE', `/api/v1/faults/${id}.0.slow`)).status,
    409,
    'experiment rules belong to the experiment',
  );
  const report = await ended(rig, id);
  await load.stop();

  t.equal(report.state, 'completed');
  t.equal(report.verdict, 'failed', 'the error step misses the 95 % criterion');
  t.match(report.precheck, { ok: true, detail: `GET ${rig.canary.url}/healthz answered 200` });
  const [lat, err] = report.steps;
  t.equal(lat.state, 'done');
  t.ok(lat.measured.requests >= 20, `step 1 measured ${lat.measured.requests} requests`);
  t.equal(lat.measured.availability, 1);
  t.ok(lat.measured.latencyMs.p50 >= 20 * 0.95, `p50 ${lat.measured.latencyMs.p50} ms includes the 20 ms delay`);
  t.ok(
    lat.measured.latencyMs.p95 >= lat.measured.latencyMs.p50 && lat.measured.latencyMs.p99 >= lat.measured.latencyMs.p95,
    'p50 <= p95 <= p99',
  );
  t.ok(
    lat.measured.faulted >= lat.measured.requests - 4,
    `the requests that finished in step 1 were faulted, but for the <= 4 in flight when it began (${lat.measured.faulted} of ${lat.measured.requests})`,
  );
  t.match(lat.criterion, { passed: true });
  t.match(lat.healthCheck, { ok: true });
  t.ok(err.measured.requests >= 20);
  const n = err.measured.requests;
  const sigma = Math.sqrt(n * 0.3 * 0.7);
  t.ok(Math.abs(err.measured.errors - 0.3 * n) <= 5 * sigma, `step 2 errors ${err.measured.errors} of ${n} within 5 sigma of 30 %`);
  t.ok(err.measured.availability < 0.95);
  t.match(err.criterion, { passed: false, reasons: [/success rate .* < 95.00%/] });
  t.ok(
    err.measured.byVersion.baseline.requests === err.measured.requests && err.measured.byVersion.canary.requests === 0,
    'per-version numbers',
  );
  t.ok(lat.endedAt <= err.startedAt, 'steps in order');
  t.notOk(
    rig.sidecar.faults.engine.rules.entries().some((e) => e.source === 'experiment'),
    'no experiment rule left',
  );
  t.same(
    events.map((e) => e.action),
    ['started', 'step', 'step', 'completed'],
  );
  const listed = (await call(rig.sidecar.admin!, 'GET', '/api/v1/experiments')).json;
  t.match(listed, { running: null, experiments: [{ id, name: 'canary resilience', state: 'completed', verdict: 'failed', steps: 2 }] });
});

t.test('a failed health check aborts: HTTP check, error-rate bound, pre-check', async (t) => {
  const rig = await startFaultRig('  enabled: true\n  maxErrorRate: 1\n');
  t.teardown(() => rig.stop());
  const load = traffic(rig.url);
  t.teardown(() => load.stop());
  const start = async (body: unknown) => {
    const r = await call(rig.sidecar.admin!, 'POST', '/api/v1/experiments', { body });
    t.equal(r.status, 201, JSON.stringify(r.json));
    return ended(rig, r.json.id);
  };
  const http = await start({
    name: 'http',
    healthCheck: { url: `${rig.canary.url}/status/200` },
    steps: [
      { name: 'one', duration: '300ms', rules: [{ probability: 0.1, delay: { ms: 1 } }] },
      { name: 'two', duration: '300ms', rules: [] },
    ],
  });
  t.equal(http.state, 'completed', 'a healthy check lets it run');
  const expect = await start({
    name: 'http-503',
    healthCheck: { url: `${rig.canary.url}/status/503`, expectStatus: 200 },
    steps: [{ name: 'one', duration: '300ms', rules: [] }],
  });
  t.match(expect, {
    state: 'aborted',
    verdict: 'failed',
    reason: /health check before the first step failed: GET .*\/status\/503 answered 503, expected 200/,
  });
  t.equal(expect.steps[0].state, 'skipped');
  const rate = await start({
    name: 'error-bound',
    healthCheck: { maxErrorRate: 0.05 },
    steps: [
      { name: 'hurts', duration: '600ms', rules: [{ probability: 0.5, abort: { status: 500 } }] },
      { name: 'never', duration: '300ms', rules: [] },
    ],
  });
  t.match(rate, { state: 'aborted', verdict: 'failed', reason: /health check after step "hurts" failed: error rate .* > 5.00%/ });
  t.same(
    rate.steps.map((s: any) => s.state),
    ['done', 'skipped'],
  );
  const down = await start({
    name: 'down',
    healthCheck: { url: 'http://127.0.0.1:9/', timeout: '500ms' },
    steps: [{ name: 'one', duration: '300ms', rules: [] }],
  });
  t.match(down, { state: 'aborted', reason: /GET http:\/\/127.0.0.1:9\/ failed: / });
});

t.test('stop, and the kill switch, end a running experiment; its rules go with it', async (t) => {
  const rig = await startFaultRig('  enabled: true\n  maxErrorRate: 1\n');
  t.teardown(() => rig.stop());
  const body = {
    name: 'long',
    steps: [{ name: 'forever', duration: '10m', rules: [{ probability: 1, match: { path: '/p' }, abort: { status: 500 } }] }],
  };
  const a = (await call(rig.sidecar.admin!, 'POST', '/api/v1/experiments', { body })).json;
  t.equal((await request(`${rig.url}/p`, { dispatcher: agent })).statusCode, 500);
  const stopped = await call(rig.sidecar.admin!, 'POST', `/api/v1/experiments/${a.id}/stop?reason=enough`);
  t.equal(stopped.status, 200);
  t.match(stopped.json, {
    state: 'stopped',
    verdict: 'inconclusive',
    reason: 'enough',
    steps: [{ state: 'stopped', measured: { requests: 1, errors: 1 } }],
  });
  t.equal((await request(`${rig.url}/p`, { dispatcher: agent })).statusCode, 200, 'its rules are gone');
  t.equal((await call(rig.sidecar.admin!, 'POST', `/api/v1/experiments/${a.id}/stop`)).status, 409, 'not running any more');

  const b = (await call(rig.sidecar.admin!, 'POST', '/api/v1/experiments', { body })).json;
  await call(rig.sidecar.admin!, 'DELETE', '/api/v1/faults');
  const killed = (await call(rig.sidecar.admin!, 'GET', `/api/v1/experiments/${b.id}`)).json;
  t.match(killed, { state: 'aborted', reason: /kill switch/ });
  const refused = await call(rig.sidecar.admin!, 'POST', '/api/v1/experiments', { body });
  t.equal(refused.status, 409, 'no experiment while halted');
  t.equal(refused.json.error, 'CANARYD_ERR_FAULTS_REFUSED');
});

t.test('reports survive a restart of a real canaryd; a running one comes back interrupted', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  t.teardown(async () => (await base.close(), await can.close()));
  const yaml = configYaml(base.url, can.url, 'faults: { enabled: true, maxErrorRate: 1 }\n', tempDir('canaryd-exp-state-'));
  const p1 = await spawnCanaryd(yaml);
  const post = async (admin: string, body: unknown) => {
    const r = await request(`${admin}/api/v1/experiments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return (await r.body.json()) as any;
  };
  const done = await post(p1.adminUrl, {
    name: 'short',
    steps: [{ name: 'a', duration: '200ms', rules: [{ probability: 1, delay: { ms: 1 } }] }],
  });
  await until(
    'short experiment done',
    async () => ((await (await request(`${p1.adminUrl}/api/v1/experiments/${done.id}`)).body.json()) as any).state === 'completed',
    10_000,
  );
  const running = await post(p1.adminUrl, {
    name: 'long',
    steps: [{ name: 'a', duration: '10m', rules: [{ probability: 1, delay: { ms: 1 } }] }],
  });
  t.equal(running.state, 'running');
  p1.child.kill('SIGKILL');
  await p1.exited;

  const p2 = await spawnCanaryd(yaml);
  t.teardown(() => {
    p2.child.kill('SIGKILL');
  });
  const list = (await (await request(`${p2.adminUrl}/api/v1/experiments`)).body.json()) as any;
  t.match(list.experiments, [
    { id: running.id, state: 'interrupted', reason: 'canaryd stopped while the experiment ran' },
    { id: done.id, state: 'completed', verdict: 'inconclusive' },
  ]);
  const report = (await (await request(`${p2.adminUrl}/api/v1/experiments/${running.id}`)).body.json()) as any;
  t.match(report.steps, [{ state: 'stopped' }]);
  t.equal(list.running, null);
  const rules = (await (await request(`${p2.adminUrl}/api/v1/faults`)).body.json()) as any;
  t.same(rules.rules, [], 'no experiment rule survives a restart');
});
