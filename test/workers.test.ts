/**
 * `workers: 2` (docs/fleet.md "Workers"): a real canaryd process whose primary forks two data-plane workers
 * on one port, in front of real upstreams. Every request goes on its own connection unless said otherwise, so
 * the primary's round-robin hands consecutive requests to alternate workers.
 * - both workers serve, a sticky key lands on the same version through either, and `/metrics` and the status
 *   count every request once (the sum over the workers);
 * - a weight change, a rollout step and a rollback are in force on every worker once the API answers;
 * - a config reload (SIGHUP) reaches the workers;
 * - `kill -9` of a worker costs at most its own in-flight requests: the other serves on, the lost one is
 *   logged, counted and restarted; a hung worker (SIGSTOP) is detected by its silence, killed and restarted;
 * - the controller judges the merged windows of both workers (its canary count is their sum), and a
 *   failing canary is rolled back on them;
 * - a good canary is promoted to 100 % on them;
 * - SIGTERM drains the workers and exits 0.
 */
import t from 'tap';
import { get, type IncomingHttpHeaders } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { Pool } from 'undici';
import { startSampleUpstream } from '../demo/upstream.js';
import { stickyBucket, stickyThreshold } from '../proxy/index.js';
import { configYaml, spawnCanaryd, type CanarydProcess } from './helpers/canaryd.js';
import { testPatience } from './helpers/admin.js';

/** One GET on a fresh connection (no keep-alive): its status and the version that answered. */
function once(url: string, headers: Record<string, string> = {}): Promise<{ status: number; version: string }> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false, headers }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, version: String((res.headers as IncomingHttpHeaders)['x-canaryd-version']) }),
      );
    }).on('error', reject);
  });
}

async function json(p: CanarydProcess, method: string, path: string, body?: unknown): Promise<any> {
  const r = await fetch(p.adminUrl + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return JSON.parse(text);
}

/** Polls `fn` until it returns a value that is not undefined (bounded: 20 s × patience). */
async function until<T>(what: string, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 20_000 * testPatience();
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The sum of every sample of a counter family in the exposition text, optionally one version only. */
function counterSum(text: string, name: string, version?: string): number {
  let n = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (version && !line.includes(`version="${version}"`)) continue;
    n += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return n;
}

/** Waits until the workers' reports (every second) account for `total` requests; returns the status. */
async function statusWith(p: CanarydProcess, total: number): Promise<any> {
  return until(`status to count ${total} requests`, async () => {
    const s = await json(p, 'GET', '/api/v1/status');
    const sum = (s.workers as any[]).reduce((n, w) => n + w.requests, 0);
    return sum >= total ? s : undefined;
  });
}

async function versions(
  url: string,
  n: number,
  headers: (i: number) => Record<string, string> = () => ({}),
  anyStatus = false,
): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await once(url + '/', headers(i));
    if (r.status !== 200 && !anyStatus) throw new Error(`request ${i}: status ${r.status}`);
    out.push(r.version);
  }
  return out;
}

t.test('two workers: one split, one rollout, one /metrics, a lost worker restarted, a drain', async (t) => {
  const base = await startSampleUpstream({ name: 'baseline', latencyMs: 0 });
  const can = await startSampleUpstream({ name: 'canary', latencyMs: 0 });
  const p = await spawnCanaryd(
    configYaml(
      base.url,
      can.url,
      `workers: 2
routing: { canaryWeight: 30, sticky: { header: x-user } }
rollout: { steps: [50, 100], interval: 1h, analysisInterval: 200ms }
`,
    ),
  );
  t.teardown(async () => {
    p.child.kill('SIGKILL');
    await base.close();
    await can.close();
  });
  const started = await p.waitForLog((l) => l.event === 'started');
  t.equal((started.workers as unknown[]).length, 2, 'the started line names two workers');

  // a sticky key lands on the same version through either worker: the one the weight's bucket threshold says
  const keys = Array.from({ length: 150 }, (_, i) => `user-${i}`);
  let sent = 0;
  const seen: Record<string, number> = { baseline: 0, canary: 0 };
  for (const key of keys) {
    const [a, b] = await versions(p.url, 2, () => ({ 'x-user': key }));
    sent += 2;
    seen[a]++;
    seen[b]++;
    const expected = stickyBucket(key) < stickyThreshold(30) ? 'canary' : 'baseline';
    if (a !== expected || b !== expected) t.fail(`${key}: ${a} then ${b}, expected ${expected} twice`);
  }
  t.ok(seen.canary > 0 && seen.baseline > 0, `both versions served at 30 %: ${JSON.stringify(seen)}`);
  const s1 = await statusWith(p, sent);
  const perWorker = (s1.workers as any[]).map((w) => w.requests);
  t.ok(
    perWorker.every((n) => n > 0),
    `both workers served requests: ${perWorker.join(' + ')}`,
  );
  t.equal(
    perWorker.reduce((a, b) => a + b, 0),
    sent,
    'the workers served every request once',
  );
  t.equal(s1.versions.canary.requests.requests, seen.canary, 'status: canary requests as the client counted them');
  const m1 = await (await fetch(p.adminUrl + '/metrics')).text();
  t.equal(counterSum(m1, 'http_requests_total'), sent, '/metrics: http_requests_total is the sum over the workers');
  t.equal(counterSum(m1, 'http_requests_total', 'canary'), seen.canary, '/metrics: the canary share likewise');
  t.match(m1, /canary_traffic_percent\{version="canary"\} 30\n/, 'the weight gauge is the primary own (one series, not summed)');
  t.match(m1, /canaryd_worker_memory_bytes\{worker="1",kind="rss"\} \d+/, 'memory per worker');
  t.match(m1, /canaryd_worker_memory_bytes\{worker="2",kind="rss"\} \d+/);

  // a weight change is in force on every worker once the API has answered
  await json(p, 'PUT', '/api/v1/weights', { canary: 100 });
  t.same([...new Set(await versions(p.url, 20, (i) => ({ 'x-user': `w100-${i}` })))], ['canary'], 'weight 100: canary on both workers');
  await json(p, 'PUT', '/api/v1/weights', { canary: 0 });
  t.same([...new Set(await versions(p.url, 20, (i) => ({ 'x-user': `w0-${i}` })))], ['baseline'], 'weight 0: baseline on both workers');
  sent += 40;

  // a rollout's first step, judged on the merged windows of both workers, then a rollback: in force on
  // every worker when the API answers
  const canaryOf = (st: any) => (st.workers as any[]).map((w) => w.byVersion.canary as number);
  const beforeStep = canaryOf(await statusWith(p, sent));
  await json(p, 'POST', '/api/v1/rollout/start', {});
  // the controller judges whole windows from the step's start on: the step's requests go after that boundary
  const stepFrom = Math.ceil((await json(p, 'GET', '/api/v1/rollout')).stepStartedAt / 1000) * 1000;
  await until('the first whole window of the step', async () => (Date.now() >= stepFrom ? true : undefined));
  const step = await versions(p.url, 40, (i) => ({ 'x-user': `step-${i}` }));
  sent += 40;
  t.ok(step.includes('canary') && step.includes('baseline'), 'step 50 %: both versions');
  const stepCanary = step.filter((v) => v === 'canary').length;
  const perWorkerStep = canaryOf(await statusWith(p, sent)).map((n, i) => n - beforeStep[i]);
  t.ok(
    perWorkerStep.every((n) => n > 0),
    `both workers served canary requests in the step: ${perWorkerStep.join(' + ')}`,
  );
  // the weight was 0 before the step, so every canary request since is in the step's windows
  const judged = await until('the analysis to count every canary request of the step', async () => {
    const r = await fetch(p.adminUrl + '/api/v1/analysis');
    const n = r.status === 200 ? (((await r.json()) as any).arms?.canary?.requests as number) : -1;
    return n === stepCanary ? n : undefined;
  });
  t.equal(judged, stepCanary, `the controller judged ${judged} canary requests: the sum over the workers (${perWorkerStep.join(' + ')})`);
  await json(p, 'POST', '/api/v1/rollout/rollback', { reason: 'test' });
  t.same([...new Set(await versions(p.url, 40, (i) => ({ 'x-user': `rb-${i}` })))], ['baseline'], 'after the rollback: baseline only');
  sent += 40;
  const synced = await p.waitForLog((l) => l.event === 'workers_synced' && l.canaryWeight === 0 && (l.seq as number) > 3);
  t.same(synced.missing, [], 'every worker acked the rollback');

  // a reload reaches the workers: a new routing rule pins `x-force: 1` to the baseline, whatever the weight
  const yaml = readFileSync(p.configPath, 'utf8').replace(
    'routing: { canaryWeight: 30, sticky: { header: x-user } }',
    'routing: { canaryWeight: 0, sticky: { header: x-user }, rules: [{ name: force, match: { header: { x-force: "1" } }, to: baseline }] }',
  );
  writeFileSync(p.configPath, yaml);
  const logsBefore = p.logs.length;
  p.child.kill('SIGHUP');
  await p.waitForLog((l) => l.event === 'config_applied' && p.logs.indexOf(l) >= logsBefore);
  // the config push follows the applied line over IPC: poll until both workers route by the new rule
  await json(p, 'PUT', '/api/v1/weights', { canary: 100 });
  await until('the reloaded rule on both workers', async () => {
    const v = await versions(p.url, 6, (i) => ({ 'x-user': `f-${i}`, 'x-force': '1' }));
    sent += 6;
    return v.every((x) => x === 'baseline') ? true : undefined;
  });
  t.pass('the rule from the reloaded file routes on both workers');
  await json(p, 'PUT', '/api/v1/weights', { canary: 50 });

  // kill -9 of one worker under load: only its own in-flight requests fail; the other serves on
  const before = await statusWith(p, sent);
  const victim = (before.workers as any[]).find((w) => w.worker === 1);
  const pool = new Pool(p.url, { connections: 8 });
  const LOOPS = 8;
  let ok = 0;
  let failed = 0;
  let okWhileDown = 0;
  let killed = false;
  let restarted = false;
  let stop = false;
  const loops = Array.from({ length: LOOPS }, async (_, k) => {
    for (let i = 0; !stop && i < 20_000; i++) {
      try {
        const r = await pool.request({ path: `/k/${k}/${i}`, method: 'GET' });
        await r.body.dump();
        if (r.statusCode === 200) {
          ok++;
          if (killed && !restarted) okWhileDown++;
        } else failed++;
      } catch {
        failed++;
      }
    }
  });
  // the loops must end whatever happens below, or a failed wait leaves them hammering until tap's timeout
  t.teardown(() => {
    stop = true;
  });
  await until('load running', async () => (ok >= 300 ? true : undefined));
  process.kill(victim.pid, 'SIGKILL');
  killed = true;
  // bounded waits; and the victim may have been restarted before (a hung-worker kill on a loaded machine),
  // so its restart is the first worker_started after the kill with a higher count than status showed
  const restartsBefore = Number(victim.restarts ?? 0);
  const lost = await p.waitForLog((l) => l.event === 'worker_lost' && l.worker === 1, 30_000 * testPatience());
  const back = await p.waitForLog(
    (l) => l.event === 'worker_started' && l.worker === 1 && Number(l.restarts) > restartsBefore,
    30_000 * testPatience(),
  );
  restarted = true;
  const okAtRestart = ok;
  await until('load after the restart', async () => (ok >= okAtRestart + 300 ? true : undefined));
  stop = true;
  await Promise.all(loops);
  await pool.close();
  t.equal(lost.worker, 1);
  t.equal(lost.signal, 'SIGKILL', 'the loss is logged with its signal');
  t.not(back.pid, victim.pid, 'a new process in slot 1');
  t.ok(failed <= LOOPS, `at most the in-flight requests failed: ${failed} failed (≤ ${LOOPS} in flight), ${ok} succeeded`);
  t.ok(okWhileDown > 0, `requests kept succeeding through worker 2 while worker 1 was down (${okWhileDown})`);
  const m2 = await (await fetch(p.adminUrl + '/metrics')).text();
  t.equal(
    Number(/canaryd_worker_exits_total\{worker="1",reason="signal"\} (\d+)/.exec(m2)?.[1]),
    restartsBefore + 1,
    'the loss is counted',
  );
  const after = await json(p, 'GET', '/api/v1/status');
  const w1 = (after.workers as any[]).find((w) => w.worker === 1);
  t.equal(w1.restarts, restartsBefore + 1);
  t.equal(w1.state, 'up');

  // a hung worker (SIGSTOP: its event loop never runs) stops reporting: the primary kills it and starts another
  const w2 = ((await json(p, 'GET', '/api/v1/status')).workers as any[]).find((w) => w.worker === 2);
  process.kill(w2.pid, 'SIGSTOP');
  const hung = await p.waitForLog((l) => l.event === 'worker_hung' && l.worker === 2, 30_000);
  t.equal(hung.pid, w2.pid, 'the silent worker is named');
  const back2 = await p.waitForLog(
    (l) => l.event === 'worker_started' && l.worker === 2 && Number(l.restarts) > Number(w2.restarts ?? 0),
    30_000,
  );
  t.not(back2.pid, w2.pid, 'and replaced');
  t.equal((await versions(p.url, 10, (i) => ({ 'x-user': `h-${i}` }))).length, 10, 'requests are answered 200 after the restart');

  // SIGTERM: the primary drains the workers and exits 0
  p.child.kill('SIGTERM');
  t.equal(await p.exited, 0, 'drained and exited 0');
  t.ok(
    p.logs.some((l) => l.event === 'stopped' && l.cut === 0),
    'nothing cut',
  );
});

t.test('a failing canary is rolled back on the merged evidence of both workers', async (t) => {
  const base = await startSampleUpstream({ name: 'baseline', latencyMs: 2, errorRate: 0.002 });
  const can = await startSampleUpstream({ name: 'canary', latencyMs: 2, errorRate: 0.3 });
  const p = await spawnCanaryd(
    configYaml(
      base.url,
      can.url,
      `workers: 2
rollout:
  autoStart: true
  steps: [30, 60, 100]
  interval: 2s
  minRequests: 100
  analysisInterval: 500ms
  baseline: { maxDegradation: 1 }
  slo: { maxErrorRate: 0.05, minSuccessRate: 0.95, maxP95Ms: 2000, maxP99Ms: 4000 }
`,
    ),
  );
  const pool = new Pool(p.url, { connections: 16 });
  let stop = false;
  t.teardown(async () => {
    stop = true;
    await pool.close().catch(() => undefined);
    p.child.kill('SIGKILL');
    await base.close();
    await can.close();
  });
  const load = (async () => {
    for (let n = 0; !stop && n < 200_000;) {
      await Promise.all(
        Array.from({ length: 16 }, () =>
          pool.request({ path: `/items/${n++ % 20}`, method: 'GET' }).then(
            (r) => r.body.dump(),
            () => undefined,
          ),
        ),
      );
    }
  })();
  const decision = await p.waitForLog((l) => l.event === 'decision' && l.action === 'ROLLBACK', 60_000);
  stop = true;
  await load;
  t.ok(decision, 'rolled back');
  const rollbacks = (await json(p, 'GET', '/api/v1/rollbacks')).rollbacks as any[];
  t.equal(rollbacks[0]?.source, 'analysis', 'by the analysis');
  // the primary proxies nothing itself: the only evidence it has is the workers' merged windows
  const d = ((await json(p, 'GET', '/api/v1/decisions')).decisions as any[]).find((x) => x.action === 'ROLLBACK');
  const s = await json(p, 'GET', '/api/v1/status');
  const perWorker = (s.workers as any[]).map((w) => w.byVersion.canary as number);
  t.comment(`canary requests judged ${d.report.arms.canary.requests}; served per worker (to the end of the load) ${perWorker.join(', ')}`);
  t.ok(
    perWorker.every((n) => n > 0),
    'both workers served the canary',
  );
  // (the baseline answers 500 to 0.2 % of requests: the version is what counts here)
  t.same([...new Set(await versions(p.url, 20, () => ({}), true))], ['baseline'], 'all traffic back on baseline, on both workers');
});

t.test('a good canary is promoted to 100 % on the merged evidence of both workers', async (t) => {
  const base = await startSampleUpstream({ name: 'baseline', latencyMs: 2 });
  const can = await startSampleUpstream({ name: 'canary', latencyMs: 2 });
  const p = await spawnCanaryd(
    configYaml(
      base.url,
      can.url,
      `workers: 2
rollout:
  autoStart: true
  steps: [30, 60, 100]
  interval: 2s
  minRequests: 100
  analysisInterval: 500ms
  baseline: { maxDegradation: 1 }
  slo: { maxErrorRate: 0.05, minSuccessRate: 0.95, maxP95Ms: 2000, maxP99Ms: 4000 }
`,
    ),
  );
  const pool = new Pool(p.url, { connections: 16 });
  let stop = false;
  t.teardown(async () => {
    stop = true;
    await pool.close().catch(() => undefined);
    p.child.kill('SIGKILL');
    await base.close();
    await can.close();
  });
  const load = (async () => {
    for (let n = 0; !stop && n < 400_000;) {
      await Promise.all(
        Array.from({ length: 16 }, () =>
          pool.request({ path: `/items/${n++ % 20}`, method: 'GET', headers: { 'x-user-id': `u${n % 500}` } }).then(
            (r) => r.body.dump(),
            () => undefined,
          ),
        ),
      );
    }
  })();
  await p.waitForLog((l) => l.event === 'decision' && !l.dryRun && l.action === 'PROMOTE' && l.canaryWeight === 100, 90_000);
  stop = true;
  await load;
  const ro = await json(p, 'GET', '/api/v1/rollout');
  t.equal(ro.phase, 'promoted');
  const s = await json(p, 'GET', '/api/v1/status');
  t.ok(
    (s.workers as any[]).every((w) => w.byVersion.canary > 0),
    'both workers served the canary on the way',
  );
  t.same([...new Set(await versions(p.url, 10))], ['canary'], 'all traffic on canary, on both workers');
});
