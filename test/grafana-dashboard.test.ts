/**
 * The shipped Grafana dashboard (deploy/grafana/canaryd.json). Grafana is not in Debian, so the test checks
 * the dashboard model's required fields itself, then runs every panel's PromQL (and the annotation's), with
 * the variables substituted, against a real Prometheus scraping a real canaryd while traffic flows through
 * it (50/50, faults on both versions, a rollout, FinOps from a cAdvisor-shaped exporter): every query must
 * parse and return series, and those drawn per version (legend {{version}}) series for both versions.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import { startSampleUpstream } from '../demo/upstream.js';
import { configYaml, startSidecar } from './helpers/canaryd.js';
import { startExporter, startPrometheus, until } from './helpers/prometheus.js';

t.setTimeout(360_000);

interface Target {
  refId: string;
  expr: string;
  legendFormat?: string;
  datasource?: { uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource: { type: string; uid: string };
  targets: Target[];
}
const dash = JSON.parse(readFileSync('deploy/grafana/canaryd.json', 'utf8')) as {
  schemaVersion: number;
  title: string;
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: unknown }> };
  annotations: { list: Array<{ name: string; expr: string; datasource: { uid: string } }> };
};

t.test('the dashboard model has the required fields and uses the ${datasource} and service variables', async (t) => {
  t.type(dash.schemaVersion, 'number');
  t.ok(dash.schemaVersion >= 36, `schemaVersion ${dash.schemaVersion}`);
  t.ok(dash.title && dash.uid, 'title and uid');
  const vars = Object.fromEntries(dash.templating.list.map((v) => [v.name, v]));
  t.equal(vars.datasource?.type, 'datasource');
  t.equal(vars.datasource?.query, 'prometheus');
  t.equal(vars.service?.type, 'query');
  const ids = new Set<number>();
  for (const p of dash.panels) {
    t.ok(!ids.has(p.id), `panel ${p.id} id unique`);
    ids.add(p.id);
    t.ok(p.type && p.title, `panel ${p.id}: type and title`);
    const g = p.gridPos;
    t.ok(
      g && [g.x, g.y, g.w, g.h].every(Number.isInteger) && g.x + g.w <= 24 && g.w > 0 && g.h > 0,
      `panel ${p.id}: gridPos within the 24 columns`,
    );
    t.same(p.datasource, { type: 'prometheus', uid: '${datasource}' }, `panel ${p.id}: datasource is the variable`);
    t.ok(p.targets.length > 0, `panel ${p.id}: targets`);
    for (const q of p.targets) {
      t.equal(q.datasource?.uid, '${datasource}', `panel ${p.id}/${q.refId}: datasource ref`);
      t.match(q.expr, /job=~"\$service"/, `panel ${p.id}/${q.refId}: filtered by $service`);
    }
  }
  const titles = dash.panels.map((p) => p.title.toLowerCase()).join(' | ');
  for (const want of [
    'request rate',
    'error rate',
    'p50 / p95 / p99',
    'canary weight',
    'analysis score',
    'checks',
    'faults injected',
    'chaos rate',
    'cost per 1,000 requests',
  ])
    t.ok(titles.includes(want), `a panel for ${want}`);
  t.ok(
    dash.annotations.list.some((a) => /canary_decision_total/.test(a.expr) && a.datasource.uid === '${datasource}'),
    'decisions as annotations',
  );
});

t.test("every panel's PromQL parses and returns series for both versions against a real Prometheus", async (t) => {
  const exporter = await startExporter(t);
  const started = Date.now();
  for (const [release, cores] of [
    ['v1', 0.5],
    ['v2', 0.6],
  ] as const) {
    exporter.set(`container_cpu_usage_seconds_total{container="app",version="${release}"}`, () => (cores * (Date.now() - started)) / 1000);
    exporter.set(`container_memory_working_set_bytes{container="app",version="${release}"}`, 256 * 1024 ** 2);
  }
  const base = await startSampleUpstream({ name: 'baseline', latencyMs: 2, errorRate: 0.02 });
  const can = await startSampleUpstream({ name: 'canary', latencyMs: 2, errorRate: 0.02 });
  const yaml = (promUrl: string) =>
    configYaml(
      base.url,
      can.url,
      `analysis: { prometheus: { url: "${promUrl}", timeout: 2s } }
finops: { prices: { cpuCoreHour: 0.05, memoryGbHour: 0.01 }, interval: 5s, budget: { perDay: 10 } }
faults:
  enabled: true
  maxErrorRate: 1
  rules:
    - { name: slow-some, probability: 0.2, delay: { ms: 5 } }
rollout:
  steps: [25, 50, 100]
  interval: 1h
  analysisInterval: 500ms
  anomaly: { enabled: false }
`,
    );
  const c = await startSidecar(yaml('http://127.0.0.1:9'));
  const prom = await startPrometheus(t, { targets: { canaryd: `127.0.0.1:${c.sidecar.adminAddress!.port}`, cadvisor: exporter.target } });
  const { parseConfigText } = await import('../config/index.js');
  c.sidecar.applyConfig(parseConfigText(yaml(prom.url), {}), 'test');
  // start, and once Prometheus holds the PROMOTE counter promote once more: an increase it can see
  await c.sidecar.rollout.start();
  await until(
    async () => (await prom.value('canary_decision_total{job="canaryd",action="PROMOTE"}')) === 1,
    60_000,
    'the start decision scraped',
  );
  c.sidecar.rollout.promote({ reason: 'dashboard test' });
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

  const subst = (e: string) => e.replace(/\$service/g, 'canaryd').replace(/\$__rate_interval/g, '10s');
  const queries = dash.panels.flatMap((p) =>
    p.targets.map((q) => ({
      where: `panel ${p.id} "${p.title}" ${q.refId}`,
      expr: subst(q.expr),
      perVersion: /\{\{version\}\}/.test(q.legendFormat ?? ''),
    })),
  );
  queries.push(
    ...dash.annotations.list.map((a) => ({
      where: `annotation ${a.name}`,
      expr: subst(a.expr.replace('[1m]', '[5m]')),
      perVersion: false,
    })),
  );
  // wait until every query has its series (rates need two scrapes; costs a FinOps round; faults and errors some traffic)
  const results = new Map<string, { status: string; error?: string; versions: Set<string>; n: number }>();
  const ok = (q: (typeof queries)[number]) => {
    const r = results.get(q.where);
    return (
      r !== undefined && r.status === 'success' && r.n > 0 && (!q.perVersion || (r.versions.has('baseline') && r.versions.has('canary')))
    );
  };
  await until(
    async () => {
      for (const q of queries) {
        if (ok(q)) continue;
        const b = await prom.query(q.expr);
        if (b.status !== 'success') throw new Error(`${q.where}: Prometheus rejected ${q.expr}: ${b.error}`);
        results.set(q.where, {
          status: b.status,
          versions: new Set((b.data?.result ?? []).map((s) => s.metric.version)),
          n: b.data?.result.length ?? 0,
        });
      }
      return queries.every(ok);
    },
    120_000,
    'every dashboard query to return its series',
  ).catch((e: Error) => {
    throw new Error(
      `${e.message}: missing ${queries
        .filter((q) => !ok(q))
        .map((q) => `${q.where} (${q.expr})`)
        .join('; ')}`,
    );
  });
  for (const q of queries) t.ok(ok(q), `${q.where}: parses and returns ${q.perVersion ? 'series for both versions' : 'series'}`);
});
