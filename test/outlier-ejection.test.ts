/**
 * Outlier ejection and circuit breaking over real sockets (proxy/outlier, docs/proxy.md "Outlier
 * ejection", "Circuit breaking"): a dead canary is ejected and its requests (weighted, sticky and pinned)
 * are served by the baseline while the weight stays as configured; status, metrics and the event show it;
 * the canary is re-admitted once it answers again; a rollout with a dead canary rolls back on the ejection;
 * a dead baseline turns /readyz 503 with a reason; the pending limit answers 503 with a JSON reason. The
 * detector's backoff arithmetic is checked with a fake clock at the end.
 */
import t from 'tap';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { request, Agent } from 'undici';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml, startSidecar } from './helpers/canaryd.js';
import { until } from './helpers/admin.js';
import { OutlierDetector, type OutlierChange, type OutlierSettings } from '../proxy/index.js';
import { parseConfigText } from '../config/index.js';

const dispatcher = new Agent({ connections: 8 });
t.teardown(() => dispatcher.close());

async function get(url: string, headers: Record<string, string> = {}) {
  const r = await request(url, { dispatcher, headers });
  const text = await r.body.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not json */
  }
  return { status: r.statusCode, json, text, version: r.headers['x-canaryd-version'] as string | undefined };
}

/** A TCP port with nothing listening: bind, note the port, close. */
async function deadPort(): Promise<number> {
  const s: Server = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** An HTTP upstream on `port` answering 200 "revived". */
async function listenOn(port: number): Promise<HttpServer> {
  const s = createHttpServer((req, res) => {
    req.resume();
    res.end('revived');
  });
  await new Promise<void>((r) => s.listen(port, '127.0.0.1', r));
  return s;
}

const OUTLIER = (extra = '') =>
  `outlier: { enabled: true, consecutiveErrors: 3, interval: 30s, baseEjectionTime: 1s, maxEjectionTime: 10s${extra} }\n`;

t.test('a dead canary is ejected: its requests are served by the baseline, status and metrics show it, it comes back', async (t) => {
  const base = await startEchoUpstream('baseline');
  const port = await deadPort();
  const c = await startSidecar(
    configYaml(
      base.url,
      `http://127.0.0.1:${port}`,
      `routing: { canaryWeight: 100, mirror: { percent: 100 }, sticky: { header: x-user }, rules: [{ name: pin, match: { header: { x-to: canary } }, to: canary }] }
proxy: { retries: 0 }
timeouts: { connect: 500ms }
${OUTLIER()}`,
    ),
  );
  let revived: HttpServer | null = null;
  t.teardown(async () => (await c.stop(), await base.close(), revived && (await new Promise((r) => revived!.close(r)))));

  for (let i = 0; i < 3; i++) {
    const r = await get(`${c.url}/x`);
    t.equal(r.status, 502, `request ${i + 1} to the dead canary: 502`);
    t.equal(r.version, 'canary');
  }
  const status = await until('the canary ejected in the status', async () => {
    const s = (await get(`${c.adminUrl}/api/v1/status`)).json;
    return s.outlier.canary.state === 'ejected' ? s : null;
  });
  t.equal(status.weights.canary, 100, 'the configured weight is not rewritten');
  t.equal(status.outlier.effectiveCanaryWeight, 0, 'the effective canary share is 0');
  t.match(status.outlier.canary.lastReason, /3 consecutive errors, the last connect/);
  t.type(status.outlier.canary.ejectedUntil, 'number');
  t.equal(status.outlier.baseline.state, 'healthy');

  for (const [what, headers] of [
    ['weighted', {}],
    ['sticky', { 'x-user': 'u-42' }],
    ['pinned by a rule', { 'x-to': 'canary' }],
  ] as const) {
    const r = await get(`${c.url}/y`, headers);
    t.equal(r.status, 200, `a ${what} canary request is served while the canary is ejected`);
    t.equal(r.version, 'baseline', `... by the baseline`);
  }
  const metrics = (await get(`${c.adminUrl}/metrics`)).text;
  t.match(metrics, /canaryd_upstream_ejected\{version="canary"\} 1/);
  t.match(metrics, /canaryd_upstream_ejected\{version="baseline"\} 0/);
  t.match(metrics, /canaryd_upstream_ejections_total\{version="canary",reason="connect"\} 1/);
  t.match(
    metrics,
    /canaryd_mirror_requests_total\{outcome="skipped_ejected"\} 3/,
    'no shadow of a re-routed request goes to the ejected canary',
  );
  const events = (await get(`${c.adminUrl}/api/v1/events/recent?limit=500`)).json.events as Array<Record<string, unknown>>;
  t.ok(
    events.some((e) => e.type === 'upstream' && e.action === 'ejected' && e.version === 'canary' && e.kind === 'connect'),
    'an upstream ejected event was published',
  );

  // the canary comes back on its port: once the ejection time is over, the next exchange re-admits it
  revived = await listenOn(port);
  const served = await until('a request served by the revived canary', async () => {
    const r = await get(`${c.url}/z`);
    return r.version === 'canary' && r.status === 200 ? r : null;
  });
  t.equal(served.text, 'revived');
  const after = (await get(`${c.adminUrl}/api/v1/status`)).json;
  t.equal(after.outlier.canary.state, 'healthy', 're-admitted');
  t.equal(after.outlier.effectiveCanaryWeight, 100);
  t.match((await get(`${c.adminUrl}/metrics`)).text, /canaryd_upstream_ejected\{version="canary"\} 0/);
  const events2 = (await get(`${c.adminUrl}/api/v1/events/recent?limit=500`)).json.events as Array<Record<string, unknown>>;
  t.ok(
    events2.some((e) => e.type === 'upstream' && e.action === 'readmitted' && e.version === 'canary'),
    'an upstream readmitted event was published',
  );
});

t.test('a canary answering 5xx is ejected with reason 5xx; answers of other kinds keep it in', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const c = await startSidecar(configYaml(base.url, can.url, `routing: { canaryWeight: 100 }\n${OUTLIER(', errors: [5xx]')}`));
  t.teardown(async () => (await c.stop(), await base.close(), await can.close()));
  t.equal((await get(`${c.url}/status/503`)).status, 503);
  t.equal((await get(`${c.url}/status/500`)).status, 500);
  t.equal((await get(`${c.url}/status/404`)).status, 404, 'a 404 is an answer: the count starts over');
  for (let i = 0; i < 2; i++) t.equal((await get(`${c.url}/status/500`)).status, 500);
  t.equal(c.sidecar.status().outlier!.canary.state, 'healthy', 'two errors in a row after the 404: not ejected');
  t.equal((await get(`${c.url}/status/500`)).status, 500);
  await until('the canary ejected', () => c.sidecar.status().outlier!.canary.state === 'ejected');
  t.equal((await get(`${c.url}/status/500`)).version, 'baseline', 'the next canary request goes to the baseline');
  t.match((await get(`${c.adminUrl}/metrics`)).text, /canaryd_upstream_ejections_total\{version="canary",reason="5xx"\} 1/);
});

t.test('a rollout whose canary is dead rolls back on the ejection, without waiting for the analysis', async (t) => {
  const base = await startEchoUpstream('baseline');
  const port = await deadPort();
  const c = await startSidecar(
    configYaml(
      base.url,
      `http://127.0.0.1:${port}`,
      `rollout: { steps: [50, 100], interval: 10s, minRequests: 0, analysisInterval: 1h, failureLimit: 3 }
proxy: { retries: 0 }
${OUTLIER()}`,
    ),
  );
  t.teardown(async () => (await c.stop(), await base.close()));
  const started = await request(`${c.adminUrl}/api/v1/rollout/start`, {
    dispatcher,
    method: 'POST',
    body: '{}',
    headers: { 'content-type': 'application/json' },
  });
  t.ok(started.statusCode < 300, `rollout started (${started.statusCode})`);
  await started.body.dump();
  t.equal(c.sidecar.traffic.weight().canary, 50);
  // the analysis runs once an hour here: only the ejection can end this rollout within the wait
  const status = await until('the rollout rolled back', async () => {
    await get(`${c.url}/x`);
    const s = (await get(`${c.adminUrl}/api/v1/rollout`)).json;
    return s.phase === 'rolledback' ? s : null;
  });
  t.equal(status.lastDecision.source, 'ejection', 'the decision names the ejection as its source');
  t.match(status.lastDecision.reasons[0], /canary upstream ejected: 3 consecutive errors/);
  t.equal(c.sidecar.traffic.weight().canary, 0, 'the weight is back at 0');
});

t.test('a dead baseline makes /readyz answer 503 with a reason, and ready again once it is back', async (t) => {
  const can = await startEchoUpstream('canary');
  const port = await deadPort();
  const c = await startSidecar(configYaml(`http://127.0.0.1:${port}`, can.url, `proxy: { retries: 0 }\n${OUTLIER()}`));
  let revived: HttpServer | null = null;
  t.teardown(async () => (await c.stop(), await can.close(), revived && (await new Promise((r) => revived!.close(r)))));
  t.equal((await get(`${c.adminUrl}/readyz`)).status, 200, 'ready at first');
  for (let i = 0; i < 3; i++) t.equal((await get(`${c.url}/x`)).status, 502);
  const nr = await until('/readyz not ready', async () => {
    const r = await get(`${c.adminUrl}/readyz`);
    return r.status === 503 ? r : null;
  });
  t.equal(nr.json.status, 'not ready');
  t.match(nr.json.reason, /baseline upstream ejected until .*: 3 consecutive errors, the last connect/);
  t.match((await get(`${c.adminUrl}/metrics`)).text, /canaryd_ready 0/);
  t.equal((await get(`${c.url}/x`)).version, 'baseline', 'baseline traffic has nowhere else to go: it still goes to the baseline');
  revived = await listenOn(port);
  await until('ready again after the ejection time', async () => (await get(`${c.adminUrl}/readyz`)).status === 200);
  await until('the baseline re-admitted', async () => {
    await get(`${c.url}/x`);
    return c.sidecar.status().outlier!.baseline.state === 'healthy';
  });
});

t.test('circuit breaking: past upstreams.*.maxPending waiting requests, 503 with a JSON reason, counted', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const c = await startSidecar(
    configYaml(
      base.url,
      can.url,
      `limits: { queue: { size: 100 } }\n${OUTLIER().replace('consecutiveErrors: 3', 'consecutiveErrors: 1')}`,
    ).replace(
      `baseline: { url: "${base.url}", version: v1 }`,
      `baseline: { url: "${base.url}", version: v1, connections: 1, maxPending: 1 }`,
    ),
  );
  const held = new Agent({ connections: 4 });
  t.teardown(async () => (await c.stop(), await held.destroy(), await base.close(), await can.close()));
  // one request holds the only connection, one waits: the third is past the pending limit
  const hanging = [
    request(`${c.url}/hang`, { dispatcher: held }).catch(() => null),
    request(`${c.url}/hang`, { dispatcher: held }).catch(() => null),
  ];
  await until('one in flight and one waiting', () => c.sidecar.proxy.upstream('baseline').queued === 1);
  const r = await get(`${c.url}/third`);
  t.equal(r.status, 503);
  t.equal(r.json.error, 'CANARYD_ERR_QUEUE_FULL');
  t.equal(r.json.version, 'baseline');
  t.match(r.json.message, /1 requests waiting \(upstreams\.baseline\.maxPending/);
  t.match((await get(`${c.adminUrl}/metrics`)).text, /canaryd_upstream_pending_overflow_total\{version="baseline"\} 1/);
  t.equal(c.sidecar.status().outlier!.baseline.state, 'healthy', 'an overflow is not an upstream error (consecutiveErrors 1)');
  await held.destroy();
  await Promise.all(hanging);
});

t.test('the detector: backoff doubles up to the max, a failed probe ejects again, healthy time decays it', async (t) => {
  let now = 1_000_000;
  const changes: OutlierChange[] = [];
  const s: OutlierSettings = {
    enabled: true,
    consecutiveErrors: 2,
    errors: ['connect', 'reset', 'timeout', '5xx'],
    interval: 10_000,
    baseEjectionTime: 30_000,
    maxEjectionTime: 100_000,
  };
  const d = new OutlierDetector(
    s,
    (c) => changes.push(c),
    () => now,
  );
  const last = () => changes[changes.length - 1];
  d.record('canary', 'reset');
  now += 20_000; // past the interval: the errors do not add up
  d.record('canary', 'reset');
  t.equal(d.view('canary').state, 'healthy', 'errors further apart than the interval do not add up');
  d.record('canary', 'timeout');
  t.equal(last().action, 'ejected');
  t.equal(last().durationMs, 30_000, 'first ejection: baseEjectionTime');
  t.equal(d.route('canary'), 'baseline');
  now += 30_000;
  t.equal(d.route('canary'), 'canary', 'time over: probing, traffic goes to it');
  t.equal(last().action, 'probing');
  d.record('canary', '5xx');
  t.equal(last().durationMs, 60_000, 'a failed probe ejects again, twice as long');
  now += 60_000;
  d.ejected('canary');
  d.record('canary', 'connect');
  t.equal(last().durationMs, 100_000, 'the third is capped at maxEjectionTime');
  now += 100_000;
  d.record('canary', null);
  t.equal(last().action, 'readmitted', 'a success while probing re-admits');
  t.equal(d.view('canary').ejections, 3);
  now += 25_000; // two intervals healthy: the multiplier drops by two
  t.equal(d.view('canary').ejections, 1);
  d.record('canary', 'reset');
  d.record('canary', 'reset');
  t.equal(last().durationMs, 60_000, 'the next ejection starts from the decayed multiplier');
  t.equal(d.route('canary'), 'baseline');
  d.record('baseline', 'reset');
  d.record('baseline', 'reset');
  t.equal(d.route('canary'), 'canary', 'both ejected: no failover (nowhere better to go)');
  d.configure({ ...s, enabled: false });
  t.equal(d.view('canary').state, 'healthy', 'turning detection off re-admits');
  t.equal(d.route('canary'), 'canary');
});

t.test('outlier ejection with workers > 1 is refused by validation, naming the key', async (t) => {
  const yaml = configYaml('http://127.0.0.1:1', 'http://127.0.0.1:2', `workers: 2\n${OUTLIER()}`);
  t.throws(() => parseConfigText(yaml, {}), {
    code: 'CANARYD_ERR_CONFIG_INVALID',
    message: /outlier\.enabled: not supported with workers \(2\)/,
  });
  t.doesNotThrow(() => parseConfigText(yaml.replace('workers: 2', 'workers: 1'), {}));
});
