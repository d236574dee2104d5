import t from 'tap';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml, startSidecar, tempDir } from './helpers/canaryd.js';
import { memoryLogger } from './helpers/admin.js';
import { h2request, h2session, makePki } from './helpers/h2.js';
import { parseConfigText } from '../config/index.js';
import { Sidecar } from '../sidecar.js';
import { pino } from 'pino';

function tlsListen(cert: string, key: string, more = ''): string {
  return `listen: { address: "127.0.0.1:0", tls: { cert: "${cert}", key: "${key}"${more} } }`;
}

function httpsGet(
  port: number,
  path: string,
  opts: { ca: string; agent?: HttpsAgent; cert?: string; key?: string },
): Promise<{ status: number; body: string; proto: string | null }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port,
        path,
        ca: opts.ca,
        agent: opts.agent,
        cert: opts.cert,
        key: opts.key,
        ALPNProtocols: ['http/1.1'],
      } as unknown as Parameters<typeof httpsRequest>[0],
      (res) => {
        const proto = (res.socket as unknown as { alpnProtocol: string | null }).alpnProtocol ?? null;
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body, proto }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function peerCn(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca }, () => {
      const c: PeerCertificate = s.getPeerCertificate();
      s.end();
      resolve(String(c.subject.CN));
    });
    s.on('error', reject);
  });
}

t.test('TLS listener: h2 by ALPN and HTTP/1.1 on the same port, X-Forwarded-Proto https', async (t) => {
  const pki = makePki();
  const leaf = pki.issue('server');
  const base = await startEchoUpstream('baseline');
  const c = await startSidecar(configYaml(base.url, base.url).replace('listen: 127.0.0.1:0', tlsListen(leaf.cert, leaf.key)));
  const port = c.sidecar.proxyAddress!.port;
  const ca = (await import('node:fs')).readFileSync(pki.caCert, 'utf8');
  const s = await h2session(`https://localhost:${port}`, { ca });
  t.teardown(async () => (s.destroy(), await c.stop(), await base.close()));
  t.equal(s.alpnProtocol, 'h2', 'ALPN picked h2');
  const r = await h2request(s, { ':path': '/secure' });
  t.equal(r.status, 200);
  t.equal(JSON.parse(r.body).headers['x-forwarded-proto'], 'https');
  const h1 = await httpsGet(port, '/one', { ca });
  t.equal(h1.status, 200, 'HTTP/1.1 over TLS on the same port');
  t.equal(h1.proto, 'http/1.1', 'by ALPN');
  t.equal(JSON.parse(h1.body).headers['x-forwarded-proto'], 'https');
});

t.test('certificate reload on file change: new handshakes get the new certificate, open connections keep working', async (t) => {
  const pki = makePki();
  const first = pki.issue('first', { cn: 'first' });
  const second = pki.issue('second', { cn: 'second' });
  const dir = tempDir('canaryd-tls-');
  const cert = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');
  copyFileSync(first.cert, cert);
  copyFileSync(first.key, key);
  const base = await startEchoUpstream('baseline');
  // in-process, so a slow start on a loaded machine cannot fail the test; the log lines are read back
  const { lines, logger } = memoryLogger();
  const sidecar = new Sidecar({
    config: parseConfigText(configYaml(base.url, base.url).replace('listen: 127.0.0.1:0', tlsListen(cert, key)), {}),
    logger,
  });
  await sidecar.start();
  t.teardown(async () => (await sidecar.stop(1000), await base.close()));
  const port = sidecar.proxyAddress!.port;
  const waitForLog = async (pred: (l: Record<string, unknown>) => boolean) => {
    for (let i = 0; i < 3000 && !lines.some(pred); i++) await new Promise((r) => setTimeout(r, 20));
    const l = lines.find(pred);
    if (!l) throw new Error('log line not seen');
    return l;
  };
  const ca = (await import('node:fs')).readFileSync(pki.caCert, 'utf8');
  t.equal(await peerCn(port, ca), 'first');
  const agent = new HttpsAgent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  t.equal((await httpsGet(port, '/before', { ca, agent })).status, 200);
  copyFileSync(second.key, key);
  copyFileSync(second.cert, cert);
  await waitForLog((l) => l.event === 'tls_certificate_reloaded');
  t.equal(await peerCn(port, ca), 'second', 'a new handshake gets the new certificate');
  t.equal((await httpsGet(port, '/after', { ca, agent })).status, 200, 'the kept-alive connection still serves');
  t.ok(sidecar.proxyAddress !== null, 'no restart');
  // a broken file keeps the old certificate, with a warn line
  (await import('node:fs')).writeFileSync(cert, 'not a certificate');
  const rejected = await waitForLog((l) => l.event === 'tls_certificate_rejected');
  t.match(String(rejected.reason), /listen\.tls/);
  t.equal(await peerCn(port, ca), 'second', 'the old certificate keeps serving');
});

t.test('client certificates: clientAuth require refuses a client without one or with one from another CA', async (t) => {
  const pki = makePki('ca1');
  const other = makePki('ca2');
  const leaf = pki.issue('server');
  const good = pki.issue('client', { client: true, cn: 'client' });
  const bad = other.issue('client', { client: true, cn: 'intruder' });
  const base = await startEchoUpstream('baseline');
  const c = await startSidecar(
    configYaml(base.url, base.url).replace(
      'listen: 127.0.0.1:0',
      tlsListen(leaf.cert, leaf.key, `, ca: "${pki.caCert}", clientAuth: require`),
    ),
  );
  t.teardown(async () => (await c.stop(), await base.close()));
  const port = c.sidecar.proxyAddress!.port;
  const fs = await import('node:fs');
  const ca = fs.readFileSync(pki.caCert, 'utf8');
  t.equal(
    (await httpsGet(port, '/mtls', { ca, cert: fs.readFileSync(good.cert, 'utf8'), key: fs.readFileSync(good.key, 'utf8') })).status,
    200,
    'a client certificate from the CA is accepted',
  );
  await t.rejects(httpsGet(port, '/none', { ca }), 'no client certificate: handshake refused');
  await t.rejects(
    httpsGet(port, '/other', { ca, cert: fs.readFileSync(bad.cert, 'utf8'), key: fs.readFileSync(bad.key, 'utf8') }),
    'a certificate from another CA: refused',
  );
  t.notOk(
    base.seen.some((r) => r.url !== '/mtls'),
    'refused clients reached no upstream',
  );
});

t.test('a missing or invalid certificate file is a clear error at start; clientAuth without ca is a config error', async (t) => {
  const base = await startEchoUpstream('baseline');
  t.teardown(() => base.close());
  const yaml = configYaml(base.url, base.url).replace('listen: 127.0.0.1:0', tlsListen('/nonexistent/cert.pem', '/nonexistent/key.pem'));
  const s = new Sidecar({ config: parseConfigText(yaml, {}), logger: pino({ level: 'silent' }) });
  await t.rejects(s.start(), { code: 'CANARYD_ERR_TLS', message: /listen\.tls\.cert file \/nonexistent\/cert\.pem: ENOENT/ });
  await s.stop(100).catch(() => undefined);
  t.throws(
    () =>
      parseConfigText(configYaml(base.url, base.url).replace('listen: 127.0.0.1:0', tlsListen('/a', '/b', ', clientAuth: require')), {}),
    { message: /listen\.tls\.ca: required when listen\.tls\.clientAuth is require/ },
  );
});
