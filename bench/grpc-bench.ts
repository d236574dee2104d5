/**
 * gRPC unary: the latency canaryd adds, against the direct path, side by side in one run. One grpc-js echo
 * server (a child process of its own), one canaryd process in front of it (both upstreams `http2: true`,
 * h2c), and this process as the client: one grpc-js channel straight to the server and one through
 * canaryd. Load is open-loop at RATE calls/s (a batch every 10 ms, not waiting for answers), in rounds
 * that alternate the path (A B B A ...), so drift and the neighbours' load on a shared machine fall on
 * both; latencies are pooled per path. Reports p50/p90/p99 per path, canaryd's added p50/p99, and canaryd's
 * CPU per 1,000 calls (from /proc). Bounded: ROUNDS × SECONDS plus a warm-up; traffic only to 127.0.0.1.
 *
 *   npm run bench:grpc     (GRPC_BENCH_ROUNDS=6 GRPC_BENCH_SECONDS=4 GRPC_BENCH_RATE=1000)
 */
import { fork, type ChildProcess } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { configYaml, spawnCanaryd } from '../test/helpers/canaryd.js';
import { cpuSeconds } from './procstat.js';
import { echoClient, startEchoServer, unary, type EchoClientInstance } from '../test/helpers/grpc.js';

const ROUNDS = Number(process.env.GRPC_BENCH_ROUNDS ?? 6);
const SECONDS = Number(process.env.GRPC_BENCH_SECONDS ?? 4);
const RATE = Number(process.env.GRPC_BENCH_RATE ?? 1000);
const TICK_MS = 10;

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** RATE calls/s for `seconds`, open-loop; resolves with each answered call's latency (ms) and the errors. */
async function drive(client: EchoClientInstance, seconds: number): Promise<{ lat: number[]; errors: number }> {
  const lat: number[] = [];
  let errors = 0;
  const perTick = Math.max(1, Math.round((RATE * TICK_MS) / 1000));
  const pending: Promise<void>[] = [];
  const end = performance.now() + seconds * 1000;
  let next = performance.now();
  while (performance.now() < end) {
    for (let i = 0; i < perTick; i++) {
      const t0 = performance.now();
      pending.push(
        unary(client, 'ping', { deadlineMs: 5000 }).then((r) => {
          if (r.error === null) lat.push(performance.now() - t0);
          else errors++;
        }),
      );
    }
    next += TICK_MS;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await Promise.all(pending);
  return { lat, errors };
}

async function main(): Promise<void> {
  const server: ChildProcess = fork(fileURLToPath(import.meta.url), ['--server'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve) => server.once('message', (m: { port: number }) => resolve(m.port)));
  const up = `http://127.0.0.1:${port}`;
  const yaml = configYaml(up, up, 'log: { level: info, accessLogSampleRate: 0 }')
    .replace('log: { level: silent }\n', '')
    .replace(/version: v(\d) \}/g, 'version: v$1, http2: true }');
  const canaryd = await spawnCanaryd(yaml);
  const proxyPort = new URL(canaryd.url).port;
  const direct = echoClient(`127.0.0.1:${port}`);
  const via = echoClient(`127.0.0.1:${proxyPort}`);
  try {
    await drive(direct, 1);
    await drive(via, 1); // warm-up: connections, JIT
    const pooled = { direct: [] as number[], canaryd: [] as number[] };
    const errors = { direct: 0, canaryd: 0 };
    let cpu = 0;
    let viaCalls = 0;
    const perRound: string[] = [];
    const load0 = loadavg()[0];
    for (let r = 0; r < ROUNDS; r++) {
      for (const path of r % 2 === 0 ? (['direct', 'canaryd'] as const) : (['canaryd', 'direct'] as const)) {
        const c0 = path === 'canaryd' ? cpuSeconds(canaryd.child.pid!) : null;
        const res = await drive(path === 'direct' ? direct : via, SECONDS);
        if (c0 !== null) {
          cpu += cpuSeconds(canaryd.child.pid!) - c0;
          viaCalls += res.lat.length + res.errors;
        }
        pooled[path].push(...res.lat);
        errors[path] += res.errors;
        const s = res.lat.slice().sort((a, b) => a - b);
        perRound.push(
          `round ${r + 1} ${path}: p50 ${quantile(s, 0.5).toFixed(2)} ms, p99 ${quantile(s, 0.99).toFixed(2)} ms, load ${loadavg()[0].toFixed(1)}`,
        );
      }
    }
    const load1 = loadavg()[0];
    const rows: string[] = [];
    const q = (xs: number[]) => {
      const s = xs.slice().sort((a, b) => a - b);
      return { n: s.length, p50: quantile(s, 0.5), p90: quantile(s, 0.9), p99: quantile(s, 0.99) };
    };
    const d = q(pooled.direct);
    const c = q(pooled.canaryd);
    const f = (x: number) => x.toFixed(2);
    rows.push(`| path | calls | errors | p50 ms | p90 ms | p99 ms |`, `|---|---:|---:|---:|---:|---:|`);
    rows.push(`| direct | ${d.n} | ${errors.direct} | ${f(d.p50)} | ${f(d.p90)} | ${f(d.p99)} |`);
    rows.push(`| through canaryd | ${c.n} | ${errors.canaryd} | ${f(c.p50)} | ${f(c.p90)} | ${f(c.p99)} |`);
    rows.push(`| **added by canaryd** | | | **${f(c.p50 - d.p50)}** | ${f(c.p90 - d.p90)} | **${f(c.p99 - d.p99)}** |`);
    console.log(
      `gRPC unary, ${RATE} calls/s open-loop, ${ROUNDS} rounds × ${SECONDS} s per path (alternating), load average ${load0.toFixed(1)} → ${load1.toFixed(1)}`,
    );
    console.log(rows.join('\n'));
    console.log(perRound.join('\n'));
    if (viaCalls > 0)
      console.log(
        `canaryd CPU: ${((cpu * 1000) / (viaCalls / 1000)).toFixed(1)} ms per 1,000 calls (${cpu.toFixed(2)} CPU-s for ${viaCalls} calls)`,
      );
  } finally {
    direct.close();
    via.close();
    canaryd.child.kill('SIGTERM');
    server.kill('SIGTERM');
  }
}

// last: main() reads the constants above
if (process.argv[2] === '--server') {
  const s = await startEchoServer({ name: 'bench' });
  process.send!({ port: s.port });
} else await main();
