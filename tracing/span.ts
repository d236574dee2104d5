/**
 * The two spans canaryd records, as plain fields (no attribute maps, no context objects): a SERVER span per
 * proxied request and a CLIENT span per upstream attempt. They exist only for sampled requests; an unsampled
 * one creates neither. Times are performance.now() milliseconds; the OTLP encoder (otlp.ts) turns them
 * into Unix nanoseconds and the fields into OpenTelemetry semantic-convention attributes.
 */
import type { Observation, Outcome, VersionName } from '../core/index.js';
import type { AttemptTrace, Exchange, ExchangeFailure } from '../proxy/index.js';
import { newSpanId } from './ids.js';

/** One upstream attempt. */
export class ClientSpan {
  readonly spanId = newSpanId();
  readonly startMs: number;
  endMs = 0;
  /** 0 for the first attempt, n for the n-th retry (http.request.resend_count) */
  readonly resend: number;
  /** the upstream's origin (server.address / server.port) */
  readonly origin: string;
  status = 0;
  /** error.type when the attempt failed: the socket error's code, or the exchange's outcome */
  error: string | null = null;

  constructor(startMs: number, resend: number, origin: string) {
    this.startMs = startMs;
    this.resend = resend;
    this.origin = origin;
  }
}

/** The request as canaryd served it; its client spans are its children. */
export class ServerSpan implements AttemptTrace {
  readonly traceId: string;
  readonly spanId: string;
  /** the received traceparent's parent id, '' for a root span */
  readonly parentSpanId: string;
  /** the received tracestate, passed on in the exported span (W3C §3.3) */
  traceState = '';
  readonly startMs: number;
  endMs = 0;
  clients: ClientSpan[] | null = null;
  /** the attempt in flight */
  #open: ClientSpan | null = null;
  // filled in when the exchange ends
  method = '';
  path = '';
  host = '';
  protocol = '';
  scheme = '';
  clientAddress = '';
  status = 0;
  outcome: Outcome = 'ok';
  version: VersionName = 'baseline';
  release = '';
  rule: string | null = null;
  fault: string | null = null;
  retries = 0;
  error: string | null = null;

  constructor(traceId: string, spanId: string, parentSpanId: string, startMs: number) {
    this.traceId = traceId;
    this.spanId = spanId;
    this.parentSpanId = parentSpanId;
    this.startMs = startMs;
  }

  /** spans this request exports: itself and its attempts */
  get size(): number {
    return 1 + (this.clients === null ? 0 : this.clients.length);
  }

  attempt(ex: Exchange, headers: string[]): void {
    const now = performance.now();
    if (this.#open !== null) this.#closeAttempt(now, 'retried');
    const c = new ClientSpan(now, ex.attempts - 1, ex.upstream?.origin ?? '');
    (this.clients ??= []).push(c);
    this.#open = c;
    // the traceparent canaryd forwards is the last one in the headers (proxy/headers.ts); its parent becomes this attempt
    for (let i = headers.length - 2; i >= 0; i -= 2) {
      if (headers[i] === 'traceparent') {
        headers[i + 1] = `00-${this.traceId}-${c.spanId}-01`;
        break;
      }
    }
  }

  attemptFailed(_ex: Exchange, err: Error): void {
    const code = (err as { code?: unknown }).code;
    this.#closeAttempt(performance.now(), typeof code === 'string' ? code : err.name);
  }

  #closeAttempt(now: number, error: string | null): void {
    const c = this.#open;
    if (c === null) return;
    this.#open = null;
    c.endMs = now;
    c.error = error;
  }

  /** The exchange ended: the attempt still open ends with it, and the request's attributes are read. */
  end(o: Observation, ex: Exchange, failure: ExchangeFailure | undefined, release: string): void {
    const now = performance.now();
    this.endMs = now;
    const c = this.#open;
    if (c !== null) {
      this.#open = null;
      c.endMs = now;
      c.status = ex.upstreamStatus;
      if (c.status === 0 || o.outcome !== 'ok') c.error = failure?.code ?? o.outcome;
    }
    const req = ex.req;
    this.method = req.method ?? '';
    const url = req.url ?? '';
    const q = url.indexOf('?');
    this.path = q < 0 ? url : url.slice(0, q); // url.path; the query stays out (it may carry secrets)
    const host = req.headers.host ?? (req.headers as Record<string, string | undefined>)[':authority'] ?? '';
    this.host = host;
    this.protocol = ex.h2 ? '2' : req.httpVersion;
    this.scheme = (req.socket as { encrypted?: boolean } | null)?.encrypted ? 'https' : 'http';
    this.clientAddress = ex.clientKey ?? req.socket?.remoteAddress ?? '';
    this.status = o.status;
    this.outcome = o.outcome;
    this.version = o.version;
    this.release = release;
    this.rule = ex.rule;
    this.fault = ex.faultKinds;
    this.retries = ex.attempts > 1 ? ex.attempts - 1 : 0;
    if (failure?.err !== undefined) this.error = failure.code ?? o.outcome;
    else if (o.status >= 500) this.error = String(o.status);
    else if (o.outcome === 'refused' || o.outcome === 'reset' || o.outcome === 'timeout') this.error = o.outcome;
  }
}
