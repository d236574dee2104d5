/**
 * The admin API and the metrics listener over TLS (admin.tls, metrics.tls; docs/admin.md "TLS"), with
 * certificates this test makes with openssl: `canaryd ctl --ca` talks to an https admin; no CA or a wrong
 * CA is a clear error naming --ca; an admin that requires client certificates refuses ctl without
 * --cert/--key and serves it with them; the metrics listener serves /metrics over HTTPS; a bad certificate
 * file stops the start with CANARYD_ERR_TLS naming the key.
 */
import t from 'tap';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml, startSidecar, tempDir, TOKENLESS_ADMIN } from './helpers/canaryd.js';
import { memoryLogger, until } from './helpers/admin.js';
import { parseConfigText } from '../config/index.js';
import { Sidecar } from '../sidecar.js';
import { makePki } from './helpers/h2.js';
import { runCtl } from '../cli/ctl.js';

interface Run {
  code: number;
  out: string;
  err: string;
}

async function ctl(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCtl(
    args,
    { CANARYD_ADMIN_TOKEN: '', CANARYD_ADMIN_URL: '', ...env },
    { out: (l) => out.push(l), err: (l) => err.push(l), stream: { write: (s: string) => out.push(s), isTTY: false } },
  );
  return { code, out: out.join('\n'), err: err.join('\n') };
}

function httpsGet(port: number, path: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, ca, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function peerCn(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca }, () => {
      const c = s.getPeerCertificate();
      s.end();
      resolve(String(c.subject.CN));
    });
    s.on('error', reject);
  });
}

const tlsBlock = (cert: string, key: string, more = '') => `tls: { cert: "${cert}", key: "${key}"${more} }`;

t.test('admin and metrics over TLS: ctl with --ca works, no CA or a wrong CA is a clear error', async (t) => {
  const pki = makePki();
  const other = makePki('other-ca');
  const leaf = pki.issue('admin');
  const base = await startEchoUpstream('baseline');
  const yaml = configYaml(base.url, base.url, `metrics: { listen: "127.0.0.1:0", ${tlsBlock(leaf.cert, leaf.key)} }\n`).replace(
    TOKENLESS_ADMIN,
    `admin: { listen: "127.0.0.1:0", allowUnauthenticated: true, ${tlsBlock(leaf.cert, leaf.key)} }`,
  );
  const c = await startSidecar(yaml);
  t.teardown(async () => (await c.stop(), await base.close()));
  const admin = `https://127.0.0.1:${c.sidecar.adminAddress!.port}`;
  const ca = readFileSync(pki.caCert, 'utf8');

  const ok = await ctl(['--admin', admin, '--ca', pki.caCert, 'status']);
  t.equal(ok.code, 0, `ctl status over https with --ca (${ok.err})`);
  t.match(ok.out, /baseline/);
  const byEnv = await ctl(['--admin', admin, '--json', 'weights'], { CANARYD_ADMIN_CA: pki.caCert });
  t.equal(byEnv.code, 0, 'the CA from CANARYD_ADMIN_CA');
  t.equal(JSON.parse(byEnv.out).canary, 0);
  const set = await ctl(['--admin', admin, '--ca', pki.caCert, 'weights', '7', '--reason', 'over tls']);
  t.equal(set.code, 0, `a mutation over https (${set.err})`);
  t.equal(c.sidecar.traffic.weight().canary, 7);

  const noCa = await ctl(['--admin', admin, 'status']);
  t.equal(noCa.code, 1, 'no CA: the certificate is not trusted');
  t.match(
    noCa.err,
    /cannot reach the canaryd admin API at https:\/\/127\.0\.0\.1:\d+: \w+ \(the admin's TLS certificate is not signed by a trusted CA: pass --ca FILE/,
  );
  const wrong = await ctl(['--admin', admin, '--ca', other.caCert, 'status']);
  t.equal(wrong.code, 1, 'a wrong CA');
  t.match(wrong.err, /not signed by a trusted CA: pass --ca FILE or set CANARYD_ADMIN_CA/);
  const missing = await ctl(['--admin', admin, '--ca', join(pki.dir, 'nope.pem'), 'status']);
  t.equal(missing.code, 2, 'an unreadable --ca file is a usage error');
  t.match(missing.err, /--ca: cannot read .*nope\.pem \(ENOENT\)/);

  const ready = await httpsGet(c.sidecar.adminAddress!.port, '/readyz', ca);
  t.equal(ready.status, 200, '/readyz over https');
  const metrics = await httpsGet(c.sidecar.metricsAddress!.port, '/metrics', ca);
  t.equal(metrics.status, 200, 'the metrics listener over https');
  t.match(metrics.body, /canaryd_ready 1/);
  await t.rejects(
    httpsGet(c.sidecar.metricsAddress!.port, '/metrics', readFileSync(other.caCert, 'utf8')),
    'a wrong CA is refused by the client',
  );
});

t.test('admin.tls.clientAuth require: ctl needs --cert and --key', async (t) => {
  const pki = makePki();
  const leaf = pki.issue('admin');
  const client = pki.issue('ops', { cn: 'ops', client: true });
  const base = await startEchoUpstream('baseline');
  const yaml = configYaml(base.url, base.url).replace(
    TOKENLESS_ADMIN,
    `admin: { listen: "127.0.0.1:0", allowUnauthenticated: true, ${tlsBlock(leaf.cert, leaf.key, `, ca: "${pki.caCert}", clientAuth: require`)} }`,
  );
  const c = await startSidecar(yaml);
  t.teardown(async () => (await c.stop(), await base.close()));
  const admin = `https://127.0.0.1:${c.sidecar.adminAddress!.port}`;
  const without = await ctl(['--admin', admin, '--ca', pki.caCert, 'status']);
  t.equal(without.code, 1, 'no client certificate: refused');
  t.match(without.err, /cannot reach the canaryd admin API/);
  const withCert = await ctl(['--admin', admin, '--ca', pki.caCert, '--cert', client.cert, '--key', client.key, 'status']);
  t.equal(withCert.code, 0, `with --cert and --key (${withCert.err})`);
});

t.test('a bad admin.tls certificate file stops the start with CANARYD_ERR_TLS naming the key', async (t) => {
  const pki = makePki();
  const leaf = pki.issue('admin');
  const bad = join(pki.dir, 'bad.pem');
  writeFileSync(bad, '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
  const base = await startEchoUpstream('baseline');
  t.teardown(() => base.close());
  const yaml = configYaml(base.url, base.url).replace(
    TOKENLESS_ADMIN,
    `admin: { listen: "127.0.0.1:0", allowUnauthenticated: true, ${tlsBlock(join(pki.dir, 'missing.pem'), leaf.key)} }`,
  );
  await t.rejects(startSidecar(yaml), { code: 'CANARYD_ERR_TLS', message: /admin\.tls\.cert file .*missing\.pem: ENOENT/ });
  const yaml2 = configYaml(base.url, base.url).replace(
    TOKENLESS_ADMIN,
    `admin: { listen: "127.0.0.1:0", allowUnauthenticated: true, ${tlsBlock(bad, leaf.key)} }`,
  );
  await t.rejects(startSidecar(yaml2), { code: 'CANARYD_ERR_TLS', message: /^admin\.tls: / });
});

t.test('admin.tls reloads its certificate when the files change; ctl watch streams events over wss', async (t) => {
  const pki = makePki();
  const first = pki.issue('first', { cn: 'first' });
  const second = pki.issue('second', { cn: 'second' });
  const dir = tempDir('canaryd-admin-tls-');
  const cert = join(dir, 'tls.crt');
  const key = join(dir, 'tls.key');
  copyFileSync(first.cert, cert);
  copyFileSync(first.key, key);
  const base = await startEchoUpstream('baseline');
  const { lines, logger } = memoryLogger();
  const yaml = configYaml(base.url, base.url).replace(
    TOKENLESS_ADMIN,
    `admin: { listen: "127.0.0.1:0", allowUnauthenticated: true, ${tlsBlock(cert, key)} }`,
  );
  const sidecar = new Sidecar({ config: parseConfigText(yaml, {}), logger });
  await sidecar.start();
  t.teardown(async () => (await sidecar.stop(1000, 0), await base.close()));
  const port = sidecar.adminAddress!.port;
  const ca = readFileSync(pki.caCert, 'utf8');
  t.equal(await peerCn(port, ca), 'first');
  const w = await ctl(['--admin', `https://127.0.0.1:${port}`, '--ca', pki.caCert, 'watch', '--count', '1']);
  t.equal(w.code, 0, `ctl watch over https/wss (${w.err})`);
  copyFileSync(second.key, key);
  copyFileSync(second.cert, cert);
  await until('the reload log line', () => lines.some((l) => l.event === 'tls_certificate_reloaded' && l.listener === 'admin'));
  t.equal(await peerCn(port, ca), 'second', 'a new handshake gets the new certificate, without a restart');
});
