import t from 'tap';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createH2cServer, createSecureServer, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { request, Agent } from 'undici';
import { parseConfigText } from '../config/index.js';
import { Sidecar } from '../sidecar.js';
import { configYaml } from './helpers/canaryd.js';
import { memoryLogger } from './helpers/admin.js';
import { h2request, h2session, makePki, type TestPki } from './helpers/h2.js';

const dispatcher = new Agent({ connections: 8 });
t.teardown(() => dispatcher.close());

const pki: TestPki = makePki('upstream-ca');
const wrongCa: TestPki = makePki('other-ca');
const good = pki.issue('up', { san: 'DNS:localhost,DNS:api.internal,IP:127.0.0.1' });
const expired = pki.issue('expired', { days: -1 });
const client = pki.issue('proxy-client', { client: true, cn: 'canaryd' });

interface Seen {
  url: string;
  sni: string | null;
  clientCn: string | null;
}

/** An https upstream: `mtls` requires a client certificate from the test CA. */
async function httpsUpstream(t: Tap, cert: { cert: string; key: string }, mtls = false) {
  const seen: Seen[] = [];
  const server = createHttpsServer(
    {
      cert: readFileSync(cert.cert),
      key: readFileSync(cert.key),
      ca: readFileSync(pki.caCert),
      requestCert: mtls,
      rejectUnauthorized: mtls,
    },
    (req, res) => {
      const s = req.socket as TLSSocket;
      const peer = mtls ? s.getPeerCertificate() : null;
      seen.push({
        url: req.url!,
        sni: (s as unknown as { servername: string | false }).servername || null,
        clientCn: peer?.subject ? String(peer.subject.CN) : null,
      });
      res.end('secure hello');
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => (server.closeAllConnections(), server.close()));
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

async function sidecarFor(t: Tap, url: string, upstreamExtra: string) {
  const yaml = configYaml(url, url).replace(/url: "([^"]+)", version: (v\d)/g, `url: "$1", version: $2, ${upstreamExtra}`);
  const { lines, logger } = memoryLogger();
  const sidecar = new Sidecar({ config: parseConfigText(yaml, {}), logger });
  await sidecar.start();
  t.teardown(() => sidecar.stop(1000));
  return { sidecar, url: `http://127.0.0.1:${sidecar.proxyAddress!.port}`, lines };
}

async function get(url: string) {
  const r = await request(url, { dispatcher });
  const body = await r.body.text();
  return { status: r.statusCode, body, json: () => JSON.parse(body) as { error: string; message: string } };
}

t.test('https upstream with a CA bundle; SNI defaults to the URL host and can be set', async (t) => {
  const up = await httpsUpstream(t, good);
  const c = await sidecarFor(t, up.url.replace('127.0.0.1', 'localhost'), `tls: { ca: "${pki.caCert}" }`);
  const r = await get(`${c.url}/a`);
  t.equal(r.status, 200);
  t.equal(r.body, 'secure hello');
  t.equal(up.seen[0].sni, 'localhost', 'SNI is the URL host');
  const named = await sidecarFor(t, up.url, `tls: { ca: "${pki.caCert}", servername: api.internal }`);
  t.equal((await get(`${named.url}/b`)).status, 200);
  t.equal(up.seen[1].sni, 'api.internal', 'SNI from tls.servername, certificate checked against it');
});

t.test('an expired upstream certificate and a wrong CA give 502 CANARYD_ERR_TLS naming the reason', async (t) => {
  const old = await httpsUpstream(t, expired);
  const c1 = await sidecarFor(t, old.url, `tls: { ca: "${pki.caCert}" }`);
  const r1 = await get(`${c1.url}/x`);
  t.equal(r1.status, 502);
  t.equal(r1.json().error, 'CANARYD_ERR_TLS');
  t.match(r1.json().message, /CERT_HAS_EXPIRED/);
  const up = await httpsUpstream(t, good);
  const c2 = await sidecarFor(t, up.url, `tls: { ca: "${wrongCa.caCert}" }`);
  const r2 = await get(`${c2.url}/y`);
  t.equal(r2.status, 502);
  t.equal(r2.json().error, 'CANARYD_ERR_TLS');
  t.match(r2.json().message, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED_CERT_IN_CHAIN/);
  t.equal(up.seen.length, 0, 'nothing was sent to the unverified upstream');
  const warn = c2.lines.find((l) => l.event === 'upstream_error');
  t.equal(warn?.code, 'CANARYD_ERR_TLS', 'logged with the code');
});

t.test('mTLS to the upstream: the client certificate is presented; without it the upstream refuses', async (t) => {
  const up = await httpsUpstream(t, good, true);
  const c = await sidecarFor(t, up.url, `tls: { ca: "${pki.caCert}", cert: "${client.cert}", key: "${client.key}" }`);
  t.equal((await get(`${c.url}/m`)).status, 200);
  t.equal(up.seen[0].clientCn, 'canaryd', "the upstream saw canaryd's client certificate");
  const bare = await sidecarFor(t, up.url, `tls: { ca: "${pki.caCert}" }`);
  const r = await get(`${bare.url}/m2`);
  t.equal(r.status, 502, `no client certificate: ${r.body}`);
});

t.test('rejectUnauthorized: false is explicit and logged at warn', async (t) => {
  const up = await httpsUpstream(t, good);
  const c = await sidecarFor(t, up.url, `tls: { ca: "${wrongCa.caCert}", rejectUnauthorized: false }`);
  t.equal((await get(`${c.url}/insecure`)).status, 200);
  const w = c.lines.filter((l) => l.event === 'upstream_tls_unverified');
  t.equal(w.length, 2, 'one warn line per version');
  t.equal(w[0].level, 40);
  t.equal(w[0].key, 'upstreams.baseline.tls.rejectUnauthorized');
  t.throws(() => parseConfigText(configYaml(up.url, up.url).replace('version: v1', 'version: v1, tls: { ca: /nope/ca.pem }'), {}), {
    message: /upstreams\.baseline\.tls\.ca: cannot read "\/nope\/ca\.pem" \(ENOENT\)/,
  });
});

/** An HTTP/2 upstream that echoes what it saw and ends with trailers. */
function h2Handler(seen: IncomingHttpHeaders[]) {
  return (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    seen.push(headers);
    let bytes = 0;
    stream.on('data', (c: Buffer) => (bytes += c.length));
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/json' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'x-upstream-trailer': 'done' }));
      stream.end(JSON.stringify({ path: headers[':path'], authority: headers[':authority'], te: headers.te ?? null, bytes }));
    });
  };
}

t.test('upstreams.*.http2: h2c and h2 over TLS upstreams, from HTTP/1.1 and HTTP/2 clients, trailers both ways', async (t) => {
  const seen: IncomingHttpHeaders[] = [];
  const h2c = createH2cServer();
  h2c.on('stream', h2Handler(seen));
  await new Promise<void>((r) => h2c.listen(0, '127.0.0.1', r));
  t.teardown(() => h2c.close());
  const c = await sidecarFor(t, `http://127.0.0.1:${(h2c.address() as AddressInfo).port}`, 'http2: true');
  const h1 = await request(`${c.url}/from-h1?x=1`, { dispatcher, method: 'POST', body: 'abc' });
  const j = (await h1.body.json()) as { path: string; authority: string; bytes: number };
  t.equal(h1.statusCode, 200);
  t.equal(j.path, '/from-h1?x=1');
  t.equal(j.authority, `127.0.0.1:${c.sidecar.proxyAddress!.port}`, 'Host becomes :authority');
  t.equal(j.bytes, 3, 'body forwarded');
  t.equal(h1.trailers['x-upstream-trailer'], 'done', 'response trailers to an HTTP/1.1 client');
  const s = await h2session(c.url);
  t.teardown(() => s.destroy());
  const r = await h2request(s, { ':path': '/from-h2', te: 'trailers' });
  t.equal(JSON.parse(r.body).te, 'trailers', 'te: trailers forwarded to an HTTP/2 upstream');
  t.equal(r.trailers?.['x-upstream-trailer'], 'done', 'response trailers to an HTTP/2 client');
  t.notOk(
    seen.some((h) => 'connection' in h || 'keep-alive' in h || 'transfer-encoding' in h),
    'no connection-specific field sent into HTTP/2',
  );

  const tlsSeen: IncomingHttpHeaders[] = [];
  const h2s = createSecureServer({ cert: readFileSync(good.cert), key: readFileSync(good.key) });
  h2s.on('stream', h2Handler(tlsSeen));
  await new Promise<void>((r) => h2s.listen(0, '127.0.0.1', r));
  t.teardown(() => h2s.close());
  const c2 = await sidecarFor(t, `https://localhost:${(h2s.address() as AddressInfo).port}`, `http2: true, tls: { ca: "${pki.caCert}" }`);
  const r2 = await get(`${c2.url}/over-tls`);
  t.equal(r2.status, 200);
  t.equal(JSON.parse(r2.body).path, '/over-tls');
  const dead = await sidecarFor(t, 'http://127.0.0.1:1', 'http2: true');
  const r3 = await get(`${dead.url}/dead`);
  t.equal(r3.status, 502, 'refused HTTP/2 upstream: 502');
  t.equal(r3.json().error, 'CANARYD_ERR_UPSTREAM_REFUSED', r3.body);
});
