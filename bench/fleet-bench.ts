/**
 * Fleet mode bench (`npm run bench:fleet`), one run, figures side by side:
 *  1. Redis load: commands per second per replica (counted by each replica's client, and by redis-server's
 *     own total_commands_processed) with a fleet of N = 1, 3, 10 replicas, idle and under load (a paced
 *     ~1k req/s loop, then wrk flat out), plus the leader's and a follower's CPU per second.
 *  2. Decision to applied: a weight set on the leader, until every follower applies it (each replica logs
 *     the change with its timestamp; same host, same clock): p50 / p99 over the cycles.
 *  3. Hot path cost: CPU per request of canaryd with `fleet` against canaryd without, paired (both loaded
 *     at once, pinned to the same core, so the machine's other load hits both alike).
 * The machine is shared (8 agents on 2 cores): absolute numbers are inflated; ratios are what to read.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { cpuSeconds } from './procstat.js';
import { freePort, startCanaryd, startNodeUpstream, type Target } from './targets.js';
import { ensureWrk, runWrk, writeWrkScript } from './wrk.js';
import { pairedRounds } from './paired.js';

const dir = mkdtempSync(join(tmpdir(), 'canaryd-fleet-bench-'));
const QUICK = process.argv.includes('--quick');

interface Replica {
  name: string;
  url: string;
  admin: string;
  child: ChildProcess;
  log: string;
}

async function startRedis(): Promise<{ port: number; child: ChildProcess; cli(...a: string[]): Promise<string> }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: 'ignore',
  });
  const cli = (...a: string[]) =>
    new Promise<string>((resolve) => {
      const c = spawn('redis-cli', ['-p', String(port), ...a]);
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.on('close', () => resolve(out));
    });
  for (let i = 0; i < 100 && !(await cli('ping')).includes('PONG'); i++) await sleep(100);
  return { port, child, cli };
}

async function startReplica(name: string, upstream: string, redisPort: number, service: string): Promise<Replica> {
  const port = await freePort();
  const admin = await freePort();
  const conf = join(dir, `${service}-${name}.yaml`);
  const log = join(dir, `${service}-${name}.log`);
  writeFileSync(
    conf,
    `listen: 127.0.0.1:${port}
admin: { listen: 127.0.0.1:${admin} }
upstreams:
  baseline: { url: ${upstream}, version: v1 }
  canary: { url: ${upstream}, version: v2 }
routing: { sticky: { header: x-user-id } }
state: { dir: "${join(dir, `${service}-${name}-state`)}" }
log: { level: info, accessLogSampleRate: 0 }
fleet: { redis: "redis://127.0.0.1:${redisPort}", service: ${service}, replica: ${name} }
`,
  );
  const child = spawn(process.execPath, ['dist/cli/canaryd.js', '--config', conf], {
    stdio: ['ignore', openSync(log, 'a'), openSync(log, 'a')],
  });
  const r = { name, url: `http://127.0.0.1:${port}/`, admin: `http://127.0.0.1:${admin}`, child, log };
  for (let i = 0; i < 600; i++) {
    try {
      const res = await request(r.admin + '/healthz');
      await res.body.dump();
      if (res.statusCode === 200) return r;
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  throw new Error(`replica ${name} did not start; see ${log}`);
}

async function fleetStatus(r: Replica): Promise<{ leading: boolean; redisCommandsSent: number }> {
  const res = await request(r.admin + '/api/v1/fleet');
  return (await res.body.json()) as { leading: boolean; redisCommandsSent: number };
}

async function stopAll(rs: Replica[]): Promise<void> {
  await Promise.all(
    rs.map(
      (r) => new Promise<void>((res) => (r.child.exitCode !== null ? res() : (r.child.once('exit', () => res()), r.child.kill('SIGTERM')))),
    ),
  );
}

/** A paced request loop at ~rps over the replicas for ms (bounded: stops at the deadline). */
async function paced(rs: Replica[], rps: number, ms: number): Promise<number> {
  const end = Date.now() + ms;
  let sent = 0;
  const tickMs = 20;
  while (Date.now() < end) {
    const t0 = Date.now();
    const batch = Math.round((rps * tickMs) / 1000);
    await Promise.all(
      Array.from({ length: batch }, (_, i) =>
        request(rs[(sent + i) % rs.length].url, { headers: { 'x-user-id': `u${(sent + i) % 1000}` } }).then(
          (r) => r.body.dump(),
          () => undefined,
        ),
      ),
    );
    sent += batch;
    await sleep(Math.max(0, tickMs - (Date.now() - t0)));
  }
  return sent;
}

interface LoadRow {
  n: number;
  load: string;
  reqPerSec: number;
  clientOpsPerReplica: number;
  serverOpsPerReplica: number;
  leaderCpuMsPerSec: number;
  followerCpuMsPerSec: number | null;
}

async function redisLoad(upstream: string, ns: number[]): Promise<LoadRow[]> {
  const rows: LoadRow[] = [];
  const redis = await startRedis();
  const windowMs = QUICK ? 5000 : 10_000;
  for (const n of ns) {
    const rs: Replica[] = [];
    for (let i = 0; i < n; i++) rs.push(await startReplica(`r${i}`, upstream, redis.port, `ops${n}`));
    await sleep(3000); // a leader, steady beats
    let leader = rs[0];
    for (const r of rs) if ((await fleetStatus(r)).leading) leader = r;
    const follower = rs.find((r) => r !== leader) ?? null;
    const loads: Array<[string, () => Promise<number>]> = [
      ['idle', async () => (await sleep(windowMs), 0)],
      ['paced ~1k req/s', () => paced(rs, 1000, windowMs)],
      [
        'wrk flat out',
        async () =>
          (await Promise.all(rs.map((r) => runWrk({ url: r.url, connections: 8, durationSec: windowMs / 1000 })))).reduce(
            (a, w) => a + w.requests,
            0,
          ),
      ],
    ];
    for (const [name, run] of loads) {
      if (name === 'wrk flat out' && n > 3) continue; // 10 wrk + 10 proxies on 2 cores says nothing more
      const c0 = await Promise.all(rs.map(fleetStatus));
      const s0 = Number(/total_commands_processed:(\d+)/.exec(await redis.cli('info', 'stats'))![1]);
      const cpu0 = [cpuSeconds(leader.child.pid!), follower ? cpuSeconds(follower.child.pid!) : 0];
      const t0 = Date.now();
      const sent = await run();
      const secs = (Date.now() - t0) / 1000;
      const c1 = await Promise.all(rs.map(fleetStatus));
      const s1 = Number(/total_commands_processed:(\d+)/.exec(await redis.cli('info', 'stats'))![1]);
      const cpu1 = [cpuSeconds(leader.child.pid!), follower ? cpuSeconds(follower.child.pid!) : 0];
      const client = c1.reduce((a, s, i) => a + s.redisCommandsSent - c0[i].redisCommandsSent, 0);
      rows.push({
        n,
        load: name,
        reqPerSec: Math.round(sent / secs),
        clientOpsPerReplica: client / n / secs,
        serverOpsPerReplica: (s1 - s0 - 3) / n / secs, // less our own INFO calls
        leaderCpuMsPerSec: ((cpu1[0] - cpu0[0]) * 1000) / secs,
        followerCpuMsPerSec: follower ? ((cpu1[1] - cpu0[1]) * 1000) / secs : null,
      });
      const r = rows[rows.length - 1];
      console.log(
        `N=${n} ${name}: ${r.reqPerSec} req/s, Redis cmds/s per replica ${r.clientOpsPerReplica.toFixed(1)} (client) ${r.serverOpsPerReplica.toFixed(1)} (server), leader CPU ${r.leaderCpuMsPerSec.toFixed(0)} ms/s`,
      );
    }
    await stopAll(rs);
  }
  redis.child.kill('SIGTERM');
  return rows;
}

function logLines(file: string): Array<Record<string, unknown>> {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function decisionToApplied(upstream: string, cycles: number): Promise<number[]> {
  const redis = await startRedis();
  const rs: Replica[] = [];
  for (let i = 0; i < 3; i++) rs.push(await startReplica(`d${i}`, upstream, redis.port, 'lag'));
  await sleep(3000);
  let leader = rs[0];
  for (const r of rs) if ((await fleetStatus(r)).leading) leader = r;
  for (let i = 1; i <= cycles; i++) {
    const res = await request(leader.admin + '/api/v1/weights', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ canary: i % 2 === 0 ? 20 : 10 }),
    });
    await res.body.dump();
    await sleep(150);
  }
  await sleep(1500);
  await stopAll(rs);
  redis.child.kill('SIGTERM');
  const changes = (r: Replica) =>
    logLines(r.log)
      .filter((l) => l.event === 'weights')
      .map((l) => Number(l.time));
  const lead = changes(leader);
  const others = rs.filter((r) => r !== leader).map(changes);
  const lags: number[] = [];
  lead.forEach((t, i) => {
    const applied = others.map((o) => o[i]);
    if (applied.every((x) => x !== undefined)) lags.push(Math.max(...applied) - t);
  });
  return lags.sort((a, b) => a - b);
}

function pct(xs: number[], p: number): number {
  return xs[Math.min(xs.length - 1, Math.floor(p * xs.length))];
}

async function hotPath(upstream: Target, redisPort: number): Promise<{ ratios: number[] }> {
  ensureWrk();
  const script = writeWrkScript(dir);
  const plain = await startCanaryd(dir, '0', upstream.url, [], 'canaryd-plain');
  const fleet = await startCanaryd(
    dir,
    '0',
    upstream.url,
    [],
    'canaryd-fleet',
    'dist/cli/canaryd.js',
    `fleet: { redis: "redis://127.0.0.1:${redisPort}", service: hot }\n`,
  );
  try {
    const [r] = await pairedRounds(fleet, [plain], {
      rounds: QUICK ? 2 : 4,
      durationSec: QUICK ? 4 : 8,
      connections: 16,
      loadCpus: '1',
      script,
    });
    return { ratios: r.ratios };
  } finally {
    await plain.stop();
    await fleet.stop();
  }
}

async function main(): Promise<void> {
  const upstream = await startNodeUpstream(dir, '1');
  try {
    console.log(
      `# fleet bench (${QUICK ? 'quick' : 'full'}); load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
    );
    const lags = await decisionToApplied(upstream.url, QUICK ? 20 : 60);
    console.log(
      `decision to applied on every follower (3 replicas, ${lags.length} weight changes): p50 ${pct(lags, 0.5)} ms, p99 ${pct(lags, 0.99)} ms, max ${lags[lags.length - 1]} ms`,
    );
    const redis = await startRedis();
    const hot = await hotPath(upstream, redis.port);
    redis.child.kill('SIGTERM');
    const eff = hot.ratios.map((r) => 1 / r);
    console.log(`hot path: requests per CPU-second with fleet / without, per round: ${eff.map((e) => e.toFixed(3)).join(', ')}`);
    const rows = await redisLoad(upstream.url, QUICK ? [1, 3] : [1, 3, 10]);
    console.log(
      '\n| N | load | req/s (all) | Redis cmds/s per replica (client) | (server) | leader CPU ms/s | follower CPU ms/s |\n|---|---|---|---|---|---|---|',
    );
    for (const r of rows)
      console.log(
        `| ${r.n} | ${r.load} | ${r.reqPerSec} | ${r.clientOpsPerReplica.toFixed(1)} | ${r.serverOpsPerReplica.toFixed(1)} | ${r.leaderCpuMsPerSec.toFixed(0)} | ${r.followerCpuMsPerSec === null ? '-' : r.followerCpuMsPerSec.toFixed(0)} |`,
      );
  } finally {
    await upstream.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
