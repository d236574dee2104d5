/**
 * Precision of fault injection over real sockets: the rate asked for (within binomial bounds computed here,
 * over thousands of requests), on the requests targeted (version, path glob, method, header), for as long as
 * asked (expiry, with a ManualClock: exact, no waiting), and header-controlled faults on and off.
 */
import t from 'tap';
import { Agent, request } from 'undici';
import { ManualClock } from '../core/index.js';
import { parseConfigText } from '../config/index.js';
import { startFaultRig, rawRequest } from './helpers/faults.js';
import { configYaml } from './helpers/canaryd.js';

const agent = new Agent({ connections: 32 });
t.teardown(() => agent.close());

async function statuses(
  url: string,
  n: number,
  opts: { method?: string; headers?: Record<string, string>; concurrency?: number } = {},
): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const r = await request(url, { dispatcher: agent, method: (opts.method ?? 'GET') as 'GET', headers: opts.headers });
      await r.body.dump();
      out.set(r.statusCode, (out.get(r.statusCode) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 16 }, worker));
  return out;
}

/** |observed - n p| <= k sqrt(n p (1-p)): k = 5 makes a false failure about 1 in 1.7 million. */
function binomialOk(t: Tap, observed: number, n: number, p: number, what: string, k = 5): void {
  const sigma = Math.sqrt(n * p * (1 - p));
  t.ok(Math.abs(observed - n * p) <= k * sigma, `${what}: ${observed} of ${n}, expected ${n * p} ± ${(k * sigma).toFixed(1)} (${k} sigma)`);
}
type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

t.test('probabilities: each rule fires at its rate, within 5-sigma binomial bounds', async (t) => {
  const rig = await startFaultRig('  enabled: true\n  maxErrorRate: 1\n');
  t.teardown(() => rig.stop());
  const f = rig.sidecar.faults;
  f.create({ name: 'p30', probability: 0.3, match: { path: '/p30' }, abort: { status: 503 } });
  const n = 4000;
  const s = await statuses(`${rig.url}/p30`, n);
  binomialOk(t, s.get(503) ?? 0, n, 0.3, 'abort p=0.3');
  t.equal((s.get(503) ?? 0) + (s.get(200) ?? 0), n);
  t.equal(f.get('p30').injected, s.get(503), 'the rule counted exactly the faults the clients saw');

  // two independent rules on the same requests: a before fault (dependency) and an outcome (abort)
  f.create({ name: 'dep50', probability: 0.5, match: { path: '/two' }, dependency: { name: 'cache' } });
  f.create({ name: 'abort10', probability: 0.1, match: { path: '/two' }, abort: { status: 500 } });
  const m = 3000;
  let aborted = 0;
  let withHeader = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < m) {
        next++;
        const r = await request(`${rig.url}/two`, { dispatcher: agent });
        if (r.statusCode === 500) {
          aborted++;
          await r.body.dump();
        } else if (((await r.body.json()) as any).headers['x-canaryd-dependency-fault'] === 'cache=error') withHeader++;
      }
    }),
  );
  binomialOk(t, aborted, m, 0.1, 'abort p=0.1');
  binomialOk(t, withHeader, m - aborted, 0.5, 'dependency p=0.5 among the requests that reached the upstream');
  binomialOk(t, f.get('dep50').injected, m, 0.5, 'dependency p=0.5 over all (it rolls on aborted ones too)');
  const metrics = f.metrics();
  t.equal(metrics.errorInjections, (s.get(503) ?? 0) + aborted);
  t.equal(metrics.signalInjections, f.get('dep50').injected);
  t.equal(metrics.totalRequests, n + m);
});

t.test('targeting: version, path glob, method, header (value and presence)', async (t) => {
  const rig = await startFaultRig('  enabled: true\n  maxErrorRate: 1\n', { extra: 'routing: { canaryWeight: 50 }' });
  t.teardown(() => rig.stop());
  const f = rig.sidecar.faults;
  f.create({ name: 'canary-only', probability: 1, match: { version: 'canary', path: '/v/*' }, abort: { status: 503 } });
  const byVersion: Record<string, Record<number, number>> = { baseline: {}, canary: {} };
  for (let i = 0; i < 200; i++) {
    const r = await request(`${rig.url}/v/${i}`, { dispatcher: agent });
    await r.body.dump();
    const v = byVersion[String(r.headers['x-canaryd-version'])];
    v[r.statusCode] = (v[r.statusCode] ?? 0) + 1;
  }
  t.same(Object.keys(byVersion.canary), ['503'], 'every canary request faulted');
  t.same(Object.keys(byVersion.baseline), ['200'], 'no baseline request faulted');
  t.ok(byVersion.canary[503] > 50 && byVersion.baseline[200] > 50, `both versions seen (${JSON.stringify(byVersion)})`);
  f.remove('canary-only');

  f.create({ name: 'glob', probability: 1, match: { path: '/api/*/items' }, abort: { status: 500 } });
  for (const [path, status] of [
    ['/api/a/items', 500],
    ['/api/a/items?x=1', 500],
    ['/api/a/b/items', 200],
    ['/api/items', 200],
    ['/other', 200],
  ] as const) {
    const r = await request(`${rig.url}${path}`, { dispatcher: agent });
    await r.body.dump();
    t.equal(r.statusCode, status, `path ${path}`);
  }
  f.remove('glob');

  f.create({ name: 'posts', probability: 1, match: { method: ['post', 'PUT'] }, abort: { status: 500 } });
  for (const [method, status] of [
    ['POST', 500],
    ['PUT', 500],
    ['GET', 200],
    ['DELETE', 200],
  ] as const) {
    const r = await request(`${rig.url}/m`, { dispatcher: agent, method });
    await r.body.dump();
    t.equal(r.statusCode, status, `method ${method}`);
  }
  f.remove('posts');

  f.create({ name: 'hdr', probability: 1, match: { header: { 'X-Chaos': ['on', 'yes'], 'x-tenant': '*' } }, abort: { status: 500 } });
  for (const [headers, status] of [
    [{ 'x-chaos': 'on', 'x-tenant': 'a' }, 500],
    [{ 'x-chaos': 'yes', 'x-tenant': '' }, 500],
    [{ 'x-chaos': 'on' }, 200],
    [{ 'x-chaos': 'off', 'x-tenant': 'a' }, 200],
    [{}, 200],
  ] as const) {
    const r = await request(`${rig.url}/h`, { dispatcher: agent, headers });
    await r.body.dump();
    t.equal(r.statusCode, status, `headers ${JSON.stringify(headers)}`);
  }
});

t.test('expiry: a rule stops at its duration (ManualClock), without a timer; a reload does not extend it', async (t) => {
  const clock = new ManualClock(1_700_000_000_000);
  const rig = await startFaultRig(
    '  enabled: true\n  maxErrorRate: 1\n  rules:\n    - { name: file-rule, probability: 1, duration: 10m, match: { path: /file }, abort: { status: 502 } }\n',
    { clock },
  );
  t.teardown(() => rig.stop());
  const f = rig.sidecar.faults;
  const events: any[] = [];
  rig.sidecar.events.subscribe((e) => e.type === 'fault' && events.push(e));
  f.create({ name: 'api-rule', probability: 1, duration: '90s', match: { path: '/api' }, abort: { status: 503 } });
  const get = async (p: string) => {
    const r = await request(`${rig.url}${p}`, { dispatcher: agent });
    await r.body.dump();
    return r.statusCode;
  };
  t.equal(await get('/api'), 503);
  t.equal(f.get('api-rule').expiresAt, clock.now() + 90_000);
  clock.advance(90_000 - 1);
  t.equal(await get('/api'), 503, 'still on 1 ms before expiry');
  clock.advance(1);
  t.equal(await get('/api'), 200, 'off at expiry');
  t.match(f.get('api-rule'), { expired: true, active: false, enabled: true });
  t.ok(
    events.some((e) => e.action === 'expired' && e.rule.name === 'api-rule'),
    'an expired event',
  );

  // config rule: activated when the config was applied; a reload of the same file keeps that time
  clock.advance(5 * 60_000 - 90_000);
  t.equal(await get('/file'), 502);
  rig.sidecar.applyConfig(
    parseConfigText(
      configYaml(
        rig.baseline.url,
        rig.canary.url,
        '\nfaults:\n  enabled: true\n  maxErrorRate: 1\n  rules:\n    - { name: file-rule, probability: 1, duration: 10m, match: { path: /file }, abort: { status: 502 } }\n',
        rig.stateDir,
      ),
      {},
    ),
    'test',
  );
  clock.advance(5 * 60_000);
  t.equal(await get('/file'), 200, 'expired 10 min after it was first applied, reload or not');
  t.equal(rig.sidecar.faults.metrics().activeFaults, 0);
  const prom = await rig.sidecar.registry.getSingleMetricAsString('chaos_active_faults');
  t.match(prom, /chaos_active_faults 0/);
  // re-enabling an expired runtime rule starts its life afresh
  f.update('api-rule', { enabled: true });
  t.equal(await get('/api'), 503, 're-armed by PATCH');
});

t.test('header-controlled faults: honoured only with allowHeaderControl, stripped before forwarding, bounded', async (t) => {
  const rig = await startFaultRig('  enabled: true\n  maxErrorRate: 1\n  allowHeaderControl: true\n  maxHeaderDelay: 200ms\n');
  t.teardown(() => rig.stop());
  let r = await request(`${rig.url}/h`, { dispatcher: agent, headers: { 'x-canaryd-fault-abort-request': '418' } });
  t.equal(r.statusCode, 418);
  await r.body.dump();
  r = await request(`${rig.url}/h`, {
    dispatcher: agent,
    headers: { 'X-Canaryd-Fault-Abort-Request': '503', 'x-canaryd-fault-abort-request-percentage': '0' },
  });
  t.equal(r.statusCode, 200, 'percentage 0: no fault');
  const echoed = (await r.body.json()) as any;
  t.same(
    Object.keys(echoed.headers).filter((h) => h.startsWith('x-canaryd-fault')),
    [],
    'the fault headers never reach the app',
  );
  r = await request(`${rig.url}/h`, { dispatcher: agent, headers: { 'x-canaryd-fault-abort-request': '99' } });
  t.equal(r.statusCode, 200, 'an invalid status is ignored');
  await r.body.dump();
  const s = performance.now();
  r = await request(`${rig.url}/h`, { dispatcher: agent, headers: { 'x-canaryd-fault-delay-request': '5000' } });
  await r.body.dump();
  const took = performance.now() - s;
  t.ok(took >= 200 - 2 && took < 2000, `delay bounded by maxHeaderDelay (${took.toFixed(0)} ms)`);
  r = await request(`${rig.url}/h`, { dispatcher: agent, headers: { 'x-canaryd-fault-dependency': 'payments=slow' } });
  t.equal(((await r.body.json()) as any).headers['x-canaryd-dependency-fault'], 'payments=slow');
  const rst = await rawRequest(rig.port, '/h', { headers: { 'x-canaryd-fault-reset': 'before-headers' } });
  t.equal(rst.ended, 'reset');
  const slow = await rawRequest(rig.port, '/download?size=32768', { headers: { 'x-canaryd-fault-throughput-response': '32' } });
  t.ok(slow.endMs - slow.headMs! >= 900, `32 KiB at 32 KiB/s takes about a second (${(slow.endMs - slow.headMs!).toFixed(0)} ms)`);
  t.equal(rig.sidecar.faults.metrics().byType.abort, 1);
  const prom = await rig.sidecar.registry.getSingleMetricAsString('chaos_experiments_total');
  t.match(prom, /chaos_experiments_total\{type="abort",rule="header"\} 1/);

  // off: the same headers do nothing and pass through untouched
  rig.sidecar.applyConfig(
    parseConfigText(
      configYaml(rig.baseline.url, rig.canary.url, '\nfaults:\n  enabled: true\n  allowHeaderControl: false\n', rig.stateDir),
      {},
    ),
    'test',
  );
  r = await request(`${rig.url}/h`, { dispatcher: agent, headers: { 'x-canaryd-fault-abort-request': '418' } });
  t.equal(r.statusCode, 200, 'ignored when header control is off');
  t.equal(((await r.body.json()) as any).headers['x-canaryd-fault-abort-request'], '418', 'and forwarded like any header');
  t.notOk(rig.sidecar.proxy.stages.includes('faults'), 'no rules and no header control: the engine is out of the request path');
});
