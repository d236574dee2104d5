/**
 * Resets across a graceful drain (issue 11, item 10): a real canaryd process (the CLI) in front of a
 * node:http upstream, ~1,000 req/s of keep-alive traffic from an undici Agent, SIGTERM in the middle, and
 * the load kept up until the process has exited. Every request ends as one of:
 *   ok        an answer (any status; 503s are counted apart)
 *   reset     the connection broke under a request already sent (ECONNRESET, "other side closed"): the
 *             failure a drain must not cause — the target is 0
 *   refused   a NEW connection refused once the listener had closed (after shutdown.settle): what a load
 *             balancer that has seen /readyz fail never sends; reported, not a drain failure
 * With --lb 1 (the default) the load generator behaves like a load balancer: it probes the admin /readyz
 * every 200 ms and sends no new request once it fails (canaryd keeps accepting for shutdown.settle, 2 s,
 * so the balancer has moved before the listener closes). With --lb 0 it never stops: new connections keep
 * arriving when the listener closes, and the kernel resets those still in the accept queue.
 * Usage: node dist/bench/drain-bench.js [--runs 10] [--rate 1000] [--connections 20] [--lb 1] [--pending 2000]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

const RUNS = arg('runs', 10);
const RATE = arg('rate', 1000);
const CONNECTIONS = arg('connections', 20);
const LB = arg('lb', 1) === 1;
/** requests the client keeps in flight at most (--pending): open-loop pacing, but no unbounded client queue */
const MAX_PENDING = arg('pending', 2000);
const BEFORE_MS = 1500; // load before SIGTERM

interface RunResult {
  ok: number;
  status503: number;
  reset: number;
  refused: number;
  other: number;
  exit: number | null;
  drainMs: number;
  kinds: Record<string, number>;
  /** answers per second in the load before SIGTERM (what the machine sustained) */
  achievedRate: number;
}

async function upstream(): Promise<{ url: string; close: () => void }> {
  const server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => (server.closeAllConnections(), server.close()),
  };
}

async function startCanaryd(
  base: string,
): Promise<{ url: string; adminUrl: string; child: ReturnType<typeof spawn>; exited: Promise<number | null> }> {
  const dir = mkdtempSync(join(tmpdir(), 'canaryd-drain-bench-'));
  const file = join(dir, 'canaryd.yaml');
  writeFileSync(
    file,
    `listen: 127.0.0.1:0\nadmin: { listen: "127.0.0.1:0" }\nupstreams:\n  baseline: { url: "${base}" }\n  canary: { url: "${base}" }\nstate: { dir: "${dir}" }\nlog: { level: info, accessLogSampleRate: 0 }\nshutdown: { drainTimeout: 10s }\n`,
  );
  const child = spawn(process.execPath, ['dist/cli/canaryd.js', '--config', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  const [url, adminUrl] = await new Promise<[string, string]>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = /"event":"started","proxy":\{"host":"[^"]+","port":(\d+)\},"admin":\{"host":"[^"]+","port":(\d+)\}/.exec(buf);
      if (m) resolve([`http://127.0.0.1:${m[1]}`, `http://127.0.0.1:${m[2]}`]);
    });
    void exited.then((c) => reject(new Error(`canaryd exited ${c} before starting`)));
  });
  child.stdout!.resume();
  return { url, adminUrl, child, exited };
}

function classify(e: unknown): 'reset' | 'refused' | 'other' {
  const code = (e as { code?: string }).code ?? '';
  const cause = (e as { cause?: { code?: string } }).cause?.code ?? '';
  if (code === 'ECONNREFUSED' || cause === 'ECONNREFUSED') return 'refused';
  if (code === 'ECONNRESET' || cause === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE') return 'reset';
  return 'other';
}

async function run(): Promise<RunResult> {
  const up = await upstream();
  const c = await startCanaryd(up.url);
  const agent = new Agent({ connections: CONNECTIONS, keepAliveTimeout: 30_000 });
  const r: RunResult = { ok: 0, status503: 0, reset: 0, refused: 0, other: 0, exit: null, drainMs: 0, kinds: {}, achievedRate: 0 };
  let exitedAt = 0;
  let exited = false;
  void c.exited.then((code) => {
    exited = true;
    exitedAt = performance.now();
    r.exit = code;
  });
  const pending = new Set<Promise<void>>();
  const one = () => {
    const p = request(`${c.url}/`, { dispatcher: agent })
      .then(async (res) => {
        await res.body.dump();
        if (res.statusCode === 503) r.status503++;
        else r.ok++;
      })
      .catch((e: unknown) => {
        const kind = classify(e);
        r[kind]++;
        const key = `${kind}:${(e as { code?: string }).code ?? (e as Error).message}`;
        r.kinds[key] = (r.kinds[key] ?? 0) + 1;
      })
      .finally(() => pending.delete(p));
    pending.add(p);
  };
  const tickMs = 10;
  const perTick = Math.max(1, Math.round((RATE * tickMs) / 1000));
  const start = performance.now();
  let signalled = 0;
  let balancedAway = false; // the balancer saw /readyz fail: no new requests
  let probing = false;
  let lastProbe = 0;
  // paced open-loop load, bounded: at most 30 s of ticks
  for (let tick = 0; tick < 3000; tick++) {
    const now = performance.now();
    if (signalled === 0 && now - start >= BEFORE_MS) {
      c.child.kill('SIGTERM');
      signalled = now;
      r.achievedRate = Math.round((r.ok * 1000) / (now - start));
    }
    if (exited && now - exitedAt > 200) break;
    if (LB && signalled > 0 && !probing && now - lastProbe >= 200) {
      probing = true;
      lastProbe = now;
      fetch(`${c.adminUrl}/readyz`)
        .then((res) => {
          if (res.status !== 200) balancedAway = true;
          return res.arrayBuffer();
        })
        .catch(() => (balancedAway = true))
        .finally(() => (probing = false));
    }
    if (LB && balancedAway && pending.size === 0 && exited) break;
    if (!balancedAway && pending.size < MAX_PENDING) for (let i = 0; i < perTick; i++) one();
    const next = start + (tick + 1) * tickMs;
    await new Promise((res) => setTimeout(res, Math.max(0, next - performance.now())));
  }
  await Promise.all([...pending]);
  r.drainMs = Math.round(exitedAt - signalled);
  await agent.close();
  up.close();
  return r;
}

const results: RunResult[] = [];
for (let i = 0; i < RUNS; i++) {
  const r = await run();
  results.push(r);
  console.log(
    `run ${i + 1}: ok ${r.ok}, 503 ${r.status503}, resets ${r.reset}, refused-after-close ${r.refused}, other ${r.other}, exit ${r.exit}, SIGTERM->exit ${r.drainMs} ms, answered ${r.achievedRate} req/s before SIGTERM ${JSON.stringify(r.kinds)}`,
  );
}
const sum = (k: 'ok' | 'status503' | 'reset' | 'refused' | 'other') => results.reduce((a, r) => a + r[k], 0);
console.log(
  `\n${LB ? 'with' : 'without'} a balancer probing /readyz: ${RUNS} drains at ${RATE} req/s over ${CONNECTIONS} keep-alive connections: ok ${sum('ok')}, 503 ${sum('status503')}, RESETS ${sum('reset')}, refused after close ${sum('refused')}, other ${sum('other')}; exit codes ${results.map((r) => r.exit).join(',')}`,
);
