/**
 * POST /api/v1/alerts with Alertmanager's webhook payload (version 4, as Alertmanager 0.25 sends it), over
 * a real socket to a real canaryd: token-protected; a resolved alert or one matching no rollout.abortOn
 * entry changes nothing; a firing alert matching one rolls the canary back at once, with the alert in the
 * decision's reason and an `alert-rollback` audit record; a malformed payload is a 400.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSampleUpstream } from '../demo/upstream.js';
import { configYaml, startSidecar, tempDir } from './helpers/canaryd.js';

function payload(status: 'firing' | 'resolved', labels: Record<string, string>) {
  return {
    version: '4',
    groupKey: '{}:{alertname="CheckoutErrors"}',
    truncatedAlerts: 0,
    status,
    receiver: 'canaryd',
    groupLabels: { alertname: labels.alertname },
    commonLabels: labels,
    commonAnnotations: { summary: 'Checkout errors above 2 %' },
    externalURL: 'http://alertmanager:9093',
    alerts: [
      {
        status,
        labels,
        annotations: { summary: 'Checkout errors above 2 %', description: 'checkout_failures_total is rising for v2' },
        startsAt: '2026-12-03T17:00:00.000Z',
        endsAt: status === 'resolved' ? '2026-12-03T17:05:00.000Z' : '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus:9090/graph?g0.expr=checkout',
        fingerprint: 'c0ffee1234567890',
      },
    ],
  };
}

t.test('a firing alert matching rollout.abortOn rolls the canary back, with the alert in the reason and the audit', async (t) => {
  const base = await startSampleUpstream({ name: 'baseline', latencyMs: 0 });
  const can = await startSampleUpstream({ name: 'canary', latencyMs: 0 });
  const state = tempDir();
  const yaml = configYaml(
    base.url,
    can.url,
    `rollout:
  steps: [50, 100]
  abortOn:
    - { alertname: CheckoutErrors, service: shop }
    - { alertname: CanaryHighErrorRate }
`,
    state,
  ).replace('admin: { listen: "127.0.0.1:0" }', 'admin: { listen: "127.0.0.1:0", token: s3cret }');
  const c = await startSidecar(yaml);
  t.teardown(async () => {
    await c.stop();
    await base.close();
    await can.close();
  });
  await c.sidecar.rollout.start();
  t.equal(c.sidecar.traffic.weight().canary, 50, 'rollout at its first step');
  const post = (body: unknown, token: string | null = 's3cret') =>
    fetch(`${c.adminUrl}/api/v1/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  const labels = { alertname: 'CheckoutErrors', service: 'shop', severity: 'page', version: 'v2' };
  t.equal((await post(payload('firing', labels), null)).status, 401, 'no token: 401');
  t.equal((await post(payload('firing', labels), 'wrong')).status, 401, 'wrong token: 401');
  t.equal(c.sidecar.rollout.machine.state.phase, 'progressing', 'an unauthenticated alert changed nothing');

  for (const bad of [
    '{not json',
    JSON.stringify({ alerts: 'x' }),
    JSON.stringify({ alerts: [{ status: 'firing' }] }),
    JSON.stringify({ alerts: [{ status: 'burning', labels: {} }] }),
  ]) {
    t.equal((await post(bad)).status, 400, `malformed payload ${bad.slice(0, 30)}: 400`);
  }

  let r: any = await (await post(payload('resolved', labels))).json();
  t.equal(r.action, 'none', 'a resolved alert changes nothing');
  r = await (await post(payload('firing', { ...labels, service: 'search' }))).json();
  t.equal(r.action, 'none', 'a firing alert matching no entry changes nothing');
  t.same(r.matched, []);
  t.equal(c.sidecar.rollout.machine.state.phase, 'progressing');

  const res = await post(payload('firing', labels));
  t.equal(res.status, 200);
  r = await res.json();
  t.equal(r.action, 'rolled-back');
  t.match(r.reason, /CheckoutErrors\{service="shop", severity="page", version="v2"\}: Checkout errors above 2 %/);
  t.equal(c.sidecar.rollout.machine.state.phase, 'rolledback');
  t.equal(c.sidecar.traffic.weight().canary, 0, 'traffic back on the baseline');
  const rb = c.sidecar.rollout.audit.rollbacks(1)[0];
  t.equal(rb.source, 'webhook');
  t.match(rb.reason, /Alertmanager alert \(rollout\.abortOn\): CheckoutErrors/);
  const audit = readFileSync(join(state, 'audit.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const rec = audit.find((l) => l.type === 'alert-rollback');
  t.ok(rec, 'an alert-rollback audit record');
  t.same(rec.alert.labels, labels, 'with the alert labels');
  t.equal(rec.alert.fingerprint, 'c0ffee1234567890');

  r = await (await post(payload('firing', { alertname: 'CanaryHighErrorRate' }))).json();
  t.equal(r.action, 'none', 'no rollout running: acknowledged, nothing to roll back');
  t.same(r.matched, ['CanaryHighErrorRate{}: Checkout errors above 2 %']);
});
