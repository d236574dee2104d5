/**
 * RFC 9110/9112 corner cases of the data plane, over raw sockets so the exact bytes are seen: Host
 * validation (400), absolute-form targets (Host from the target, empty path -> "/"), OPTIONS *, CONNECT,
 * trailers to an HTTP/1.0 client, 1xx forwarding (103 Early Hints), W3C traceparent validation, and
 * WebSocket upgrades to a refusing or silent upstream.
 */
import t from 'tap';
import { connect, createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { createServer, type Server } from 'node:http';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml, startSidecar } from './helpers/canaryd.js';

/** Sends raw bytes; resolves with everything read until the server closes (or `timeoutMs`). */
function raw(port: number, bytes: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => (s.destroy(), resolve(out)), timeoutMs);
    s.on('data', (c) => (out += c.toString('latin1')));
    s.on('close', () => (clearTimeout(timer), resolve(out)));
    s.on('error', reject);
    s.write(bytes);
  });
}

const bodyOf = (res: string) => res.slice(res.indexOf('\r\n\r\n') + 4);

t.test('request framing and targets', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const c = await startSidecar(
    configYaml(base.url, can.url, 'routing: { canaryWeight: 0, rules: [{ name: api, match: { path: /api/ }, to: canary }] }'),
  );
  const port = c.sidecar.proxyAddress!.port;
  t.teardown(async () => (await c.stop(), await base.close(), await can.close()));
  const observed: number[] = [];
  c.sidecar.onObservation((o) => observed.push(o.status));

  t.test('Host missing (HTTP/1.1), repeated or invalid -> 400 JSON, never forwarded, not counted for a version', async (t) => {
    const before = base.seen.length + can.seen.length;
    observed.length = 0;
    for (const [what, head] of [
      ['no Host on HTTP/1.1', 'GET / HTTP/1.1\r\n'],
      ['two Host fields', 'GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n'],
      ['invalid Host value', 'GET / HTTP/1.1\r\nHost: a b\r\n'],
    ]) {
      const res = await raw(port, `${head}Connection: close\r\n\r\n`);
      t.match(res, /^HTTP\/1\.1 400 /, what);
      const json = JSON.parse(bodyOf(res));
      t.equal(json.error, 'CANARYD_ERR_BAD_REQUEST', `${what}: error code`);
      t.notOk('version' in json, `${what}: names no version`);
      t.notMatch(res, /x-canaryd-version/i, `${what}: no version header`);
    }
    t.equal(base.seen.length + can.seen.length, before, 'nothing reached an upstream');
    t.same(observed, [], 'no observation recorded for requests no version served');
    const ok = await raw(port, 'GET /h10 HTTP/1.0\r\n\r\n');
    t.match(ok, /^HTTP\/1\.1 200 /, 'HTTP/1.0 without Host is fine');
    t.match(
      await raw(port, 'GET / HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n'),
      /^HTTP\/1\.1 200 /,
      'IP-literal Host is fine',
    );
    t.match(
      await raw(port, 'GET / HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n'),
      /^HTTP\/1\.1 200 /,
      'empty Host is allowed (RFC 9112 §3.2)',
    );
  });

  t.test('absolute-form: forwarded in origin-form, Host from the target, routed on its path', async (t) => {
    base.seen.length = 0;
    can.seen.length = 0;
    const res = await raw(port, 'GET http://app.example:8080?x=1 HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n');
    t.match(res, /^HTTP\/1\.1 200 /);
    t.equal(base.seen[0].url, '/?x=1', 'empty path becomes "/" (RFC 9112 §3.2.1)');
    t.equal(base.seen[0].headers.host, 'app.example:8080', 'Host replaced by the target authority (RFC 9112 §3.2.2)');
    t.equal(base.seen[0].headers['x-forwarded-host'], 'app.example:8080');
    await raw(port, 'GET HTTP://app.example/api/v1 HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n');
    t.equal(can.seen[0]?.url, '/api/v1', 'a path rule sees the origin-form path');
    t.match(
      await raw(port, 'GET http://user@app.example/ HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n'),
      /^HTTP\/1\.1 400 /,
      'userinfo is refused',
    );
  });

  t.test('OPTIONS * is answered by canaryd; CONNECT gets 405 with Allow', async (t) => {
    const before = base.seen.length + can.seen.length;
    const opt = await raw(port, 'OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    t.match(opt, /^HTTP\/1\.1 200 /);
    t.match(opt, /\r\nallow: GET, HEAD, POST/i);
    t.equal(bodyOf(opt), '');
    const con = await raw(port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    t.match(con, /^HTTP\/1\.1 405 /);
    t.match(con, /\r\nallow: /i, 'Allow is required on a 405 (RFC 9110 §15.5.6)');
    t.equal(JSON.parse(bodyOf(con)).error, 'CANARYD_ERR_METHOD_NOT_ALLOWED');
    t.equal(base.seen.length + can.seen.length, before, 'neither reached an upstream');
  });

  t.test('trailers to an HTTP/1.0 client: no Trailer announcement, body intact, not a 502', async (t) => {
    const res = await raw(port, 'GET /trailers HTTP/1.0\r\nHost: a\r\n\r\n');
    t.match(res, /^HTTP\/1\.1 200 /);
    t.notMatch(res, /\r\ntrailer:/i, 'Trailer dropped: trailers cannot follow a non-chunked body');
    t.notMatch(res, /transfer-encoding/i, 'no chunked framing for HTTP/1.0');
    t.equal(bodyOf(res), 'part one,part two');
  });

  t.test('a chunked request with trailers: the body arrives whole, the trailer section is not forwarded', async (t) => {
    base.seen.length = 0;
    const res = await raw(
      port,
      'POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: x-sum\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nx-sum: 42\r\n\r\n',
    );
    t.match(res, /^HTTP\/1\.1 200 /);
    t.equal(base.seen[0].bodyBytes, 11, 'every body byte forwarded');
    t.notOk('trailer' in base.seen[0].headers, 'no Trailer announcement without trailers (undici sends none)');
  });

  t.test('traceparent: invalid ones are dropped and take tracestate with them; valid ones pass', async (t) => {
    const send = async (tp: string) => {
      base.seen.length = 0;
      await raw(port, `GET / HTTP/1.1\r\nHost: a\r\ntracestate: vendor=1\r\ntraceparent: ${tp}\r\nConnection: close\r\n\r\n`);
      return base.seen[0].headers;
    };
    const ok = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    for (const bad of [
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01', // zero trace-id
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', // zero parent-id
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', // version ff
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', // uppercase
      `${ok}-extra`, // version 00 must be exactly 55 characters
    ]) {
      const h = await send(bad);
      t.equal(h.traceparent, undefined, `dropped, none made up (tracing off): ${bad}`);
      t.equal(h.tracestate, undefined, 'tracestate dropped with the invalid traceparent');
    }
    const kept = await send(ok);
    t.equal(kept.traceparent, ok);
    t.equal(kept.tracestate, 'vendor=1', 'tracestate kept beside a valid traceparent');
    const future = `01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-newfield`;
    t.equal((await send(future)).traceparent, future, 'a future version with extra fields is passed on (§3.2.4)');
  });
});

t.test('a Trailer announcement on a HEAD or Content-Length response is dropped, not a 502', async (t) => {
  // a raw upstream: Node's own server would refuse to write such a response, other servers do send it
  const up: TcpServer = createTcpServer((s) => {
    s.on('data', (d) => {
      const head = d.toString('latin1').startsWith('HEAD');
      s.write(`HTTP/1.1 200 OK\r\nTrailer: x-checksum\r\nContent-Length: 5\r\n\r\n${head ? '' : 'hello'}`);
    });
  });
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(up.address() as { port: number }).port}`;
  const c = await startSidecar(configYaml(url, url));
  t.teardown(async () => (await c.stop(), up.close()));
  const port = c.sidecar.proxyAddress!.port;
  const head = await raw(port, 'HEAD / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  t.match(head, /^HTTP\/1\.1 200 /, 'HEAD');
  t.notMatch(head, /\r\ntrailer:/i);
  const get = await raw(port, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  t.match(get, /^HTTP\/1\.1 200 /, 'GET with Content-Length');
  t.notMatch(get, /\r\ntrailer:/i);
  t.equal(bodyOf(get), 'hello');
});

t.test('1xx: 103 Early Hints reach HTTP/1.1 clients, not HTTP/1.0 ones', async (t) => {
  const hints: Server = createServer((req, res) => {
    res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
    res.end('final');
  });
  await new Promise<void>((r) => hints.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(hints.address() as { port: number }).port}`;
  const c = await startSidecar(configYaml(url, url));
  t.teardown(async () => (await c.stop(), await new Promise<void>((r) => hints.close(() => r()))));
  const port = c.sidecar.proxyAddress!.port;
  const res = await raw(port, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  t.match(
    res,
    /^HTTP\/1\.1 103 Early Hints\r\nLink: <\/style\.css>; rel=preload; as=style\r\n\r\nHTTP\/1\.1 200 /,
    '103 forwarded before the final response (RFC 9110 §15.2)',
  );
  t.match(res, /final$/);
  const old = await raw(port, 'GET / HTTP/1.0\r\nHost: a\r\n\r\n');
  t.match(old, /^HTTP\/1\.1 200 /, 'no 1xx to an HTTP/1.0 client');
});

t.test('WebSocket upgrade to a refusing or silent upstream: 502 / 504 with JSON bodies, recorded', async (t) => {
  const dead: TcpServer = createTcpServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  const deadPort = (dead.address() as { port: number }).port;
  await new Promise((r) => dead.close(r));
  const silent: TcpServer = createTcpServer(() => {
    /* accepts, never answers */
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const silentUrl = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
  const c = await startSidecar(
    configYaml(
      `http://127.0.0.1:${deadPort}`,
      silentUrl,
      'routing: { canaryWeight: 0, rules: [{ name: c, match: { header: { x-to: canary } }, to: canary }] }\ntimeouts: { connect: 500ms, headers: 300ms }',
    ),
  );
  t.teardown(async () => {
    await c.stop();
    silent.close();
  });
  const port = c.sidecar.proxyAddress!.port;
  const observed: Array<{ status: number; outcome: string }> = [];
  c.sidecar.onObservation((o) => observed.push({ status: o.status, outcome: o.outcome }));
  const upgrade = (extra = '') =>
    `GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;
  const refused = await raw(port, upgrade());
  t.match(refused, /^HTTP\/1\.1 502 /);
  t.equal(JSON.parse(bodyOf(refused)).error, 'CANARYD_ERR_UPSTREAM_REFUSED');
  const hung = await raw(port, upgrade('x-to: canary\r\n'));
  t.match(hung, /^HTTP\/1\.1 504 /, 'no answer to the upgrade within timeouts.headers -> 504');
  t.equal(JSON.parse(bodyOf(hung)).error, 'CANARYD_ERR_UPSTREAM_TIMEOUT');
  t.same(observed, [
    { status: 502, outcome: 'refused' },
    { status: 504, outcome: 'timeout' },
  ]);
});
