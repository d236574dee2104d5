/**
 * The dependency relay in front of a real redis-server (started here, temp dir, free port), driven by a real
 * Redis client (ioredis): bytes pass unchanged without faults; latency raises the measured command latency
 * by the configured amount (medians compared, with tolerance); timeout and resetPeer give the client its own
 * timeout and connection errors; refuse resets new connections only; the kill switch cuts faulted
 * connections and leaves new ones clean at once; a canary-only rule hits only the canary listener.
 */
import t from 'tap';
import { Redis, type RedisOptions } from 'ioredis';
import { call } from './helpers/admin.js';
import { median, startRelay, timed, type RelaySetup } from './helpers/dependencies.js';
import { startRedis, type Service } from './helpers/services.js';

let redis: Service;
let relay: RelaySetup;
const clients: Redis[] = [];

t.before(async () => {
  redis = await startRedis();
  relay = await startRelay('redis', redis.port);
});
t.teardown(async () => {
  for (const c of clients) c.disconnect();
  await relay?.stop();
  await redis?.stop();
});

/** A client that never retries or queues: every failure reaches the test. */
async function client(version: 'any' | 'baseline' | 'canary' = 'any', opts: RedisOptions = {}): Promise<Redis> {
  const r = new Redis({
    host: '127.0.0.1',
    port: relay.port(version),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    ...opts,
  });
  r.on('error', () => {});
  clients.push(r);
  await r.connect();
  return r;
}

/** Resolves on the client's 'close' (events.once would reject on the 'error' that comes with a reset). */
const closeOf = (r: Redis) => new Promise<void>((resolve) => r.once('close', () => resolve()));

const value = (i: number) => `v${i}:${'x'.repeat(i % 257)}:é✓\r\n$*${i}`;

t.test('without faults a pipelined MSET/MGET of 10,000 keys passes unchanged', async (t) => {
  const r = await client();
  const keys = Array.from({ length: 10_000 }, (_, i) => `key:${i}`);
  const p = r.pipeline();
  for (let i = 0; i < keys.length; i += 100) p.mset(...keys.slice(i, i + 100).flatMap((k, j) => [k, value(i + j)]));
  const set = await p.exec();
  t.ok(
    set!.every(([e, ok]) => e === null && ok === 'OK'),
    '100 MSETs answered OK',
  );
  const g = r.pipeline();
  for (let i = 0; i < keys.length; i += 100) g.mget(...keys.slice(i, i + 100));
  const got = (await g.exec())!.flatMap(([e, vals]) => (e === null ? (vals as string[]) : []));
  t.equal(got.length, 10_000);
  t.ok(
    got.every((v, i) => v === value(i)),
    'every value as written',
  );
  const v = await relay.view();
  t.ok(v.bytes.upstream > 10_000 * 10 && v.bytes.downstream > 10_000 * 10, 'bytes counted both ways');
  t.ok(v.connections.accepted.any >= 1 && v.connections.live >= 1);
  t.equal(v.connections.faulted, 0);
  const metrics = (await call(relay.s.app, 'GET', '/metrics')).body;
  t.match(metrics, /canaryd_dependency_bytes_total\{dependency="redis",direction="upstream"\} [1-9]/);
  t.match(metrics, /canaryd_dependency_active_connections\{dependency="redis"\} [1-9]/);
});

t.test('latency raises the command latency by the configured amount (medians, ± tolerance)', async (t) => {
  const r = await client();
  await r.ping();
  const before = median(await timed(25, () => r.ping()));
  await relay.rule({ name: 'redis-slow', latency: { ms: 80 } });
  const during = median(await timed(25, () => r.ping()));
  await relay.remove('redis-slow');
  const after = median(await timed(25, () => r.ping()));
  const added = during - before;
  t.ok(added >= 80 - 10 && added <= 80 + 100, `median PING rose by ${added.toFixed(1)} ms (configured 80 ms downstream)`);
  t.ok(after - before < 50, `after the rule is deleted the median is back (${before.toFixed(1)} -> ${after.toFixed(1)} ms)`);
  // both directions: a round trip rises by twice the amount
  await relay.rule({ name: 'redis-slow-both', latency: { ms: 40, direction: 'both' } });
  const both = median(await timed(25, () => r.ping())) - before;
  await relay.remove('redis-slow-both');
  t.ok(both >= 80 - 10 && both <= 80 + 100, `40 ms each way: the median rose by ${both.toFixed(1)} ms`);
});

t.test('timeout: the client meets its own command timeout; the connection stays open', async (t) => {
  const r = await client('any', { commandTimeout: 300 });
  await r.set('held', 'yes');
  await relay.rule({ name: 'redis-timeout', timeout: {} });
  await t.rejects(r.get('held'), /timed out/i, 'the client times out');
  t.equal(r.status, 'ready', 'the connection is still open');
  const v = await relay.view();
  t.ok(
    v.faults.some((f: any) => f.rule === 'redis-timeout' && f.connections >= 1),
    'the view lists the fault and its connections',
  );
  await relay.remove('redis-timeout');
  t.equal(await r.get('held'), 'yes', 'lifted: the held bytes go on, commands pass again');
});

t.test('resetPeer: at once on open connections and new ones, or after N bytes mid-reply', async (t) => {
  const r = await client();
  await r.ping();
  const closed = closeOf(r);
  await relay.rule({ name: 'redis-rst', resetPeer: {} });
  await closed;
  await t.rejects(r.ping(), 'the reset connection fails its commands');
  await t.rejects(client(), 'a new connection is reset too');
  await relay.remove('redis-rst');

  const w = await client();
  await w.set('big', 'b'.repeat(100_000));
  const r2 = await client();
  await relay.rule({ name: 'redis-rst-mid', resetPeer: { afterBytes: 1000, direction: 'downstream' } });
  const err = await r2.get('big').then(
    () => null,
    (e: Error) => e,
  );
  t.ok(err instanceof Error, `the reply is cut by the reset (${err?.message})`);
  await relay.remove('redis-rst-mid');
  t.equal((await w.get('big'))?.length, 100_000, 'the connection opened before the rule is hit too, then clean once the rule is gone');
});

t.test('limitData closes after N bytes; slicer keeps the bytes intact in small writes', async (t) => {
  const w = await client();
  await w.set('ten-k', 'z'.repeat(10_000));
  const r = await client();
  await relay.rule({ name: 'redis-limit', limitData: { bytes: 500, direction: 'downstream' } });
  await t.rejects(r.get('ten-k'), 'the connection closes mid-reply');
  await relay.remove('redis-limit');
  const s = await client();
  await relay.rule({ name: 'redis-slices', slicer: { averageSize: 3, sizeVariation: 2 }, match: { version: undefined } });
  t.equal(await s.get('ten-k'), 'z'.repeat(10_000), 'sliced into ~3-byte writes, parsed whole');
  const keys = Array.from({ length: 200 }, (_, i) => `key:${i}`);
  t.same(
    await s.mget(...keys),
    keys.map((_, i) => value(i)),
  );
  await relay.remove('redis-slices');
});

t.test('refuse resets new connections; open ones carry on', async (t) => {
  const open = await client();
  await relay.rule({ name: 'redis-refuse', refuse: {} });
  await t.rejects(client(), 'a new connection is reset');
  t.equal(await open.ping(), 'PONG', 'an open connection is not refused');
  t.ok((await relay.view()).connections.rejected.fault >= 1, 'counted as rejected by a fault');
  await relay.remove('redis-refuse');
  t.equal(await (await client()).ping(), 'PONG');
});

t.test('kill switch: faulted connections are cut, new ones are clean at once; resume re-arms', async (t) => {
  const faulted = await client();
  await relay.rule({ name: 'redis-kill-me', latency: { ms: 150 } });
  t.equal(await faulted.ping(), 'PONG');
  t.ok((await relay.view()).live.some((l: any) => l.faults.includes('redis-kill-me')));
  const closed = closeOf(faulted);
  const kill = await call(relay.s.app, 'DELETE', '/api/v1/faults?reason=test');
  t.equal(kill.status, 200);
  await closed;
  t.pass('the faulted connection was cut');
  const fresh = await client();
  t.equal(await fresh.ping(), 'PONG');
  const v = await relay.view();
  t.equal(v.faults.length, 0, 'no dependency fault is live');
  t.ok(
    v.live.every((l: any) => l.faults.length === 0),
    'every live connection is clean',
  );
  t.equal((await call(relay.s.app, 'POST', '/api/v1/faults/resume')).status, 200);
  const v2 = await relay.view();
  t.ok(
    v2.live.some((l: any) => l.faults.includes('redis-kill-me')),
    'resumed: the rule acts on open connections again',
  );
  await relay.remove('redis-kill-me');
});

t.test('a canary-only rule hits only the canary listener', async (t) => {
  const canary = await client('canary', { commandTimeout: 300 });
  const baseline = await client('baseline', { commandTimeout: 300 });
  const shared = await client('any', { commandTimeout: 300 });
  await relay.rule({ name: 'redis-canary-down', timeout: {}, match: { version: 'canary' } });
  await t.rejects(canary.ping(), /timed out/i, 'the canary build times out');
  t.equal(await baseline.ping(), 'PONG', 'the baseline build is untouched');
  t.equal(await shared.ping(), 'PONG', 'the shared listener is untouched (its version is unknown)');
  const v = await relay.view();
  t.same(
    v.live.filter((l: any) => l.faults.includes('redis-canary-down')).map((l: any) => l.version),
    ['canary'],
  );
  await relay.remove('redis-canary-down');
  const m = (await call(relay.s.app, 'GET', '/api/v1/faults/metrics')).json;
  t.ok(m.byType.timeout >= 1 && m.byType.latency >= 1, 'injections counted with the HTTP ones');
});

t.test('a rule naming an unknown dependency, or an HTTP match on a TCP kind, is a 400 naming the field', async (t) => {
  const bad = await call(relay.s.app, 'POST', '/api/v1/faults', {
    body: { name: 'x', probability: 1, match: { dependency: 'mysql' }, latency: { ms: 1 } },
  });
  t.equal(bad.status, 400);
  t.match(bad.json.message, /body\.match\.dependency: no dependency named "mysql"/);
  const http = await call(relay.s.app, 'POST', '/api/v1/faults', {
    body: { name: 'y', probability: 1, match: { dependency: 'redis', path: '/a' }, latency: { ms: 1 } },
  });
  t.equal(http.status, 400);
  t.match(http.json.message, /match\.path/);
  const none = await call(relay.s.app, 'POST', '/api/v1/faults', { body: { name: 'z', probability: 1, latency: { ms: 1 } } });
  t.match(none.json.message, /match\.dependency/);
  const dir = await call(relay.s.app, 'POST', '/api/v1/faults', {
    body: { name: 'w', probability: 1, match: { dependency: 'redis' }, latency: { ms: 1, direction: 'sideways' } },
  });
  t.equal(dir.status, 400);
});
