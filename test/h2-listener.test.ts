import t from 'tap';
import { constants, type ClientHttp2Session } from 'node:http2';
import { createServer, request as h1request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml, startSidecar } from './helpers/canaryd.js';
import { h2request, h2session, RawH2 } from './helpers/h2.js';
import type { TapTest } from './helpers/admin.js';

async function rig(t: TapTest, extra = '') {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const c = await startSidecar(configYaml(base.url, can.url, extra));
  const sessions: ClientHttp2Session[] = [];
  const session = async () => {
    const s = await h2session(c.url);
    sessions.push(s);
    return s;
  };
  t.teardown(async () => {
    for (const s of sessions) s.destroy();
    await c.stop();
    await base.close();
    await can.close();
  });
  return { base, can, c, session, port: c.sidecar.proxyAddress!.port };
}

function h1get(url: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    h1request(url, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    })
      .on('error', reject)
      .end();
  });
}

t.test('h2c prior knowledge and HTTP/1.1 on the same port; pseudo-headers mapped to the upstream request', async (t) => {
  const { base, c, session } = await rig(t);
  const s = await session();
  const r = await h2request(s, { ':path': '/echo?q=1', ':method': 'GET', 'x-custom': 'a' });
  t.equal(r.status, 200);
  t.equal(r.headers['x-canaryd-version'], 'baseline');
  t.equal(r.headers.via, '1.1 canaryd');
  const seen = base.seen.at(-1)!;
  t.equal(seen.url, '/echo?q=1', ':path is the upstream target');
  t.equal(seen.headers.host, `127.0.0.1:${c.sidecar.proxyAddress!.port}`, ':authority becomes Host');
  t.equal(seen.headers['x-custom'], 'a');
  t.equal(seen.headers['x-forwarded-proto'], 'http');
  t.notOk(
    seen.rawHeaders.some((n) => n.startsWith(':')),
    'no pseudo-header reaches the HTTP/1.1 upstream',
  );
  const h1 = await h1get(`${c.url}/plain`);
  t.equal(h1.status, 200, 'HTTP/1.1 still served on the same port');
  t.equal(JSON.parse(h1.body).url, '/plain');
  // a POST body through an HTTP/2 stream
  const post = await h2request(s, { ':path': '/up', ':method': 'POST', 'content-type': 'text/plain' }, 'x'.repeat(100_000));
  t.equal(JSON.parse(post.body).bodyBytes, 100_000, 'request body streamed to the upstream');
});

t.test('response trailers reach an HTTP/2 client; connection-specific response fields never do', async (t) => {
  const hop = createServer((req, res) => {
    res.writeHead(200, {
      connection: 'keep-alive, x-hop',
      'x-hop': 'secret',
      'keep-alive': 'timeout=5',
      upgrade: 'foo',
      'proxy-connection': 'keep-alive',
      trailer: 'x-sum',
      'x-end': 'e2e',
    });
    res.write('body');
    res.addTrailers({ 'x-sum': '42' });
    res.end();
  });
  await new Promise<void>((r) => hop.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(hop.address() as AddressInfo).port}`;
  const c = await startSidecar(configYaml(url, url));
  const s = await h2session(c.url);
  t.teardown(async () => (s.destroy(), await c.stop(), hop.closeAllConnections(), hop.close()));
  const r = await h2request(s, { ':path': '/t' });
  t.equal(r.status, 200);
  t.equal(r.body, 'body');
  for (const h of ['connection', 'x-hop', 'keep-alive', 'upgrade', 'proxy-connection', 'transfer-encoding'])
    t.notOk(h in r.headers, `${h} not forwarded into HTTP/2`);
  t.equal(r.headers['x-end'], 'e2e');
  t.same(r.trailers?.['x-sum'], '42', 'trailer forwarded');
});

t.test('connection-specific fields and te other than trailers are refused from HTTP/2 clients (RFC 9113 §8.2.2)', async (t) => {
  const { base, port } = await rig(t);
  const cases: Array<[string, string]> = [
    ['connection', 'keep-alive'],
    ['keep-alive', 'timeout=5'],
    ['proxy-connection', 'keep-alive'],
    ['transfer-encoding', 'chunked'],
    ['upgrade', 'websocket'],
    ['te', 'gzip'],
  ];
  for (const [name, value] of cases) {
    const raw = new RawH2(port);
    raw.headers(1, [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/bad'],
      [':authority', 'x'],
      [name, value],
    ]);
    // refused as a stream error (RST_STREAM PROTOCOL_ERROR) or with a 4xx answer: either way never forwarded
    const f = await raw.waitFor((f) => f.stream === 1 && (f.type === 3 || f.type === 1));
    if (f.type === 3) t.equal(f.payload.readUInt32BE(0), constants.NGHTTP2_PROTOCOL_ERROR, `${name}: RST_STREAM PROTOCOL_ERROR`);
    else t.pass(`${name}: answered with a HEADERS frame (status checked by the seen list)`);
    raw.close();
  }
  t.notOk(
    base.seen.some((r) => r.url === '/bad'),
    'none of them reached the upstream',
  );
  const ok = new RawH2(port);
  ok.headers(1, [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/good'],
    [':authority', 'x'],
    ['te', 'trailers'],
  ]);
  const h = await ok.waitFor((f) => f.stream === 1 && (f.type === 1 || f.type === 3));
  t.equal(h.type, 1, 'te: trailers is accepted');
  ok.close();
  t.ok(
    base.seen.some((r) => r.url === '/good' && r.headers.te === undefined),
    'te is not forwarded to an HTTP/1.1 upstream',
  );
});

t.test('RST_STREAM from the client aborts the upstream request and is recorded as a client abort', async (t) => {
  let upstreamClosed!: () => void;
  const closed = new Promise<void>((r) => (upstreamClosed = r));
  let arrived!: () => void;
  const got = new Promise<void>((r) => (arrived = r));
  const hold = createServer((req, res) => {
    res.on('close', () => upstreamClosed());
    arrived();
    res.writeHead(200);
    res.write('first');
  });
  await new Promise<void>((r) => hold.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(hold.address() as AddressInfo).port}`;
  const c = await startSidecar(configYaml(url, url));
  const s = await h2session(c.url);
  t.teardown(async () => (s.destroy(), await c.stop(), hold.closeAllConnections(), hold.close()));
  const req = s.request({ ':path': '/hold' });
  req.on('error', () => undefined);
  await got;
  await new Promise<void>((r) => req.once('data', () => r()));
  req.close(constants.NGHTTP2_CANCEL);
  await closed;
  t.pass('the upstream request was aborted');
  for (let i = 0; i < 200 && (c.sidecar.recorder.totals('baseline').byStatus['499'] ?? 0) === 0; i++)
    await new Promise((r) => setTimeout(r, 10));
  t.equal(c.sidecar.recorder.totals('baseline').byStatus['499'], 1, 'recorded as 499 client_abort');
});

t.test('stream and header-list limits are advertised and enforced', async (t) => {
  const { base, session } = await rig(t, 'http2: { maxConcurrentStreams: 7, maxHeaderListBytes: 2048 }');
  const s = await session();
  await new Promise<void>((r) => (s.remoteSettings.maxConcurrentStreams === 7 ? r() : s.once('remoteSettings', () => r())));
  t.equal(s.remoteSettings.maxConcurrentStreams, 7, 'SETTINGS_MAX_CONCURRENT_STREAMS');
  t.equal(s.remoteSettings.maxHeaderListSize, 2048, 'SETTINGS_MAX_HEADER_LIST_SIZE');
  const before = base.seen.length;
  const big = await new Promise<string>((resolve) => {
    const req = s.request({ ':path': '/big', 'x-big': 'y'.repeat(4000) });
    req.on('response', (h) => resolve(`status ${h[':status']}`));
    req.on('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code}`));
    req.on('close', () => resolve(`closed ${req.rstCode}`));
    req.end();
  });
  t.notMatch(big, /status 200/, `an oversized header list is refused (${big})`);
  t.equal(base.seen.length, before, 'and not forwarded');
  const fresh = await session();
  t.equal((await h2request(fresh, { ':path': '/after' })).status, 200, 'a normal request is served afterwards');
});

t.test('rapid reset flood (CVE-2023-44487): the flooding connection is closed, another client is served', async (t) => {
  const { session } = await rig(t, 'http2: { resetFlood: { maxResets: 50, window: 10s } }');
  const good = await session();
  const flood = await session();
  const goaway = new Promise<number>((r) => flood.once('goaway', (code) => r(code)));
  const closed = new Promise<void>((r) => flood.once('close', () => r()));
  flood.on('error', () => undefined);
  let sent = 0;
  for (; sent < 2000 && !flood.destroyed && !flood.closed; sent++) {
    const req = flood.request({ ':path': `/slow?ms=200` });
    req.on('error', () => undefined);
    req.close(constants.NGHTTP2_CANCEL);
    if (sent % 20 === 19) await new Promise((r) => setImmediate(r));
  }
  const code = await Promise.race([goaway, closed.then(() => -1)]);
  await closed;
  t.ok(code === constants.NGHTTP2_ENHANCE_YOUR_CALM || code === -1, `flood connection closed (GOAWAY code ${code}) after ${sent} streams`);
  t.ok(sent < 2000, 'cut off before the loop ended');
  const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => h2request(good, { ':path': `/ok${i}` })));
  t.same(
    answers.map((a) => a.status),
    Array(10).fill(200),
    'the other connection is served',
  );
});

t.test('routing, rules, faults and metrics work the same over HTTP/2', async (t) => {
  const { c, can, session } = await rig(
    t,
    `routing:
  canaryWeight: 0
  rules: [{ name: beta, match: { header: { x-beta: "1" } }, to: canary }]
faults:
  enabled: true
  rules: [{ name: teapot, match: { path: /fault }, probability: 1, abort: { status: 418 } }]
`,
  );
  const s = await session();
  const beta = await h2request(s, { ':path': '/r', 'x-beta': '1' });
  t.equal(beta.headers['x-canaryd-version'], 'canary', 'the header rule pins to canary');
  t.equal(can.seen.length, 1);
  const f = await h2request(s, { ':path': '/fault' });
  t.equal(f.status, 418, 'abort fault answers over HTTP/2');
  c.sidecar.traffic.setWeight('api', 100, 'test');
  const w = await h2request(s, { ':path': '/w' });
  t.equal(w.headers['x-canaryd-version'], 'canary', 'weights apply');
  const metrics = await c.sidecar.registry.metrics();
  t.match(metrics, /http_requests_total\{version="canary",status="200"\} 2/);
  t.equal(c.sidecar.recorder.totals('canary').requests, 2);
});

t.test('drain: an HTTP/2 stream in flight finishes, the connection gets GOAWAY', async (t) => {
  const { c, session } = await rig(t);
  const s = await session();
  const goaway = new Promise<void>((r) => s.once('goaway', () => r()));
  const slow = h2request(s, { ':path': '/slow?ms=300' });
  for (let i = 0; i < 200 && c.sidecar.proxy.inflight === 0; i++) await new Promise((r) => setTimeout(r, 5));
  const stopped = c.sidecar.stop(5000);
  const r = await slow;
  t.equal(r.status, 200, 'in-flight stream completed');
  await goaway;
  t.pass('GOAWAY received');
  const { cut } = await stopped;
  t.equal(cut, 0, 'nothing cut');
});
