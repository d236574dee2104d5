/**
 * Slow and greedy clients (issue 11, item 2), over real sockets: a client trickling its body never holds an
 * upstream connection (the body's first limits.bufferBodyBytes are read first), an idle body and one below
 * limits.minBodyRate get 408; per-client in-flight (429) and connection limits, off behind trusted proxies;
 * and 200 slow-POST clients next to normal ones, whose p99 is compared with their own idle p99 measured in
 * the same run (a ratio, no wall-clock budget).
 */
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { Agent, request } from 'undici';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml, startSidecar } from './helpers/canaryd.js';

function rawClient(port: number) {
  const s = connect(port, '127.0.0.1');
  let buf = '';
  s.on('data', (c) => (buf += c.toString('latin1')));
  s.on('error', () => undefined);
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  return { s, closed, data: () => buf };
}

/** Writes one byte of `body` every `everyMs` until it is all sent or the socket closes. */
function trickle(s: Socket, body: string, everyMs: number): NodeJS.Timeout {
  let i = 0;
  const timer = setInterval(() => {
    if (i >= body.length || s.destroyed || !s.writable) return clearInterval(timer);
    s.write(body[i++]);
  }, everyMs);
  s.once('close', () => clearInterval(timer));
  return timer;
}

const withConnections = (yaml: string, url: string, n: number) =>
  yaml.replace(`{ url: "${url}", version: v1 }`, `{ url: "${url}", version: v1, connections: ${n} }`);

t.test('a trickling body holds no upstream connection; idle and too-slow bodies get 408', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const c = await startSidecar(
    withConnections(configYaml(base.url, can.url, 'timeouts: { clientBody: 700ms }\nlimits: { minBodyRate: 1024 }'), base.url, 1),
  );
  t.teardown(async () => (await c.stop(), await base.close(), await can.close()));
  const port = c.sidecar.proxyAddress!.port;

  const slow = rawClient(port);
  slow.s.write('POST /slow-upload HTTP/1.1\r\nHost: a\r\nContent-Length: 40\r\n\r\n');
  trickle(slow.s, 'x'.repeat(40), 100);
  // the only upstream connection stays free for others while the slow body arrives
  const r = await request(`${c.url}/normal`);
  await r.body.dump();
  t.equal(r.statusCode, 200, 'a normal request is served through the one upstream connection meanwhile');
  t.equal(c.sidecar.proxy.upstream('baseline').active, 0, 'the slow upload holds no upstream slot');

  const idle = rawClient(port);
  idle.s.write('POST /idle HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab'); // then nothing
  await idle.closed;
  t.match(idle.data(), /^HTTP\/1\.1 408 /, 'an idle body: 408');
  t.match(idle.data(), /CANARYD_ERR_CLIENT_TIMEOUT/);

  const big = rawClient(port);
  big.s.write('POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n');
  trickle(big.s, 'y'.repeat(1000), 50); // 20 B/s, far below 1024 B/s, never idle for 700 ms
  await big.closed;
  t.match(big.data(), /^HTTP\/1\.1 408 /, 'a body below limits.minBodyRate: 408');
  t.match(big.data(), /minBodyRate/);
  t.notOk(
    base.seen.some((s) => s.url === '/idle' || s.url === '/big'),
    'neither reached the upstream',
  );
  slow.s.destroy();
});

t.test('per-client limits: in-flight (429) and connections; off for trusted proxies', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const c = await startSidecar(configYaml(base.url, can.url, 'limits: { perClient: { inflight: 2, connections: 3 } }'));
  t.teardown(async () => (await c.stop(), await base.close(), await can.close()));
  const dispatcher = new Agent({ connections: 10 });
  t.teardown(() => dispatcher.close());
  const hangs = [request(`${c.url}/hang`, { dispatcher }).catch(() => null), request(`${c.url}/hang`, { dispatcher }).catch(() => null)];
  for (let i = 0; i < 1000 && c.sidecar.proxy.inflight < 2; i++) await new Promise((r) => setTimeout(r, 5));
  const third = await request(`${c.url}/third`, { dispatcher });
  t.equal(third.statusCode, 429, 'a third request in flight from the same client: 429');
  t.equal(((await third.body.json()) as { error: string }).error, 'CANARYD_ERR_CLIENT_LIMIT');
  // three connections are open (two hanging, one that got the 429); a fourth is closed at accept
  const fourth = rawClient(c.sidecar.proxyAddress!.port);
  fourth.s.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  await fourth.closed;
  t.equal(fourth.data(), '', 'a connection over limits.perClient.connections is closed unanswered');
  const metrics = await (await fetch(`${c.adminUrl}/metrics`)).text();
  // exactly one: the refused fourth connection's request is never parsed (it used to be, and answered 429
  // into a destroyed socket, because the limit was applied after the HTTP parser had the first bytes)
  t.match(metrics, /canaryd_limit_rejections_total\{reason="client_inflight"\} 1\n/, 'the one 429 is counted once');
  t.match(metrics, /canaryd_limit_rejections_total\{reason="client_connections"\} 1/);
  void hangs;
});

t.test('per-client in-flight limit behind a trusted proxy counts the forwarded client, never the proxy', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const c = await startSidecar(
    configYaml(base.url, can.url, 'proxy: { trustProxy: [127.0.0.1] }\nlimits: { perClient: { inflight: 1, connections: 1 } }'),
  );
  t.teardown(async () => (await c.stop(), await base.close(), await can.close()));
  const dispatcher = new Agent({ connections: 10 });
  t.teardown(() => dispatcher.close());
  const a = request(`${c.url}/hang`, { dispatcher, headers: { 'x-forwarded-for': '203.0.113.7' } }).catch(() => null);
  for (let i = 0; i < 1000 && c.sidecar.proxy.inflight < 1; i++) await new Promise((r) => setTimeout(r, 5));
  const other = await request(`${c.url}/other`, { dispatcher, headers: { 'x-forwarded-for': '203.0.113.8' } });
  await other.body.dump();
  t.equal(other.statusCode, 200, 'another client behind the same LB (and a second LB connection) is served');
  const same = await request(`${c.url}/same`, { dispatcher, headers: { 'x-forwarded-for': '203.0.113.7' } });
  await same.body.dump();
  t.equal(same.statusCode, 429, 'the forwarded client with one in flight already: 429');
  const lb = await request(`${c.url}/lb`, { dispatcher });
  await lb.body.dump();
  t.equal(lb.statusCode, 200, 'the LB itself (no forwarded client) is never limited');
  void a;
});

/** p99 of `n` sequential GETs over a keep-alive agent. */
async function p99(url: string, dispatcher: Agent, n: number): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = await request(url, { dispatcher });
    await r.body.dump();
    if (r.statusCode !== 200) throw new Error(`status ${r.statusCode}`);
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return ms[Math.floor(n * 0.99)];
}

t.test('200 slow-POST clients: normal clients keep a p99 under 10x their idle p99 (same run)', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  // the attack: Content-Length 1000000, then a byte at a time; default limits otherwise
  const c = await startSidecar(configYaml(base.url, can.url));
  t.teardown(async () => (await c.stop(), await base.close(), await can.close()));
  const dispatcher = new Agent({ connections: 4 });
  t.teardown(() => dispatcher.close());
  await p99(`${c.url}/warm`, dispatcher, 50);
  const idle = await p99(`${c.url}/idle`, dispatcher, 300);
  const slow = Array.from({ length: 200 }, () => {
    const cl = rawClient(c.sidecar.proxyAddress!.port);
    cl.s.write('POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n');
    trickle(cl.s, 'z'.repeat(100), 1000);
    return cl;
  });
  t.teardown(() => slow.forEach((s) => s.s.destroy()));
  for (let i = 0; i < 2000 && c.sidecar.proxy.inflight < 200; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(c.sidecar.proxy.inflight, 200, 'all 200 slow uploads are in flight');
  const loaded = await p99(`${c.url}/loaded`, dispatcher, 300);
  const stillSlow = c.sidecar.proxy.inflight;
  t.comment(
    `idle p99 ${idle.toFixed(2)} ms, p99 beside 200 slow POSTs ${loaded.toFixed(2)} ms, ratio ${(loaded / idle).toFixed(2)}; ${stillSlow} slow uploads still open at the end`,
  );
  t.ok(loaded < 10 * idle, `p99 ratio ${(loaded / idle).toFixed(2)} < 10`);
  t.equal(c.sidecar.proxy.upstream('baseline').active, 0, 'the slow uploads hold no upstream connection');
});
