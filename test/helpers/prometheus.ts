/**
 * A real Prometheus (the Debian binary) for the tests of docs/prometheus.md: started in a temp dir on a free
 * 127.0.0.1 port, scraping the given targets every second, torn down with the test. Plus a test exporter
 * whose series a test sets and changes, and a polling helper (waits on conditions, never fixed sleeps).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TapTest } from './admin.js';

export const PROMETHEUS = '/usr/bin/prometheus';

export async function freePort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Polls `cond` every 200 ms until it gives a truthy value; fails after `timeoutMs` (a bound, not a measurement). */
export async function until<T>(cond: () => Promise<T> | T, timeoutMs: number, what: string): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface RunningPrometheus {
  url: string;
  /** instant query; the raw API body */
  query(expr: string): Promise<{
    status: string;
    error?: string;
    data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
  }>;
  /** the first series' value, null when empty or NaN */
  value(expr: string): Promise<number | null>;
  /** SIGKILL, for the tests of a Prometheus that goes away */
  kill(): Promise<void>;
}

export interface PrometheusOptions {
  /** scrape targets, host:port, each its own job */
  targets: Record<string, string>;
  /** extra prometheus.yml text (rule_files, ...) */
  extra?: string;
}

export async function startPrometheus(t: TapTest, o: PrometheusOptions): Promise<RunningPrometheus> {
  if (!existsSync(PROMETHEUS)) throw new Error(`${PROMETHEUS} not found: install the Debian package prometheus (npm test's pretest does)`);
  const dir = mkdtempSync(join(tmpdir(), 'canaryd-prom-'));
  const jobs = Object.entries(o.targets)
    .map(([job, target]) => `  - job_name: ${job}\n    static_configs: [{ targets: ["${target}"] }]`)
    .join('\n');
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global: { scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s }\nscrape_configs:\n${jobs}\n${o.extra ?? ''}`,
  );
  const port = await freePort();
  const child: ChildProcess = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  let exited = false;
  const exit = new Promise<void>((r) => child.once('exit', () => ((exited = true), r())));
  const stop = async (signal: NodeJS.Signals) => {
    if (exited) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exit;
    clearTimeout(timer);
  };
  t.teardown(async () => {
    await stop('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}`;
  await until(
    async () => {
      if (exited) throw new Error(`prometheus exited: ${stderr}`);
      const r = await fetch(`${url}/-/ready`).catch(() => null);
      if (r === null) return false;
      await r.arrayBuffer();
      return r.status === 200;
    },
    90_000,
    'prometheus ready',
  );
  const query: RunningPrometheus['query'] = async (expr) =>
    (await (await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`)).json()) as Awaited<
      ReturnType<RunningPrometheus['query']>
    >;
  return {
    url,
    query,
    async value(expr) {
      const b = await query(expr);
      if (b.status !== 'success') throw new Error(`query failed: ${expr}: ${b.error}`);
      const v = b.data?.result[0]?.value[1];
      return v === undefined || v === 'NaN' ? null : Number(v);
    },
    kill: () => stop('SIGKILL'),
  };
}

/** An exporter of the test's own series: `set('checkout_success_ratio{version="v2"}', 0.8)`; text format at /metrics. */
export async function startExporter(
  t: TapTest,
  help: Record<string, string> = {},
): Promise<{ target: string; set(series: string, value: number | (() => number)): void; server: Server }> {
  const series = new Map<string, number | (() => number)>();
  const server = createServer((req, res) => {
    req.resume();
    const byName = new Map<string, string[]>();
    for (const [s, v] of series) {
      const name = s.split('{')[0];
      byName.set(name, [...(byName.get(name) ?? []), `${s} ${typeof v === 'function' ? v() : v}`]);
    }
    const body =
      [...byName]
        .map(
          ([name, lines]) =>
            `# HELP ${name} ${help[name] ?? 'test series'}\n# TYPE ${name} ${name.endsWith('_total') ? 'counter' : 'gauge'}\n${lines.join('\n')}`,
        )
        .join('\n') + '\n';
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { target: `127.0.0.1:${(server.address() as { port: number }).port}`, set: (s, v) => void series.set(s, v), server };
}
