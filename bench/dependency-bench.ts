/**
 * The dependency relay's overhead: redis-benchmark against redis-server directly and through a
 * DependencyRelay (no fault), side by side in one run, alternating direct/relay rounds so load drifts hit
 * both. Two shapes: small GET/SET with 50 clients, no pipelining (latency: p50/p99 added), and 16 KiB
 * SET/GET pipelined 16 deep (throughput in MB/s). `npm run bench:dependencies`; needs redis-server and
 * redis-benchmark (Debian's redis-server package). Prints one markdown table.
 */
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { loadavg, cpus } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { Registry } from 'prom-client';
import { DependencyRelay } from '../proxy/index.js';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const silent = { info() {}, warn() {}, error() {} };

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}`))));
  });
}

interface Row {
  test: string;
  rps: number;
  p50: number;
  p99: number;
}

/** redis-benchmark --csv: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms" */
async function bench(port: number, shape: { n: number; c: number; d: number; P: number }): Promise<Row[]> {
  const out = await run('redis-benchmark', [
    '-h',
    '127.0.0.1',
    '-p',
    String(port),
    '-t',
    'set,get',
    '-n',
    String(shape.n),
    '-c',
    String(shape.c),
    '-d',
    String(shape.d),
    '-P',
    String(shape.P),
    '--csv',
  ]);
  return out
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(',').map((x) => x.replace(/"/g, '')))
    .map((f) => ({ test: f[0], rps: Number(f[1]), p50: Number(f[4]), p99: Number(f[6]) }));
}

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'canaryd-bench-redis-'));
  const port = await freePort();
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  await new Promise<void>((r) => redis.stdout!.on('data', (d) => /Ready to accept/.test(String(d)) && r()));
  const relay = new DependencyRelay({
    dependencies: [
      { name: 'redis', upstream: `127.0.0.1:${port}`, listen: '127.0.0.1:0', tls: 'none', connectTimeout: 5000, maxConnections: 1024 },
    ],
    registry: new Registry(),
    log: silent,
  });
  await relay.start();
  const relayPort = Number(relay.address('redis')!.split(':').pop());
  const shapes = {
    'small, 50 clients': { n: 100_000, c: 50, d: 64, P: 1 },
    '16 KiB, pipelined 16': { n: 20_000, c: 8, d: 16_384, P: 16 },
  };
  const results: Record<string, Record<string, Record<'direct' | 'relay', Row[]>>> = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, shape] of Object.entries(shapes)) {
      for (const target of round % 2 === 0 ? (['direct', 'relay'] as const) : (['relay', 'direct'] as const)) {
        const rows = await bench(target === 'direct' ? port : relayPort, shape);
        for (const r of rows) {
          ((results[name] ??= {})[r.test] ??= { direct: [], relay: [] })[target].push(r);
        }
      }
    }
  }
  console.log(
    `${cpus().length} × ${cpus()[0]?.model}, load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(
        ' ',
      )}; ${execFileSync('redis-server', ['--version']).toString().trim().split(' ').slice(0, 3).join(' ')}; node ${process.version}; ${ROUNDS} rounds, medians`,
  );
  console.log('');
  console.log(
    '| shape | test | direct req/s | relay req/s | ratio | direct MB/s | relay MB/s | direct p50 ms | relay p50 ms | added p50 µs | direct p99 ms | relay p99 ms |',
  );
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const [name, tests] of Object.entries(results)) {
    const d = shapes[name as keyof typeof shapes].d;
    for (const [test, r] of Object.entries(tests)) {
      const [a, b] = [r.direct, r.relay];
      const ra = med(a.map((x) => x.rps));
      const rb = med(b.map((x) => x.rps));
      const pa = med(a.map((x) => x.p50));
      const pb = med(b.map((x) => x.p50));
      console.log(
        `| ${name} | ${test} | ${Math.round(ra)} | ${Math.round(rb)} | ${(rb / ra).toFixed(2)} | ${((ra * d) / 1e6).toFixed(1)} | ${((rb * d) / 1e6).toFixed(1)} | ${pa.toFixed(3)} | ${pb.toFixed(3)} | ${Math.round((pb - pa) * 1000)} | ${med(a.map((x) => x.p99)).toFixed(3)} | ${med(b.map((x) => x.p99)).toFixed(3)} |`,
      );
    }
  }
  await relay.stop();
  redis.kill('SIGTERM');
  await new Promise((r) => redis.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}

await main();
