/**
 * What recording a request's spans costs, in process (no network): canaryd's own tracer (tracing/) against
 * the OpenTelemetry JS SDK (@opentelemetry/sdk-trace-base with a BatchSpanProcessor and an exporter that
 * drops what it is given), for the two cases the proxy meets:
 *   unsampled  a request without a traceparent at sampleRatio 0: the sampling decision and the traceparent
 *              to forward (SDK: startSpan + end of the non-recording span + W3C inject)
 *   sampled    a server span and one client span with canaryd's attributes, ended and queued
 *              (ours: plus the OTLP JSON encoding, amortised over 512-span batches; the SDK's encoding is
 *              not included, its OTLP transformer is another package)
 * CPU nanoseconds per request (process.cpuUsage), the fastest of 5 runs.
 *
 * canaryd does not depend on the SDK; install it outside the checkout and point at it:
 *   mkdir -p /tmp/otel-sdk && cd /tmp/otel-sdk && npm init -y && npm install @opentelemetry/sdk-trace-base@1 @opentelemetry/api@1
 *   OTEL_SDK_DIR=/tmp/otel-sdk node dist/bench/tracing-sdk-cost.js
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import type { Config } from '../config/index.js';
import type { Exchange } from '../proxy/index.js';
import { Tracing, encodeExport } from '../tracing/index.js';
import { ServerSpan } from '../tracing/span.js';

const dir = process.env.OTEL_SDK_DIR ?? '/tmp/otel-sdk';
const req = createRequire(join(dir, 'node_modules', 'x.js'));
const api: any = req('@opentelemetry/api');
const sdk: any = req('@opentelemetry/sdk-trace-base');
const sdkVersion: string = req('@opentelemetry/sdk-trace-base/package.json').version;
const core: any = req('@opentelemetry/core');

function cpuNsPerOp(n: number, fn: () => void): number {
  let best = Infinity;
  for (let run = 0; run < 5; run++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) fn();
    const d = process.cpuUsage(t0);
    best = Math.min(best, ((d.user + d.system) * 1000) / n);
  }
  return best;
}

const fakeReq = {
  method: 'GET',
  url: '/items/42?x=1',
  headers: { host: '127.0.0.1:8080' },
  httpVersion: '1.1',
  rawHeaders: ['Host', '127.0.0.1:8080', 'User-Agent', 'wrk'],
  socket: { remoteAddress: '127.0.0.1' },
};
const exchange = () =>
  ({
    req: fakeReq,
    startedAt: performance.now(),
    h2: false,
    clientKey: '127.0.0.1',
    rule: null,
    faultKinds: null,
    attempts: 1,
    upstreamStatus: 200,
    upstream: { origin: 'http://127.0.0.1:9000' },
    traceparent: null,
    trace: null,
  }) as unknown as Exchange;
const obs = { version: 'baseline' as const, status: 200, durationMs: 1, outcome: 'ok' as const, faulted: false };

function ours(ratio: number): { unsampled: number; sampled: number; encodePerSpan: number } {
  const config = {
    upstreams: { baseline: { version: 'v1' }, canary: { version: 'v2' } },
    tracing: {
      otlp: { url: 'http://127.0.0.1:9', headers: {}, timeout: 1000 },
      sampleRatio: ratio,
      serviceName: 'canaryd',
      batch: { maxQueueSize: 1e9, maxBatchSize: 1e9, interval: 3_600_000 },
    },
  } as unknown as Config;
  const tracing = new Tracing({ registry: new Registry(), serviceVersion: 'bench', onExportFailure: () => undefined });
  tracing.configure({ ...config, tracing: { ...config.tracing!, sampleRatio: 0 } });
  const stage = tracing.stage;
  const unsampled = cpuNsPerOp(300_000, () => {
    const ex = exchange();
    stage.prepare(ex);
    stage.observe(obs, ex);
  });
  // sampled: record into a bounded array ourselves (the exporter's queue would need a receiver)
  const spans: ServerSpan[] = [];
  const headers = ['host', 'h', 'traceparent', ''];
  const sampled = cpuNsPerOp(100_000, () => {
    const ex = exchange();
    const s = new ServerSpan('0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331', '', ex.startedAt);
    s.attempt(ex, headers);
    s.end(obs, ex, undefined, 'v1');
    if (spans.push(s) >= 256) spans.length = 0;
  });
  const batch: ServerSpan[] = [];
  for (let i = 0; i < 256; i++) {
    const ex = exchange();
    const s = new ServerSpan('0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331', '', ex.startedAt);
    s.attempt(ex, headers);
    s.end(obs, ex, undefined, 'v1');
    batch.push(s);
  }
  const encodePerSpan = cpuNsPerOp(200, () => encodeExport(batch, { serviceName: 'canaryd', serviceVersion: 'bench' })) / 512;
  void tracing.stop(0);
  return { unsampled, sampled, encodePerSpan };
}

function otelSdk(ratio: number): number {
  const exporter = { export: (_spans: unknown[], cb: (r: { code: number }) => void) => cb({ code: 0 }), shutdown: async () => undefined };
  const provider = new sdk.BasicTracerProvider({ sampler: new sdk.ParentBasedSampler({ root: new sdk.TraceIdRatioBasedSampler(ratio) }) });
  provider.addSpanProcessor(
    new sdk.BatchSpanProcessor(exporter, { maxQueueSize: 2048, maxExportBatchSize: 512, scheduledDelayMillis: 5000 }),
  );
  const tracer = provider.getTracer('canaryd');
  const propagator = new core.W3CTraceContextPropagator();
  const setter = { set: (c: Record<string, string>, k: string, v: string) => (c[k] = v) };
  const root = api.ROOT_CONTEXT;
  return cpuNsPerOp(ratio > 0 ? 100_000 : 300_000, () => {
    const server = tracer.startSpan(
      'GET',
      {
        kind: api.SpanKind.SERVER,
        attributes: {
          'http.request.method': 'GET',
          'url.path': '/items/42',
          'url.scheme': 'http',
          'network.protocol.version': '1.1',
          'server.address': '127.0.0.1',
          'server.port': 8080,
          'client.address': '127.0.0.1',
        },
      },
      root,
    );
    const ctx = api.trace.setSpan(root, server);
    let carrier: Record<string, string> = {};
    if (ratio > 0) {
      const client = tracer.startSpan(
        'GET',
        { kind: api.SpanKind.CLIENT, attributes: { 'http.request.method': 'GET', 'server.address': '127.0.0.1', 'server.port': 9000 } },
        ctx,
      );
      propagator.inject(api.trace.setSpan(root, client), carrier, setter);
      client.setAttribute('http.response.status_code', 200);
      client.end();
    } else propagator.inject(ctx, carrier, setter);
    server.setAttributes({
      'http.response.status_code': 200,
      'canaryd.version': 'baseline',
      'canaryd.release': 'v1',
      'canaryd.route': 'weight',
      'canaryd.retries': 0,
      'canaryd.outcome': 'ok',
    });
    server.end();
    carrier = {};
  });
}

const o0 = ours(0);
const sdk0 = otelSdk(0);
const sdk1 = otelSdk(1);
console.log(`| per request | canaryd's tracer (tracing/) | OpenTelemetry JS SDK ${sdkVersion} |`);
console.log('|---|---:|---:|');
console.log(
  `| unsampled (no traceparent, ratio 0): decision + traceparent to forward | ${o0.unsampled.toFixed(0)} ns | ${sdk0.toFixed(0)} ns |`,
);
console.log(
  `| sampled: server + client span recorded, ended, queued | ${o0.sampled.toFixed(0)} ns (+ ${(o0.encodePerSpan * 2).toFixed(0)} ns OTLP JSON encoding of its 2 spans) | ${sdk1.toFixed(0)} ns (encoding not included) |`,
);
process.exit(0);
