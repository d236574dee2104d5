/**
 * The live events as published conform to the contract's union (contract/events.ts): a real canaryd is
 * driven through a weight change, a flag, a config reload (applied and rejected), a rollout start and a
 * rollback, and every event it kept (GET /api/v1/events/recent) plus a snapshot is validated against
 * CanarydEvent — the type the CLI and the dashboard read them by. Routes' answers are serialised through
 * their schemas; events are not, so this is where a publisher drifting from the contract shows.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { CanarydEvent } from '../contract/index.js';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml } from './helpers/canaryd.js';
import { call, startAdminSidecar } from './helpers/admin.js';

const TOKEN = 'contract-events-token';

t.test('every published event is one of the contract union, by its type', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const yaml = configYaml(base.url, can.url, 'routing: { canaryWeight: 10 }').replace(
    'admin: { listen: "127.0.0.1:0" }',
    `admin: { listen: "127.0.0.1:0", token: "${TOKEN}" }`,
  );
  const s = await startAdminSidecar(yaml, { file: true });
  t.teardown(async () => (await s.stop(), await base.close(), await can.close()));
  const as = (method: string, url: string, body?: unknown) => call(s.app, method, url, { token: TOKEN, body });

  t.equal((await as('PUT', '/api/v1/weights', { canary: 15, reason: 'contract test' })).status, 200);
  t.equal((await as('POST', '/api/v1/flags', { key: 'beta', kind: 'userList', users: ['u1'], enabled: true })).status, 201);
  const text = readFileSync(s.configPath!, 'utf8');
  writeFileSync(s.configPath!, text.replace('canaryWeight: 10', 'canaryWeight: 12'));
  t.equal((await as('POST', '/api/v1/config/reload')).status, 200);
  writeFileSync(s.configPath!, text.replace('canaryWeight: 10', 'canaryWeight: 500'));
  t.equal((await as('POST', '/api/v1/config/reload')).status, 400, 'an invalid file is rejected (a config rejected event)');
  t.ok((await as('POST', '/api/v1/rollout/start', {})).status < 300, 'rollout started');
  t.ok((await as('POST', '/api/v1/rollout/rollback', { reason: 'contract test' })).status < 300, 'rolled back');

  const recent = await as('GET', '/api/v1/events/recent?limit=500');
  const events = recent.json.events as Array<{ type: string }>;
  const snapshot = (await as('GET', '/api/v1/snapshot')).json;
  const ajv = new Ajv({ allErrors: true, strict: false });
  const valid = ajv.compile(CanarydEvent);
  const types = new Set<string>();
  for (const e of [...events, { ...snapshot, seq: 0, at: Date.now() }]) {
    types.add(e.type);
    t.ok(
      valid(e),
      `${e.type} event conforms to the contract${valid.errors ? `: ${ajv.errorsText(valid.errors)} in ${JSON.stringify(e).slice(0, 300)}` : ''}`,
    );
  }
  for (const type of ['weights', 'flag', 'config', 'rollout', 'decision', 'snapshot'])
    t.ok(types.has(type), `a ${type} event was published and checked`);
  t.notOk(valid({ type: 'weights', seq: 1, at: 1 }), 'a weights event without its canary weight does not conform');
  t.notOk(valid({ type: 'telemetry', seq: 1, at: 1 }), 'an event type the contract does not know does not conform');
});
