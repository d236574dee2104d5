/**
 * Upgrade policy (issue 11, item 1), over raw sockets: only a 101 whose Upgrade names the protocol the
 * client asked for becomes a tunnel; an upstream that answers 200 to an upgrade and keeps its connection
 * open gets no tunnel, and a request smuggled after the upgrade is parsed, rewritten and routed by canaryd;
 * h2c is never forwarded; protocols outside proxy.upgrades are served as ordinary requests.
 */
import t from 'tap';
import { connect, createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml, startSidecar } from './helpers/canaryd.js';

/** A raw client: write bytes, read until `cond` holds on what arrived (or the socket closes). */
function client(port: number) {
  const s = connect(port, '127.0.0.1');
  let buf = '';
  s.on('data', (c) => (buf += c.toString('latin1')));
  s.on('error', () => undefined);
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  const until = (cond: (b: string) => boolean) =>
    new Promise<string>((resolve) => {
      if (cond(buf)) return resolve(buf);
      const check = () => {
        if (cond(buf)) {
          s.off('data', check);
          resolve(buf);
        }
      };
      s.on('data', check);
      void closed.then(() => resolve(buf));
    });
  return { s, until, closed, data: () => buf };
}

const responses = (b: string) => b.split(/(?=HTTP\/1\.1 \d{3} )/).filter((r) => r.length > 0);
const count = (n: number) => (b: string) => (b.match(/HTTP\/1\.1 \d{3} /g) ?? []).length >= n && /\}$/.test(b);

const WS_UPGRADE = (path: string, extra = '') =>
  `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;

t.test('an upstream answering 200 to an upgrade gets no tunnel: the smuggled next request goes through canaryd', async (t) => {
  // Node's http server without an 'upgrade' listener answers an upgrade request as an ordinary one (200,
  // keep-alive): the case the issue reproduced.
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const c = await startSidecar(
    configYaml(
      base.url,
      can.url,
      'routing: { canaryWeight: 0, rules: [{ name: s, match: { path: /smuggled }, to: canary }] }\nfaults: { enabled: true, allowHeaderControl: true }',
    ),
  );
  t.teardown(async () => (await c.stop(), await base.close(), await can.close()));
  const cl = client(c.sidecar.proxyAddress!.port);
  // the upgrade and the smuggled request in one write: both are in the bytes Node hands over with the upgrade
  cl.s.write(
    WS_UPGRADE('/ws') + 'GET /smuggled HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\nx-canaryd-fault-delay-request: 1\r\n\r\n',
  );
  const got = responses(await cl.until(count(2)));
  t.equal(got.length, 2, 'two responses on the connection');
  t.match(got[0], /^HTTP\/1\.1 200 /, 'the upgrade answered 200: an ordinary response');
  t.match(got[0], /\r\nvia: 1\.1 canaryd\r\n/i, 'with Via');
  t.match(got[0], /\r\nx-canaryd-version: baseline\r\n/i);
  t.match(got[1], /^HTTP\/1\.1 200 /, 'the smuggled request is answered too');
  t.match(got[1], /\r\nx-canaryd-version: canary\r\n/i, 'routed by canaryd: the path rule sent it to canary');
  t.equal(base.seen.length, 1, 'baseline saw only the upgrade request');
  t.equal(base.seen[0].headers.upgrade, 'websocket', 'offered websocket');
  t.equal(can.seen.length, 1, 'the smuggled request reached canary through canaryd');
  const smuggled = can.seen[0];
  t.equal(smuggled.url, '/smuggled');
  t.equal(smuggled.headers.via, '1.1 canaryd', 'it carries Via');
  t.equal(
    smuggled.headers['x-forwarded-for'],
    '6.6.6.6, 127.0.0.1',
    "canaryd appended the client's address (the forged hop is not the last)",
  );
  t.notOk('x-canaryd-fault-delay-request' in smuggled.headers, 'fault-control headers stripped');
  cl.s.write('GET /third HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  await cl.closed;
  t.match(responses(cl.data())[2] ?? '', /^HTTP\/1\.1 200 [\s\S]*Connection: close/i, 'the connection keeps being parsed by canaryd');
});

t.test('h2c is never forwarded: the request is served without Upgrade and HTTP2-Settings, the connection stays HTTP/1.1', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const c = await startSidecar(configYaml(base.url, can.url));
  t.teardown(async () => (await c.stop(), await base.close(), await can.close()));
  const cl = client(c.sidecar.proxyAddress!.port);
  cl.s.write(
    'POST /h2c HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: 5\r\n\r\nhello',
  );
  cl.s.write('GET /after HTTP/1.1\r\nHost: a\r\n\r\n');
  const got = responses(await cl.until(count(2)));
  t.match(got[0], /^HTTP\/1\.1 200 /, 'answered as an ordinary request');
  t.notMatch(got[0], /upgrade/i, 'no Upgrade in the answer');
  const first = base.seen.find((r) => r.url === '/h2c')!;
  t.ok(first, 'the h2c request reached the upstream');
  t.notOk('upgrade' in first.headers, 'Upgrade not forwarded');
  t.notOk('http2-settings' in first.headers, 'HTTP2-Settings not forwarded');
  t.equal(first.bodyBytes, 5, 'the body is forwarded');
  const after = base.seen.find((r) => r.url === '/after');
  t.ok(after, 'the next request on the connection is parsed and proxied');
  t.equal(after?.headers.via, '1.1 canaryd');
  cl.s.destroy();
});

t.test('protocols outside proxy.upgrades are served as ordinary requests; an empty list turns WebSocket off', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const c = await startSidecar(configYaml(base.url, can.url, 'proxy: { upgrades: [] }'));
  t.teardown(async () => (await c.stop(), await base.close(), await can.close()));
  const cl = client(c.sidecar.proxyAddress!.port);
  cl.s.write(WS_UPGRADE('/ws-off') + 'GET /x HTTP/1.1\r\nHost: a\r\nUpgrade: foo\r\nConnection: upgrade\r\n\r\n');
  const got = responses(await cl.until(count(2)));
  t.match(got[0], /^HTTP\/1\.1 200 /);
  t.match(got[1], /^HTTP\/1\.1 200 /);
  t.same(
    base.seen.map((s) => [s.url, s.headers.upgrade]).sort(),
    [
      ['/ws-off', undefined],
      ['/x', undefined],
    ],
    'no Upgrade reached the upstream',
  );
  cl.s.destroy();
});

/** A raw upstream that answers every request with `answer` and then echoes bytes back (a fake tunnel). */
async function rawUpstream(answer: string): Promise<{ url: string; server: TcpServer; got: () => string }> {
  let got = '';
  const server = createTcpServer((s: Socket) => {
    let head = true;
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (head && got.includes('\r\n\r\n')) {
        head = false;
        s.write(answer);
      } else if (!head) s.write(d);
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server, got: () => got };
}

t.test('a 101 naming the protocol asked for is a tunnel with Via; a 101 for another protocol is a 502', async (t) => {
  const good = await rawUpstream('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  const bad = await rawUpstream('HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n');
  const c = await startSidecar(
    configYaml(good.url, bad.url, 'routing: { canaryWeight: 0, rules: [{ name: b, match: { header: { x-to: canary } }, to: canary }] }'),
  );
  t.teardown(async () => {
    await c.stop();
    good.server.close();
    bad.server.close();
  });
  const port = c.sidecar.proxyAddress!.port;
  const ok = client(port);
  ok.s.write(WS_UPGRADE('/tunnel'));
  const head = await ok.until((b) => b.includes('\r\n\r\n'));
  t.match(head, /^HTTP\/1\.1 101 /, '101 passed on');
  t.match(head, /\r\nvia: 1\.1 canaryd\r\n/i, 'the 101 carries Via');
  t.match(head, /\r\nx-canaryd-version: baseline\r\n/i);
  t.match(head, /\r\nupgrade: websocket\r\n/i);
  ok.s.write('frame-bytes');
  await ok.until((b) => b.endsWith('frame-bytes'));
  t.pass('bytes flow both ways once switched');
  ok.s.destroy();
  t.match(good.got(), /\r\nvia: 1\.1 canaryd\r\n/i, 'the upgrade request reached the upstream with Via');

  const no = client(port);
  no.s.write(WS_UPGRADE('/wrong', 'x-to: canary\r\n'));
  await no.closed;
  t.match(no.data(), /^HTTP\/1\.1 502 /, 'a 101 to h2c for a websocket request: 502');
  t.match(no.data(), /CANARYD_ERR_UPSTREAM_PROTOCOL/);
  t.notMatch(no.data(), /101/, 'the client never sees the 101');
});
