/**
 * The safety switches, against a real canaryd: production refusal (config validation naming the key, the
 * admin API's 409, `canaryd validate` as a real process), auto-disable on the client-seen error rate (with
 * its minimum of requests, the audit record, the event and the log line; the latch survives a restart),
 * faults.maxActive, the kill switch lifting in-flight faults, and no leaked sockets or timers after
 * thousands of faults.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { parseConfigText } from '../config/index.js';
import { Sidecar } from '../sidecar.js';
import { call, memoryLogger, until } from './helpers/admin.js';
import { allowUnauthenticatedAdmin, configYaml, tempDir } from './helpers/canaryd.js';
import { handles, rawRequest, recorded, startFaultRig } from './helpers/faults.js';

const agent = new Agent({ connections: 32 });
t.teardown(() => agent.close());
const get = async (url: string) => {
  const r = await request(url, { dispatcher: agent });
  await r.body.dump();
  return r.statusCode;
};
const problems = (yaml: string, env: NodeJS.ProcessEnv = {}): string[] => {
  try {
    parseConfigText(yaml, env);
    return [];
  } catch (e) {
    return (e as { details?: string[] }).details ?? [String(e)];
  }
};

t.test('production: faults.enabled refused by config validation (environment or NODE_ENV) unless allowInProduction', async (t) => {
  const base = configYaml('http://127.0.0.1:1', 'http://127.0.0.1:2');
  t.same(problems(`${base}environment: production\nfaults: { enabled: true }\n`), [
    'faults.enabled: fault injection is refused in production (environment: production); set faults.allowInProduction: true to allow it',
  ]);
  t.same(problems(`${base}faults: { enabled: true }\n`, { NODE_ENV: 'production' }), [
    'faults.enabled: fault injection is refused in production (NODE_ENV=production); set faults.allowInProduction: true to allow it',
  ]);
  t.same(problems(`${base}environment: production\nfaults: { enabled: true, allowInProduction: true }\n`), []);
  t.same(problems(`${base}environment: production\nfaults: { enabled: false }\n`), [], 'off is always fine');
  t.same(
    problems(
      `${base}faults: { enabled: true, rules: [{ name: a, probability: 1 }, { name: a, probability: 2, delay: { ms: 1 }, abort: { status: 500 } }] }\n`,
    ),
    [
      // schema and semantic problems come in one pass (issue 19): the schema's range error, then every semantic one
      'faults.rules[1].probability: must be <= 1, got 2',
      "faults.rules[0]: set exactly one fault kind (delay, abort, reset, hang, throttle, truncate, dependency), got none (on a dependency's TCP connections: latency, bandwidth, slowClose, timeout, resetPeer, refuse, slicer, limitData)",
      'faults.rules[1].name: duplicate rule name "a"',
      "faults.rules[1]: set exactly one fault kind (delay, abort, reset, hang, throttle, truncate, dependency), got delay and abort (on a dependency's TCP connections: latency, bandwidth, slowClose, timeout, resetPeer, refuse, slicer, limitData)",
    ],
  );
  t.same(
    problems(
      `${base}faults: { enabled: true, rules: [{ name: a, probability: 1 }, { name: a, probability: 1, delay: { minMs: 5 }, abort: { status: 500 } }] }\n`,
    ),
    [
      "faults.rules[0]: set exactly one fault kind (delay, abort, reset, hang, throttle, truncate, dependency), got none (on a dependency's TCP connections: latency, bandwidth, slowClose, timeout, resetPeer, refuse, slicer, limitData)",
      'faults.rules[1].name: duplicate rule name "a"',
      "faults.rules[1]: set exactly one fault kind (delay, abort, reset, hang, throttle, truncate, dependency), got delay and abort (on a dependency's TCP connections: latency, bandwidth, slowClose, timeout, resetPeer, refuse, slicer, limitData)",
      'faults.rules[1].delay: minMs and maxMs go together',
    ],
  );

  // the real CLI, as a process: exit 1 naming the key
  const dir = tempDir();
  const file = join(dir, 'canaryd.yaml');
  writeFileSync(file, `${base}faults: { enabled: true }\n`);
  const run = await new Promise<{ code: number; out: string }>((resolve) =>
    execFile(
      process.execPath,
      ['dist/cli/canaryd.js', 'validate', file],
      { env: { ...process.env, NODE_ENV: 'production' } },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as any).code) : 0, out: stdout + stderr }),
    ),
  );
  t.equal(run.code, 1);
  t.match(run.out, /faults\.enabled: fault injection is refused in production \(NODE_ENV=production\)/);

  // running in production with faults off: the API refuses to switch one on
  const rig = await startFaultRig('  enabled: false\n', { extra: 'environment: production' });
  t.teardown(() => rig.stop());
  const create = await call(rig.sidecar.admin!, 'POST', '/api/v1/faults', { body: { name: 'x', probability: 1, abort: { status: 500 } } });
  t.equal(create.status, 409);
  t.equal(create.json.error, 'CANARYD_ERR_FAULTS_REFUSED');
  t.match(create.json.message, /refused in production \(environment: production\); set faults.allowInProduction: true/);
  const exp = await call(rig.sidecar.admin!, 'POST', '/api/v1/experiments', {
    body: { name: 'e', steps: [{ name: 's', duration: '1s', rules: [{ probability: 1, delay: { ms: 1 } }] }] },
  });
  t.equal(exp.status, 409);
  t.equal(exp.json.error, 'CANARYD_ERR_FAULTS_REFUSED');
  t.equal((await call(rig.sidecar.admin!, 'GET', '/api/v1/faults')).json.state, 'refused');
  t.notOk(rig.sidecar.proxy.stages.includes('faults'), 'the engine is out of the request path');
});

t.test(
  'auto-disable: trips on the client-seen error rate once the window has minRequests; audited, evented, logged; latched across a restart',
  async (t) => {
    const faults =
      '  enabled: true\n  maxErrorRate: 0.05\n  autoDisable: { window: 60s, minRequests: 20 }\n  rules:\n    - { name: bad, probability: 1, match: { path: /bad }, abort: { status: 500 } }\n';
    const rig = await startFaultRig(faults);
    t.teardown(() => rig.stop());
    const events: any[] = [];
    rig.sidecar.events.subscribe((e) => e.type === 'fault' && events.push(e));
    t.equal(await get(`${rig.url}/bad`), 500);
    t.equal(await get(`${rig.url}/ok`), 200);
    t.equal(rig.sidecar.faults.engine.state, 'armed', 'one error in two requests does not trip it (minRequests)');
    t.equal(await get(`${rig.url}/bad`), 500);
    for (let i = 0; i < 16; i++) t.equal(await get(`${rig.url}/ok`), 200);
    t.equal(rig.sidecar.faults.engine.state, 'armed', '2 errors in 19 requests: below minRequests still');
    t.equal(await get(`${rig.url}/ok`), 200);
    t.equal(rig.sidecar.faults.engine.state, 'halted', '2/20 = 10% > 5%: tripped');
    t.equal(await get(`${rig.url}/bad`), 200, 'every fault is off');
    t.notOk(rig.sidecar.proxy.stages.includes('faults'), 'and the engine is out of the request path');

    const audit = readFileSync(join(rig.stateDir, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const rec = audit.find((a) => a.type === 'faults-auto-disabled');
    t.match(rec, { type: 'faults-auto-disabled', errorRate: 0.1, errors: 2, requests: 20, maxErrorRate: 0.05, windowMs: 60_000 });
    t.type(rec.at, 'number');
    t.match(rec.reason, /client-seen error rate 10\.0% \(2\/20 requests in the last 60s\) exceeded faults.maxErrorRate 0.05/);
    t.ok(
      events.some((e) => e.action === 'auto-disabled' && e.halted.kind === 'auto-disable'),
      'a fault event',
    );
    const line = rig.lines.find((l) => l.event === 'faults_auto_disabled');
    t.equal(line?.level, 50, 'logged at error level');

    const status = await call(rig.sidecar.admin!, 'GET', '/api/v1/faults');
    t.match(status.json, { state: 'halted', halted: { kind: 'auto-disable', by: 'auto-disable' } });
    t.match(status.json.rules[0], { name: 'bad', enabled: true, active: false });

    // a restart keeps the latch: the chaos that tripped it does not come back by itself
    await rig.sidecar.stop(200);
    const { logger, lines } = memoryLogger();
    const again = new Sidecar({
      config: parseConfigText(
        allowUnauthenticatedAdmin(configYaml(rig.baseline.url, rig.canary.url, `\nfaults:\n${faults}`, rig.stateDir)),
        {},
      ),
      logger,
    });
    await again.start();
    t.teardown(() => again.stop(200));
    t.equal(again.faults.engine.state, 'halted', 'still halted after the restart');
    t.ok(
      lines.some((l) => l.event === 'faults_halted'),
      'and says so at start',
    );
    t.equal(await get(`http://127.0.0.1:${again.proxyAddress!.port}/bad`), 200);
    const resumed = await call(again.admin!, 'POST', '/api/v1/faults/resume');
    t.equal(resumed.status, 200);
    t.equal(resumed.json.state, 'armed');
    t.equal(await get(`http://127.0.0.1:${again.proxyAddress!.port}/bad`), 500, 're-armed by resume');
    const audit2 = readFileSync(join(rig.stateDir, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    t.ok(
      audit2.some((a) => a.type === 'faults-resumed'),
      'resume audited',
    );
  },
);

t.test('maxActive caps concurrently faulted requests; the rest pass through, counted as capped', async (t) => {
  const rig = await startFaultRig('  enabled: true\n  maxErrorRate: 1\n  maxActive: 3\n');
  t.teardown(() => rig.stop());
  rig.sidecar.faults.create({ name: 'slow', probability: 1, delay: { ms: 60_000 } });
  const held = Array.from({ length: 3 }, () => request(`${rig.url}/held`, { dispatcher: agent }));
  await until('3 requests held', () => rig.sidecar.faults.engine.inflight === 3);
  for (let i = 0; i < 7; i++) t.equal(await get(`${rig.url}/through`), 200, 'beyond the cap: not delayed');
  const m = rig.sidecar.faults.metrics();
  t.match(m, { capped: 7, inflight: 3, chaosInjected: 3 });
  t.match(await rig.sidecar.registry.getSingleMetricAsString('chaos_capped_total'), /chaos_capped_total 7/);
  t.match(await rig.sidecar.registry.getSingleMetricAsString('chaos_inflight_requests'), /chaos_inflight_requests 3/);
  t.equal(recorded(rig.sidecar, 'baseline').clean, 7, 'capped requests are clean traffic');
  rig.sidecar.faults.kill('test over', 'test');
  for (const r of await Promise.all(held)) {
    t.equal(r.statusCode, 200);
    await r.body.dump();
  }
});

t.test('kill switch: every fault off at once, in-flight faults lifted, audited; resume re-arms', async (t) => {
  const rig = await startFaultRig('  enabled: true\n  maxErrorRate: 1\n');
  t.teardown(() => rig.stop());
  const f = rig.sidecar.faults;
  f.create({ name: 'hang', probability: 1, match: { path: '/stuck' }, hang: { maxMs: 60_000 } });
  f.create({ name: 'slow', probability: 1, match: { path: '/slow-ish' }, delay: { ms: 60_000 } });
  f.create({ name: 'thin', probability: 1, match: { path: '/download' }, throttle: { bytesPerSecond: 1000 } });
  const inFlight = [
    ...Array.from({ length: 3 }, () => request(`${rig.url}/stuck`, { dispatcher: agent })),
    ...Array.from({ length: 2 }, () => request(`${rig.url}/slow-ish`, { dispatcher: agent })),
  ];
  const thin = await request(`${rig.url}/download?size=50000`, { dispatcher: agent });
  await until('6 faulted requests in flight', () => f.engine.inflight === 6);
  const killed = await call(rig.sidecar.admin!, 'DELETE', '/api/v1/faults?reason=game%20day%20over');
  t.equal(killed.status, 200);
  t.match(killed.json, { released: 6, state: 'halted', halted: { kind: 'kill', reason: 'game day over' } });
  for (const r of await Promise.all(inFlight)) {
    t.equal(r.statusCode, 200, 'a lifted hang or delay goes to the upstream after all');
    await r.body.dump();
  }
  const s = performance.now();
  t.equal((await thin.body.arrayBuffer()).byteLength, 50_000, 'a lifted throttle sends the rest at full speed');
  t.ok(performance.now() - s < 5000);
  t.equal(await get(`${rig.url}/stuck`), 200, 'nothing fires after the kill');
  t.equal(f.engine.inflight, 0);
  const audit = readFileSync(join(rig.stateDir, 'audit.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.match(
    audit.find((a) => a.type === 'faults-killed'),
    { reason: 'game day over', released: 6 },
  );
  const refused = await call(rig.sidecar.admin!, 'POST', '/api/v1/faults', {
    body: { name: 'more', probability: 1, abort: { status: 500 } },
  });
  t.equal(refused.status, 409, 'nothing can be switched on while halted');
  t.match(refused.json.message, /halted .*POST \/api\/v1\/faults\/resume/);
  t.equal((await call(rig.sidecar.admin!, 'POST', '/api/v1/faults/resume')).json.state, 'armed');
  t.equal((await rawRequest(rig.port, '/stuck', { timeoutMs: 200 })).ended, 'timeout', 'the rules fire again after resume');
});

t.test('no leaked sockets or timers after thousands of faults of every kind', async (t) => {
  const rig = await startFaultRig('  enabled: true\n  maxErrorRate: 1\n  maxActive: 100000\n');
  t.teardown(() => rig.stop());
  const f = rig.sidecar.faults;
  await until('idle', () => true);
  const before = handles();
  const kinds: Array<[string, Record<string, unknown>, boolean]> = [
    ['/a-delay', { delay: { ms: 2 } }, false],
    ['/b-delay-long', { delay: { ms: 60_000 } }, true],
    ['/c-hang', { hang: { maxMs: 60_000 } }, true],
    ['/d-hang-bound', { hang: { maxMs: 5 } }, false],
    ['/e-abort', { abort: { status: 503 } }, false],
    ['/f-reset', { reset: {} }, false],
    ['/g-reset-late', { reset: { afterHeaders: true } }, false],
    ['/h-truncate', { truncate: { afterBytes: 100 } }, false],
    ['/i-throttle', { throttle: { bytesPerSecond: 10_000_000 } }, false],
    ['/j-throttle-slow', { throttle: { bytesPerSecond: 100 } }, true],
    ['/k-dependency', { dependency: { name: 'db' } }, false],
  ];
  for (const [path, fault] of kinds) f.create({ name: path.slice(1), probability: 1, match: { path }, ...fault });
  const paths = kinds.map((k) => k[0]);
  const givesUp = new Set(kinds.filter((k) => k[2]).map((k) => k[0]));
  const n = 2200;
  let next = 0;
  await Promise.all(
    Array.from({ length: 30 }, async () => {
      while (next < n) {
        const p = paths[next++ % paths.length];
        // the client gives up on the ones that would take long: the engine must clean up after it
        await rawRequest(rig.port, p, { timeoutMs: givesUp.has(p) ? 50 : 10_000 });
      }
    }),
  );
  const m = f.metrics();
  // a client that gives up very early may leave before canaryd has read its request: those never count
  t.equal(m.chaosInjected, m.totalRequests, 'every request that reached canaryd was faulted');
  t.ok(m.totalRequests >= n * 0.9, `${m.totalRequests} of ${n} requests reached canaryd`);
  await until('no faulted request left in flight', () => f.engine.inflight === 0, 15_000);
  // the proxy's keep-alive pools to the upstreams are not faults: let them idle out (4 s), then compare
  await until(
    'socket and timer handles back to where they were',
    () => {
      const h = handles();
      return (h.TCPSocketWrap ?? 0) <= (before.TCPSocketWrap ?? 0) && (h.Timeout ?? 0) <= (before.Timeout ?? 0) + 1;
    },
    20_000,
    200,
  ).catch(() => undefined);
  const after = handles();
  t.ok(
    (after.TCPSocketWrap ?? 0) <= (before.TCPSocketWrap ?? 0),
    `sockets: ${after.TCPSocketWrap ?? 0} now, ${before.TCPSocketWrap ?? 0} before`,
  );
  t.ok(
    (after.Timeout ?? 0) <= (before.Timeout ?? 0) + 1,
    `timers: ${after.Timeout ?? 0} now, ${before.Timeout ?? 0} before (+1: undici's shared clock)`,
  );
  t.equal(after.Immediate ?? 0, 0, 'no pending immediates');
});
