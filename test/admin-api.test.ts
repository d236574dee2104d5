/**
 * Admin API: every core route with good and bad input through fastify's inject (400 naming the field,
 * 401, 403, 404, 409, 429), the error body shape, auth failures logged and rate-limited, and a few calls
 * over real sockets.
 */
import t from 'tap';
import { request } from 'undici';
import { ERROR_CODES } from '../core/index.js';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml } from './helpers/canaryd.js';
import { call, startAdminSidecar, until, type AdminSidecar, type TapTest } from './helpers/admin.js';

const TOKEN = 's3cret-token';

async function setup(t: TapTest, extra = ''): Promise<AdminSidecar> {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const yaml = configYaml(base.url, can.url, `routing: { canaryWeight: 10 }\n${extra}`).replace(
    'admin: { listen: "127.0.0.1:0" }',
    `admin: { listen: "127.0.0.1:0", token: "${TOKEN}" }`,
  );
  const s = await startAdminSidecar(yaml);
  t.teardown(async () => (await s.stop(), await base.close(), await can.close()));
  return s;
}

function isErrorBody(t: TapTest, json: any, code: string) {
  t.equal(json?.error, code, `error code ${code}`);
  t.type(json?.message, 'string', 'has a message');
  t.ok(json.error in ERROR_CODES, 'code is in the catalogue');
  t.same(
    Object.keys(json).filter((k) => !['error', 'message', 'details'].includes(k)),
    [],
    'no other fields',
  );
}

t.test('probes and metrics are open', async (t) => {
  const s = await setup(t);
  t.same((await call(s.app, 'GET', '/healthz')).json, { status: 'ok' });
  t.same((await call(s.app, 'GET', '/readyz')).json, { status: 'ready' });
  const m = await call(s.app, 'GET', '/metrics');
  t.equal(m.status, 200);
  t.match(String(m.headers['content-type']), /text\/plain/);
  t.match(m.body, /canary_traffic_percent\{version="canary"\} 10/);
});

t.test('status and weights: good input, 400 naming the field, 401 without the token, 403 cross-site', async (t) => {
  const s = await setup(t);
  const st = await call(s.app, 'GET', '/api/v1/status');
  t.equal(st.status, 200);
  t.same(st.json.weights, { baseline: 90, canary: 10, owner: 'file' });
  t.equal(st.json.versions.canary.version, 'v2');

  const none = await call(s.app, 'PUT', '/api/v1/weights', { body: { canary: 30 } });
  t.equal(none.status, 401);
  isErrorBody(t, none.json, 'CANARYD_ERR_UNAUTHORIZED');
  t.equal(none.headers['www-authenticate'], 'Bearer realm="canaryd"');
  t.equal((await call(s.app, 'PUT', '/api/v1/weights', { body: { canary: 30 }, token: 'wrong' })).status, 401);

  const cases: Array<[unknown, string]> = [
    [{ canary: 150 }, 'body.canary: must be <= 100, got 150'],
    [{ canary: -1 }, 'body.canary: must be >= 0, got -1'],
    [{}, 'body.canary: is required'],
    [{ canary: 'lots' }, 'body.canary: must be number, got "lots"'],
    [{ canary: 5, extra: true }, 'body.extra: unknown field'],
    [{ canary: 5, reason: 'x'.repeat(501) }, 'body.reason: must NOT have more than 500 characters'],
  ];
  for (const [body, message] of cases) {
    const r = await call(s.app, 'PUT', '/api/v1/weights', { body, token: TOKEN });
    t.equal(r.status, 400, `${JSON.stringify(body).slice(0, 40)} -> 400`);
    isErrorBody(t, r.json, 'CANARYD_ERR_BAD_REQUEST');
    t.match(r.json.message, message);
  }
  const badJson = await call(s.app, 'PUT', '/api/v1/weights', {
    body: '{"canary": 1',
    token: TOKEN,
    headers: { 'content-type': 'application/json' },
  });
  t.equal(badJson.status, 400);
  isErrorBody(t, badJson.json, 'CANARYD_ERR_BAD_REQUEST');

  const cross = await call(s.app, 'PUT', '/api/v1/weights', {
    body: { canary: 30 },
    token: TOKEN,
    headers: { origin: 'http://evil.example', host: 'localhost:80' },
  });
  t.equal(cross.status, 403, 'a browser on another site is refused even with the token');
  isErrorBody(t, cross.json, 'CANARYD_ERR_FORBIDDEN');
  const sameOrigin = await call(s.app, 'PUT', '/api/v1/weights', {
    body: { canary: 30, reason: 'test' },
    token: TOKEN,
    headers: { origin: 'http://localhost:80', host: 'localhost:80' },
  });
  t.equal(sameOrigin.status, 200, 'same-origin browser request allowed');
  t.same(sameOrigin.json, { canaryWeight: 30 });
  t.same((await call(s.app, 'GET', '/api/v1/weights')).json, { baseline: 70, canary: 30, owner: 'api' });
  t.equal(s.sidecar.traffic.weight().canary, 30, 'the splitter has the new weight');
});

t.test('404 for unknown routes and methods; every error body is {error, message}', async (t) => {
  const s = await setup(t);
  const r = await call(s.app, 'GET', '/api/v1/nope?x=1');
  t.equal(r.status, 404);
  isErrorBody(t, r.json, 'CANARYD_ERR_NOT_FOUND');
  t.equal(r.json.message, 'no route GET /api/v1/nope');
  t.equal((await call(s.app, 'DELETE', '/api/v1/status', { token: TOKEN })).status, 404);
  const ev = await call(s.app, 'GET', '/api/v1/events');
  t.equal(ev.status, 426, 'a plain GET of the event stream says upgrade required');
  isErrorBody(t, ev.json, 'CANARYD_ERR_BAD_REQUEST');
});

t.test('authReads: reads need the token too; probes stay open', async (t) => {
  const s = await setup(t, '');
  // flip the running config to authReads (the deps read it live)
  s.sidecar.applyConfig({ ...s.sidecar.config, admin: { ...s.sidecar.config.admin, authReads: true } }, 'test');
  const r = await call(s.app, 'GET', '/api/v1/status');
  t.equal(r.status, 401);
  isErrorBody(t, r.json, 'CANARYD_ERR_UNAUTHORIZED');
  t.equal((await call(s.app, 'GET', '/api/v1/flags')).status, 401);
  t.equal((await call(s.app, 'GET', '/api/v1/status', { token: TOKEN })).status, 200);
  t.equal((await call(s.app, 'GET', '/healthz')).status, 200);
});

t.test('failed attempts are logged and rate-limited per IP; the right token is never refused', async (t) => {
  const s = await setup(t);
  for (let i = 0; i < 12; i++)
    t.equal((await call(s.app, 'PUT', '/api/v1/weights', { body: { canary: 1 } })).status, 401, 'no token: refused');
  t.equal(
    (await call(s.app, 'PUT', '/api/v1/weights', { body: { canary: 2 }, token: TOKEN })).status,
    200,
    'requests without a token guess nothing and do not count',
  );
  for (let i = 0; i < 10; i++)
    t.equal((await call(s.app, 'PUT', '/api/v1/weights', { body: { canary: 1 }, token: `bad-${i}` })).status, 401);
  const blocked = await call(s.app, 'PUT', '/api/v1/weights', { body: { canary: 1 }, token: 'bad-again' });
  t.equal(blocked.status, 429, 'a wrong token from a blocked IP: 429');
  isErrorBody(t, blocked.json, 'CANARYD_ERR_RATE_LIMITED');
  t.equal((await call(s.app, 'PUT', '/api/v1/weights', { body: { canary: 1 } })).status, 429, 'no token from a blocked IP: 429');
  const right = await call(s.app, 'PUT', '/api/v1/weights', { body: { canary: 3 }, token: TOKEN });
  t.equal(right.status, 200, 'the right token from the same (blocked) IP still passes: the operator is never locked out');
  t.equal(
    (await call(s.app, 'POST', '/api/v1/rollout/rollback', { body: { reason: 'emergency' }, token: TOKEN })).status !== 429,
    true,
    'an emergency rollback is not rate-limited',
  );
  const failed = s.lines.filter((l) => l.msg === 'admin auth failed');
  t.equal(failed.length, 20, '10 lines per kind at most: 10 missing-token + 10 wrong-token');
  t.same([failed[0].reason, failed[19].reason, failed[19].failures], ['missing token', 'wrong token', 10]);
  t.equal(failed[0].level, 40, 'at warn level');
  t.ok(
    s.lines.some((l) => l.msg === 'admin auth rate-limited'),
    'the block is logged',
  );
  t.notOk(JSON.stringify(s.lines).includes(TOKEN), 'the token never reaches the log');
  t.equal(s.sidecar.traffic.weight().canary, 3, 'only the authenticated changes applied');
});

t.test('a flood of bad tokens writes a bounded number of log lines, with a summary of the rest', async (t) => {
  const s = await setup(t);
  const t0 = Date.now();
  const n = 300;
  for (let i = 0; i < n; i++) await call(s.app, 'PUT', '/api/v1/weights', { body: { canary: 1 }, token: `bad-${i}` });
  const windows = Math.floor((Date.now() - t0) / 10_000) + 1; // the throttle's 10 s windows the flood spanned
  const warn = s.lines.filter((l) => l.level === 40);
  const failed = warn.filter((l) => l.msg === 'admin auth failed').length;
  const limited = warn.filter((l) => l.msg === 'admin auth rate-limited').length;
  t.ok(failed <= 10 * windows && failed >= 10, `401 lines: ${failed} for ${n} failures over ${windows} window(s)`);
  t.ok(limited <= 10 * windows && limited >= 1, `429 lines: ${limited} over ${windows} window(s)`);
  // the suppressed counts come out as summary lines, at the latest when each window's timer fires
  const summaries = await until(
    'summary lines',
    () => {
      const l = s.lines.filter((x) => x.event === 'log_suppressed');
      const total = l.reduce((a, x) => a + x.suppressed, 0);
      return total + failed + limited >= n ? l : null;
    },
    25_000,
  );
  t.ok(summaries.length <= 2 * windows + 2, `${summaries.length} summary lines`);
  t.match(summaries[0].msg, /more like this in the last 10 s not logged/);
});

t.test('over real sockets: status, weights with the token, openapi', async (t) => {
  const s = await setup(t);
  const st = await request(`${s.adminUrl}/api/v1/status`);
  t.equal(st.statusCode, 200);
  t.equal(((await st.body.json()) as any).weights.canary, 10);
  const put = await request(`${s.adminUrl}/api/v1/weights`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ canary: 100 }),
  });
  t.equal(put.statusCode, 200);
  await put.body.dump();
  const proxied = await request(`${s.url}/x`);
  await proxied.body.dump();
  t.equal(proxied.headers['x-canaryd-version'], 'canary', 'weight 100 routes to canary');
  const bad = await request(`${s.adminUrl}/api/v1/weights`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: '{"canary":"x"}',
  });
  t.equal(bad.statusCode, 400);
  t.equal(((await bad.body.json()) as any).message, 'body.canary: must be number, got "x"');
  const doc = await request(`${s.adminUrl}/api/v1/openapi.json`);
  t.equal(doc.statusCode, 200);
  t.match(((await doc.body.json()) as any).openapi, /^3\./);
});
