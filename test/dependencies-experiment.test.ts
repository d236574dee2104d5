/**
 * Dependency faults seen from the app's HTTP side: two real app servers (baseline and canary builds) that
 * read a real redis-server through their own dependency listeners, canaryd in front of them. A chaos
 * experiment whose step slows Redis reports the app's HTTP latency rising while Redis was degraded, judged
 * by the success criterion; a canary-only Redis outage that makes the canary answer 503s trips auto-disable,
 * which resets the faulted connections (the canary's client reconnects clean) and writes the audit record.
 */
import t from 'tap';
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { call, startAdminSidecar, until, type AdminSidecar } from './helpers/admin.js';
import { configYaml, tempDir } from './helpers/canaryd.js';
import { startRedis, type Service } from './helpers/services.js';

interface App {
  url: string;
  connect(port: number): void;
  close(): Promise<void>;
}

/** An app build: each request reads a key from Redis; a Redis failure or timeout is a 503. */
async function startApp(name: string, commandTimeout: number): Promise<App> {
  let redis: Redis | null = null;
  const server: Server = createServer((_req, res) => {
    if (redis === null) return void (res.writeHead(503), res.end('no redis'));
    redis.get('greeting').then(
      (v) => (res.writeHead(200), res.end(`${name}:${v}`)),
      (e: Error) => (res.writeHead(503), res.end(e.message)),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    connect(port) {
      redis = new Redis({ host: '127.0.0.1', port, commandTimeout, maxRetriesPerRequest: 1, retryStrategy: () => 20 });
      redis.on('error', () => {});
    },
    close: async () => {
      redis?.disconnect();
      await new Promise((r) => server.close(r));
    },
  };
}

async function setup(t: { teardown(fn: () => Promise<void>): void }, faults: string, commandTimeout: number) {
  const redis: Service = await startRedis();
  const seed = new Redis({ host: '127.0.0.1', port: redis.port });
  await seed.set('greeting', 'hello');
  seed.disconnect();
  const base = await startApp('baseline', commandTimeout);
  const can = await startApp('canary', commandTimeout);
  const stateDir = tempDir();
  const yaml = configYaml(
    base.url,
    can.url,
    `routing: { canaryWeight: 50 }\nfaults:\n${faults}\ndependencies:\n  - { name: redis, upstream: "127.0.0.1:${redis.port}", listeners: { baseline: "127.0.0.1:0", canary: "127.0.0.1:0" } }\n`,
    stateDir,
  );
  const s: AdminSidecar = await startAdminSidecar(yaml);
  const port = (v: 'baseline' | 'canary') => Number(s.sidecar.dependencies.address('redis', v)!.split(':').pop());
  base.connect(port('baseline'));
  can.connect(port('canary'));
  t.teardown(async () => {
    await s.stop();
    await base.close();
    await can.close();
    await redis.stop();
  });
  return { s, stateDir };
}

async function get(url: string): Promise<number> {
  const r = await request(url, { headers: { 'x-user-id': String(Math.random()) } });
  await r.body.dump();
  return r.statusCode;
}

t.test("an experiment slowing Redis reports the app's HTTP latency while Redis was degraded", async (t) => {
  const { s } = await setup(t, '  enabled: true\n  maxErrorRate: 1', 3000); // a generous client timeout: the slow step must not time out on a loaded machine
  for (let i = 0; i < 5; i++) t.equal(await get(s.url), 200, 'warm');
  const started = await call(s.app, 'POST', '/api/v1/experiments', {
    body: {
      name: 'redis-slow',
      successCriterion: { minSuccessRate: 0.9, maxP95Ms: 60, minRequests: 5 },
      steps: [
        { name: 'steady', duration: '1500ms', rules: [] },
        { name: 'redis +100ms', duration: '2500ms', rules: [{ probability: 1, match: { dependency: 'redis' }, latency: { ms: 100 } }] },
      ],
    },
  });
  t.equal(started.status, 201, 'experiment started');
  const id = started.json.id;
  // load until the experiment ends (bounded in count)
  for (let i = 0; i < 400; i++) {
    await get(s.url);
    if (i % 5 === 0 && (await call(s.app, 'GET', `/api/v1/experiments/${id}`)).json.state !== 'running') break;
  }
  // a fast machine sends the 400 requests before the steps' durations are over: keep a light load until it ends
  await until(
    'the experiment ends',
    async () => (await get(s.url), (await call(s.app, 'GET', `/api/v1/experiments/${id}`)).json.state !== 'running'),
    30_000,
    20,
  );
  const r = (await call(s.app, 'GET', `/api/v1/experiments/${id}`)).json;
  t.equal(r.state, 'completed');
  const [steady, slow] = r.steps;
  t.same(slow.dependencies, ['redis'], 'the step names the dependency it degraded');
  t.notOk('dependencies' in steady);
  t.ok(slow.measured.requests >= 5 && steady.measured.requests >= 5, 'both steps measured requests');
  const [p0, p1] = [steady.measured.latencyMs.p50, slow.measured.latencyMs.p50];
  t.ok(
    p1 >= 100 * 0.9,
    `the app's HTTP p50 was ${p1.toFixed(1)} ms while Redis was +100 ms (steady: ${p0.toFixed(1)} ms; bucketed quantiles, ~9 % wide)`,
  );
  t.ok(p1 - p0 >= 50, 'a clear rise over the steady step');
  t.equal(slow.measured.errorRate, 0, 'no HTTP errors: the app survives a slow Redis');
  t.equal(slow.criterion.passed, false, 'but it misses maxP95Ms');
  t.equal(r.verdict, 'failed');
  t.equal((await call(s.app, 'GET', '/api/v1/dependencies/redis')).json.faults.length, 0, "the step's rule is gone with the step");
});

t.test('a canary-only Redis outage trips auto-disable; faulted connections are reset and the canary recovers', async (t) => {
  const { s, stateDir } = await setup(t, '  enabled: true\n  maxErrorRate: 0.2\n  autoDisable: { window: 30s, minRequests: 10 }', 300);
  for (let i = 0; i < 4; i++) t.equal(await get(s.url), 200, 'warm');
  const rule = await call(s.app, 'POST', '/api/v1/faults', {
    body: { name: 'canary-redis-down', probability: 1, match: { dependency: 'redis', version: 'canary' }, timeout: {} },
  });
  t.equal(rule.status, 201);
  const statuses: number[] = [];
  let state = 'armed';
  for (let i = 0; i < 200 && state !== 'halted'; i++) {
    statuses.push(await get(s.url));
    if (i % 4 === 0) state = (await call(s.app, 'GET', '/api/v1/faults')).json.state;
  }
  t.equal(state, 'halted', `auto-disable tripped after ${statuses.length} requests`);
  t.ok(statuses.includes(503), 'the canary answered 503 while its Redis was down');
  const faults = (await call(s.app, 'GET', '/api/v1/faults')).json;
  t.equal(faults.halted.kind, 'auto-disable');
  const dep = (await call(s.app, 'GET', '/api/v1/dependencies/redis')).json;
  t.equal(dep.faults.length, 0, 'no dependency fault is live');
  // The halt resets the faulted connections; each leaves the live list when its close event has run.
  await until('no connection is faulted', async () => {
    const live = (await call(s.app, 'GET', '/api/v1/dependencies/redis')).json.live;
    return live.every((l: any) => l.faults.length === 0) || null;
  });
  t.pass('no connection is faulted');
  let ok = 0;
  for (let i = 0; i < 100 && ok < 10; i++) ok = (await get(s.url)) === 200 ? ok + 1 : 0;
  t.equal(ok, 10, 'ten 200s in a row: the canary reconnected clean');
  const audit = readFileSync(join(stateDir, 'audit.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.ok(
    audit.some((a) => a.type === 'faults-auto-disabled'),
    'audited',
  );
  t.ok(
    s.lines.some((l) => l.event === 'dependency_connections_cut'),
    'the cut is logged',
  );
});
