/**
 * `canaryd ctl` against a real canaryd process: output and exit codes of status, weights, flags, faults,
 * the rollout actions, watch and wait (0 reached, 1 the other end, 2 timeout, 3 API error), clear messages
 * on HTTP errors, 2 on usage errors. Most cases call runCtl in this process (what the `canaryd ctl` binary
 * runs, minus ~0.6 s of node startup per call); `spawned` cases run the real binary for its exit codes.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { request } from 'undici';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml, spawnCanaryd, type CanarydProcess } from './helpers/canaryd.js';
import { runCtl } from '../cli/ctl.js';

const TOKEN = 'ctl-token';

interface Run {
  code: number;
  out: string;
  err: string;
}

/** runCtl in this process, output captured (as the binary would print it). */
async function ctl(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCtl(
    args,
    { CANARYD_ADMIN_TOKEN: '', CANARYD_ADMIN_URL: '', ...env },
    { out: (l) => out.push(l), err: (l) => err.push(l), stream: { write: (s: string) => out.push(s.replace(/\n$/, '')), isTTY: false } },
  );
  return { code, out: out.map((l) => `${l}\n`).join(''), err: err.map((l) => `${l}\n`).join('') };
}

/** The real `canaryd ctl` binary as a child process. */
function spawned(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['dist/cli/canaryd.js', 'ctl', ...args],
      { env: { ...process.env, CANARYD_ADMIN_TOKEN: '', CANARYD_ADMIN_URL: '', ...env }, timeout: timeoutMs },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as any).code === 'number' ? (err as any).code : -1) : 0;
        resolve({ code, out: stdout, err: stderr });
      },
    );
  });
}

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

let p: CanarydProcess;
let admin: string[];
t.before(async () => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  p = await spawnCanaryd(
    configYaml(base.url, can.url, 'routing: { canaryWeight: 10, sticky: { header: x-user-id } }').replace(
      'admin: { listen: "127.0.0.1:0" }',
      `admin: { listen: "127.0.0.1:0", token: "${TOKEN}" }`,
    ),
  );
  admin = ['--admin', p.adminUrl];
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

t.test('status, weights: text and JSON output, exit codes, clear HTTP error messages', async (t) => {
  const st = await spawned(['status', ...admin]);
  t.equal(st.code, 0, st.err);
  t.match(st.out, /weights\s+baseline 90%  canary 10%  \(set by file\)/);
  t.match(st.out, /canary\s+v2/);
  const json = await ctl(['status', '--json', ...admin]);
  t.equal(JSON.parse(json.out).weights.canary, 10);

  const noToken = await ctl(['weights', '25', ...admin]);
  t.equal(noToken.code, 1);
  t.match(noToken.err, /PUT \/api\/v1\/weights: 401 CANARYD_ERR_UNAUTHORIZED: .*\(pass --token or set CANARYD_ADMIN_TOKEN\)/);
  const set = await ctl(['weights', '25', '--reason', 'ctl test'], { CANARYD_ADMIN_TOKEN: TOKEN, CANARYD_ADMIN_URL: p.adminUrl });
  t.equal(set.code, 0, set.err);
  t.equal(set.out.trim(), 'canary weight set to 25%');
  t.equal((await ctl(['weights', ...admin])).out.trim(), 'baseline 75%  canary 25%  (set by api)');
  const tooMuch = await spawned(['weights', '150', '--token', TOKEN, ...admin]);
  t.equal(tooMuch.code, 1);
  t.match(tooMuch.err, /400 CANARYD_ERR_BAD_REQUEST: body\.canary: must be <= 100, got 150/);
  const notNumber = await spawned(['weights', 'abc', ...admin]);
  t.equal(notNumber.code, 2);
  t.match(notNumber.err, /weights: "abc" is not a number/);
  t.equal((await ctl(['frobnicate', ...admin])).code, 2);
  t.equal((await ctl(['status', '--bogus', ...admin])).code, 2);
  t.equal((await ctl([])).code, 2);
  t.equal((await ctl(['--help'])).code, 0);

  const gone = await ctl(['status', '--admin', `http://127.0.0.1:${await closedPort()}`]);
  t.equal(gone.code, 1);
  t.match(gone.err, /cannot reach the canaryd admin API at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
});

t.test('flags list and check', async (t) => {
  t.equal((await api('POST', '/api/v1/flags', { key: 'vip', kind: 'userList', users: ['vip-1'], enabled: true })).status, 201);
  const list = await ctl(['flags', ...admin]);
  t.equal(list.code, 0);
  t.match(list.out, /vip\s+userList\s+on\s+canary\s+1 user\(s\)/);
  const on = await ctl(['flags', 'check', 'vip', '--user', 'vip-1', '--ip', '10.1.2.3', ...admin]);
  t.equal(on.code, 0, on.err);
  t.match(
    on.out,
    /flag vip \(userList → canary\): ON — user "vip-1" is in the list\nsuch a request goes to canary \(decided by flag flag:vip\)/,
  );
  const off = await ctl(['flags', 'check', 'vip', '--user', 'someone', ...admin]);
  t.match(off.out, /OFF — user "someone" is not in the list\nsuch a request goes to (baseline|canary) \(decided by weights\)/);
  const missing = await ctl(['flags', 'check', 'nope', ...admin]);
  t.equal(missing.code, 1);
  t.match(missing.err, /404 CANARYD_ERR_NOT_FOUND: no flag named "nope"/);
  t.equal((await ctl(['flags', 'check', ...admin])).code, 2);
});

t.test('watch: frames from the live stream', async (t) => {
  await Promise.all(
    Array.from({ length: 20 }, (_, i) => request(`${p.url}/x`, { headers: { 'x-user-id': `u${i}` } }).then((r) => r.body.dump())),
  );
  const w = await spawned(['watch', '--count', '3', ...admin]);
  t.equal(w.code, 0, w.err);
  const lines = w.out.trim().split('\n');
  t.equal(lines.length, 3, 'one summary line per frame when stdout is not a TTY');
  t.match(lines[2], /canary 25%.*\| baseline .* rps .* \| canary .* rps/);
  const denied = await ctl(['watch', '--count', '1', '--admin', p.adminUrl.replace(/:\d+$/, `:${await closedPort()}`)]);
  t.equal(denied.code, 1);
});

t.test('wait: exit 2 on timeout, 2 on usage, 3 on API errors; 0/1 when the rollout ends', async (t) => {
  const bad = await ctl(['wait', '--until', 'maybe', ...admin]);
  t.equal(bad.code, 2);
  t.match(bad.err, /--until must be promoted or rolledback, got "maybe"/);
  t.equal((await ctl(['wait', '--until', 'promoted', '--timeout', 'soon', ...admin])).code, 2);

  // canaryd unreachable for the whole wait (a restart that never ends): retried, then timeout
  const started = Date.now();
  const away = await spawned(['wait', '--until', 'promoted', '--timeout', '2s', '--admin', `http://127.0.0.1:${await closedPort()}`]);
  t.equal(away.code, 2, 'timeout');
  t.match(away.err, /ECONNREFUSED \(retrying\)[\s\S]*timed out after 2 s/);
  t.ok(Date.now() - started >= 1900, 'waited for the timeout');

  // with the rollout controller: a rollback ends the wait for "rolledback" with 0 and for "promoted" with 1
  const waiting = spawned(['wait', '--until', 'rolledback', '--timeout', '30s', ...admin]);
  await api('POST', '/api/v1/rollout/start', {});
  const rb = await api('POST', '/api/v1/rollout/rollback', { reason: 'ctl wait test' });
  t.ok(rb.status < 300, `rollback accepted (${rb.status} ${JSON.stringify(rb.json)})`);
  t.equal((await waiting).code, 0, 'wait --until rolledback exits 0');
  t.equal(
    (await spawned(['wait', '--until', 'promoted', '--timeout', '10s', ...admin])).code,
    1,
    'wait --until promoted exits 1 after a rollback',
  );
});

t.test('rollout actions and faults: exit 0 when they act, 1 with the 409 when they do not fit', async (t) => {
  const spec = (await api('GET', '/api/v1/openapi.json')).json;
  for (const [action, code] of [
    ['start', 0],
    ['start', 1],
    ['pause', 0],
    ['pause', 1],
    ['resume', 0],
    ['promote', 0],
    ['rollback', 0],
    ['promote', 1],
  ] as const) {
    const r = await ctl([action, '--token', TOKEN, ...admin]);
    t.equal(r.code, code, `${action} exits ${code} (${r.err.trim()})`);
    if (code === 1) t.match(r.err, /409 CANARYD_ERR_CONFLICT/);
  }
  t.equal((await api('GET', '/api/v1/status')).json.rollout.phase, 'rolledback');
  const retried = await ctl(['retry', '--token', TOKEN, ...admin]);
  t.equal(retried.code, 0, retried.err);
  t.match(retried.out, /retry: ok, phase progressing, canary 5%/);
  const faults = await ctl(['faults', 'list', ...admin]);
  if (spec.paths['/api/v1/faults']) t.equal(faults.code, 0, faults.err);
  else t.match(faults.err, /404 .*does not have that feature/);
  t.equal((await ctl(['faults', 'explode', ...admin])).code, 2);
});
