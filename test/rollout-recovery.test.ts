/**
 * kill -9 recovery over real processes: a canaryd in the middle of a rollout is killed with SIGKILL, a new
 * process on the same state.dir resumes at the same step and weight, routes by it, and keeps the audit
 * trail whole.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml, spawnCanaryd, tempDir } from './helpers/canaryd.js';

async function api(base: string, method: string, path: string, body?: unknown): Promise<any> {
  const r = await request(base + path, {
    method: method as 'GET',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return r.body.json();
}

t.test('kill -9 mid-rollout, restart: same step, same weight, same routing', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  t.teardown(async () => (await base.close(), await can.close()));
  const stateDir = tempDir();
  const yaml = configYaml(base.url, can.url, 'rollout: { steps: [5, 20, 50, 100], interval: 1h, analysisInterval: 200ms }\n', stateDir);
  const first = await spawnCanaryd(yaml);
  await api(first.adminUrl, 'POST', '/api/v1/rollout/start', {});
  await api(first.adminUrl, 'POST', '/api/v1/rollout/promote', {});
  const before = await api(first.adminUrl, 'POST', '/api/v1/rollout/promote', {});
  t.equal(before.step, 2);
  t.equal(before.canaryWeight, 50);
  first.child.kill('SIGKILL');
  t.equal(await first.exited, null, 'killed, not exited');

  const second = await spawnCanaryd(yaml);
  t.teardown(async () => {
    second.child.kill('SIGTERM');
    await second.exited;
  });
  const after = await api(second.adminUrl, 'GET', '/api/v1/rollout');
  t.equal(after.phase, 'progressing');
  t.equal(after.id, 1);
  t.equal(after.step, 2);
  t.equal(after.canaryWeight, 50);
  const recovered = await second.waitForLog((l) => l.event === 'rollout_recovered');
  t.equal(recovered.step, 2);
  let canary = 0;
  const n = 400;
  for (let i = 0; i < n; i++) {
    const r = await request(second.url);
    await r.body.dump();
    if (r.headers['x-canaryd-version'] === 'canary') canary++;
  }
  // 50 %: within 5 sigma of n/2 (sigma = 10)
  t.ok(Math.abs(canary - n / 2) <= 50, `routes at the recovered weight: ${canary}/${n} to canary`);
  const lines = readFileSync(join(stateDir, 'audit.jsonl'), 'utf8').trim().split('\n');
  t.ok(
    lines.every((l) => JSON.parse(l)),
    'the audit log is whole after kill -9',
  );
  t.ok(
    lines.some((l) => JSON.parse(l).type === 'recovery'),
    'the recovery is audited',
  );
  const decisions = await api(second.adminUrl, 'GET', '/api/v1/decisions');
  t.equal(
    decisions.decisions.filter((d: any) => d.action === 'PROMOTE' && d.source === 'manual').length,
    3,
    'the decisions made before the kill are still listed',
  );
});
