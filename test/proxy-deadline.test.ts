/**
 * The request deadline and the admission queue (issue 11, items 4 and 2), over real sockets: a hung and a
 * byte-trickling upstream are cut at timeouts.request (504 CANARYD_ERR_DEADLINE, or a cut connection once
 * the headers went out), counted from the request's ARRIVAL so queued time counts; the per-upstream queue
 * is bounded (503 CANARYD_ERR_QUEUE_FULL) and timed (503 CANARYD_ERR_QUEUE_TIMEOUT). Which timer fired is
 * read from the error code, never from the clock: the other timers are set far longer.
 */
import t from 'tap';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml, startSidecar } from './helpers/canaryd.js';

/** /trickle: headers, then one byte every 50 ms, never ending (until closed). */
async function trickler(): Promise<{ url: string; server: Server; close: () => Promise<void> }> {
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    const timer = setInterval(() => res.write('x'), 50);
    timers.add(timer);
    res.on('close', () => (clearInterval(timer), timers.delete(timer)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    close: () =>
      new Promise<void>((r) => {
        for (const tm of timers) clearInterval(tm);
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function get(url: string): Promise<{ status: number; error?: string; started: number; ended: number }> {
  const started = performance.now();
  const r = await request(url, { headersTimeout: 60_000, bodyTimeout: 60_000 });
  const body = await r.body.text();
  let error: string | undefined;
  try {
    error = (JSON.parse(body) as { error?: string }).error;
  } catch {
    /* not JSON */
  }
  return { status: r.statusCode, error, started, ended: performance.now() };
}

t.test('a hung upstream is cut at timeouts.request with 504, and a queued request counts from its arrival', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const yaml = configYaml(
    base.url,
    can.url,
    'timeouts: { headers: 60s, body: 60s, request: 1s }\nlimits: { queue: { size: 10, timeout: 60s } }',
  ).replace('{ url: "' + base.url + '", version: v1 }', '{ url: "' + base.url + '", version: v1, connections: 1 }');
  const c = await startSidecar(yaml);
  t.teardown(async () => (await c.stop(), await base.close(), await can.close()));
  const observed: Array<{ status: number; outcome: string }> = [];
  c.sidecar.onObservation((o) => observed.push({ status: o.status, outcome: o.outcome }));
  const first = get(`${c.url}/hang`);
  for (let i = 0; i < 1000 && c.sidecar.proxy.upstream('baseline').active < 1; i++) await new Promise((r) => setTimeout(r, 5));
  const second = get(`${c.url}/hang?queued`); // waits for the one connection the first request holds
  for (let i = 0; i < 1000 && c.sidecar.proxy.upstream('baseline').queued < 1; i++) await new Promise((r) => setTimeout(r, 5));
  t.equal(c.sidecar.proxy.upstream('baseline').queued, 1, 'the second request waits in the queue');
  const [a, b] = await Promise.all([first, second]);
  t.same([a.status, a.error], [504, 'CANARYD_ERR_DEADLINE'], 'the dispatched request: 504 from the deadline, not the 60 s headers timeout');
  t.same([b.status, b.error], [504, 'CANARYD_ERR_DEADLINE'], 'the queued one: the same deadline, counted from its arrival');
  t.ok(b.ended - b.started >= 1000 - 50, 'not before its deadline');
  t.same(
    observed,
    [
      { status: 504, outcome: 'timeout' },
      { status: 504, outcome: 'timeout' },
    ],
    'recorded as upstream timeouts',
  );
  t.equal(c.sidecar.proxy.upstream('baseline').queued, 0, 'the queue is empty again');
});

t.test('a byte-trickling upstream is cut at the deadline once the headers went out', async (t) => {
  const slow = await trickler();
  const can = await startEchoUpstream('canary');
  const c = await startSidecar(configYaml(slow.url, can.url, 'timeouts: { headers: 60s, body: 60s, request: 800ms }'));
  t.teardown(async () => (await c.stop(), await slow.close(), await can.close()));
  const observed: Array<{ status: number; outcome: string }> = [];
  c.sidecar.onObservation((o) => observed.push({ status: o.status, outcome: o.outcome }));
  const r = await request(`${c.url}/trickle`);
  t.equal(r.statusCode, 200, 'the headers arrived');
  let bytes = 0;
  const err = await (async () => {
    try {
      for await (const chunk of r.body) bytes += (chunk as Buffer).length;
      return null;
    } catch (e) {
      return e as Error;
    }
  })();
  t.ok(err, 'the body does not end normally: the connection is cut');
  t.ok(bytes > 0, `some bytes came first (${bytes})`);
  t.same(observed, [{ status: 504, outcome: 'timeout' }], 'recorded as a timeout');
});

t.test('the admission queue: bounded (503 QUEUE_FULL) and timed (503 QUEUE_TIMEOUT)', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const yaml = configYaml(
    base.url,
    can.url,
    'timeouts: { headers: 60s, request: 60s }\nlimits: { queue: { size: 1, timeout: 400ms } }',
  ).replace('{ url: "' + base.url + '", version: v1 }', '{ url: "' + base.url + '", version: v1, connections: 1 }');
  const c = await startSidecar(yaml);
  t.teardown(async () => (await c.stop(), await base.close(), await can.close()));
  const up = c.sidecar.proxy.upstream('baseline');
  const holder = request(`${c.url}/hang`).catch(() => null); // holds the only connection until teardown
  for (let i = 0; i < 1000 && up.active < 1; i++) await new Promise((r) => setTimeout(r, 5));
  const queued = get(`${c.url}/queued`);
  for (let i = 0; i < 1000 && up.queued < 1; i++) await new Promise((r) => setTimeout(r, 5));
  const full = await get(`${c.url}/full`);
  t.same([full.status, full.error], [503, 'CANARYD_ERR_QUEUE_FULL'], 'a request beyond limits.queue.size: 503 at once');
  const q = await queued;
  t.same([q.status, q.error], [503, 'CANARYD_ERR_QUEUE_TIMEOUT'], 'the waiting one: 503 after limits.queue.timeout');
  t.ok(q.ended - q.started >= 400 - 50, 'not before its queue timeout');
  t.notOk(
    base.seen.some((s) => s.url === '/queued' || s.url === '/full'),
    'neither reached the upstream',
  );
  void holder;
});
