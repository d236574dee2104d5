/**
 * The response-direction stages every exchange goes through: the observation (the windowed record the
 * analysis reads, and the Prometheus series) and the access log. They used to run in the composition root,
 * reached by a callback that went up from the proxy and back down; now they sit in the chain.
 */
import type { Observation } from '../core/index.js';
import type { Exchange } from './exchange.js';
import { nameIs } from './header-fields.js';
import type { ProxyMetrics } from './metrics.js';
import type { WindowedRecorder } from './record.js';
import type { ExchangeFailure, ProxyStage } from './stages.js';

/** recorder.record + metrics.observe: one call each, nothing allocated. */
export class ObservationStage implements ProxyStage {
  readonly name = 'observation';
  readonly #recorder: WindowedRecorder;
  readonly #metrics: ProxyMetrics;

  constructor(recorder: WindowedRecorder, metrics: ProxyMetrics) {
    this.#recorder = recorder;
    this.#metrics = metrics;
  }

  observe(o: Observation): void {
    this.#recorder.record(o);
    this.#metrics.observe(o);
  }
}

/** The structural shape of the logger (pino). */
export interface AccessLogSink {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * The access log: every upstream failure (warn, with its cause), every 5xx, and a sample of the rest
 * (log.accessLogSampleRate; "errors always"). Always in the chain: failures are logged at any sample rate.
 */
export class AccessLogStage implements ProxyStage {
  readonly name = 'access-log';
  sampleRate: number;
  readonly #log: AccessLogSink;
  readonly #random: () => number;

  constructor(o: { log: AccessLogSink; sampleRate: number; random?: () => number }) {
    this.#log = o.log;
    this.sampleRate = o.sampleRate;
    this.#random = o.random ?? Math.random;
  }

  observe(o: Observation, ex: Exchange | null, failure?: ExchangeFailure): void {
    if (failure?.err !== undefined) {
      const err = failure.err as { code?: string; message?: string };
      this.#log.warn(
        {
          event: 'upstream_error',
          version: o.version,
          status: o.status,
          outcome: o.outcome,
          code: failure.code,
          cause: err.code ?? err.message,
          method: ex?.req.method,
          url: ex?.req.url,
          trace_id: traceIdOf(ex),
        },
        `upstream ${o.version} failed: ${o.outcome}`,
      );
    } else if (o.status >= 500 || (this.sampleRate > 0 && this.#random() < this.sampleRate)) {
      this.#log.info(
        {
          event: 'access',
          version: o.version,
          status: o.status,
          ms: Math.round(o.durationMs * 100) / 100,
          method: ex?.req.method,
          url: ex?.req.url,
          rule: ex?.rule ?? undefined,
          faulted: o.faulted || undefined,
          trace_id: traceIdOf(ex),
        },
        'request',
      );
    }
  }
}

/**
 * The W3C trace id the request was forwarded with (the received traceparent's, or the tracing stage's), so a
 * log line and a trace can be joined; `trace_id` as OpenTelemetry's log correlation names it. Read only for
 * a line that is written: the forwarded traceparent is the last one in the headers (proxy/headers.ts).
 */
function traceIdOf(ex: Exchange | null): string | undefined {
  const h = ex?.upstreamHeaders;
  if (h === undefined) return undefined;
  for (let i = h.length - 2; i >= 0; i -= 2) if (h[i].length === 11 && nameIs(h[i], 'traceparent')) return h[i + 1].slice(3, 35);
  return undefined;
}
