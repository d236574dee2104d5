/**
 * FinOps with a real Prometheus scraping a real canaryd (its http_requests_total) and a test exporter of
 * cAdvisor-shaped series: container_cpu_usage_seconds_total (a counter growing at 0.5 cores for the
 * baseline's pods, 1 core for the canary's) and container_memory_working_set_bytes (512 MiB each), labelled
 * version=<release> as pods usually are. canaryd must export each version's cost per 1,000 requests and per
 * day from finops.prices, the budget, and judge compare.costPerRequest: the canary, ~1.8× costlier per
 * request, fails it.
 */
import t from 'tap';
import { Pool } from 'undici';
import { startSampleUpstream } from '../demo/upstream.js';
import { configYaml, startSidecar } from './helpers/canaryd.js';
import { startExporter, startPrometheus, until } from './helpers/prometheus.js';

t.setTimeout(360_000);

t.test('cost per 1k requests and per day per version, the budget, and compare.costPerRequest', async (t) => {
  const exporter = await startExporter(t);
  const started = Date.now();
  const cores = { v1: 0.5, v2: 1 };
  for (const [release, c] of Object.entries(cores)) {
    exporter.set(
      `container_cpu_usage_seconds_total{container="app",pod="shop-${release}-0",version="${release}"}`,
      () => (c * (Date.now() - started)) / 1000,
    );
    exporter.set(`container_memory_working_set_bytes{container="app",pod="shop-${release}-0",version="${release}"}`, 512 * 1024 ** 2);
  }
  const base = await startSampleUpstream({ name: 'baseline', latencyMs: 1 });
  const can = await startSampleUpstream({ name: 'canary', latencyMs: 1 });
  // canaryd first (Prometheus scrapes its admin port); its Prometheus URL is set by a config change once Prometheus runs
  const yaml = (promUrl: string) =>
    configYaml(
      base.url,
      can.url,
      `routing: { canaryWeight: 50 }
analysis: { prometheus: { url: "${promUrl}", timeout: 2s } }
finops:
  prices: { cpuCoreHour: 0.05, memoryGbHour: 0.01 }
  interval: 5s
  budget: { perDay: 1.5 }
  check: { enabled: true }
rollout:
  steps: [50, 100]
  interval: 1h
  analysisInterval: 250ms
  anomaly: { enabled: false }
`,
    );
  const c = await startSidecar(yaml('http://127.0.0.1:9'));
  const prom = await startPrometheus(t, { targets: { app: exporter.target, canaryd: `127.0.0.1:${c.sidecar.adminAddress!.port}` } });
  const { parseConfigText } = await import('../config/index.js');
  c.sidecar.applyConfig(parseConfigText(yaml(prom.url), {}), 'test');
  const pool = new Pool(c.url, { connections: 8 });
  let running = true;
  const load = (async () => {
    const deadline = Date.now() + 300_000;
    while (running && Date.now() < deadline) {
      await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          pool.request({ path: `/x/${i}`, method: 'GET' }).then(
            (r) => r.body.dump(),
            () => {},
          ),
        ),
      );
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  t.teardown(async () => {
    running = false;
    await load;
    await pool.close();
    await c.stop();
    await base.close();
    await can.close();
  });

  // wait until Prometheus has the rates and canaryd has exported costs computed from them
  // a full 5 s window of every series first: rate() over a series younger than its range underestimates
  const full = async (s: string) => ((await prom.value(`min(count_over_time(${s}[5s]))`)) ?? 0) >= 5;
  await until(
    async () => (await full('http_requests_total{status="200"}')) && (await full('container_cpu_usage_seconds_total')),
    90_000,
    'full windows in Prometheus',
  );
  await until(
    async () => {
      await c.sidecar.finops.refresh();
      return /canaryd_cost_per_1k_requests\{version="canary"\}/.test(await c.sidecar.registry.metrics());
    },
    90_000,
    'costs exported',
  );
  const text = await c.sidecar.registry.metrics();
  const gauge = (name: string, v: string) => Number(new RegExp(`^${name}\\{version="${v}"\\} (\\S+)$`, 'm').exec(text)?.[1]);
  // the expected costs from the same usage: 0.5 core × 0.05 + 0.5 GiB × 0.01 = 0.03 / h (baseline), 0.055 / h (canary)
  const perHour = { baseline: 0.03, canary: 0.055 };
  for (const v of ['baseline', 'canary'] as const) {
    const day = gauge('canaryd_cost_per_day_estimate', v);
    t.ok(
      Math.abs(day - perHour[v] * 24) / (perHour[v] * 24) < 0.25,
      `${v}: ${day} per day ≈ ${perHour[v] * 24} (±25 %: rate() over 5 s of 1 s scrapes on a loaded machine)`,
    );
    const rps = (await prom.value(`sum(rate(http_requests_total{version="${v}"}[5s]))`))!;
    const per1k = gauge('canaryd_cost_per_1k_requests', v);
    const expected = (day / 24 / (rps * 3600)) * 1000;
    t.ok(
      Math.abs(per1k - expected) / expected < 0.35,
      `${v}: ${per1k} per 1k requests ≈ ${expected.toPrecision(3)} at ${rps.toFixed(0)} req/s (±35 %: the request rate moves between the two reads)`,
    );
  }
  t.match(text, /^canaryd_cost_budget_per_day 1\.5$/m, 'the budget is exported for the alert rule');

  await c.sidecar.rollout.start();
  const check = await until(
    () => c.sidecar.rollout.latestReport()?.checks.find((x) => x.name === 'compare.costPerRequest' && x.status !== 'nodata'),
    60_000,
    'the cost check judged',
  );
  t.equal(check.status, 'fail', check.message);
  t.match(check.message, /% costlier, at or over the 20 % allowed \(point-in-time/);
  t.equal(check.kind, 'metric');
  t.equal(c.sidecar.rollout.latestReport()!.verdict === 'pass', false, 'a costlier canary is not passed');
});
