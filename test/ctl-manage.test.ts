/**
 * The writes of `canaryd ctl` against a real canaryd process: flags create/update/archive (the flag then
 * routes a real request), experiments run/show/list/stop from a YAML spec file, and faults resume after
 * the kill switch — it names the rules that fire again, and --disable-rules turns them off first. Also the
 * API side of taming a halted rule: lowering its probability is allowed while halted, raising it is not.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml, spawnCanaryd, tempDir, type CanarydProcess } from './helpers/canaryd.js';
import { runCtl } from '../cli/ctl.js';

const TOKEN = 'ctl-manage-token';

async function ctl(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCtl(
    [...args, '--admin', p.adminUrl, '--token', TOKEN],
    { CANARYD_ADMIN_TOKEN: '', CANARYD_ADMIN_URL: '' },
    { out: (l) => out.push(l), err: (l) => err.push(l), stream: { write: () => true, isTTY: false } },
  );
  return { code, out: out.join('\n'), err: err.join('\n') };
}

let p: CanarydProcess;
t.before(async () => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  p = await spawnCanaryd(
    configYaml(base.url, can.url, 'routing: { canaryWeight: 0, sticky: { header: x-user-id } }\nfaults: { enabled: true }').replace(
      'admin: { listen: "127.0.0.1:0" }',
      `admin: { listen: "127.0.0.1:0", token: "${TOKEN}" }`,
    ),
  );
  t.teardown(async () => {
    p.child.kill('SIGKILL');
    await base.close();
    await can.close();
  });
});

const api = async (method: string, path: string, body?: unknown) => {
  const r = await request(`${p.adminUrl}${path}`, {
    method: method as 'GET',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.statusCode, json: (await r.body.json().catch(() => null)) as any };
};

async function upstreamFor(user: string): Promise<string> {
  const r = await request(`${p.url}/who`, { headers: { 'x-user-id': user } });
  await r.body.text();
  return String(r.headers['x-canaryd-version']);
}

t.test('flags create, update and archive; the flag routes a real request', async (t) => {
  t.equal(await upstreamFor('alice'), 'baseline', 'weight 0: alice is on the baseline');
  const created = await ctl(['flags', 'create', 'beta', '--kind', 'userList', '--users', 'alice,bob', '--to', 'canary', '--on']);
  t.equal(created.code, 0, created.err);
  t.match(created.out, /flag beta \(userList\): on, 2 user\(s\) → canary/);
  t.equal(await upstreamFor('alice'), 'canary', 'the created flag sends alice to the canary');
  t.equal(await upstreamFor('carol'), 'baseline', 'and nobody else');
  const updated = await ctl(['flags', 'update', 'beta', '--off']);
  t.equal(updated.code, 0, updated.err);
  t.match(updated.out, /: off/);
  t.equal(await upstreamFor('alice'), 'baseline', 'switched off: alice is back on the baseline');
  t.equal((await api('GET', '/api/v1/flags/beta')).json.enabled, false);
  const archived = await ctl(['flags', 'archive', 'beta']);
  t.equal(archived.code, 0, archived.err);
  t.match(archived.out, /\(archived\)/);
  t.equal((await api('GET', '/api/v1/flags/beta')).json.archived, true);
  const bad = await ctl(['flags', 'create', 'half', '--kind', 'percentage', '--percentage', '150']);
  t.equal(bad.code, 1, 'the API refuses a percentage over 100');
  t.match(bad.err, /400/);
  t.equal((await ctl(['flags', 'create', 'nokind'])).code, 2, '--kind is required');
  t.equal((await ctl(['flags', 'update', 'beta'])).code, 2, 'an update with nothing to change is a usage error');
});

t.test('experiments run from a YAML file, then show, list and stop', async (t) => {
  const file = join(tempDir('canaryd-ctl-exp-'), 'exp.yaml');
  writeFileSync(
    file,
    'name: slow canary\ntarget: canary\nsteps:\n  - name: latency\n    duration: 60s\n    rules: [{ probability: 1, delay: { ms: 5 } }]\n',
  );
  const run = await ctl(['experiments', 'run', file]);
  t.equal(run.code, 0, run.err);
  const id = /experiment (\S+) \(slow canary\)/.exec(run.out)?.[1];
  t.ok(id, `the run prints the experiment id: ${run.out}`);
  const shown = await ctl(['experiments', 'show', id!, '--json']);
  t.equal(JSON.parse(shown.out).name, 'slow canary');
  const listed = await ctl(['experiments']);
  t.match(listed.out, new RegExp(`\\* experiment ${id}`), 'the running experiment is starred');
  const stopped = await ctl(['experiments', 'stop', id!, '--reason', 'enough']);
  t.equal(stopped.code, 0, stopped.err);
  t.not((await api('GET', `/api/v1/experiments/${id}`)).json.state, 'running', 'stopped');
  t.equal((await ctl(['experiments', 'run', join(tempDir(), 'missing.yaml')])).code, 2, 'an unreadable file is a usage error');
});

t.test('faults resume names the rules that fire again; --disable-rules turns them off first', async (t) => {
  t.equal((await api('POST', '/api/v1/faults', { name: 'flaky', probability: 0.5, abort: { status: 503 } })).status, 201);
  t.equal((await ctl(['faults', 'kill', '--reason', 'too many errors'])).code, 0);
  // halted: lowering the rule's probability arms nothing, so it is allowed; raising it is not
  t.equal((await api('PATCH', '/api/v1/faults/flaky', { probability: 0.1 })).status, 200, 'lowered while halted');
  t.equal((await api('PATCH', '/api/v1/faults/flaky', { probability: 0.9 })).status, 409, 'raising while halted is refused');
  const resumed = await ctl(['faults', 'resume']);
  t.equal(resumed.code, 0, resumed.err);
  t.match(resumed.out, /halted by kill: too many errors/);
  t.match(resumed.out, /these rules fire again now: flaky \(abort, probability 0\.1\)/);
  t.match(resumed.out, /faults resume --disable-rules/);
  t.equal((await api('GET', '/api/v1/faults/flaky')).json.enabled, true);
  t.equal((await ctl(['faults', 'kill'])).code, 0);
  const safe = await ctl(['faults', 'resume', '--disable-rules']);
  t.equal(safe.code, 0, safe.err);
  t.match(safe.out, /disabled before resuming: flaky/);
  t.equal((await api('GET', '/api/v1/faults/flaky')).json.enabled, false, 'the rule is kept, disabled');
  t.equal((await api('GET', '/api/v1/faults')).json.state, 'idle', 're-armed, with nothing left to fire');
});
