/**
 * Hostile admin input (issue 11 item 7): no type coercion on bodies (a wrong type is a 400 naming the
 * field, never a silent weight of 0, 1 or 42), a JSON nesting limit answering 400 (not a 500 stack
 * overflow), and header lookups that never reach Object.prototype: a rule, a flag or a fault match on a
 * header named like a prototype member matches only requests that really carry that header.
 */
import t from 'tap';
import { request } from 'undici';
import { MAX_JSON_DEPTH, jsonDepth } from '../admin/body.js';
import { parseConfigText } from '../config/index.js';
import { configYaml } from './helpers/canaryd.js';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { call, startAdminSidecar, type AdminSidecar, type TapTest } from './helpers/admin.js';

const TOKEN = 'input-test-token-0123456789abcdef0123';
/** Names of Object.prototype members (and the prototype itself) a lookup on a plain object would find. */
const PROTO_NAMES = [
  '__proto__',
  'constructor',
  'hasOwnProperty',
  'toString',
  'valueOf',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toLocaleString',
  '__defineGetter__',
  '__lookupGetter__',
];

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

async function versionOf(url: string, headers: Record<string, string> = {}): Promise<string> {
  const r = await request(url, { headers });
  await r.body.dump();
  return String(r.headers['x-canaryd-version']);
}

t.test('bodies are not coerced: each wrong type is a 400 naming the field and the weight stays', async (t) => {
  const s = await setup(t);
  const cases: Array<[string, string]> = [
    ['{"canary": null}', 'body.canary: must be number, got null'],
    ['{"canary": "  "}', 'body.canary: must be number, got "  "'],
    ['{"canary": "5"}', 'body.canary: must be number, got "5"'],
    ['{"canary": true}', 'body.canary: must be number, got true'],
    ['{"canary": [42]}', 'body.canary: must be number, got [42]'],
    ['{"canary": 5, "reason": 7}', 'body.reason: must be string, got 7'],
  ];
  for (const [body, message] of cases) {
    const r = await call(s.app, 'PUT', '/api/v1/weights', { body, token: TOKEN, headers: { 'content-type': 'application/json' } });
    t.equal(r.status, 400, body);
    t.equal(r.json?.error, 'CANARYD_ERR_BAD_REQUEST', `${body}: coded`);
    t.equal(r.json?.message, message, `${body}: names the field`);
  }
  t.equal(s.sidecar.traffic.weight().canary, 10, 'no coerced value reached the weight');
  const flag = await call(s.app, 'POST', '/api/v1/flags', { body: { key: 'beta', kind: 'boolean', enabled: 'true' }, token: TOKEN });
  t.equal(flag.status, 400);
  t.equal(flag.json.message, 'body.enabled: must be boolean, got "true"');
  // query strings are text on the wire: they keep their coercion
  t.equal((await call(s.app, 'GET', '/api/v1/decisions?limit=5')).status, 200, 'a numeric query parameter still works');
});

t.test('JSON nested past the limit is a 400, also over a real socket; the limit itself passes', async (t) => {
  const s = await setup(t);
  t.equal(jsonDepth('{"a":"[[[[{{{{"}'), 1, 'brackets inside strings do not count');
  t.equal(jsonDepth('[[1],[[2]]]'), 3);
  const nested = (depth: number) => `{"canary": 5, "reason": "x", "x": ${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`;
  for (const depth of [MAX_JSON_DEPTH + 1, 10_000, 200_000]) {
    const r = await call(s.app, 'PUT', '/api/v1/weights', {
      body: nested(depth),
      token: TOKEN,
      headers: { 'content-type': 'application/json' },
    });
    t.equal(r.status, 400, `depth ${depth}: 400`);
    t.equal(r.json?.error, 'CANARYD_ERR_BAD_REQUEST');
    t.match(r.json?.message, /nested deeper than 32 levels/);
  }
  const ok = await call(s.app, 'PUT', '/api/v1/weights', {
    body: nested(MAX_JSON_DEPTH),
    token: TOKEN,
    headers: { 'content-type': 'application/json' },
  });
  t.equal(ok.status, 400, 'depth 32 is parsed: the only problem left is the unknown field');
  t.equal(ok.json.message, 'body.x: unknown field');
  const r = await request(`${s.adminUrl}/api/v1/weights`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: nested(50_000),
  });
  t.equal(r.statusCode, 400);
  t.match(((await r.body.json()) as any).message, /nested deeper/);
  const proto = await call(s.app, 'PUT', '/api/v1/weights', {
    body: '{"canary": 5, "__proto__": {"x": 1}}',
    token: TOKEN,
    headers: { 'content-type': 'application/json' },
  });
  t.equal(proto.status, 400, 'prototype poisoning is still refused');
  t.equal((await request(`${s.adminUrl}/healthz`)).statusCode, 200, 'the admin is alive');
});

t.test('property: header names like Object.prototype members match only when sent (rules, flags, faults)', async (t) => {
  // one config rule per name, all to canary at weight 0: a request without the header must reach baseline
  const names = PROTO_NAMES;
  t.throws(
    () =>
      parseConfigText(
        configYaml(
          'http://127.0.0.1:1',
          'http://127.0.0.1:2',
          'routing:\n  rules:\n    - { name: p, match: { header: { "__proto__": "*" } }, to: canary }\n',
        ),
        {},
      ),
    /routing\.rules\[0\]\.match\.header\.__proto__: the key "__proto__" is not allowed/,
    'config: a __proto__ key is refused, naming its path',
  );
  const rules = names
    .filter((n) => n !== '__proto__')
    .map((n, i) => `    - { name: r${i}, match: { header: { "${n}": "*" } }, to: canary }`)
    .join('\n');
  const s = await setup(t);
  // config rules: a second sidecar with the rules in its file
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const ruled = await startAdminSidecar(configYaml(base.url, can.url, `routing:\n  canaryWeight: 0\n  rules:\n${rules}\n`));
  t.teardown(async () => (await ruled.stop(), await base.close(), await can.close()));
  for (let round = 0; round < 3; round++)
    t.equal(await versionOf(`${ruled.url}/plain`), 'baseline', `rules: a plain request is not matched (round ${round})`);
  for (const n of names) {
    if (n === '__proto__') continue; // node cannot even store a header of that name on req.headers
    t.equal(await versionOf(`${ruled.url}/x`, { [n]: 'yes' }), 'canary', `rules: header ${n} sent -> its rule matches`);
  }

  // flags (runtime rules), created over the API one name at a time
  await call(s.app, 'PUT', '/api/v1/weights', { body: { canary: 0 }, token: TOKEN });
  for (const [i, n] of names.entries()) {
    const r = await call(s.app, 'POST', '/api/v1/flags', {
      body: `{"key":"f${i}","kind":"boolean","enabled":true,"version":"canary","match":{"header":{${JSON.stringify(n)}:["*"]}}}`,
      token: TOKEN,
      headers: { 'content-type': 'application/json' },
    });
    if (n === '__proto__') {
      t.equal(r.status, 400, 'a __proto__ key in a body is refused');
      continue;
    }
    t.equal(r.status, 201, `flag on header ${n} created`);
    t.equal(await versionOf(`${s.url}/plain`), 'baseline', `flags: a plain request does not match the flag on ${n}`);
    t.equal(await versionOf(`${s.url}/x`, { [n]: '1' }), 'canary', `flags: header ${n} sent -> the flag matches`);
  }

  // fault matches: an abort on a header, checked by a plain request that must pass through
  const faults = await startAdminSidecar(
    configYaml(base.url, can.url, 'faults: { enabled: true, maxErrorRate: 1 }\n').replace(
      'admin: { listen: "127.0.0.1:0" }',
      `admin: { listen: "127.0.0.1:0", token: "${TOKEN}" }`,
    ),
  );
  t.teardown(() => faults.stop());
  for (const [i, n] of names.entries()) {
    if (n === '__proto__') continue;
    const r = await call(faults.app, 'POST', '/api/v1/faults', {
      body: { name: `a${i}`, probability: 1, match: { header: { [n]: '*' } }, abort: { status: 418 } },
      token: TOKEN,
    });
    t.equal(r.status, 201, `fault on header ${n} created`);
    const plain = await request(`${faults.url}/plain`);
    await plain.body.dump();
    t.equal(plain.statusCode, 200, `faults: a plain request is not matched by the fault on ${n}`);
    const hit = await request(`${faults.url}/x`, { headers: { [n]: '1' } });
    await hit.body.dump();
    t.equal(hit.statusCode, 418, `faults: header ${n} sent -> the fault fires`);
    await call(faults.app, 'DELETE', `/api/v1/faults/a${i}`, { token: TOKEN });
  }
});
