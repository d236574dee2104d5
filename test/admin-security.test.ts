/**
 * Admin exposure (issue 11 item 5), over real sockets: the Host allowlist against DNS rebinding (421 on
 * every route and on the event WebSocket), mutations refused when no token is configured unless
 * admin.allowUnauthenticated (loopback only), short tokens refused off loopback at validation, and
 * admin.tokenFile read at start and followed through a Kubernetes-style symlink swap.
 */
import t from 'tap';
import { request as httpRequest } from 'node:http';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { parseConfigText } from '../config/index.js';
import { configYaml, tempDir } from './helpers/canaryd.js';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { startAdminSidecar, until, type AdminSidecar, type TapTest } from './helpers/admin.js';

const TOKEN = 'security-test-token-0123456789abcdef';

async function setup(t: TapTest, admin: string, opts: { strictAdmin?: boolean } = { strictAdmin: true }): Promise<AdminSidecar> {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const yaml = configYaml(base.url, can.url, 'routing: { canaryWeight: 10 }\n').replace(
    'admin: { listen: "127.0.0.1:0" }',
    `admin: { listen: "127.0.0.1:0"${admin} }`,
  );
  t.teardown(async () => (await base.close(), await can.close()));
  const s = await startAdminSidecar(yaml, opts);
  t.teardown(() => s.stop());
  return s;
}

/** One request over a real socket with exactly these headers (Host included). */
function raw(url: string, method: string, headers: Record<string, string>, body?: string): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method,
        headers: { ...headers, ...(body ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {}) },
        setHost: !('host' in headers),
      },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          let json: any = null;
          try {
            json = JSON.parse(text);
          } catch {
            /* not JSON (the dashboard) */
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function wsStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, ['canaryd.v1'], { headers });
    ws.on('open', () => (ws.close(), resolve(101)));
    ws.on('unexpected-response', (_req, res) => (res.resume(), resolve(res.statusCode ?? 0)));
    ws.on('error', () => resolve(0));
  });
}

t.test('DNS rebinding: a Host not in the allowlist gets 421 on every route and on the WebSocket', async (t) => {
  const s = await setup(t, `, token: "${TOKEN}", allowedHosts: ["canaryd.internal", "*.svc.cluster.local"]`);
  const port = s.sidecar.adminAddress!.port;
  const auth = { authorization: `Bearer ${TOKEN}` };
  for (const host of [`evil.example:${port}`, 'evil.example', `localhost.evil.example:${port}`, `svc.cluster.local.evil.example`]) {
    const st = await raw(`${s.adminUrl}/api/v1/status`, 'GET', { host });
    t.equal(st.status, 421, `GET status with Host ${host}: 421`);
    t.equal(st.json?.error, 'CANARYD_ERR_HOST_NOT_ALLOWED');
    const put = await raw(`${s.adminUrl}/api/v1/weights`, 'PUT', { host, ...auth }, '{"canary": 100}');
    t.equal(put.status, 421, `PUT weights with Host ${host}, even with the token: 421`);
    t.equal((await raw(`${s.adminUrl}/`, 'GET', { host })).status, 421, 'the dashboard too');
  }
  t.equal(s.sidecar.traffic.weight().canary, 10, 'the weight never moved');
  t.equal(
    await wsStatus(`ws://127.0.0.1:${port}/api/v1/events`, { host: `evil.example:${port}` }),
    421,
    'the event stream refuses the Host',
  );
  t.equal(await wsStatus(`ws://127.0.0.1:${port}/api/v1/events`, {}), 101, 'the event stream opens for 127.0.0.1');

  for (const host of [
    `127.0.0.1:${port}`,
    `localhost:${port}`,
    `LOCALHOST.:${port}`,
    `app.localhost:${port}`,
    `[::1]:${port}`,
    `10.1.2.3:${port}`,
    `canaryd.internal:${port}`,
    `canaryd.ns.svc.cluster.local:${port}`,
  ]) {
    t.equal((await raw(`${s.adminUrl}/api/v1/status`, 'GET', { host })).status, 200, `Host ${host}: allowed`);
  }
  t.equal((await raw(`${s.adminUrl}/healthz`, 'GET', { host: `10.0.0.7:${port}` })).status, 200, 'a kubelet probe (pod IP as Host) passes');
  const put = await raw(`${s.adminUrl}/api/v1/weights`, 'PUT', { host: `localhost:${port}`, ...auth }, '{"canary": 30}');
  t.equal(put.status, 200, 'an allowed Host with the token changes the weight');
  const refused = s.lines.filter((l) => l.msg === 'admin request for a host not in admin.allowedHosts refused');
  t.ok(refused.length >= 1 && refused.length <= 10, `refusals logged, throttled (${refused.length} lines)`);
});

t.test('allowedHosts "*" turns the check off', async (t) => {
  const s = await setup(t, `, token: "${TOKEN}", allowedHosts: ["*"]`);
  t.equal((await raw(`${s.adminUrl}/api/v1/status`, 'GET', { host: 'anything.example' })).status, 200);
});

t.test('no token configured: reads work, mutations are refused (403, coded) unless allowUnauthenticated', async (t) => {
  const strict = await setup(t, '');
  const put = await raw(`${strict.adminUrl}/api/v1/weights`, 'PUT', {}, '{"canary": 100}');
  t.equal(put.status, 403);
  t.equal(put.json.error, 'CANARYD_ERR_AUTH_REQUIRED');
  t.match(put.json.message, /admin\.token or admin\.tokenFile/);
  t.equal((await raw(`${strict.adminUrl}/api/v1/rollout/start`, 'POST', {}, '{}')).status, 403, 'starting a rollout too');
  t.equal((await raw(`${strict.adminUrl}/api/v1/faults`, 'DELETE', {})).status, 403, 'the fault kill switch too');
  t.equal(strict.sidecar.traffic.weight().canary, 10, 'the weight never moved');
  t.equal((await raw(`${strict.adminUrl}/api/v1/status`, 'GET', {})).status, 200, 'reads need no token');
  t.ok(
    strict.lines.some((l) => l.msg === 'admin mutation refused: no admin.token configured'),
    'logged',
  );

  const open = await setup(t, ', allowUnauthenticated: true');
  t.equal((await raw(`${open.adminUrl}/api/v1/weights`, 'PUT', {}, '{"canary": 40}')).status, 200, 'allowUnauthenticated: true allows it');
  t.equal(open.sidecar.traffic.weight().canary, 40);
});

t.test('config: off loopback a token of >= 32 bytes or a token file is required; allowUnauthenticated is refused', async (t) => {
  const base = configYaml('http://127.0.0.1:1', 'http://127.0.0.1:2');
  const problems = (admin: string): string[] => {
    try {
      parseConfigText(base.replace('admin: { listen: "127.0.0.1:0" }', `admin: ${admin}`), {});
      return [];
    } catch (e) {
      return (e as { details?: string[] }).details ?? [String(e)];
    }
  };
  t.same(problems('{ listen: "0.0.0.0:9901", token: "short-token" }'), [
    'admin.token: must be at least 32 bytes when admin.listen (0.0.0.0:9901) is not a loopback address, got 11',
  ]);
  t.same(problems(`{ listen: "0.0.0.0:9901", token: "${'x'.repeat(31)}" }`), [
    'admin.token: must be at least 32 bytes when admin.listen (0.0.0.0:9901) is not a loopback address, got 31',
  ]);
  t.same(problems(`{ listen: "0.0.0.0:9901", token: "${'x'.repeat(32)}" }`), [], '32 bytes is enough');
  t.same(problems('{ listen: "0.0.0.0:9901", tokenFile: /run/secrets/canaryd-token }'), [], 'a token file will do (checked when read)');
  t.same(problems(`{ listen: "0.0.0.0:9901", token: "${'x'.repeat(32)}", allowUnauthenticated: true }`), [
    'admin.allowUnauthenticated: only allowed when admin.listen is a loopback address, got 0.0.0.0:9901',
  ]);
  t.same(problems(`{ listen: "127.0.0.1:9901", token: "abc", tokenFile: /x }`), [
    'admin.tokenFile: set admin.token or admin.tokenFile, not both',
  ]);
  t.same(
    problems('{ listen: "127.0.0.1:9901", token: "short", allowUnauthenticated: true }'),
    [],
    "on loopback a short token and allowUnauthenticated are the operator's call",
  );
  t.match(problems('{ listen: "127.0.0.1:9901", allowedHosts: ["bad host"] }')[0], /^admin\.allowedHosts\[0\]: must match/);
});

t.test('admin.tokenFile: read at start, followed through a symlink swap (Kubernetes Secret), a bad file keeps the token', async (t) => {
  const dir = tempDir('canaryd-secret-');
  // the layout kubelet writes: token -> ..data/token, ..data -> ..<timestamp>/
  mkdirSync(join(dir, '..v1'));
  writeFileSync(join(dir, '..v1', 'token'), `first-token-${'a'.repeat(24)}\n`);
  symlinkSync('..v1', join(dir, '..data'));
  symlinkSync('..data/token', join(dir, 'token'));
  const s = await setup(t, `, tokenFile: "${join(dir, 'token')}"`);
  const put = (token: string, canary: number) =>
    raw(`${s.adminUrl}/api/v1/weights`, 'PUT', { authorization: `Bearer ${token}` }, JSON.stringify({ canary }));
  t.equal((await put(`first-token-${'a'.repeat(24)}`, 20)).status, 200, "the file's token (trimmed) works");

  mkdirSync(join(dir, '..v2'));
  writeFileSync(join(dir, '..v2', 'token'), `second-token-${'b'.repeat(24)}`);
  symlinkSync('..v2', join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data')); // the atomic swap
  await until('the rotated token to be read', () => s.lines.some((l) => l.event === 'admin_token_rotated'), 15_000);
  t.equal((await put(`second-token-${'b'.repeat(24)}`, 25)).status, 200, 'the new token works');
  t.equal((await put(`first-token-${'a'.repeat(24)}`, 26)).status, 401, 'the old one no longer does');
  t.notOk(JSON.stringify(s.lines).includes('second-token'), 'the token never reaches the log');

  mkdirSync(join(dir, '..v3'));
  writeFileSync(join(dir, '..v3', 'token'), '  \n');
  symlinkSync('..v3', join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  await until('the empty file to be rejected', () => s.lines.some((l) => l.event === 'admin_token_rejected'), 15_000);
  t.equal((await put(`second-token-${'b'.repeat(24)}`, 27)).status, 200, 'an empty Secret keeps the previous token');
  t.equal(s.sidecar.traffic.weight().canary, 27);
});

t.test('admin.tokenFile that cannot be read stops the start with the key named', async (t) => {
  const missing = join(tempDir('canaryd-secret-'), 'nope');
  await t.rejects(setup(t, `, tokenFile: "${missing}"`), {
    code: 'CANARYD_ERR_CONFIG_INVALID',
    message: /^admin\.tokenFile: cannot read .*nope: ENOENT/,
  });
});
