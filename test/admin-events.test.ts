/**
 * Live events: the event bus, the snapshot maths (a ManualClock-fed record), and the WebSocket stream over
 * a real socket — a snapshot that reflects real traffic, a weight-change event, replay, and auth like reads
 * (header or subprotocol token, 401 / 403 / 404 refusals).
 */
import t from 'tap';
import WebSocket from 'ws';
import { request } from 'undici';
import { ManualClock } from '../core/index.js';
import { WindowedRecorder } from '../proxy/index.js';
import { computeSnapshot, EventBus } from '../admin/index.js';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml } from './helpers/canaryd.js';
import { startAdminSidecar, until, type AdminSidecar, type TapTest } from './helpers/admin.js';

const TOKEN = 'events-token';

t.test('event bus: stamps seq and time, isolates subscribers, keeps a replay ring without snapshots', async (t) => {
  const clock = new ManualClock(1000);
  const errors: unknown[] = [];
  const bus = new EventBus({ now: () => clock.now(), history: 3, onError: (e) => errors.push(e) });
  const seen: any[] = [];
  bus.subscribe(() => {
    throw new Error('bad subscriber');
  });
  const off = bus.subscribe((e) => seen.push(e));
  const e1 = bus.publish({ type: 'weights', canary: 5 });
  t.match(e1, { type: 'weights', canary: 5, seq: 1, at: 1000 });
  clock.advance(10);
  bus.publish({ type: 'snapshot', x: 1 });
  for (let i = 0; i < 4; i++) bus.publish({ type: 'decision', i });
  t.equal(seen.length, 6, 'a throwing subscriber does not stop delivery');
  t.equal(errors.length, 6, 'and is reported');
  t.same(
    bus.recent().map((e) => e.seq),
    [4, 5, 6],
    'ring of 3, snapshots not kept',
  );
  t.same(
    bus.recent(5).map((e) => e.seq),
    [6],
  );
  t.equal(bus.latest('snapshot')?.seq, 2);
  off();
  bus.publish({ type: 'x' });
  t.equal(seen.length, 6, 'unsubscribed');
  t.throws(() => bus.publish({ type: '' }), TypeError);
});

t.test('snapshot: rate, error rate and percentiles over the complete windows of the span', async (t) => {
  const clock = new ManualClock(100_000);
  const rec = new WindowedRecorder({ now: () => clock.now() });
  // 5 complete seconds: baseline 100 req/s at 10 ms with 1 % 500s; canary 20 req/s, 5 % at 100 ms, 10 % 503
  for (let s = 0; s < 5; s++) {
    for (let i = 0; i < 100; i++)
      rec.record(
        { version: 'baseline', status: i === 0 ? 500 : 200, durationMs: 10, outcome: 'ok', faulted: false },
        95_000 + s * 1000 + i,
      );
    for (let i = 0; i < 20; i++)
      rec.record(
        { version: 'canary', status: i < 2 ? 503 : 200, durationMs: i === 19 ? 100 : 20, outcome: 'ok', faulted: i === 5 },
        95_000 + s * 1000 + i,
      );
  }
  rec.record({ version: 'canary', status: 500, durationMs: 5000, outcome: 'ok', faulted: false }, 100_200); // current window: left out
  clock.set(100_500);
  const snap = computeSnapshot(rec, 25, clock.now());
  t.same([snap.from, snap.to, snap.spanMs], [95_000, 100_000, 5000]);
  t.same(snap.weights, { baseline: 75, canary: 25 });
  t.match(snap.versions.baseline, { rps: 100, requests: 500, errors: 5, errorRate: 0.01, faultedRequests: 0 });
  t.match(snap.versions.canary, { rps: 20, requests: 100, errors: 10, errorRate: 0.1, faultedRequests: 5 });
  const near = (x: number | null, want: number) => x !== null && Math.abs(x - want) / want < 0.1;
  t.ok(near(snap.versions.baseline.p50Ms, 10), `baseline p50 ${snap.versions.baseline.p50Ms} ~ 10 ms`);
  t.ok(near(snap.versions.canary.p50Ms, 20), `canary p50 ${snap.versions.canary.p50Ms} ~ 20 ms`);
  t.ok(near(snap.versions.canary.p99Ms, 100), `canary p99 ${snap.versions.canary.p99Ms} ~ 100 ms (one slow request in 20)`);
  const empty = computeSnapshot(new WindowedRecorder({ now: () => 0 }), 0, 10_000);
  t.same(empty.versions.canary, {
    rps: 0,
    requests: 0,
    errors: 0,
    errorRate: null,
    p50Ms: null,
    p95Ms: null,
    p99Ms: null,
    faultedRequests: 0,
  });
});

interface Client {
  ws: WebSocket;
  events: any[];
  next(pred: (e: any) => boolean, what: string, timeoutMs?: number): Promise<any>;
  close(): void;
}

function connect(url: string, opts: { headers?: Record<string, string>; protocols?: string[] } = {}): Promise<Client> {
  const ws = new WebSocket(url, opts.protocols ?? ['canaryd.v1'], { headers: opts.headers });
  const events: any[] = [];
  ws.on('message', (d) => events.push(JSON.parse(String(d))));
  const next = (pred: (e: any) => boolean, what: string, timeoutMs = 10_000) => until(what, () => events.find(pred), timeoutMs, 20);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, events, next, close: () => ws.close() }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () =>
        reject(Object.assign(new Error(`refused ${res.statusCode}`), { status: res.statusCode, body: JSON.parse(body || 'null') })),
      );
    });
    ws.once('error', reject);
  });
}

async function setup(t: TapTest, authReads: boolean): Promise<AdminSidecar & { ws: string }> {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const yaml = configYaml(base.url, can.url, 'routing: { canaryWeight: 50 }').replace(
    'admin: { listen: "127.0.0.1:0" }',
    `admin: { listen: "127.0.0.1:0", token: "${TOKEN}", authReads: ${authReads} }`,
  );
  const s = await startAdminSidecar(yaml);
  t.teardown(async () => (await s.stop(), await base.close(), await can.close()));
  return { ...s, ws: `${s.adminUrl.replace('http', 'ws')}/api/v1/events` };
}

t.test('over a real socket: hello, a snapshot that reflects live traffic, and a weight-change event', async (t) => {
  const s = await setup(t, false);
  const c = await connect(s.ws);
  t.teardown(() => c.close());
  t.equal(c.ws.protocol, 'canaryd.v1', 'the server selects the canaryd subprotocol');
  const hello = await c.next((e) => e.type === 'hello', 'hello');
  t.type(hello.seq, 'number');
  t.ok(await c.next((e) => e.type === 'snapshot', 'a first snapshot'), 'a snapshot arrives at once');

  // live traffic through the proxy, until a published snapshot shows both versions serving
  let sent = 0;
  const snap = await until(
    'a snapshot with traffic on both versions',
    async () => {
      await Promise.all(Array.from({ length: 10 }, () => request(`${s.url}/x`).then((r) => r.body.dump())));
      sent += 10;
      return c.events.find((e) => e.type === 'snapshot' && e.versions.baseline.requests > 0 && e.versions.canary.requests > 0);
    },
    15_000,
    100,
  );
  t.ok(
    snap.versions.canary.rps > 0 && snap.versions.baseline.rps > 0,
    `rates ${snap.versions.baseline.rps} / ${snap.versions.canary.rps} req/s after ${sent} requests`,
  );
  t.type(snap.versions.canary.p95Ms, 'number');
  t.equal(snap.versions.canary.errorRate, 0);
  t.same(snap.weights, { baseline: 50, canary: 50 });

  const put = await request(`${s.adminUrl}/api/v1/weights`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ canary: 40, reason: 'ws test' }),
  });
  t.equal(put.statusCode, 200);
  await put.body.dump();
  const w = await c.next((e) => e.type === 'weights', 'the weights event');
  t.match(w, { type: 'weights', canary: 40, baseline: 60, previous: 50, owner: 'api', reason: 'admin api: ws test' });
  t.type(w.seq, 'number');

  const replay = await connect(`${s.ws}?since=0`);
  t.teardown(() => replay.close());
  t.ok(await replay.next((e) => e.type === 'weights' && e.canary === 40, 'replayed weights event'), 'a late client replays kept events');
});

t.test('auth like reads: 401 without the token, header or subprotocol token accepted, 403 cross-site, 404 elsewhere', async (t) => {
  const s = await setup(t, true);
  const refused = await connect(s.ws).catch((e) => e);
  t.equal(refused.status, 401);
  t.equal(refused.body.error, 'CANARYD_ERR_UNAUTHORIZED');
  t.equal(
    (await connect(s.ws, { protocols: ['canaryd.v1', `bearer.${Buffer.from('nope').toString('base64url')}`] }).catch((e) => e)).status,
    401,
  );

  const viaHeader = await connect(s.ws, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.ok(await viaHeader.next((e) => e.type === 'hello', 'hello'));
  viaHeader.close();
  const viaProtocol = await connect(s.ws, { protocols: ['canaryd.v1', `bearer.${Buffer.from(TOKEN).toString('base64url')}`] });
  t.equal(viaProtocol.ws.protocol, 'canaryd.v1', 'the token protocol is never echoed back');
  t.ok(await viaProtocol.next((e) => e.type === 'hello', 'hello'));
  viaProtocol.close();

  const cross = await connect(s.ws, { headers: { authorization: `Bearer ${TOKEN}`, origin: 'http://evil.example' } }).catch((e) => e);
  t.equal(cross.status, 403);
  t.equal(cross.body.error, 'CANARYD_ERR_FORBIDDEN');
  const elsewhere = await connect(s.ws.replace('/api/v1/events', '/api/v1/other')).catch((e) => e);
  t.equal(elsewhere.status, 404);
  t.ok(
    s.lines.some((l) => l.msg === 'admin auth failed' && l.route === '/api/v1/events'),
    'failed stream auth is logged',
  );
});
