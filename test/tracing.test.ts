/**
 * OpenTelemetry spans (docs/observability.md "Tracing"), end to end: a real canaryd process, real upstreams
 * and a real OTLP/HTTP receiver started here (POST /v1/traces, the JSON body parsed as an
 * ExportTraceServiceRequest). Checks the span tree and its attributes, parent-based and ratio sampling, the
 * forwarded traceparent, the trace id in the access log, export on shutdown, and that a receiver that is
 * down or stalls costs canaryd nothing but counted drops.
 */
import t from 'tap';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { request, Agent } from 'undici';
import { startEchoUpstream, type EchoUpstream, type SeenRequest } from './helpers/echo-upstream.js';
import { configYaml, spawnCanaryd, type CanarydProcess } from './helpers/canaryd.js';
import { testPatience } from './helpers/admin.js';

interface Attr {
  key: string;
  value: { stringValue?: string; intValue?: string; boolValue?: boolean };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceState?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Attr[];
  status: { code: number; message?: string };
  resource: Record<string, unknown>;
}

interface Receiver {
  url: string;
  spans: OtlpSpan[];
  requests: number;
  /** 'ok' answers 200; 'hang' reads the body and never answers */
  mode: 'ok' | 'hang';
  waitFor(pred: (s: OtlpSpan[]) => boolean, what: string): Promise<void>;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const ev = new EventEmitter();
  const r = { spans: [] as OtlpSpan[], requests: 0, mode: 'ok' as 'ok' | 'hang' };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      r.requests++;
      if (req.method !== 'POST' || req.url !== '/v1/traces' || req.headers['content-type'] !== 'application/json') {
        res.writeHead(400).end();
        return;
      }
      if (r.mode === 'hang') return;
      const doc = JSON.parse(body) as {
        resourceSpans: Array<{ resource: { attributes: Attr[] }; scopeSpans: Array<{ spans: Array<Omit<OtlpSpan, 'resource'>> }> }>;
      };
      for (const rs of doc.resourceSpans) {
        const resource = attrs(rs.resource.attributes);
        for (const ss of rs.scopeSpans) for (const s of ss.spans) r.spans.push({ ...s, resource });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      ev.emit('spans');
    });
  });
  server.keepAliveTimeout = 100;
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(r, {
    url: `http://127.0.0.1:${port}`,
    waitFor: (pred: (s: OtlpSpan[]) => boolean, what: string) =>
      new Promise<void>((resolve, reject) => {
        if (pred(r.spans)) return resolve();
        const check = () => {
          if (!pred(r.spans)) return;
          clearTimeout(timer);
          ev.off('spans', check);
          resolve();
        };
        const timer = setTimeout(() => {
          ev.off('spans', check);
          reject(new Error(`spans not seen: ${what} (have ${r.spans.length})`));
        }, 15_000 * testPatience());
        ev.on('spans', check);
      }),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((res) => server.close(() => res()));
    },
  });
}

function attrs(list: Attr[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of list) out[a.key] = a.value.stringValue ?? (a.value.intValue !== undefined ? Number(a.value.intValue) : a.value.boolValue);
  return out;
}

const hex = (n: number) => Array.from({ length: n }, () => Math.floor(Math.random() * 16).toString(16)).join('');
const dispatcher = new Agent({ connections: 8 });
t.teardown(() => dispatcher.close());

async function get(url: string, headers: Record<string, string> = {}): Promise<number> {
  const r = await request(url, { dispatcher, headers });
  await r.body.dump();
  return r.statusCode;
}

async function metric(p: CanarydProcess, name: string): Promise<number> {
  const r = await request(`${p.adminUrl}/metrics`, { dispatcher });
  const text = await r.body.text();
  let sum = 0;
  for (const line of text.split('\n'))
    if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) sum += Number(line.split(' ').pop());
  return sum;
}

/** Polls a condition (bounded in count and time): metrics have no event to await. */
async function eventually(cond: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 150 * testPatience(); i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never: ${what}`);
}

const seenTrace = (u: EchoUpstream, traceId: string): SeenRequest | undefined =>
  u.seen.find((s) => String(s.headers.traceparent ?? '').slice(3, 35) === traceId);

const tracing = (url: string, extra = '') => `tracing: { otlp: { url: "${url}" }, sampleRatio: 1, batch: { interval: 50ms }${extra} }`;

t.test('a real canaryd process exporting to a real OTLP receiver', async (t) => {
  const receiver = await startReceiver();
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const rules = `routing:
  canaryWeight: 0
  rules:
    - { name: beta, match: { header: { x-beta: "1" } }, to: canary }
    - { name: dead, match: { header: { x-dead: "1" } }, to: canary }
faults:
  enabled: true
  maxErrorRate: 1
  rules:
    - { name: break-it, probability: 1, duration: 10m, match: { path: /broken }, abort: { status: 503 } }
`;
  const yaml = configYaml(base.url, can.url, `${rules}${tracing(receiver.url)}\nproxy: { retries: 1 }\n`).replace(
    'log: { level: silent }',
    'log: { level: info, accessLogSampleRate: 1 }',
  );
  const p = await spawnCanaryd(yaml);
  t.teardown(async () => {
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await Promise.all([receiver.close(), base.close(), canaryUp && can.close()]);
  });
  let canaryUp = true;

  await t.test('sampled parent: a server span, its client span, the forwarded traceparent', async (t) => {
    const traceId = hex(32);
    const parent = hex(16);
    t.equal(await get(`${p.url}/items/7?q=secret`, { traceparent: `00-${traceId}-${parent}-01`, tracestate: 'vendor=abc' }), 200);
    await receiver.waitFor((s) => s.filter((x) => x.traceId === traceId).length >= 2, 'server + client');
    const spans = receiver.spans.filter((x) => x.traceId === traceId);
    t.equal(spans.length, 2, 'one server span and one client span');
    const server = spans.find((s) => s.kind === 2)!;
    const client = spans.find((s) => s.kind === 3)!;
    t.equal(server.parentSpanId, parent, "the server span's parent is the incoming traceparent's span");
    t.equal(client.parentSpanId, server.spanId, 'the client span is a child of the server span');
    t.equal(server.traceState, 'vendor=abc', 'tracestate kept on the span');
    t.match(server.resource, { 'service.name': 'canaryd' });
    t.match(attrs(server.attributes), {
      'http.request.method': 'GET',
      'url.path': '/items/7',
      'http.response.status_code': 200,
      'network.protocol.version': '1.1',
      'server.address': '127.0.0.1',
      'canaryd.version': 'baseline',
      'canaryd.release': 'v1',
      'canaryd.route': 'weight',
      'canaryd.retries': 0,
    });
    t.notOk(JSON.stringify(server.attributes).includes('secret'), 'the query is not exported');
    t.equal(server.status.code, 0, 'a 200 leaves the status unset');
    t.match(attrs(client.attributes), { 'http.request.method': 'GET', 'server.address': '127.0.0.1', 'server.port': base.port });
    t.ok(BigInt(server.startTimeUnixNano) <= BigInt(client.startTimeUnixNano), 'the client span starts inside the server span');
    t.ok(BigInt(client.endTimeUnixNano) <= BigInt(server.endTimeUnixNano), 'and ends inside it');
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    t.ok(nowNs - BigInt(server.startTimeUnixNano) < 3_600_000_000_000n, 'times are Unix nanoseconds');
    const seen = seenTrace(base, traceId)!;
    t.equal(seen.headers.traceparent, `00-${traceId}-${client.spanId}-01`, 'forwarded with the client span as parent, sampled');
    t.equal(seen.headers.tracestate, 'vendor=abc', 'tracestate passed through');
    const line = await p.waitForLog((l) => l.event === 'access' && l.trace_id === traceId);
    t.match(line, { url: '/items/7?q=secret', status: 200 }, 'the access log line carries the trace id');
  });

  await t.test('unsampled parent: passed on as it came, no span', async (t) => {
    const traceId = hex(32);
    const tp = `00-${traceId}-${hex(16)}-00`;
    t.equal(await get(`${p.url}/quiet`, { traceparent: tp }), 200);
    t.equal(seenTrace(base, traceId)?.headers.traceparent, tp, 'forwarded unchanged, flag 00');
    // spans leave in order: once a later sampled request's spans are in, the unsampled one had its chance
    const marker = hex(32);
    await get(`${p.url}/marker`, { traceparent: `00-${marker}-${hex(16)}-01` });
    await receiver.waitFor((s) => s.some((x) => x.traceId === marker && x.kind === 3), 'the marker');
    t.equal(receiver.spans.filter((x) => x.traceId === traceId).length, 0, 'no span for an unsampled parent');
  });

  await t.test('no parent at sampleRatio 1: a root span with the trace id the upstream saw', async (t) => {
    const before = base.seen.length;
    t.equal(await get(`${p.url}/root`), 200);
    const tp = String(base.seen[before].headers.traceparent);
    t.match(tp, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/, 'a new sampled traceparent');
    const traceId = tp.slice(3, 35);
    await receiver.waitFor((s) => s.filter((x) => x.traceId === traceId).length >= 2, 'root trace');
    const server = receiver.spans.find((x) => x.traceId === traceId && x.kind === 2)!;
    t.equal(server.parentSpanId ?? '', '', 'a root span');
  });

  await t.test('a routing rule and the canary version', async (t) => {
    const traceId = hex(32);
    await get(`${p.url}/beta`, { traceparent: `00-${traceId}-${hex(16)}-01`, 'x-beta': '1' });
    await receiver.waitFor((s) => s.some((x) => x.traceId === traceId && x.kind === 3), 'rule trace');
    const server = receiver.spans.find((x) => x.traceId === traceId && x.kind === 2)!;
    t.match(attrs(server.attributes), {
      'canaryd.version': 'canary',
      'canaryd.release': 'v2',
      'canaryd.route': 'rule',
      'canaryd.rule': 'beta',
    });
    const client = receiver.spans.find((x) => x.traceId === traceId && x.kind === 3)!;
    t.match(attrs(client.attributes), { 'server.port': can.port });
  });

  await t.test('an injected fault: the fault kind, an error status, no upstream attempt', async (t) => {
    const traceId = hex(32);
    t.equal(await get(`${p.url}/broken`, { traceparent: `00-${traceId}-${hex(16)}-01` }), 503);
    await receiver.waitFor((s) => s.some((x) => x.traceId === traceId), 'fault trace');
    const marker = hex(32);
    await get(`${p.url}/marker2`, { traceparent: `00-${marker}-${hex(16)}-01` });
    await receiver.waitFor((s) => s.some((x) => x.traceId === marker && x.kind === 3), 'the marker');
    const spans = receiver.spans.filter((x) => x.traceId === traceId);
    t.equal(spans.length, 1, 'the server span only: the upstream was never called');
    t.match(attrs(spans[0].attributes), { 'canaryd.fault': 'abort', 'http.response.status_code': 503, 'error.type': '503' });
    t.equal(spans[0].status.code, 2, 'status error on a 5xx');
  });

  await t.test('upstream refused, retried once: two client spans, both failed; the server span is an error', async (t) => {
    // the canary upstream goes away: its port refuses, the idempotent request is retried once (proxy.retries)
    await can.close();
    canaryUp = false;
    const traceId = hex(32);
    t.equal(await get(`${p.url}/gone`, { traceparent: `00-${traceId}-${hex(16)}-01`, 'x-dead': '1' }), 502);
    await receiver.waitFor((s) => s.filter((x) => x.traceId === traceId).length >= 3, 'retry trace');
    const spans = receiver.spans.filter((x) => x.traceId === traceId);
    const server = spans.find((s) => s.kind === 2)!;
    const clients = spans.filter((s) => s.kind === 3);
    t.equal(clients.length, 2, 'one client span per attempt');
    t.ok(
      clients.every((c) => c.parentSpanId === server.spanId && c.status.code === 2 && attrs(c.attributes)['error.type'] === 'ECONNREFUSED'),
      'both attempts failed with ECONNREFUSED',
    );
    t.same(
      clients.map((c) => attrs(c.attributes)['http.request.resend_count']).sort(),
      [1, undefined].sort(),
      'the retry has resend_count 1',
    );
    t.match(attrs(server.attributes), {
      'canaryd.retries': 1,
      'http.response.status_code': 502,
      'error.type': 'CANARYD_ERR_UPSTREAM_REFUSED',
    });
    t.equal(server.status.code, 2);
    const received = receiver.spans.length;
    await eventually(
      async () => (await metric(p, 'canaryd_tracing_spans_exported_total')) >= received,
      'every received span counted as exported',
    );
  });

  await t.test('reloaded to sampleRatio 0 with a long interval: nothing without a sampled parent; spans flushed at shutdown', async (t) => {
    const quiet = tracing(receiver.url).replace('sampleRatio: 1', 'sampleRatio: 0').replace('interval: 50ms', 'interval: 1h');
    writeFileSync(p.configPath, readFileSync(p.configPath, 'utf8').replace(tracing(receiver.url), quiet));
    p.child.kill('SIGHUP');
    await p.waitForLog((l) => l.event === 'config_applied' && l.source === 'SIGHUP');
    const before = base.seen.length;
    for (let i = 0; i < 5; i++) t.equal(await get(`${p.url}/unsampled/${i}`), 200);
    const unsampled = base.seen.slice(before).map((s) => String(s.headers.traceparent));
    t.ok(
      unsampled.every((tp) => /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/.test(tp)),
      'forwarded with a new trace id and flag 00',
    );
    const marker = hex(32);
    await get(`${p.url}/last`, { traceparent: `00-${marker}-${hex(16)}-01` });
    t.notOk(
      receiver.spans.some((x) => x.traceId === marker),
      'not exported yet (interval 1h)',
    );
    p.child.kill('SIGTERM');
    t.equal(await p.exited, 0);
    t.ok(
      receiver.spans.some((x) => x.traceId === marker && x.kind === 2),
      "the last request's spans left on shutdown",
    );
    const ids = new Set(unsampled.map((tp) => tp.slice(3, 35)));
    t.notOk(
      receiver.spans.some((x) => ids.has(x.traceId)),
      'no span at sampleRatio 0',
    );
  });
});

t.test('a receiver that stalls: canaryd keeps serving, the queue stays bounded, drops and failures are counted', async (t) => {
  const receiver = await startReceiver();
  receiver.mode = 'hang';
  const base = await startEchoUpstream('baseline');
  const yaml = configYaml(
    base.url,
    base.url,
    `tracing: { otlp: { url: "${receiver.url}/v1/traces", timeout: 300ms }, sampleRatio: 1, batch: { maxQueueSize: 6, maxBatchSize: 2, interval: 50ms } }\n`,
  );
  const p = await spawnCanaryd(yaml);
  t.teardown(async () => {
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await Promise.all([receiver.close(), base.close()]);
  });
  const statuses = await Promise.all(Array.from({ length: 40 }, (_, i) => get(`${p.url}/r/${i}`)));
  t.ok(
    statuses.every((s) => s === 200),
    'every request served',
  );
  await eventually(async () => (await metric(p, 'canaryd_tracing_export_failures_total{reason="timeout"}')) >= 2, 'exports timed out');
  const posted = receiver.requests;
  t.ok(
    posted <= (await metric(p, 'canaryd_tracing_export_failures_total{reason="timeout"}')) + 1,
    'one export in flight at a time, none retried',
  );
  t.ok((await metric(p, 'canaryd_tracing_spans_dropped_total{reason="queue_full"}')) > 0, 'spans past the bound were dropped');
  t.ok((await metric(p, 'canaryd_tracing_queue_spans')) <= 6, 'the queue holds at most maxQueueSize spans');
  await eventually(
    async () => (await metric(p, 'canaryd_tracing_spans_dropped_total{reason="export_failed"}')) > 0,
    'a failed batch dropped',
  );
  // the receiver goes away altogether: refused exports, counted; requests still served
  await receiver.close();
  for (let i = 0; i < 10; i++) t.equal(await get(`${p.url}/after/${i}`), 200);
  await eventually(async () => (await metric(p, 'canaryd_tracing_export_failures_total{reason="network"}')) >= 1, 'a refused export');
  const warn = await p.waitForLog((l) => l.event === 'tracing_export_failed');
  t.ok(warn.reason, 'the failure is logged (throttled)');
  p.child.kill('SIGTERM');
  t.equal(await p.exited, 0, 'shutdown is not held up by the dead receiver');
});

t.test('workers: 2: each data-plane worker records and exports its spans; /metrics sums them', async (t) => {
  const receiver = await startReceiver();
  const base = await startEchoUpstream('baseline');
  const p = await spawnCanaryd(configYaml(base.url, base.url, `workers: 2\n${tracing(receiver.url)}\n`));
  t.teardown(async () => {
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await Promise.all([receiver.close(), base.close()]);
  });
  const ids = Array.from({ length: 6 }, () => hex(32));
  for (const id of ids) t.equal(await get(`${p.url}/w`, { traceparent: `00-${id}-${hex(16)}-01` }), 200);
  await receiver.waitFor((s) => ids.every((id) => s.filter((x) => x.traceId === id).length === 2), 'every trace, server + client');
  for (const id of ids) t.equal(seenTrace(base, id)?.headers.traceparent?.slice(0, 35), `00-${id}`, 'forwarded in the same trace');
  await eventually(async () => (await metric(p, 'canaryd_tracing_spans_exported_total')) >= 12, 'the workers counted their exports');
  p.child.kill('SIGTERM');
  t.equal(await p.exited, 0);
});
