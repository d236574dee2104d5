/**
 * Prometheus-backed checks (rollout.metrics, docs/prometheus.md) against a REAL Prometheus (the Debian
 * binary) scraping a test exporter: every way a query can fail to give one trustworthy number is nodata
 * with the reason (Prometheus's own error text for a bad query), never a pass; a rollout whose business
 * metric degrades for the canary is rolled back while no inline check fails; and a Prometheus killed
 * mid-rollout leaves the checks nodata and the rollout holding at its step — nothing is promoted.
 */
import t from 'tap';
import { Pool } from 'undici';
import { systemClock } from '../core/index.js';
import { PrometheusChecks, PrometheusClient } from '../controller/index.js';
import type { CheckResult, MetricCheckSpec } from '../analysis/index.js';
import { startSampleUpstream } from '../demo/upstream.js';
import { configYaml, startSidecar, type RunningSidecar } from './helpers/canaryd.js';
import { startExporter, startPrometheus, until } from './helpers/prometheus.js';
import type { TapTest } from './helpers/admin.js';

// real processes on a shared, overloaded machine: the file's bound (not a measurement) is generous
t.setTimeout(360_000);

const CTX = { releases: { baseline: 'v1', canary: 'v2' }, service: 'shop' };

function spec(name: string, query: string, more: Partial<MetricCheckSpec> = {}): MetricCheckSpec {
  return { name, query, thresholdRange: { min: 0.9 }, critical: true, intervalMs: 1000, failures: 1, ...more };
}

/** Polls a PrometheusChecks feed until every check has an answer; returns them by name. */
async function answers(feed: PrometheusChecks, n: number): Promise<Record<string, CheckResult>> {
  const from = Date.now();
  const checks = await until(
    async () => {
      const cs = feed.poll(Date.now(), from);
      await feed.settle();
      const now = feed.poll(Date.now(), from);
      return now.every((c) => !/no data yet/.test(c.message)) && now.length === n ? now : null;
    },
    60_000,
    'every check answered',
  );
  return Object.fromEntries(checks.map((c) => [c.name, c]));
}

t.test('every unusable answer is nodata with the reason; good answers pass or fail by their numbers', async (t) => {
  const exporter = await startExporter(t);
  exporter.set('checkout_success_ratio{version="v1",service="shop"}', 0.99);
  exporter.set('checkout_success_ratio{version="v2",service="shop"}', 0.8);
  const prom = await startPrometheus(t, { targets: { app: exporter.target } });
  await until(() => prom.value('count(checkout_success_ratio)').then((v) => v === 2), 60_000, 'the exporter scraped');
  const client = new PrometheusClient({ url: prom.url, headers: {}, timeout: 5000 });
  const q = 'checkout_success_ratio{version="{{version}}",service="{{service}}"}';
  const feed = new PrometheusChecks({
    client,
    context: () => CTX,
    clock: systemClock,
    specs: [
      spec('threshold-fails', q),
      spec('threshold-passes', q, { thresholdRange: { min: 0.5, max: 1 } }),
      spec('compare-fails', q, { thresholdRange: undefined, compare: { maxDegradation: 0.05, direction: 'higher-is-better' } }),
      spec('compare-passes', q, { thresholdRange: undefined, compare: { maxDegradation: 0.5, direction: 'higher-is-better' } }),
      spec('bad-query', 'sum(rate(checkout_success_ratio[1m])'),
      spec('empty', 'checkout_success_ratio{version="{{version}}",service="nope"}'),
      spec('nan', 'sum(checkout_success_ratio{version="{{version}}"}) / 0 * 0'),
      spec('wrong-labels', 'checkout_success_ratio{version="{{baseline}}"}'),
      spec('many-series', 'checkout_success_ratio'),
      spec('range', 'checkout_success_ratio{version="{{version}}"}[{{interval}}]'),
    ],
  });
  t.teardown(() => feed.close());
  const c = await answers(feed, 10);
  t.equal(c['metric.threshold-fails'].status, 'fail', c['metric.threshold-fails'].message);
  t.match(c['metric.threshold-fails'].message, /canary 0\.8 below the minimum 0\.9/);
  t.equal(c['metric.threshold-passes'].status, 'pass', c['metric.threshold-passes'].message);
  t.equal(c['metric.compare-fails'].status, 'fail', c['metric.compare-fails'].message);
  t.match(c['metric.compare-fails'].message, /canary 0\.8 vs baseline 0\.99: 19\.2 % worse \(higher-is-better\), over the 5 % allowed/);
  t.equal(c['metric.compare-passes'].status, 'pass');
  for (const name of ['bad-query', 'empty', 'nan', 'wrong-labels', 'many-series', 'range']) {
    t.equal(c[`metric.${name}`].status, 'nodata', `${name}: ${c[`metric.${name}`].message}`);
    t.equal(c[`metric.${name}`].kind, 'metric');
  }
  t.match(
    c['metric.bad-query'].message,
    /Prometheus rejected the query: bad_data: .*parse error/,
    "a bad query carries Prometheus's own error text",
  );
  t.match(c['metric.empty'].message, /no series/);
  t.match(c['metric.nan'].message, /NaN/);
  t.match(c['metric.wrong-labels'].message, /labelled version="v1", the other version's/);
  t.match(c['metric.many-series'].message, /returned 2 series/);
  t.match(c['metric.range'].message, /matrix result/);
  t.match(c['metric.threshold-fails'].message, /point-in-time/, 'marked as point-in-time evidence');

  await prom.kill();
  const down = await until(
    async () => {
      const cs = feed.poll(Date.now() + 2000, 0);
      await feed.settle();
      const m = feed.poll(Date.now() + 2000, 0).find((x) => x.name === 'metric.threshold-passes')!;
      return /cannot query Prometheus/.test(m.message) ? m : null;
    },
    60_000,
    'the check to see Prometheus gone',
  );
  t.equal(down.status, 'nodata', `Prometheus down: ${down.message}`);
  t.match(down.message, /ECONNREFUSED|connect/);
});

/** Bounded load through canaryd until stopped (or 120 s). */
function load(url: string) {
  const pool = new Pool(url, { connections: 8 });
  let running = true;
  let n = 0;
  const done = (async () => {
    const deadline = Date.now() + 300_000;
    while (running && Date.now() < deadline) {
      await Promise.all(
        Array.from({ length: 10 }, () =>
          pool.request({ path: `/items/${n++ % 20}`, method: 'GET' }).then(
            (r) => r.body.dump(),
            () => {},
          ),
        ),
      );
      await new Promise((r) => setTimeout(r, 40));
    }
  })();
  return async () => {
    running = false;
    await done;
    await pool.close();
  };
}

async function rig(t: TapTest, canaryRatio: number) {
  const exporter = await startExporter(t);
  exporter.set('checkout_success_ratio{version="v1"}', 0.99);
  exporter.set('checkout_success_ratio{version="v2"}', canaryRatio);
  const prom = await startPrometheus(t, { targets: { app: exporter.target } });
  await until(() => prom.value('count(checkout_success_ratio)').then((v) => v === 2), 60_000, 'the exporter scraped');
  const base = await startSampleUpstream({ name: 'baseline', latencyMs: 3 });
  const can = await startSampleUpstream({ name: 'canary', latencyMs: 3 });
  const c: RunningSidecar = await startSidecar(
    configYaml(
      base.url,
      can.url,
      `analysis: { prometheus: { url: "${prom.url}", timeout: 2s } }
rollout:
  steps: [20, 50, 100]
  interval: 2s
  minRequests: 50
  analysisInterval: 250ms
  failureLimit: 2
  baseline: { maxDegradation: 2 }
  slo: { maxErrorRate: 0.05, minSuccessRate: 0.95, maxP95Ms: 2000, maxP99Ms: 4000 }
  anomaly: { enabled: false }
  metrics:
    - name: checkout
      query: 'checkout_success_ratio{version="{{version}}"}'
      compare: baseline
      direction: higher-is-better
      maxDegradation: 0.05
      critical: true
      interval: 1s
      failures: 2
`,
    ),
  );
  const stopLoad = load(c.url);
  t.teardown(async () => {
    await stopLoad();
    await c.stop();
    await base.close();
    await can.close();
  });
  return { exporter, prom, c };
}

t.test('a canary whose business metric degrades is rolled back while no inline check fails', async (t) => {
  const { c } = await rig(t, 0.8);
  await c.sidecar.rollout.start();
  const end = await until(() => (c.sidecar.rollout.active ? null : c.sidecar.rollout.status()), 150_000, 'the rollout to end');
  t.equal(end.phase, 'rolledback', `ended ${end.phase}: ${end.reason}`);
  t.equal(end.canaryWeight, 0);
  const rollbacks = c.sidecar.rollout.audit.rollbacks(5) as any[];
  t.equal(rollbacks.length, 1, 'one rollback, recorded in the audit');
  const report = rollbacks[0].report ?? (c.sidecar.rollout.audit.decisions(50) as any[]).find((d) => d.action === 'ROLLBACK')?.report;
  t.ok(report, 'the rollback carries its report');
  const failing = (report.checks as CheckResult[]).filter((x) => x.status === 'fail');
  t.same(
    failing.map((x) => x.name),
    ['metric.checkout'],
    'the business metric alone failed',
  );
  t.same(
    (report.checks as CheckResult[]).filter((x) => x.kind !== 'metric' && x.status === 'fail'),
    [],
    'no inline check failed',
  );
  t.match(JSON.stringify(rollbacks[0]), /metric\.checkout: canary 0\.8 vs baseline 0\.99/, 'the reason names the check and its numbers');
  t.match(await c.sidecar.registry.metrics(), /canary_analysis_check_status\{check="metric.checkout"\} 0/);
});

t.test('Prometheus killed mid-rollout: the checks go nodata and the rollout holds; nothing is promoted', async (t) => {
  const { prom, c } = await rig(t, 0.99);
  await c.sidecar.rollout.start();
  // with Prometheus up the check passes and the rollout moves: the first step is promoted
  await until(() => c.sidecar.rollout.machine.state.step >= 1 || !c.sidecar.rollout.active, 150_000, 'a first promotion');
  t.equal(c.sidecar.rollout.machine.state.phase, 'progressing');
  const step = c.sidecar.rollout.machine.state.step;
  await prom.kill();
  const killedAt = Date.now();
  const held = await until(
    () => {
      const r = c.sidecar.rollout.latestReport();
      const m = r?.checks.find((x) => x.name === 'metric.checkout');
      return r && m?.status === 'nodata' && /cannot query Prometheus/.test(m.message) ? r : null;
    },
    60_000,
    'the check to go nodata',
  );
  t.match(held.reasons[0], /held by .*metric\.checkout/, `held: ${held.reasons[0]}`);
  // The step's interval (2 s) and minRequests are long met: keep analysing for 8 s more; note whether the
  // inline comparisons alone would have promoted (every one shown within the margin) meanwhile.
  let inlineWouldPromote = 0;
  let analyses = 0;
  let lastAt = held.at;
  await until(
    () => {
      const r = c.sidecar.rollout.latestReport()!;
      if (r.at !== lastAt) {
        lastAt = r.at;
        analyses++;
        if (r.nonInferior) inlineWouldPromote++;
        if (r.verdict === 'pass') throw new Error(`a pass verdict without Prometheus: ${r.reasons[0]}`);
      }
      return Date.now() - killedAt > 8000 && analyses >= 10;
    },
    90_000,
    'more analyses with Prometheus gone',
  );
  t.comment(
    `${analyses} analyses with Prometheus gone; in ${inlineWouldPromote} of them every inline comparison was shown within the promote margin`,
  );
  t.equal(c.sidecar.rollout.machine.state.step, step, 'still at the same step');
  t.equal(c.sidecar.rollout.machine.state.phase, 'progressing', 'still progressing: holding, not rolled back');
  const after = (c.sidecar.rollout.audit.decisions(1000) as any[]).filter((d) => d.at >= killedAt && d.action !== 'CONTINUE');
  t.same(
    after.map((d) => d.action),
    [],
    `no PROMOTE or ROLLBACK after the kill`,
  );
});

t.test('canaryd validate names each bad template, check name and missing key', async (t) => {
  const { parseConfigText } = await import('../config/index.js');
  const yaml = configYaml(
    'http://127.0.0.1:1',
    'http://127.0.0.1:2',
    `rollout:
  metrics:
    - { name: ok, query: 'up{version="{{version}}"}', thresholdRange: { min: 1 } }
    - { name: ok, query: 'up{version="{{versoin}}"}', thresholdRange: { max: 1 } }
    - { name: both, query: 'up', thresholdRange: { min: 1 }, compare: baseline, maxDegradation: 0.1, direction: lower-is-better }
    - { name: nodir, query: 'up}}', compare: baseline, maxDegradation: 0.1 }
`,
  );
  let err: any;
  try {
    parseConfigText(yaml, {});
  } catch (e) {
    err = e;
  }
  t.equal(err?.code, 'CANARYD_ERR_CONFIG_INVALID');
  const problems: string[] = err.details;
  t.ok(problems.includes('rollout.metrics: needs analysis.prometheus.url (the Prometheus the checks query)'), 'checks need a Prometheus');
  t.ok(problems.includes('rollout.metrics[1].name: duplicate check name "ok"'));
  t.ok(
    problems.some((p) => p.startsWith('rollout.metrics[1].query: unknown placeholder {{versoin}}')),
    'an unknown placeholder is named',
  );
  t.ok(problems.includes('rollout.metrics[2]: set exactly one of thresholdRange or compare'));
  t.ok(problems.includes('rollout.metrics[3].direction: required with compare: baseline (lower-is-better or higher-is-better)'));
  t.ok(
    problems.some((p) => p.startsWith('rollout.metrics[3].query: unbalanced')),
    'unbalanced braces are named',
  );
  const good = parseConfigText(
    configYaml(
      'http://127.0.0.1:1',
      'http://127.0.0.1:2',
      `analysis: { prometheus: { url: "http://127.0.0.1:9" } }\nrollout:\n  metrics: [{ name: ok, query: 'up{version="{{version}}"}', thresholdRange: { min: 1 } }]\n`,
    ),
    {},
  );
  t.equal(good.rollout.metrics[0].critical, false, 'critical defaults to false');
  t.equal(good.analysis.prometheus!.timeout, 5000, 'timeout defaults to 5 s');
});
