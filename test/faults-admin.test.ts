/**
 * The faults admin API through fastify's inject (validation: a 400 naming the field for each bad input; 401
 * without the token; 404; 409 for conflicts and refusals) and over real sockets with `canaryd ctl faults`
 * (list, kill, resume), the JSON metrics, the Prometheus metrics and the OpenAPI document.
 */
import t from 'tap';
import { request } from 'undici';
import { runCtl } from '../cli/ctl.js';
import { call, startAdminSidecar } from './helpers/admin.js';
import { configYaml } from './helpers/canaryd.js';
import { startEchoUpstream } from './helpers/echo-upstream.js';

const TOKEN = 'faults-token';

const FILE_RULES = '    - { name: from-file, probability: 0.5, match: { version: canary }, delay: { ms: 1 } }\n';

/**
 * Echo upstreams and an in-process canaryd with faults on and these file rules; token on unless the config is
 * written to a file (drift). Torn down with `opts.tap` (default: the whole file's).
 */
async function setup(rules = FILE_RULES, opts: { file?: boolean; tap?: { teardown: (fn: () => Promise<unknown>) => void } } = {}) {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  let yaml = configYaml(base.url, can.url, `faults:\n  enabled: true\n  maxErrorRate: 1\n  rules:\n${rules}`);
  if (!opts.file) yaml = yaml.replace('admin: { listen: "127.0.0.1:0" }', `admin: { listen: "127.0.0.1:0", token: "${TOKEN}" }`);
  const s = await startAdminSidecar(yaml, opts.file ? { file: true } : undefined);
  (opts.tap ?? t).teardown(async () => (await s.stop(), await base.close(), await can.close()));
  return s;
}

async function ctl(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCtl(
    args,
    { CANARYD_ADMIN_TOKEN: '', CANARYD_ADMIN_URL: '' },
    { out: (l) => out.push(l), err: (l) => err.push(l), stream: { write: () => true, isTTY: false } },
  );
  return { code, out: out.join('\n'), err: err.join('\n') };
}

t.test('CRUD with good input; the shapes the CLI and the dashboard read', async (t) => {
  const s = await setup();
  const events: any[] = [];
  s.sidecar.events.subscribe((e) => e.type === 'fault' && events.push(e));
  const list0 = await call(s.app, 'GET', '/api/v1/faults');
  t.equal(list0.status, 200, 'reads need no token by default');
  t.match(list0.json, {
    enabled: true,
    state: 'armed',
    halted: null,
    allowHeaderControl: false,
    maxErrorRate: 1,
    maxActive: 1000,
    inflight: 0,
  });
  t.match(list0.json.rules, [
    {
      name: 'from-file',
      type: 'delay',
      source: 'config',
      enabled: true,
      active: true,
      probability: 0.5,
      match: { version: 'canary' },
      delay: { ms: 1 },
      injected: 0,
      duration: null,
    },
  ]);

  const created = await call(s.app, 'POST', '/api/v1/faults', {
    token: TOKEN,
    body: { name: 'canary-503', match: { version: 'canary', path: '/api/*' }, probability: 0.3, abort: { status: 503 }, duration: '10m' },
  });
  t.equal(created.status, 201);
  t.match(created.json, {
    name: 'canary-503',
    type: 'abort',
    source: 'api',
    enabled: true,
    active: true,
    probability: 0.3,
    abort: { status: 503 },
    duration: 600_000,
  });
  t.equal(created.json.expiresAt, created.json.createdAt + 600_000);
  t.ok(
    events.some((e) => e.action === 'created' && e.rule.name === 'canary-503'),
    'a fault event',
  );

  t.match((await call(s.app, 'GET', '/api/v1/faults/canary-503')).json, { name: 'canary-503', type: 'abort' });
  const patched = await call(s.app, 'PATCH', '/api/v1/faults/canary-503', {
    token: TOKEN,
    body: { probability: 0.1, delay: { ms: 50, jitterMs: 10 } },
  });
  t.equal(patched.status, 200);
  t.match(patched.json, { type: 'delay', probability: 0.1, delay: { ms: 50, jitterMs: 10 } });
  t.notOk('abort' in patched.json, 'a kind in the patch replaces the rule kind');
  const off = await call(s.app, 'PATCH', '/api/v1/faults/from-file', { token: TOKEN, body: { enabled: false } });
  t.match(off.json, { name: 'from-file', enabled: false, active: false, source: 'config' });

  const ctlList = await ctl(['faults', 'list', '--admin', s.adminUrl]);
  t.equal(ctlList.code, 0, ctlList.err);
  t.match(ctlList.out, /^fault injection: armed/);
  t.match(ctlList.out, /from-file\s+delay\s+0\.5\s+disabled\s+config\s+0\s+\{"version":"canary"\}/);
  t.match(ctlList.out, /canary-503\s+delay\s+0\.1\s+active\s+api\s+0\s+\{"version":"canary","path":"\/api\/\*"\}/);

  const del = await call(s.app, 'DELETE', '/api/v1/faults/canary-503', { token: TOKEN });
  t.equal(del.status, 200);
  t.equal(del.json.name, 'canary-503');
  t.equal((await call(s.app, 'GET', '/api/v1/faults/canary-503')).status, 404);
});

t.test('bad input: 400 naming the field; 401 without the token; 404; 409', async (t) => {
  const s = await setup();
  const bad = async (body: unknown, method = 'POST', url = '/api/v1/faults') => {
    const r = await call(s.app, method, url, { token: TOKEN, body });
    t.equal(r.status, 400, `${JSON.stringify(body)} -> 400`);
    t.equal(r.json.error, 'CANARYD_ERR_BAD_REQUEST');
    return r.json.message as string;
  };
  t.match(await bad({ name: 'x', probability: 2, abort: { status: 503 } }), 'body.probability: must be <= 1, got 2');
  t.match(await bad({ probability: 1, abort: { status: 503 } }), 'body.name: is required');
  t.match(await bad({ name: 'x', probability: 1, abort: { status: 700 } }), 'body.abort.status: must be <= 599, got 700');
  t.match(await bad({ name: 'x', probability: 1, abort: {} }), 'body.abort.status: is required');
  t.match(await bad({ name: 'x', probability: 1, colour: 'red', abort: { status: 500 } }), 'body.colour: unknown field');
  t.match(await bad({ name: 'x', probability: 1, delay: { ms: 5, sloth: 1 } }), 'body.delay.sloth: unknown field');
  t.match(
    await bad({ name: 'x', probability: 1 }),
    'body: set exactly one fault kind (delay, abort, reset, hang, throttle, truncate, dependency), got none',
  );
  t.match(await bad({ name: 'x', probability: 1, delay: { ms: 1 }, abort: { status: 500 } }), 'got delay and abort');
  t.match(await bad({ name: 'x', probability: 1, delay: { minMs: 9, maxMs: 3 } }), 'body.delay.minMs: must be <= maxMs (3), got 9');
  t.match(
    await bad({ name: 'x', probability: 1, duration: 'soon', abort: { status: 500 } }),
    'body.duration: must be a positive duration like 30s, 10m or a number of ms, got "soon"',
  );
  t.match(
    await bad({ name: 'x', probability: 1, match: { version: 'green' }, abort: { status: 500 } }),
    'body.match.version: must be one of "baseline", "canary", got "green"',
  );
  t.match(await bad({ name: 'x y', probability: 1, abort: { status: 500 } }), 'body.name: must match');
  t.match(
    await bad({ name: 'x', probability: 1, dependency: { name: 'db', mode: 'on-fire' } }),
    'body.dependency.mode: must be one of "error", "timeout", "slow"',
  );
  t.match(await bad({}, 'PATCH', '/api/v1/faults/from-file'), 'body: must have at least 1 field(s)');
  t.match(await bad({ name: 'e', steps: [] }, 'POST', '/api/v1/experiments'), 'body.steps');
  t.match(
    await bad({ name: 'e', steps: [{ name: 's', duration: 'x', rules: [] }] }, 'POST', '/api/v1/experiments'),
    'body.steps[0].duration: must be a positive duration',
  );
  t.match(
    await bad({ name: 'e', steps: [{ name: 's', duration: '1s', rules: [{ probability: 1 }] }] }, 'POST', '/api/v1/experiments'),
    'body.steps[0].rules[0]: set exactly one fault kind',
  );
  const badParam = await call(s.app, 'GET', '/api/v1/faults/bad%20name');
  t.equal(badParam.status, 400);
  t.match(badParam.json.message, /params.name: must match/);

  // 401: every mutating route needs the token
  for (const [method, url, body] of [
    ['POST', '/api/v1/faults', { name: 'x', probability: 1, abort: { status: 500 } }],
    ['PATCH', '/api/v1/faults/from-file', { enabled: false }],
    ['DELETE', '/api/v1/faults/from-file', undefined],
    ['DELETE', '/api/v1/faults', undefined],
    ['POST', '/api/v1/faults/resume', undefined],
    ['POST', '/api/v1/experiments', { name: 'e', steps: [{ name: 's', duration: '1s', rules: [] }] }],
  ] as const) {
    const r = await call(s.app, method, url, { body });
    t.equal(r.status, 401, `${method} ${url} without a token`);
    t.equal(r.json.error, 'CANARYD_ERR_UNAUTHORIZED');
  }
  t.equal(s.sidecar.faults.engine.state, 'armed', 'nothing changed');

  // 404
  for (const [method, url] of [
    ['GET', '/api/v1/faults/nope'],
    ['PATCH', '/api/v1/faults/nope'],
    ['DELETE', '/api/v1/faults/nope'],
    ['GET', '/api/v1/experiments/exp-abc-0000'],
    ['POST', '/api/v1/experiments/exp-abc-0000/stop'],
  ] as const) {
    const r = await call(s.app, method, url, { token: TOKEN, body: method === 'PATCH' ? { enabled: false } : undefined });
    t.equal(r.status, 404, `${method} ${url}`);
    t.equal(r.json.error, 'CANARYD_ERR_NOT_FOUND');
  }

  // 409
  const conflict = async (method: string, url: string, body: unknown, code: string, msg: RegExp) => {
    const r = await call(s.app, method, url, { token: TOKEN, body });
    t.equal(r.status, 409, `${method} ${url}`);
    t.equal(r.json.error, code);
    t.match(r.json.message, msg);
  };
  await conflict(
    'POST',
    '/api/v1/faults',
    { name: 'from-file', probability: 1, abort: { status: 500 } },
    'CANARYD_ERR_CONFLICT',
    /already exists/,
  );
  await conflict(
    'PATCH',
    '/api/v1/faults/from-file',
    { probability: 1 },
    'CANARYD_ERR_CONFLICT',
    /comes from the config file .*only enabled can change/,
  );
  await conflict('DELETE', '/api/v1/faults/from-file', undefined, 'CANARYD_ERR_CONFLICT', /comes from the config file/);
  // a runtime config with faults off: switching one on is refused, switching off is not
  s.sidecar.applyConfig({ ...s.sidecar.config, faults: { ...s.sidecar.config.faults, enabled: false } }, 'test');
  await conflict(
    'POST',
    '/api/v1/faults',
    { name: 'new', probability: 1, abort: { status: 500 } },
    'CANARYD_ERR_FAULTS_REFUSED',
    /fault injection is off \(faults.enabled: false/,
  );
  await conflict('PATCH', '/api/v1/faults/from-file', { enabled: true }, 'CANARYD_ERR_FAULTS_REFUSED', /off/);
  t.equal(
    (await call(s.app, 'PATCH', '/api/v1/faults/from-file', { token: TOKEN, body: { enabled: false } })).status,
    200,
    'turning off is always allowed',
  );
  t.equal((await call(s.app, 'GET', '/api/v1/faults')).json.state, 'disabled');
});

t.test('kill switch and resume through canaryd ctl; JSON and Prometheus metrics; OpenAPI', async (t) => {
  const s = await setup();
  await call(s.app, 'POST', '/api/v1/faults', {
    token: TOKEN,
    body: { name: 'all-500', probability: 1, match: { path: '/x' }, abort: { status: 500 } },
  });
  for (let i = 0; i < 4; i++) await (await request(`${s.url}/x`)).body.dump();
  for (let i = 0; i < 6; i++) await (await request(`${s.url}/y`)).body.dump();
  const m = await call(s.app, 'GET', '/api/v1/faults/metrics');
  t.equal(m.status, 200);
  t.match(m.json, {
    totalRequests: 10,
    chaosInjected: 4,
    latencyInjections: 0,
    errorInjections: 4,
    chaosRate: 0.4,
    capped: 0,
    inflight: 0,
    byType: { abort: 4 },
    state: 'armed',
  });
  const prom = (await call(s.app, 'GET', '/metrics')).body;
  t.match(prom, /chaos_experiments_total\{type="abort",rule="all-500"\} 4/);
  t.match(prom, /chaos_rate 0\.4/);
  t.match(prom, /chaos_active_faults 2/);
  t.match(prom, /canaryd_faulted_requests_total\{version="baseline"\} 4/);

  const noToken = await ctl(['faults', 'kill', '--admin', s.adminUrl]);
  t.equal(noToken.code, 1);
  t.match(noToken.err, /DELETE \/api\/v1\/faults: 401 CANARYD_ERR_UNAUTHORIZED/);
  const kill = await ctl(['faults', 'kill', '--reason', 'ctl test', '--admin', s.adminUrl, '--token', TOKEN]);
  t.equal(kill.code, 0, kill.err);
  t.equal(kill.out, 'fault kill switch tripped: every fault off (0 in-flight fault(s) lifted); re-arm with: canaryd ctl faults resume');
  t.equal((await request(`${s.url}/x`)).statusCode, 200, 'no fault fires after the kill');
  const list = await ctl(['faults', '--admin', s.adminUrl]);
  t.match(list.out, /^fault injection: halted \(ctl test\)/);
  t.match(list.out, /all-500\s+abort\s+1\s+inactive\s+api\s+4/);
  t.match(
    s.lines.find((l) => l.event === 'faults_killed'),
    { reason: 'ctl test', level: 40 },
  );
  const resume = await ctl(['faults', 'resume', '--admin', s.adminUrl, '--token', TOKEN]);
  t.match(
    resume.out,
    /^halted by kill: ctl test\nfault injection armed\nthese rules fire again now: /,
    'resume names the halt and the rules it re-arms',
  );
  t.equal((await request(`${s.url}/x`)).statusCode, 500);
  t.equal((await ctl(['faults', 'explode', '--admin', s.adminUrl])).code, 2);

  const spec = (await call(s.app, 'GET', '/api/v1/openapi.json')).json;
  for (const p of [
    '/api/v1/faults',
    '/api/v1/faults/metrics',
    '/api/v1/faults/resume',
    '/api/v1/faults/{name}',
    '/api/v1/experiments',
    '/api/v1/experiments/{id}',
    '/api/v1/experiments/{id}/stop',
  ])
    t.ok(spec.paths[p], `OpenAPI lists ${p}`);
  t.ok(spec.paths['/api/v1/faults'].delete.security, 'the kill switch is documented as needing the token');
});

t.test('drift: runtime fault rules are reported; reconcile only ever switches faults off', async (t) => {
  const s = await setup(
    `    - { name: file-on, probability: 1, match: { path: /file-on }, abort: { status: 500 } }
    - { name: file-off, enabled: false, probability: 1, match: { path: /file-off }, abort: { status: 500 } }
`,
    { file: true, tap: t },
  );
  await call(s.app, 'POST', '/api/v1/faults', {
    body: { name: 'runtime', probability: 1, match: { path: '/runtime' }, abort: { status: 503 } },
  });
  await call(s.app, 'PATCH', '/api/v1/faults/file-on', { body: { enabled: false } });
  await call(s.app, 'PATCH', '/api/v1/faults/file-off', { body: { enabled: true } });
  const drift = (await call(s.app, 'GET', '/api/v1/config/drift')).json;
  const items = drift.items.filter((i: any) => i.path.startsWith('faults.'));
  t.match(items, [
    { path: 'faults.file-on.enabled', file: true, runtime: false, revertible: false, note: /never switches a fault back on/ },
    { path: 'faults.file-off.enabled', file: false, runtime: true, revertible: true },
    { path: 'faults.runtime', file: null, owner: 'api', revertible: true },
  ]);
  const rec = await call(s.app, 'POST', '/api/v1/config/reconcile');
  t.equal(rec.status, 200);
  const after = (await call(s.app, 'GET', '/api/v1/faults')).json.rules;
  t.match(after, [
    { name: 'file-on', enabled: false },
    { name: 'file-off', enabled: false },
    { name: 'runtime', enabled: false },
  ]);
  for (const p of ['/file-on', '/file-off', '/runtime'])
    t.equal((await request(`${s.url}${p}`)).statusCode, 200, `${p}: no fault after the reconcile`);
});
