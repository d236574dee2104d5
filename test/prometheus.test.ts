/**
 * The exposition, proved with a real Prometheus (the Debian `prometheus` binary): it scrapes a real
 * canaryd's admin /metrics every second while known traffic goes through canaryd — the canary upstream
 * answers 500 to exactly every 4th request and takes 1.5 s, the baseline answers 500 to every 20th and
 * takes 300 ms — and the PromQL queries dashboards use must give those numbers back per version:
 *   error ratio  sum(rate(http_requests_total{version=V,status=~"5.."}[1m])) / sum(rate(http_requests_total{version=V}[1m]))
 *   p95          histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket{version=V}[1m])) by (le))
 * A histogram quantile is only as precise as its buckets, so the p95 must fall in the bucket that holds the
 * true p95 of the durations canaryd itself observed. The latencies sit in the middle of wide buckets
 * ((0.25, 0.5] and (1, 2.5]) so that scheduling noise on a busy machine cannot move the true p95 across a
 * bucket edge. Everything waits on conditions polled from Prometheus' HTTP API (rate() needs two scrapes
 * of each series inside the window), never on fixed sleeps.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request, Agent } from 'undici';
import { DURATION_BUCKETS_SECONDS } from '../proxy/index.js';
import { configYaml, startSidecar } from './helpers/canaryd.js';
import type { TapTest } from './helpers/admin.js';

const PROMETHEUS = '/usr/bin/prometheus';
const dispatcher = new Agent({ connections: 32 });
t.teardown(() => dispatcher.close());

async function freePort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** An upstream that answers 500 to every `errorEvery`-th request (by its own count) after `delayMs`. */
async function patternUpstream(delayMs: number, errorEvery: number): Promise<{ url: string; server: Server; served: () => number }> {
  let n = 0;
  const server = createHttpServer((req, res) => {
    const i = ++n;
    req.resume();
    setTimeout(() => {
      res.writeHead(i % errorEvery === 0 ? 500 : 200, { 'content-type': 'text/plain', 'content-length': 2 });
      res.end('ok');
    }, delayMs);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server, served: () => n };
}

/** The true q-quantile of raw values (nearest rank). */
function quantile(q: number, xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
}

/** The (lo, hi] histogram bucket of DURATION_BUCKETS_SECONDS that holds x. */
function bucketOf(x: number): [number, number] {
  const bounds = [...DURATION_BUCKETS_SECONDS, Infinity];
  const i = bounds.findIndex((b) => x <= b);
  return [i === 0 ? 0 : bounds[i - 1], bounds[i]];
}

interface PromClient {
  query(expr: string): Promise<number | null>;
}

async function startPrometheus(t: TapTest, target: string): Promise<PromClient> {
  if (!existsSync(PROMETHEUS)) throw new Error(`${PROMETHEUS} not found: install the Debian package prometheus (npm test's pretest does)`);
  const dir = mkdtempSync(join(tmpdir(), 'canaryd-prom-'));
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global: { scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s }
scrape_configs:
  - job_name: canaryd
    metrics_path: /metrics
    static_configs: [{ targets: ["${target}"] }]
`,
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
  t.teardown(async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const base = `http://127.0.0.1:${port}`;
  await until(
    async () => {
      if (exited) throw new Error(`prometheus exited: ${stderr}`);
      const r = await request(`${base}/-/ready`, { dispatcher }).catch(() => null);
      if (r === null) return false;
      await r.body.dump();
      return r.statusCode === 200;
    },
    20_000,
    'prometheus ready',
  );
  return {
    async query(expr) {
      const r = await request(`${base}/api/v1/query?query=${encodeURIComponent(expr)}`, { dispatcher });
      const body = (await r.body.json()) as { status: string; error?: string; data: { result: Array<{ value: [number, string] }> } };
      if (body.status !== 'success') throw new Error(`query failed: ${expr}: ${body.error}`);
      const v = body.data.result[0]?.value[1];
      return v === undefined || v === 'NaN' ? null : Number(v);
    },
  };
}

/** Polls `cond` every 200 ms until true; fails after `timeoutMs` (a bound, not a measurement). */
async function until(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

t.test('a real Prometheus scraping canaryd computes the per-version error ratio and p95', async (t) => {
  const baseline = await patternUpstream(300, 20);
  const canary = await patternUpstream(1500, 4);
  const c = await startSidecar(configYaml(baseline.url, canary.url, 'routing: { canaryWeight: 50 }'));
  t.teardown(async () => {
    await c.stop();
    baseline.server.close();
    canary.server.close();
  });
  const durations = { baseline: [] as number[], canary: [] as number[] };
  c.sidecar.onObservation((o) => durations[o.version].push(o.durationMs / 1000));
  const prom = await startPrometheus(t, `127.0.0.1:${c.sidecar.adminAddress!.port}`);
  await until(async () => (await prom.query('up{job="canaryd"}')) === 1, 20_000, 'a first successful scrape');

  // Traffic from 96 workers until Prometheus holds at least 3 samples of every series the queries use
  // (5xx and 2xx, both versions) — rate() needs two inside the window — and baseline has served enough
  // requests for its 5 % to be measurable; then stop.
  let stop = false;
  let sent = 0;
  const workers = Array.from({ length: 96 }, async () => {
    while (!stop && sent < 20_000) {
      sent++;
      const r = await request(`${c.url}/work`, { dispatcher });
      await r.body.dump();
    }
  });
  const series = ['baseline', 'canary'].flatMap((v) => [
    `http_requests_total{version="${v}",status="200"}`,
    `http_requests_total{version="${v}",status="500"}`,
  ]);
  try {
    await until(
      async () => {
        if (baseline.served() < 200) return false;
        for (const s of series) if (((await prom.query(`count_over_time(${s}[1m])`)) ?? 0) < 3) return false;
        return true;
      },
      40_000,
      'three scrapes of every series under traffic',
    );
  } finally {
    stop = true;
    await Promise.all(workers);
  }
  t.ok(
    canary.served() > 40 && baseline.served() >= 200,
    `traffic reached both versions (baseline ${baseline.served()}, canary ${canary.served()})`,
  );

  const errorRatio = (v: string) =>
    `sum(rate(http_requests_total{version="${v}",status=~"5.."}[1m])) / sum(rate(http_requests_total{version="${v}"}[1m]))`;
  const p95 = (v: string) => `histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket{version="${v}"}[1m])) by (le))`;

  const canaryErrors = await prom.query(errorRatio('canary'));
  const baselineErrors = await prom.query(errorRatio('baseline'));
  t.ok(canaryErrors !== null && Math.abs(canaryErrors - 0.25) < 0.04, `canary error ratio ${canaryErrors} ≈ 0.25`);
  t.ok(baselineErrors !== null && Math.abs(baselineErrors - 0.05) < 0.02, `baseline error ratio ${baselineErrors} ≈ 0.05`);

  for (const v of ['baseline', 'canary'] as const) {
    const got = await prom.query(p95(v));
    const truth = quantile(0.95, durations[v]);
    const [lo, hi] = bucketOf(truth);
    t.ok(
      got !== null && got > lo && got <= hi,
      `${v} p95 from Prometheus ${got} s lies in (${lo}, ${hi}], the bucket of canaryd's own p95 ${truth.toFixed(3)} s`,
    );
  }
  const canaryP95 = (await prom.query(p95('canary')))!;
  const baselineP95 = (await prom.query(p95('baseline')))!;
  t.ok(canaryP95 > 1 && canaryP95 <= 2.5, `canary p95 ${canaryP95} s: the bucket of its 1.5 s latency`);
  t.ok(baselineP95 > 0.25 && baselineP95 <= 0.5, `baseline p95 ${baselineP95} s: the bucket of its 300 ms latency`);
  t.equal(await prom.query('canary_traffic_percent{version="canary"}'), 50, 'canary_traffic_percent scraped');
});
