/**
 * Webhooks that can page, against a real local receiver: each format's body (generic, Slack, PagerDuty
 * Events v2), extra headers, the HMAC signature with its timestamp (checked here with node:crypto, as a
 * receiver would), `event` topics (default phase changes + rollbacks, never every CONTINUE), and the fault
 * kill switch and drift reaching webhooks.
 */
import t from 'tap';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml } from './helpers/canaryd.js';
import { call, startAdminSidecar, until } from './helpers/admin.js';

const TOKEN = 'hook-token';
const SECRET = 's3cret-signing-key';

interface Seen {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  body: any;
}

async function startReceiver() {
  const calls: Seen[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      calls.push({ path: req.url ?? '/', headers: req.headers, raw, body: JSON.parse(raw) });
      res.writeHead(202).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, calls, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** What a receiver does: parse t and v1, recompute HMAC-SHA256("<t>.<body>"), compare in constant time. */
function verify(header: string | undefined, raw: string): { ok: boolean; t: number } {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return { ok: false, t: 0 };
  const expected = createHmac('sha256', SECRET).update(`${m[1]}.${raw}`).digest();
  return { ok: timingSafeEqual(expected, Buffer.from(m[2], 'hex')), t: Number(m[1]) };
}

t.test('formats, headers, signature, topics; kill switch and drift notify', async (t) => {
  const rx = await startReceiver();
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const hooks = `rollout:
  analysisInterval: 100ms
  webhooks:
    - { name: ops, type: event, url: "${rx.url}/generic", secret: "${SECRET}", headers: { Authorization: "Bearer abc" }, metadata: { service: shop } }
    - { name: chat, type: event, url: "${rx.url}/slack", format: slack, events: [faults, rollback], metadata: { service: shop } }
    - { name: pager, type: event, url: "${rx.url}/pd", format: pagerduty, routingKey: R0UT1NG, events: [phase, rollback, faults, drift], metadata: { service: shop } }
    - { name: chatty, type: event, url: "${rx.url}/decisions", events: [decision] }
faults: { enabled: true, maxErrorRate: 1 }
`;
  const yaml = configYaml(base.url, can.url, hooks).replace(
    'admin: { listen: "127.0.0.1:0" }',
    `admin: { listen: "127.0.0.1:0", token: "${TOKEN}" }`,
  );
  const s = await startAdminSidecar(yaml, { file: true });
  t.teardown(async () => (await s.stop(), await rx.close(), await base.close(), await can.close()));
  const at = (p: string) => rx.calls.filter((c) => c.path === p);

  t.equal((await call(s.app, 'POST', '/api/v1/rollout/start', { token: TOKEN, body: { reason: 'deploy 42' } })).status, 200);
  await until('the start and a decision are delivered', () => at('/generic').length >= 1 && at('/decisions').length >= 1);
  t.equal((await call(s.app, 'POST', '/api/v1/rollout/rollback', { token: TOKEN, body: { reason: 'operator says no' } })).status, 200);
  await until('the rollback is delivered', () => at('/generic').length >= 2 && at('/pd').some((c) => c.body.payload.class === 'rollback'));
  t.equal((await call(s.app, 'DELETE', '/api/v1/faults?reason=game%20day%20over', { token: TOKEN })).status, 200);
  await until(
    'the kill switch is delivered',
    () => at('/slack').some((c) => /kill switch/.test(c.body.text)) && at('/pd').some((c) => c.body.payload.class === 'faults'),
  );
  await call(s.app, 'PUT', '/api/v1/weights', { body: { canary: 40 }, token: TOKEN });
  await call(s.app, 'POST', '/api/v1/config/reconcile', { token: TOKEN });
  await until('the drift revert is delivered', () => at('/pd').some((c) => c.body.payload.class === 'drift'));
  await s.sidecar.rollout.webhooks.settle();

  // generic: signed, headers, default topics only
  const generic = at('/generic');
  t.same(
    [...new Set(generic.map((c) => c.body.topic))].sort(),
    ['phase', 'rollback'],
    'the default event webhook gets phase changes and rollbacks, no decisions',
  );
  t.match(
    generic.find((c) => c.body.topic === 'phase')!.body,
    { type: 'event', phase: 'progressing', webhook: 'ops', metadata: { service: 'shop' }, text: /canaryd: PROMOTE .*deploy 42/ },
    'the start is announced, with its reason',
  );
  t.match(generic.find((c) => c.body.topic === 'rollback')!.body, { type: 'rollback', phase: 'rolledback', text: /ROLLBACK/ });
  for (const c of generic) {
    t.equal(c.headers.authorization, 'Bearer abc', 'configured headers are sent');
    t.equal(c.headers['content-type'], 'application/json');
    const v = verify(c.headers['x-canaryd-signature'] as string, c.raw);
    t.ok(v.ok, 'the signature verifies against the exact body');
    t.ok(Math.abs(v.t - Date.now() / 1000) < 300, 'its timestamp is current (a receiver refuses old ones)');
    t.notOk(verify(c.headers['x-canaryd-signature'] as string, c.raw.replace('"', '"x')).ok, 'a changed body does not verify');
  }
  t.ok(
    at('/decisions').every((c) => c.body.topic === 'decision'),
    'a webhook asking for decisions gets them',
  );
  t.equal(
    at('/slack')
      .concat(at('/pd'))
      .filter((c) => c.headers['x-canaryd-signature'] !== undefined).length,
    0,
    'no secret: unsigned',
  );

  // slack: text + blocks
  const slack = at('/slack');
  t.same(
    slack.map((c) => Object.keys(c.body).sort()),
    slack.map(() => ['blocks', 'text']),
    'slack bodies are text + blocks only',
  );
  t.match(slack.find((c) => /kill switch/.test(c.body.text))!.body, {
    text: /game day over/,
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: /kill switch/ } }, { type: 'context' }],
  });
  t.ok(
    slack.some((c) => /ROLLBACK/.test(c.body.text)),
    'rollbacks reach slack',
  );
  t.notOk(
    slack.some((c) => /progressing/.test(c.body.text)),
    'a topic not asked for (phase) does not',
  );

  // pagerduty: Events v2
  const pd = at('/pd');
  for (const c of pd) {
    t.match(c.body, {
      routing_key: 'R0UT1NG',
      event_action: /^(trigger|resolve)$/,
      dedup_key: /^canaryd-shop-/,
      payload: { summary: String, source: 'canaryd', severity: /^(critical|error|warning|info)$/ },
    });
    t.ok(c.body.payload.summary.length <= 1024);
  }
  t.match(pd.find((c) => c.body.payload.class === 'rollback')!.body, {
    event_action: 'trigger',
    payload: { severity: 'error', group: 'shop' },
  });
  t.match(pd.find((c) => c.body.payload.class === 'faults')!.body, {
    event_action: 'trigger',
    dedup_key: 'canaryd-shop-faults',
    payload: { severity: 'warning' },
  });
  t.match(pd.find((c) => c.body.payload.class === 'drift')!.body, {
    event_action: 'trigger',
    payload: { summary: /routing\.canaryWeight/ },
  });
  t.notOk(
    pd.some((c) => c.body.payload.class === 'phase' && c.body.event_action === 'trigger'),
    'a phase change never pages',
  );
});
