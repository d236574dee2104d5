/**
 * State hygiene (issue 11 item 9): orphan temp files from a kill -9 are removed at start (unless a live
 * process owns them), flag and weight writes leave the event loop and coalesce, flags and rules have caps,
 * and a real process killed between "rollout state saved" and "weight moved" (a test-only env hook)
 * restarts rolled back at weight 0, not at the old step's weight.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { parseConfigText } from '../config/index.js';
import { configYaml, spawnCanaryd, tempDir } from './helpers/canaryd.js';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { call, startAdminSidecar, until } from './helpers/admin.js';

// real process starts on a loaded shared machine: waits (never assertions) get more room
process.env.CANARYD_TEST_PATIENCE ??= '3';
t.setTimeout(600_000);

async function api(base: string, method: string, path: string, body?: unknown): Promise<any> {
  const r = await request(base + path, {
    method: method as 'GET',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return r.body.json();
}

t.test('kill -9 between saving a ROLLBACK and moving the weight: the restart is rolled back at weight 0', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  t.teardown(async () => (await base.close(), await can.close()));
  const stateDir = tempDir();
  const yaml = configYaml(base.url, can.url, 'rollout: { steps: [5, 20, 50, 100], interval: 1h, analysisInterval: 200ms }\n', stateDir);
  const first = await spawnCanaryd(yaml, { CANARYD_TEST_CRASH_AFTER_STATE: 'ROLLBACK' });
  await api(first.adminUrl, 'POST', '/api/v1/rollout/start', {});
  const at20 = await api(first.adminUrl, 'POST', '/api/v1/rollout/promote', {});
  t.equal(at20.canaryWeight, 20);
  // weights.json is written asynchronously (off the request path): let the 20 settle on disk first, so the
  // assertion below tells "the rollback's 0 was not written" apart from "the 20 was not written yet"
  await until(
    'weights.json holds 20',
    () => {
      try {
        return JSON.parse(readFileSync(join(stateDir, 'weights.json'), 'utf8')).canary === 20;
      } catch {
        return false;
      }
    },
    15_000,
  );
  await t.rejects(
    api(first.adminUrl, 'POST', '/api/v1/rollout/rollback', { reason: 'bad canary' }),
    'the process dies inside the rollback',
  );
  t.equal(await first.exited, null, 'killed by the hook, between the two writes');
  t.equal(JSON.parse(readFileSync(join(stateDir, 'rollout.json'), 'utf8')).phase, 'rolledback', 'the rollback was saved first');
  t.equal(JSON.parse(readFileSync(join(stateDir, 'weights.json'), 'utf8')).canary, 20, 'and the weight had not moved yet');

  const second = await spawnCanaryd(yaml);
  t.teardown(async () => {
    second.child.kill('SIGTERM');
    await second.exited;
  });
  const after = await api(second.adminUrl, 'GET', '/api/v1/rollout');
  t.equal(after.phase, 'rolledback', 'restarted rolled back');
  t.equal((await api(second.adminUrl, 'GET', '/api/v1/weights')).canary, 0, "at weight 0, not the old step's 20");
  let canary = 0;
  for (let i = 0; i < 100; i++) {
    const r = await request(second.url);
    await r.body.dump();
    if (r.headers['x-canaryd-version'] === 'canary') canary++;
  }
  t.equal(canary, 0, 'no request reaches the rolled-back canary');
});

t.test('orphan temp files are removed at start; one owned by a live process is kept', async (t) => {
  const stateDir = tempDir();
  mkdirSync(stateDir, { recursive: true });
  const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.teardown(() => sleeper.kill());
  const dead = ['flags.json.2147480001.tmp', 'weights.json.2147480002.tmp', 'rollout.json.2147480003.tmp'];
  for (const n of dead) writeFileSync(join(stateDir, n), '{"torn": ');
  const live = `flags.json.${sleeper.pid}.tmp`;
  writeFileSync(join(stateDir, live), '{}');
  writeFileSync(join(stateDir, 'notes.tmp'), 'not ours');
  const s = await startAdminSidecar(configYaml('http://127.0.0.1:1', 'http://127.0.0.1:2', '', stateDir));
  t.teardown(() => s.stop());
  for (const n of dead) t.notOk(existsSync(join(stateDir, n)), `${n} removed`);
  t.ok(existsSync(join(stateDir, live)), "the live process's temp file is kept");
  t.ok(existsSync(join(stateDir, 'notes.tmp')), 'a file not named like ours is kept');
  const line = s.lines.find((l) => l.event === 'state_tmp_cleaned');
  t.same(line?.files?.sort(), [...dead].sort(), 'the removal is logged');
});

t.test('flag changes: written off the event loop, coalesced, durable after flush; capped in number and size', async (t) => {
  const stateDir = tempDir();
  const s = await startAdminSidecar(configYaml('http://127.0.0.1:1', 'http://127.0.0.1:2', '', stateDir));
  t.teardown(() => s.stop());
  t.equal((await call(s.app, 'POST', '/api/v1/flags', { body: { key: 'beta', kind: 'percentage', percentage: 0 } })).status, 201);
  const n = 50;
  const answers = await Promise.all(
    Array.from({ length: n }, (_, i) => call(s.app, 'PATCH', '/api/v1/flags/beta', { body: { percentage: i + 1 } })),
  );
  t.ok(
    answers.every((a) => a.status === 200),
    'every PATCH applied',
  );
  await s.sidecar.state.flush();
  const writes = s.sidecar.state.writes.get('flags.json') ?? 0;
  t.ok(writes >= 1 && writes < n + 1, `${n + 1} changes took ${writes} writes`);
  const onDisk = JSON.parse(readFileSync(join(stateDir, 'flags.json'), 'utf8'));
  t.equal(onDisk.flags[0].percentage, s.sidecar.flags.get('beta')!.percentage, 'the newest value is the one on disk');
  t.same(readFileSync(join(stateDir, 'flags.json'), 'utf8').match(/\.tmp/g), null);

  // caps: 256 flags
  for (let i = 1; i < 256; i++)
    t.equal((await call(s.app, 'POST', '/api/v1/flags', { body: { key: `f${i}`, kind: 'boolean' } })).status, 201, `flag ${i + 1}`, {
      diagnostic: false,
    });
  const over = await call(s.app, 'POST', '/api/v1/flags', { body: { key: 'one-too-many', kind: 'boolean' } });
  t.equal(over.status, 409);
  t.equal(over.json.error, 'CANARYD_ERR_LIMIT_REACHED');
  t.match(over.json.message, /at most 256 flags/);
  t.equal((await call(s.app, 'POST', '/api/v1/flags/f1/archive')).status, 200);
  t.equal(
    (await call(s.app, 'POST', '/api/v1/flags', { body: { key: 'after-archive', kind: 'boolean' } })).status,
    201,
    'archiving one makes room',
  );
});

t.test('flags.json is capped at 4 MiB', async (t) => {
  const s = await startAdminSidecar(configYaml('http://127.0.0.1:1', 'http://127.0.0.1:2', ''));
  t.teardown(() => s.stop());
  const users = (k: number) => Array.from({ length: 3_900 }, (_, i) => `${k}-${String(i).padStart(6, '0')}-${'u'.repeat(240)}`);
  const codes: number[] = [];
  for (let k = 0; k < 6; k++)
    codes.push((await call(s.app, 'POST', '/api/v1/flags', { body: { key: `big${k}`, kind: 'userList', users: users(k) } })).status);
  t.same(codes.slice(0, 4), [201, 201, 201, 201], 'four ~1 MB flags fit');
  t.equal(codes[4], 409, 'the fifth would pass 4 MiB');
});

t.test('routing rules are capped at 256 in the config', async (t) => {
  const rules = (n: number) => Array.from({ length: n }, (_, i) => `    - { name: r${i}, match: { path: /r${i} }, to: canary }`).join('\n');
  const yaml = (n: number) => configYaml('http://127.0.0.1:1', 'http://127.0.0.1:2', `routing:\n  rules:\n${rules(n)}\n`);
  t.equal(parseConfigText(yaml(256), {}).routing.rules.length, 256);
  t.throws(() => parseConfigText(yaml(257), {}), /routing\.rules: must NOT have more than 256 items/);
});
