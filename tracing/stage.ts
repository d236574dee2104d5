/**
 * The tracing stage of the request path (proxy/stages.ts). In the chain only while `tracing` is configured:
 * with it absent the chain is the one without tracing, stage for stage.
 *
 * Sampling is parent-based, then trace-id ratio (OpenTelemetry's ParentBased(TraceIdRatioBased)): a valid
 * received traceparent decides by its sampled flag; without one, `sampleRatio` decides on a new trace id.
 * An unsampled request creates no span: a received traceparent is passed on untouched (flag 00), and a
 * request without one is forwarded with a new trace id and flag 00, so the app's parent-based sampler
 * follows canaryd's decision. A sampled request gets a SERVER span, one CLIENT span per upstream attempt,
 * and each attempt forwards `00-<trace>-<its client span>-01`. tracestate passes through as it came.
 */
import type { Observation, VersionName } from '../core/index.js';
import { isValidTraceparent, type Exchange, type ExchangeFailure, type ProxyStage } from '../proxy/index.js';
import type { SpanExporter } from './exporter.js';
import { newSpanId, newTraceId, parentSampled, ratioSampled } from './ids.js';
import { ServerSpan } from './span.js';

/** `name` equals `lower` ignoring ASCII case (no lowercased copy per header). */
function nameIs(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) if ((name.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** The first valid traceparent of the request (the one proxy/headers.ts keeps), or null. No allocation. */
function receivedTraceparent(raw: readonly string[]): string | null {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (nameIs(name, 'traceparent') && isValidTraceparent(raw[i + 1])) return raw[i + 1];
  }
  return null;
}

function receivedTracestate(raw: readonly string[]): string {
  let out = '';
  for (let i = 0; i < raw.length; i += 2) if (nameIs(raw[i], 'tracestate')) out = out === '' ? raw[i + 1] : `${out},${raw[i + 1]}`;
  return out;
}

export class TracingStage implements ProxyStage {
  readonly name = 'tracing';
  #exporter: SpanExporter | null = null;
  #ratio = 1;
  #releases: Record<VersionName, string> = { baseline: '', canary: '' };
  #changed: () => void = () => undefined;

  get active(): boolean {
    return this.#exporter !== null;
  }

  bind(changed: () => void): void {
    this.#changed = changed;
  }

  /** On (an exporter) or off (null); the chain is recompiled when that changes. */
  configure(exporter: SpanExporter | null, ratio: number, releases: Record<VersionName, string>): void {
    const was = this.#exporter !== null;
    this.#exporter = exporter;
    this.#ratio = ratio;
    this.#releases = releases;
    if (was !== (exporter !== null)) this.#changed();
  }

  prepare(ex: Exchange): void {
    const raw = ex.req.rawHeaders;
    const parent = receivedTraceparent(raw);
    if (parent !== null) {
      if (!parentSampled(parent)) return; // passed on as it came: nothing created
      const span = new ServerSpan(parent.slice(3, 35), newSpanId(), parent.slice(36, 52), ex.startedAt);
      span.traceState = receivedTracestate(raw);
      ex.trace = span;
      ex.traceparent = `00-${span.traceId}-${span.spanId}-01`;
      return;
    }
    const traceId = newTraceId();
    if (!ratioSampled(traceId, this.#ratio)) {
      ex.traceparent = `00-${traceId}-${newSpanId()}-00`;
      return;
    }
    const span = new ServerSpan(traceId, newSpanId(), '', ex.startedAt);
    ex.trace = span;
    ex.traceparent = `00-${traceId}-${span.spanId}-01`;
  }

  observe(o: Observation, ex: Exchange | null, failure?: ExchangeFailure): void {
    const span = ex?.trace;
    if (!(span instanceof ServerSpan)) return;
    ex!.trace = null;
    span.end(o, ex!, failure, this.#releases[o.version]);
    this.#exporter?.add(span);
  }
}
