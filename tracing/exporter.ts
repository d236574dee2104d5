/**
 * The span export queue and its OTLP/HTTP sender, bounded every way: at most `maxQueueSize` finished spans
 * wait (a span that finds the queue full is dropped and counted: tracing never grows memory or slows the
 * proxy), at most `maxBatchSize` go in one request, one request is in flight at a time, each has a timeout,
 * and a failed batch is dropped and counted, not retried — a receiver that is down sees one request per
 * interval, never a retry storm. The same bounds as the OpenTelemetry SDK's BatchSpanProcessor defaults.
 */
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { encodeExport, type Resource } from './otlp.js';
import type { TracingMetrics } from './metrics.js';
import type { ServerSpan } from './span.js';

export interface ExportSettings {
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
  maxQueueSize: number;
  maxBatchSize: number;
  intervalMs: number;
  resource: Resource;
}

/** The traces endpoint of an OTLP/HTTP url: a base URL gets /v1/traces (OTEL_EXPORTER_OTLP_ENDPOINT's rule). */
export function tracesEndpoint(url: string): URL {
  const u = new URL(url);
  if (!u.pathname.endsWith('/v1/traces')) u.pathname = `${u.pathname.replace(/\/+$/, '')}/v1/traces`;
  return u;
}

export class SpanExporter {
  #s: ExportSettings;
  #endpoint: URL;
  readonly #metrics: TracingMetrics;
  readonly #onFailure: (reason: string, detail: string) => void;
  /** finished requests (each a server span and its attempts), oldest first */
  #queue: ServerSpan[] = [];
  #queuedSpans = 0;
  #inflight: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #soon = false;
  readonly #http = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  readonly #https = new HttpsAgent({ keepAlive: true, maxSockets: 1 });

  constructor(settings: ExportSettings, metrics: TracingMetrics, onFailure: (reason: string, detail: string) => void) {
    this.#s = settings;
    this.#endpoint = tracesEndpoint(settings.url);
    this.#metrics = metrics;
    this.#onFailure = onFailure;
    this.#startTimer();
  }

  configure(settings: ExportSettings): void {
    const interval = settings.intervalMs !== this.#s.intervalMs;
    this.#s = settings;
    this.#endpoint = tracesEndpoint(settings.url);
    if (interval && this.#timer !== null) this.#startTimer();
  }

  get queued(): number {
    return this.#queuedSpans;
  }

  /** A request's spans, finished: queued whole or dropped whole. O(1), no I/O. */
  add(span: ServerSpan): void {
    const n = span.size;
    if (this.#queuedSpans + n > this.#s.maxQueueSize) {
      this.#metrics.dropped.labels('queue_full').inc(n);
      return;
    }
    this.#queue.push(span);
    this.#queuedSpans += n;
    // a full batch goes at once (on the next turn of the event loop, off this request's stack)
    if (this.#queuedSpans >= this.#s.maxBatchSize && this.#inflight === null && !this.#soon) {
      this.#soon = true;
      setImmediate(() => {
        this.#soon = false;
        this.#flushOne();
      });
    }
  }

  #startTimer(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = setInterval(() => this.#flushOne(), this.#s.intervalMs);
    this.#timer.unref();
  }

  /** Sends one batch unless one is in flight; a full queue sends the next batch once this one is answered. */
  #flushOne(): Promise<void> {
    if (this.#inflight !== null || this.#queue.length === 0) return this.#inflight ?? Promise.resolve();
    const batch: ServerSpan[] = [];
    let spans = 0;
    while (this.#queue.length > 0 && (batch.length === 0 || spans + this.#queue[0].size <= this.#s.maxBatchSize)) {
      const s = this.#queue.shift()!;
      batch.push(s);
      spans += s.size;
    }
    this.#queuedSpans -= spans;
    this.#inflight = this.#post(encodeExport(batch, this.#s.resource)).then(
      () => this.#metrics.exported.inc(spans),
      (e: Error & { reason?: string }) => {
        const reason = e.reason ?? 'network';
        this.#metrics.exportFailures.labels(reason).inc();
        this.#metrics.dropped.labels('export_failed').inc(spans);
        this.#onFailure(reason, e.message);
      },
    );
    return this.#inflight.then(() => {
      this.#inflight = null;
      if (this.#queuedSpans >= this.#s.maxBatchSize) return this.#flushOne();
    });
  }

  #post(body: string): Promise<void> {
    const u = this.#endpoint;
    const https = u.protocol === 'https:';
    return new Promise<void>((resolve, reject) => {
      const fail = (reason: string, message: string) => reject(Object.assign(new Error(message), { reason }));
      const req = (https ? httpsRequest : httpRequest)(
        u,
        {
          method: 'POST',
          agent: https ? this.#https : this.#http,
          headers: { ...this.#s.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          timeout: this.#s.timeoutMs,
        },
        (res: IncomingMessage) => {
          res.resume(); // the body (a partial-success note at most) is not needed
          res.on('end', () => {
            const code = res.statusCode ?? 0;
            if (code >= 200 && code < 300) resolve();
            else fail('status', `OTLP receiver answered ${code}`);
          });
          res.on('error', (err) => fail('network', err.message));
        },
      );
      const timer = setTimeout(() => {
        req.destroy();
        fail('timeout', `no answer within tracing.otlp.timeout (${this.#s.timeoutMs} ms)`);
      }, this.#s.timeoutMs);
      req.on('close', () => clearTimeout(timer));
      req.on('timeout', () => {
        req.destroy();
        fail('timeout', `no answer within tracing.otlp.timeout (${this.#s.timeoutMs} ms)`);
      });
      req.on('error', (err) => fail('network', `${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`.trim()));
      req.end(body);
    });
  }

  /** Exports what is queued (batch by batch), within `deadlineMs`; then stops. What is left is dropped and counted. */
  async shutdown(deadlineMs: number): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    const until = performance.now() + deadlineMs;
    let wait: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((r) => (wait = setTimeout(r, deadlineMs)));
    const drain = (async () => {
      while ((this.#queue.length > 0 || this.#inflight !== null) && performance.now() < until) {
        await (this.#inflight ?? this.#flushOne());
      }
    })();
    await Promise.race([drain, deadline]);
    clearTimeout(wait);
    if (this.#queue.length > 0) {
      this.#metrics.dropped.labels('export_failed').inc(this.#queuedSpans);
      this.#queue = [];
      this.#queuedSpans = 0;
    }
    this.#http.destroy();
    this.#https.destroy();
  }
}
