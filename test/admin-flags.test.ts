/**
 * Flags: create / update / archive with good and bad input, the check endpoint, and over real sockets the
 * proxy routing that flags produce — the check's answer must equal where the proxy actually sends a
 * request; config rules come first; flags survive a restart (state.dir).
 */
import t from 'tap';
import { request, Agent } from 'undici';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml, tempDir } from './helpers/canaryd.js';
import { call, startAdminSidecar, type AdminSidecar, type TapTest } from './helpers/admin.js';

const TOKEN = 'flags-token';
const dispatcher = new Agent({ connections: 16 });
t.teardown(() => dispatcher.close());

async function setup(
  t: TapTest,
  extra = 'routing: { canaryWeight: 0, sticky: { header: x-user-id } }',
  stateDir = tempDir(),
): Promise<AdminSidecar & { stateDir: string; yaml: string }> {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const yaml = configYaml(base.url, can.url, extra, stateDir).replace(
    'admin: { listen: "127.0.0.1:0" }',
    `admin: { listen: "127.0.0.1:0", token: "${TOKEN}" }`,
  );
  const s = await startAdminSidecar(yaml);
  t.teardown(async () => (await s.stop(), await base.close(), await can.close()));
  return { ...s, stateDir, yaml };
}

async function versionFor(url: string, headers: Record<string, string> = {}): Promise<string> {
  const r = await request(`${url}/x`, { headers, dispatcher });
  await r.body.dump();
  return r.headers['x-canaryd-version'] as string;
}

t.test('create, read, update, archive: good input and 400/404/409 naming the problem', async (t) => {
  const s = await setup(t);
  const post = (body: unknown, token = TOKEN) => call(s.app, 'POST', '/api/v1/flags', { body, token });

  t.equal((await post({ key: 'beta', kind: 'userList', users: ['u1'] }, '')).status, 401, 'token required');
  const created = await post({ key: 'beta', kind: 'userList', users: ['u1', 'u2'], description: 'beta users' });
  t.equal(created.status, 201);
  t.match(created.json, { key: 'beta', kind: 'userList', enabled: false, version: 'canary', archived: false, users: ['u1', 'u2'] });
  t.equal((await post({ key: 'beta', kind: 'boolean' })).status, 409, 'duplicate key');

  const bad: Array<[unknown, RegExp]> = [
    [{ key: 'Beta Users', kind: 'boolean' }, /^body\.key: must match .*, got "Beta Users"$/],
    [{ key: 'x', kind: 'sometimes' }, /^body\.kind: must be one of "boolean", "percentage", "userList", "ipList", got "sometimes"$/],
    [{ kind: 'boolean' }, /^body\.key: is required$/],
    [{ key: 'p', kind: 'percentage' }, /^body\.percentage: is required for kind "percentage"$/],
    [{ key: 'p', kind: 'percentage', percentage: 101 }, /^body\.percentage: must be <= 100, got 101$/],
    [{ key: 'p', kind: 'boolean', percentage: 5 }, /^body\.percentage: only applies to kind "percentage", not "boolean"$/],
    [{ key: 'i', kind: 'ipList', ips: ['10.0.0.0/8', '10.0.0.300'] }, /^body\.ips\[1\]: must be an IP or CIDR, got "10\.0\.0\.300"$/],
    [{ key: 'u', kind: 'userList', users: [] }, /^body\.users: must NOT have fewer than 1 items/],
    [{ key: 'v', kind: 'boolean', version: 'stable' }, /^body\.version: must be one of "baseline", "canary", got "stable"$/],
    [{ key: 'm', kind: 'boolean', match: { host: 'x' } }, /^body\.match\.host: unknown field$/],
  ];
  for (const [body, message] of bad) {
    const r = await post(body);
    t.equal(r.status, 400, `${JSON.stringify(body)} -> 400`);
    t.equal(r.json.error, 'CANARYD_ERR_BAD_REQUEST');
    t.match(r.json.message, message);
  }

  t.equal((await call(s.app, 'GET', '/api/v1/flags/beta')).json.description, 'beta users');
  const missing = await call(s.app, 'GET', '/api/v1/flags/nope');
  t.equal(missing.status, 404);
  t.same(missing.json, { error: 'CANARYD_ERR_NOT_FOUND', message: 'no flag named "nope"' });
  t.match((await call(s.app, 'GET', '/api/v1/flags/NOPE!')).json.message, /^params\.key: must match/);

  const upd = await call(s.app, 'PATCH', '/api/v1/flags/beta', { body: { enabled: true, users: ['u1'] }, token: TOKEN });
  t.equal(upd.status, 200);
  t.match(upd.json, { enabled: true, users: ['u1'] });
  t.ok(upd.json.updatedAt >= upd.json.createdAt);
  t.equal(
    (await call(s.app, 'PATCH', '/api/v1/flags/beta', { body: {}, token: TOKEN })).json.message,
    'body: must have at least 1 field(s)',
  );
  t.equal(
    (await call(s.app, 'PATCH', '/api/v1/flags/beta', { body: { kind: 'ipList' }, token: TOKEN })).json.message,
    'body.ips: is required for kind "ipList"',
    'kind change checks the new kind',
  );
  const toIp = await call(s.app, 'PATCH', '/api/v1/flags/beta', { body: { kind: 'ipList', ips: ['127.0.0.1'] }, token: TOKEN });
  t.equal(toIp.status, 200);
  t.equal(toIp.json.users, undefined, "the old kind's field is dropped");
  t.equal((await call(s.app, 'PATCH', '/api/v1/flags/nope', { body: { enabled: true }, token: TOKEN })).status, 404);

  const arch = await call(s.app, 'POST', '/api/v1/flags/beta/archive', { token: TOKEN });
  t.match(arch.json, { archived: true, enabled: false });
  const again = await call(s.app, 'PATCH', '/api/v1/flags/beta', { body: { enabled: true }, token: TOKEN });
  t.equal(again.status, 409, 'archived flags cannot change');
  t.equal(again.json.error, 'CANARYD_ERR_CONFLICT');
  t.equal((await post({ key: 'beta', kind: 'boolean' })).status, 409, 'archived keys are not reused');
  t.same((await call(s.app, 'GET', '/api/v1/flags')).json.flags, [], 'archived flags hidden by default');
  t.equal((await call(s.app, 'GET', '/api/v1/flags?archived=true')).json.flags.length, 1);
  t.equal((await call(s.app, 'POST', '/api/v1/flags/nope/archive', { token: TOKEN })).status, 404);
});

t.test('flags route real traffic; the check endpoint agrees with the proxy', async (t) => {
  const s = await setup(
    t,
    'routing:\n  canaryWeight: 30\n  sticky: { header: x-user-id }\n  rules:\n    - { name: qa-to-baseline, match: { header: { x-qa: "1" } }, to: baseline }',
  );
  const post = (body: unknown) => call(s.app, 'POST', '/api/v1/flags', { body, token: TOKEN });
  t.equal((await post({ key: 'vip', kind: 'userList', users: ['vip-1', 'vip-2'], enabled: true })).status, 201);
  t.equal((await post({ key: 'half', kind: 'percentage', percentage: 50, enabled: true })).status, 201);
  t.equal((await post({ key: 'off', kind: 'boolean', enabled: false })).status, 201);

  t.equal(await versionFor(s.url, { 'x-user-id': 'vip-1' }), 'canary', 'user-list flag routes to canary');
  t.equal(await versionFor(s.url, { 'x-user-id': 'vip-1', 'x-qa': '1' }), 'baseline', 'a config rule wins over flags');
  const vip = (await call(s.app, 'GET', '/api/v1/flags/vip/check?userId=vip-1')).json;
  t.match(vip, { enabled: true, matches: true, active: true, route: { version: 'canary', decidedBy: 'flag', rule: 'flag:vip' } });
  t.match((await call(s.app, 'GET', '/api/v1/flags/vip/check?userId=someone')).json, {
    enabled: false,
    reason: 'user "someone" is not in the list',
  });
  t.match((await call(s.app, 'GET', '/api/v1/flags/off/check')).json, { enabled: false, active: false, matches: true });
  t.match((await call(s.app, 'GET', '/api/v1/flags/half/check')).json, { enabled: false, reason: /no user id/ });
  const badIp = await call(s.app, 'GET', '/api/v1/flags/vip/check?ip=300.1.1.1');
  t.equal(badIp.status, 400);
  t.equal(badIp.json.message, 'query.ip: must be an IPv4 or IPv6 address, got "300.1.1.1"');
  t.equal((await call(s.app, 'GET', '/api/v1/flags/vip/check?color=red')).json.message, 'query.color: unknown field');
  t.equal((await call(s.app, 'GET', '/api/v1/flags/nope/check?userId=a')).status, 404);

  // for 60 users: the check's predicted version is the version the proxy picks
  let inHalf = 0;
  for (let i = 0; i < 60; i++) {
    const user = `user-${i}`;
    const c = (await call(s.app, 'GET', `/api/v1/flags/half/check?userId=${user}`)).json;
    const actual = await versionFor(s.url, { 'x-user-id': user });
    t.equal(c.route.version, actual, `${user}: check says ${c.route.version} (${c.route.decidedBy}), proxy sent it to ${actual}`);
    if (c.enabled) inHalf++;
    if (c.enabled) t.equal(actual, 'canary');
  }
  t.ok(inHalf > 15 && inHalf < 45, `the 50 % flag holds about half the users (${inHalf}/60)`);

  // ip flag: the test client is 127.0.0.1
  t.equal(
    (await post({ key: 'local', kind: 'ipList', ips: ['127.0.0.0/8'], enabled: true, version: 'baseline', match: { path: '/x' } })).status,
    201,
  );
  t.match((await call(s.app, 'GET', '/api/v1/flags/local/check?ip=127.0.0.9&path=/x&userId=nobody')).json, {
    enabled: true,
    route: { version: 'baseline', decidedBy: 'flag', rule: 'flag:local' },
  });
  t.match((await call(s.app, 'GET', '/api/v1/flags/local/check?ip=127.0.0.9&path=/y')).json, { enabled: false, matches: false });
  t.equal(await versionFor(s.url, { 'x-user-id': 'vip-2' }), 'canary', 'earlier flags keep precedence (creation order)');
  const log = s.lines.filter((l) => l.event === 'flag').map((l) => `${l.key}:${l.action}`);
  t.same(log, ['vip:created', 'half:created', 'off:created', 'local:created'], 'flag changes are logged');
});

t.test('flags persist under state.dir and survive a restart', async (t) => {
  const stateDir = tempDir();
  const first = await setup(t, 'routing: { canaryWeight: 0, sticky: { header: x-user-id } }', stateDir);
  await call(first.app, 'POST', '/api/v1/flags', { body: { key: 'vip', kind: 'userList', users: ['vip-1'], enabled: true }, token: TOKEN });
  await call(first.app, 'POST', '/api/v1/flags', { body: { key: 'gone', kind: 'boolean', enabled: true }, token: TOKEN });
  await call(first.app, 'POST', '/api/v1/flags/gone/archive', { token: TOKEN });
  t.equal(await versionFor(first.url, { 'x-user-id': 'vip-1' }), 'canary');
  await first.stop();

  const second = await setup(t, 'routing: { canaryWeight: 0, sticky: { header: x-user-id } }', stateDir);
  const flags = (await call(second.app, 'GET', '/api/v1/flags?archived=true')).json.flags;
  t.same(
    flags.map((f: any) => [f.key, f.enabled, f.archived]),
    [
      ['vip', true, false],
      ['gone', false, true],
    ],
  );
  t.equal(await versionFor(second.url, { 'x-user-id': 'vip-1' }), 'canary', 'the restored flag routes');
  t.equal(await versionFor(second.url, { 'x-user-id': 'other' }), 'baseline', 'the archived boolean flag does not');
});
