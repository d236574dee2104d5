import t from 'tap';
import { createServer, type Server, type Socket } from 'node:net';
import { request, Agent } from 'undici';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml, startSidecar } from './helpers/canaryd.js';
import { startAdminSidecar, until } from './helpers/admin.js';

const dispatcher = new Agent({ connections: 4 });
t.teardown(() => dispatcher.close());

async function get(url: string, method = 'GET') {
  const r = await request(url, { dispatcher, method: method as 'GET' });
  const text = await r.body.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not json */
  }
  return { status: r.statusCode, json, headers: r.headers };
}

/** A TCP port with nothing listening: bind, note the port, close. */
async function deadPort(): Promise<number> {
  const s: Server = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

t.test('upstream failures map to gateway statuses, and the proxy keeps serving', async (t) => {
  const base = await startEchoUpstream('baseline');
  const dead = await deadPort();
  const c = await startSidecar(
    configYaml(
      base.url,
      `http://127.0.0.1:${dead}`,
      `routing: { canaryWeight: 0, rules: [{ name: c, match: { header: { x-to: canary } }, to: canary }] }
timeouts: { connect: 500ms, headers: 400ms, body: 400ms }`,
    ),
  );
  t.teardown(async () => (await c.stop(), await base.close()));

  const refused = await request(`${c.url}/x`, { dispatcher, headers: { 'x-to': 'canary' } });
  const rj = (await refused.body.json()) as { error: string; message: string; version: string };
  t.equal(refused.statusCode, 502, 'refused -> 502');
  t.equal(rj.error, 'CANARYD_ERR_UPSTREAM_REFUSED');
  t.equal(rj.version, 'canary');
  t.match(rj.message, /refused/);

  const reset = await get(`${c.url}/reset`);
  t.equal(reset.status, 502, 'reset -> 502');
  t.equal(reset.json.error, 'CANARYD_ERR_UPSTREAM_RESET');

  const hang = await get(`${c.url}/hang`);
  t.equal(hang.status, 504, 'no response headers in time -> 504');
  t.equal(hang.json.error, 'CANARYD_ERR_UPSTREAM_TIMEOUT');

  const ok = await get(`${c.url}/fine`);
  t.equal(ok.status, 200, 'the next request is served');

  const totals = c.sidecar.recorder.totals('baseline');
  t.equal(totals.byStatus['502'], 1, 'the reset is recorded as a 502 for baseline');
  t.equal(totals.byStatus['504'], 1, 'the timeout is recorded as a 504 for baseline');
  const metrics = await c.sidecar.registry.metrics();
  t.match(metrics, /canaryd_upstream_errors_total\{version="canary",kind="refused"\} [1-9]/);
  t.match(metrics, /canaryd_upstream_errors_total\{version="baseline",kind="timeout"\} 1/);
  t.match(metrics, /canaryd_upstream_errors_total\{version="baseline",kind="reset"\} 1/);
});

t.test('idempotent requests are retried on connect failure only', async (t) => {
  // An upstream that refuses once, then listens: GET succeeds through the retry, POST is not retried.
  const base = await startEchoUpstream('baseline');
  const port = await deadPort();
  const c = await startSidecar(configYaml(`http://127.0.0.1:${port}`, base.url, 'timeouts: { connect: 500ms }\nproxy: { retries: 2 }'));
  t.teardown(async () => (await c.stop(), await base.close()));
  const r1 = await get(`${c.url}/x`);
  t.equal(r1.status, 502, 'GET to a dead upstream: retried, then 502');
  const r2 = await get(`${c.url}/x`, 'POST');
  t.equal(r2.status, 502, 'POST: 502');

  // an upstream that resets after reading the request: no retry (the request may have had effects)
  let hits = 0;
  const resetting = createServer((s) => {
    s.once('data', () => {
      hits++;
      s.resetAndDestroy();
    });
  });
  await new Promise<void>((r) => resetting.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => resetting.close(() => r())));
  const c2 = await startSidecar(
    configYaml(`http://127.0.0.1:${(resetting.address() as { port: number }).port}`, base.url, 'proxy: { retries: 2 }'),
  );
  t.teardown(() => c2.stop());
  const r3 = await get(`${c2.url}/x`);
  t.equal(r3.status, 502);
  t.equal(hits, 1, 'a reset after the request was sent is not retried');
});

t.test('a response cut mid-body reaches the client as a truncated response, counted as an error', async (t) => {
  // the upstream sends the head and a first part of the body, then is cut once the client holds the head
  let cut = (): void => {
    throw new Error('the upstream was never asked');
  };
  const trunc = createServer((s) => {
    s.once('data', () => {
      s.write('HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n' + 'x'.repeat(1000));
      cut = () => s.destroy();
    });
  });
  await new Promise<void>((r) => trunc.listen(0, '127.0.0.1', r));
  const base = await startEchoUpstream('canary');
  const c = await startSidecar(configYaml(`http://127.0.0.1:${(trunc.address() as { port: number }).port}`, base.url));
  t.teardown(async () => {
    await c.stop();
    await base.close();
    await new Promise<void>((r) => trunc.close(() => r()));
  });
  const r = await request(`${c.url}/x`, { dispatcher });
  t.equal(r.statusCode, 200, 'headers already went out');
  cut();
  await t.rejects(r.body.text(), 'the client sees the body cut short, never a silently short body');
  await until('the cut response to be recorded', () => c.sidecar.recorder.totals('baseline').byStatus['502'] === 1);
  t.equal(c.sidecar.recorder.totals('baseline').byStatus['502'], 1, 'recorded as a gateway error');
});

t.test('a body that stalls past timeouts.body: the client sees it cut, analysis sees a 504, the log says why', async (t) => {
  const stalled: Socket[] = [];
  const stall = createServer((s) => {
    stalled.push(s);
    s.once('data', () => s.write('HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n' + 'x'.repeat(1000))); // then silence
  });
  await new Promise<void>((r) => stall.listen(0, '127.0.0.1', r));
  const can = await startEchoUpstream('canary');
  const dead = await deadPort();
  const yaml = configYaml(
    `http://127.0.0.1:${(stall.address() as { port: number }).port}`,
    `http://127.0.0.1:${dead}`,
    `routing: { rules: [{ name: c, match: { header: { x-to: canary } }, to: canary }] }
timeouts: { connect: 500ms, headers: 2s, body: 300ms }`,
  );
  const s = await startAdminSidecar(yaml);
  t.teardown(async () => {
    await s.stop();
    await can.close();
    for (const x of stalled) x.destroy();
    await new Promise<void>((r) => stall.close(() => r()));
  });
  const r = await request(`${s.url}/x`, { dispatcher });
  t.equal(r.statusCode, 200, 'headers went out before the stall');
  await t.rejects(r.body.text(), 'the body is cut, never silently short');
  await until('the stalled response to be recorded', () => s.sidecar.recorder.totals('baseline').byStatus['504'] === 1);
  t.equal(s.sidecar.recorder.totals('baseline').byStatus['504'], 1, 'recorded as a 504 timeout');

  const refused = await request(`${s.url}/y`, { dispatcher, headers: { 'x-to': 'canary' } }).then(
    async (x) => (await x.body.dump(), { status: x.statusCode }),
  );
  t.equal(refused.status, 502);
  const lines = s.lines.filter((l) => l.event === 'upstream_error');
  t.equal(lines.length, 2, 'one log line per gateway error');
  t.match(lines[0], {
    level: 40,
    version: 'baseline',
    status: 504,
    outcome: 'timeout',
    code: 'CANARYD_ERR_UPSTREAM_TIMEOUT',
    method: 'GET',
    url: '/x',
  });
  t.match(lines[1], { level: 40, version: 'canary', status: 502, outcome: 'refused', code: 'CANARYD_ERR_UPSTREAM_REFUSED' });
});
