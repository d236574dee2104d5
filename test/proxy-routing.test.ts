import t from 'tap';
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { request, Agent } from 'undici';
import { seenAtLeast, startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml, startSidecar } from './helpers/canaryd.js';

const dispatcher = new Agent({ connections: 16 });
t.teardown(() => dispatcher.close());

async function versionOf(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<string> {
  const r = await request(url, { headers, method: method as 'GET', dispatcher });
  await r.body.dump();
  return r.headers['x-canaryd-version'] as string;
}

async function inBatches(n: number, batch: number, fn: (i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < n; i += batch) await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, k) => fn(i + k)));
}

t.test('weights split 10,000 requests within binomial bounds', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const c = await startSidecar(configYaml(base.url, can.url, 'routing: { canaryWeight: 20 }'));
  t.teardown(async () => (await c.stop(), await base.close(), await can.close()));
  let canary = 0;
  const n = 10_000;
  await inBatches(n, 50, async () => {
    if ((await versionOf(`${c.url}/x`)) === 'canary') canary++;
  });
  const sd = Math.sqrt(n * 0.2 * 0.8); // 40
  t.ok(Math.abs(canary - 2000) < 5 * sd, `canary got ${canary} of ${n} (expected 2000 ± ${5 * sd})`);
  t.equal(base.seen.length + can.seen.length, n, 'every request reached exactly one upstream');
  t.equal(can.seen.length, canary, 'the version header names the upstream that answered');

  c.sidecar.traffic.setWeight('api', 0.5, 'test');
  canary = 0;
  await inBatches(n, 50, async () => {
    if ((await versionOf(`${c.url}/x`)) === 'canary') canary++;
  });
  t.ok(canary > 10 && canary < 100, `fractional weight 0.5 %: canary got ${canary} of ${n}`);
});

t.test('sticky assignment: same key same version, monotone as the weight rises', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const c = await startSidecar(configYaml(base.url, can.url, 'routing: { canaryWeight: 10, sticky: { header: x-user-id } }'));
  t.teardown(async () => (await c.stop(), await base.close(), await can.close()));
  const users = Array.from({ length: 400 }, (_, i) => `user-${i}`);
  const at = async (w: number) => {
    c.sidecar.traffic.setWeight('api', w, 'test');
    const m = new Map<string, string>();
    await inBatches(users.length, 40, async (i) => {
      m.set(users[i], await versionOf(`${c.url}/`, { 'x-user-id': users[i] }));
    });
    return m;
  };
  const w10 = await at(10);
  const again = await at(10);
  t.same([...again].sort(), [...w10].sort(), 'every key lands on the same version again at the same weight');
  const w30 = await at(30);
  const w60 = await at(60);
  let moved = 0;
  let backwards = 0;
  for (const u of users) {
    if (w10.get(u) === 'canary' && w30.get(u) !== 'canary') backwards++;
    if (w30.get(u) === 'canary' && w60.get(u) !== 'canary') backwards++;
    if (w10.get(u) === 'baseline' && w60.get(u) === 'canary') moved++;
  }
  t.equal(backwards, 0, 'raising the weight never moves a key from canary back to baseline');
  t.ok(moved > 100, `raising 10 -> 60 % moved ${moved} keys to canary`);
  const share = [...w60.values()].filter((v) => v === 'canary').length / users.length;
  t.ok(share > 0.5 && share < 0.7, `60 % weight put ${(share * 100).toFixed(1)} % of keys on canary`);

  // cookie stickiness
  c.sidecar.applyConfig({ ...c.sidecar.config, routing: { ...c.sidecar.config.routing, sticky: { cookie: 'uid' } } }, 'test');
  c.sidecar.traffic.setWeight('api', 50, 'test');
  const first = await versionOf(`${c.url}/`, { cookie: 'a=b; uid=alice; c=d' });
  for (let i = 0; i < 20; i++) t.equal(await versionOf(`${c.url}/`, { cookie: `uid=alice; n=${i}` }), first);
});

t.test('targeting rules pin requests by header, cookie, ip, path and method', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const rules = `routing:
  canaryWeight: 0
  rules:
    - { name: beta, match: { header: { x-beta: "1" } }, to: canary }
    - { name: cookie, match: { cookie: { tester: [yes, "true"] } }, to: canary }
    - { name: glob, match: { path: "/v2/*/items" }, to: canary }
    - { name: prefix, match: { path: /canary-only/ }, to: canary }
    - { name: deletes, match: { method: DELETE, path: /orders/ }, to: canary }
    - { name: pin-baseline, match: { header: { x-force: baseline } }, to: baseline }
`;
  const c = await startSidecar(configYaml(base.url, can.url, rules));
  t.teardown(async () => (await c.stop(), await base.close(), await can.close()));
  t.equal(await versionOf(`${c.url}/a`), 'baseline', 'no rule: weight 0 -> baseline');
  t.equal(await versionOf(`${c.url}/a`, { 'x-beta': '1' }), 'canary', 'header rule');
  t.equal(await versionOf(`${c.url}/a`, { 'x-beta': '2' }), 'baseline', 'header rule needs the exact value');
  t.equal(await versionOf(`${c.url}/a`, { cookie: 'x=1; tester=yes' }), 'canary', 'cookie rule');
  t.equal(await versionOf(`${c.url}/a`, { cookie: 'tester=no' }), 'baseline', 'cookie rule value');
  t.equal(await versionOf(`${c.url}/v2/abc/items?q=1`), 'canary', 'path glob');
  t.equal(await versionOf(`${c.url}/v2/abc/def/items`), 'baseline', 'glob * stays inside one segment');
  t.equal(await versionOf(`${c.url}/canary-only/x`), 'canary', 'path prefix');
  t.equal(await versionOf(`${c.url}/orders/1`, {}, 'DELETE'), 'canary', 'method + path');
  t.equal(await versionOf(`${c.url}/orders/1`, {}, 'GET'), 'baseline', 'method must match too');

  // ip rules, and a rule that pins to baseline while the weight is 100
  c.sidecar.applyConfig(
    {
      ...c.sidecar.config,
      routing: {
        ...c.sidecar.config.routing,
        canaryWeight: 100,
        rules: [
          { name: 'pin-baseline', match: { header: { 'x-force': 'baseline' } }, to: 'baseline', enabled: true },
          { name: 'office', match: { ip: ['10.0.0.0/8', '::1'] }, to: 'baseline', enabled: true },
        ],
      },
    },
    'test',
  );
  t.equal(await versionOf(`${c.url}/a`), 'canary', 'weight 100 and 127.0.0.1 outside the ip rule -> canary');
  t.equal(await versionOf(`${c.url}/a`, { 'x-force': 'baseline' }), 'baseline', 'rule to baseline beats weight 100');
  c.sidecar.applyConfig(
    {
      ...c.sidecar.config,
      routing: {
        ...c.sidecar.config.routing,
        rules: [{ name: 'loopback', match: { ip: ['127.0.0.0/8'] }, to: 'baseline', enabled: true }],
      },
    },
    'test',
  );
  t.equal(await versionOf(`${c.url}/a`), 'baseline', 'ip CIDR rule matches the client address');
});

t.test('mirroring shadows baseline traffic to canary without touching the client', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const c = await startSidecar(configYaml(base.url, can.url, 'routing: { canaryWeight: 0, mirror: { percent: 100 } }'));
  t.teardown(async () => (await c.stop(), await base.close(), await can.close()));
  const statuses: number[] = [];
  for (let i = 0; i < 20; i++) {
    const r = await request(`${c.url}/items/${i}?q=${i}`, {
      method: 'POST',
      body: `payload-${i}`,
      headers: { 'content-type': 'text/plain' },
      dispatcher,
    });
    const body = (await r.body.json()) as { upstream: string };
    statuses.push(r.statusCode);
    t.equal(body.upstream, 'baseline', 'the client is answered by baseline');
  }
  t.ok(statuses.every((s) => s === 200));
  // mirror copies arrive at canary, with the body, marked as mirror
  await seenAtLeast([can], 20, (s) => s.url.startsWith('/items/'));
  const shadows = can.seen.filter((s) => s.url.startsWith('/items/'));
  t.equal(shadows.length, 20, 'each baseline request was shadowed to canary');
  t.ok(
    shadows.every((s) => s.headers['x-canaryd-mirror'] === '1'),
    'shadows are marked',
  );
  t.ok(
    shadows.some((s) => s.bodyBytes > 0),
    'shadow bodies are copied',
  );
  // shadows are not counted as canary traffic
  t.equal(c.sidecar.recorder.totals('canary').requests, 0, 'mirror traffic is not in the canary record');

  // a dead canary: the client still gets baseline answers
  await can.close();
  for (let i = 0; i < 10; i++) {
    const r = await request(`${c.url}/after-canary-died`, { dispatcher });
    await r.body.dump();
    t.equal(r.statusCode, 200);
  }
});

t.test('mirroring a body never takes bytes from the real request, and a silent canary never holds the client', async (t) => {
  const base = await startEchoUpstream('baseline');
  // a canary that accepts connections and never answers: every shadow hangs
  const silent = createServer(() => {
    /* never answers */
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const silentUrl = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
  // one baseline connection, held by a slow request, so the mirrored POST waits for a socket while its body arrives
  const yaml = configYaml(base.url, silentUrl, 'routing: { canaryWeight: 0, mirror: { percent: 100 } }').replace(
    'version: v1 }',
    'version: v1, connections: 1 }',
  );
  const c = await startSidecar(yaml);
  t.teardown(async () => {
    await c.stop();
    await base.close();
    silent.close();
  });
  const slow = request(`${c.url}/slow?ms=300`, { dispatcher }).then((r) => r.body.dump());
  await seenAtLeast([base], 1, (s) => s.url.startsWith('/slow')); // it holds the one baseline connection
  const payload = Buffer.alloc(256 * 1024, 7);
  const r = await request(`${c.url}/post`, { method: 'POST', body: payload, dispatcher });
  const echoed = (await r.body.json()) as { upstream: string; bodyBytes: number; bodySha256: string };
  t.equal(r.statusCode, 200);
  t.equal(echoed.upstream, 'baseline');
  t.equal(echoed.bodyBytes, payload.length, 'the real upstream got every byte of the mirrored body');
  t.equal(echoed.bodySha256, createHash('sha256').update(payload).digest('hex'), 'and the same bytes');
  await slow;

  // shadows pile up at the silent canary; past maxInflight they are skipped, and clients never wait for them
  c.sidecar.mirror.maxInflight = 3;
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) {
    const g = await request(`${c.url}/g/${i}`, { dispatcher });
    await g.body.dump();
    statuses.push(g.statusCode);
  }
  t.same(statuses, Array(8).fill(200), 'every client answered by baseline while the canary hangs');
  t.equal(c.sidecar.mirror.inflight, 3, 'shadows in flight are capped');
  t.match(await c.sidecar.registry.metrics(), /canaryd_mirror_requests_total\{outcome="skipped_busy"\} [1-9]/, 'shed shadows are counted');
});
