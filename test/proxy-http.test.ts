import t from 'tap';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request, Agent } from 'undici';
import { WebSocketServer, WebSocket } from 'ws';
import { patternChunk, patternSha256, startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml, startSidecar } from './helpers/canaryd.js';

const dispatcher = new Agent({ connections: 8 });

/** Sends raw bytes and returns everything the server wrote until it closed or `until` matched. */
function raw(port: number, bytes: string, until?: RegExp, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    const t = setTimeout(() => (s.destroy(), resolve(out)), timeoutMs);
    s.on('data', (c) => {
      out += c.toString('latin1');
      if (until && until.test(out)) {
        clearTimeout(t);
        s.destroy();
        resolve(out);
      }
    });
    s.on('close', () => (clearTimeout(t), resolve(out)));
    s.on('error', reject);
    s.write(bytes);
  });
}

t.test('HTTP semantics through the proxy', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const c = await startSidecar(configYaml(base.url, can.url, 'routing: { canaryWeight: 0 }'));
  const port = c.sidecar.proxyAddress!.port;
  t.teardown(async () => (await c.stop(), await base.close(), await can.close(), await dispatcher.close()));

  t.test('hop-by-hop headers are stripped, forwarding headers added', async (t) => {
    base.seen.length = 0;
    const res = await raw(
      port,
      'GET /echo HTTP/1.1\r\nHost: app.example\r\nConnection: keep-alive, X-Secret-Hop\r\nX-Secret-Hop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic Zm9v\r\nX-Forwarded-For: 203.0.113.7\r\nVia: 1.0 edge\r\nX-Custom: kept\r\n\r\n',
      /"upstream"[\s\S]*\}$/,
    );
    t.match(res, /^HTTP\/1\.1 200/);
    const seen = base.seen[0];
    const names = seen.rawHeaders.filter((_, i) => i % 2 === 0).map((h) => h.toLowerCase());
    for (const h of ['x-secret-hop', 'keep-alive', 'te', 'proxy-connection', 'proxy-authorization'])
      t.notOk(names.includes(h), `${h} not forwarded`);
    t.notOk(/x-secret-hop/i.test(String(seen.headers.connection ?? '')), 'Connection does not name the stripped header');
    t.equal(seen.headers['x-custom'], 'kept', 'end-to-end header kept');
    t.equal(seen.headers.host, 'app.example', 'Host passed through');
    t.equal(seen.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1', 'X-Forwarded-For appended');
    t.equal(seen.headers['x-forwarded-proto'], 'http');
    t.equal(seen.headers['x-forwarded-host'], 'app.example');
    t.equal(seen.headers.via, '1.0 edge, 1.1 canaryd', 'Via appended');
    t.equal(seen.headers.traceparent, undefined, 'no traceparent made up without tracing (a sampled one forced every app to record)');
    t.match(res, /\r\nvia: 1\.1 canaryd\r\n/i, 'Via on the response');
    t.match(res, /\r\nx-canaryd-version: baseline\r\n/i, 'version header on the response');
  });

  t.test('traceparent passed on; path and query byte for byte; repeated headers kept', async (t) => {
    base.seen.length = 0;
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const target = '/a%2Fb/%7Euser/x;y=1?q=a%20b&q=c+d&empty=&%E2%9C%93=1#';
    await raw(
      port,
      `GET ${target.slice(0, -1)} HTTP/1.1\r\nHost: x\r\ntraceparent: ${tp}\r\nX-Multi: one\r\nX-Multi: two\r\nCookie: a=1\r\nCookie: b=2\r\nConnection: close\r\n\r\n`,
    );
    const seen = base.seen[0];
    t.equal(seen.url, target.slice(0, -1), 'request target forwarded byte for byte');
    t.equal(seen.headers.traceparent, tp, 'valid traceparent passed on unchanged');
    const multi = seen.rawHeaders.filter((_, i) => i % 2 === 1 && /^x-multi$/i.test(seen.rawHeaders[i - 1]));
    t.same(multi, ['one', 'two'], 'repeated request headers kept as separate fields');
    const cookies = await request(`${c.url}/cookies`, { dispatcher });
    await cookies.body.dump();
    t.same(cookies.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/'], 'repeated Set-Cookie kept');
  });

  t.test('10 MB upload and download arrive intact', async (t) => {
    const size = 10 * 1024 * 1024;
    async function* body() {
      for (let i = 0, sent = 0; sent < size; i++) {
        const n = Math.min(65_536, size - sent);
        sent += n;
        yield patternChunk(i, n);
      }
    }
    const up = await request(`${c.url}/upload`, { method: 'POST', body: Readable.from(body()), dispatcher });
    const echoed = (await up.body.json()) as { bodyBytes: number; bodySha256: string };
    t.equal(echoed.bodyBytes, size, 'upstream received every byte (chunked upload)');
    t.equal(echoed.bodySha256, patternSha256(size), 'upload hash matches');
    const down = await request(`${c.url}/download?size=${size}`, { dispatcher });
    const h = createHash('sha256');
    let n = 0;
    for await (const chunk of down.body) {
      h.update(chunk as Buffer);
      n += (chunk as Buffer).length;
    }
    t.equal(n, size, 'download size');
    t.equal(h.digest('hex'), down.headers['x-body-sha256'], 'download hash matches');
  });

  t.test('HEAD, 204 and 304 carry no body', async (t) => {
    for (const [method, path, status] of [
      ['HEAD', '/status/200', 200],
      ['GET', '/status/204', 204],
      ['GET', '/status/304', 304],
    ] as const) {
      const res = await raw(port, `${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      t.match(res, new RegExp(`^HTTP/1\\.1 ${status} `), `${method} ${path} -> ${status}`);
      const bodyPart = res.slice(res.indexOf('\r\n\r\n') + 4);
      t.equal(bodyPart, '', `${method} ${path}: no body bytes`);
    }
  });

  t.test('chunked responses with trailers', async (t) => {
    const res = await raw(port, 'GET /trailers HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n');
    t.match(res, /transfer-encoding: chunked/i);
    t.match(res, /part one,/);
    t.match(res, /\r\n0\r\nx-checksum: abc123\r\n\r\n$/i, 'trailer forwarded after the last chunk');
  });

  t.test('Expect: 100-continue is answered, then the body is forwarded', async (t) => {
    const status = await new Promise<{ cont: boolean; status: number; body: string }>((resolve, reject) => {
      const req = httpRequest({
        host: '127.0.0.1',
        port,
        method: 'PUT',
        path: '/expect',
        headers: { expect: '100-continue', 'content-length': '5' },
      });
      let cont = false;
      req.on('continue', () => {
        cont = true;
        req.end('hello');
      });
      req.on('response', (res) => {
        let b = '';
        res.on('data', (d) => (b += d));
        res.on('end', () => resolve({ cont, status: res.statusCode!, body: b }));
      });
      req.on('error', reject);
    });
    t.ok(status.cont, '100 Continue received');
    t.equal(status.status, 200);
    t.equal(JSON.parse(status.body).bodyBytes, 5, 'body forwarded after 100-continue');
    t.notOk('expect' in JSON.parse(status.body).headers, 'Expect not forwarded (answered by canaryd)');
  });

  t.test('malformed requests get 400 and never reach an upstream', async (t) => {
    const before = base.seen.length + can.seen.length;
    const bad = [
      'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: x\r\nBad Header Name: v\r\n\r\n',
      'GARBAGE\r\n\r\n',
      'GET foo HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
    ];
    for (const b of bad) {
      const res = await raw(port, b);
      t.match(res, /^HTTP\/1\.1 400 /, `400 for ${JSON.stringify(b.slice(0, 30))}`);
    }
    t.equal(base.seen.length + can.seen.length, before, 'no malformed request reached an upstream');
    const ok = await request(`${c.url}/still-alive`, { dispatcher });
    await ok.body.dump();
    t.equal(ok.statusCode, 200, 'the proxy still serves');
  });

  t.test('absolute-form request target is forwarded in origin-form', async (t) => {
    base.seen.length = 0;
    const res = await raw(port, 'GET http://app.example/p?q=1 HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n');
    t.match(res, /^HTTP\/1\.1 200/);
    t.equal(base.seen[0].url, '/p?q=1');
  });

  t.test('version header can be switched off', async (t) => {
    c.sidecar.applyConfig({ ...c.sidecar.config, proxy: { ...c.sidecar.config.proxy, versionHeader: false } }, 'test');
    const r = await request(`${c.url}/x`, { dispatcher });
    await r.body.dump();
    t.equal(r.headers['x-canaryd-version'], undefined);
    c.sidecar.applyConfig({ ...c.sidecar.config, proxy: { ...c.sidecar.config.proxy, versionHeader: true } }, 'test');
  });
});

t.test('WebSocket upgrades are proxied to the version routing picked', async (t) => {
  const mk = async (name: string) => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => wss.once('listening', r));
    wss.on('connection', (ws, req) => {
      ws.on('message', (m) => ws.send(`${name}:${m}:${req.headers['x-forwarded-for']}`));
    });
    return { wss, url: `http://127.0.0.1:${(wss.address() as { port: number }).port}` };
  };
  const base = await mk('baseline');
  const can = await mk('canary');
  const c = await startSidecar(
    configYaml(
      base.url,
      can.url,
      'routing: { canaryWeight: 0, rules: [{ name: ws-beta, match: { header: { x-beta: "1" } }, to: canary }] }',
    ),
  );
  t.teardown(async () => {
    await c.stop();
    base.wss.close();
    can.wss.close();
  });
  const echo = (headers: Record<string, string>) =>
    new Promise<{ msg: string; version: string | undefined }>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${c.sidecar.proxyAddress!.port}/socket`, { headers });
      let version: string | undefined;
      ws.on('upgrade', (res) => (version = res.headers['x-canaryd-version'] as string));
      ws.on('open', () => ws.send('ping'));
      ws.on('message', (m) => {
        ws.close();
        resolve({ msg: m.toString(), version });
      });
      ws.on('error', reject);
    });
  const a = await echo({});
  t.equal(a.msg, 'baseline:ping:127.0.0.1', 'echo through the proxy from baseline, X-Forwarded-For added');
  t.equal(a.version, 'baseline');
  const b = await echo({ 'x-beta': '1' });
  t.equal(b.msg, 'canary:ping:127.0.0.1', 'targeting rule routes the upgrade to canary');
  t.equal(b.version, 'canary');
});
