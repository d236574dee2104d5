/**
 * One proxied request/response: the undici dispatch handler that streams the upstream response into the
 * client response with backpressure both ways (undici pauses the upstream socket when we return false;
 * 'drain' resumes it), maps failures to gateway statuses, retries idempotent body-less requests on connect
 * failure only, and records exactly one Observation when the exchange ends, however it ends.
 */
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Observation, Outcome, VersionName } from '../core/index.js';
import { clientResponseHeaders, headersObject, trailersObject } from './headers.js';
import {
  GRPC_CANCELLED,
  GRPC_DEADLINE_EXCEEDED,
  GRPC_UNKNOWN,
  grpcAnswerHeaders,
  grpcCodeOfHttp,
  grpcStatusIn,
  isGrpcContentType,
} from './grpc.js';
import { classifyUpstreamError, isIdempotent, type Upstream, type Waiter } from './upstream.js';

export interface ExchangeHost {
  versionHeader: boolean;
  /** shutting down: responses close their connection */
  readonly draining: boolean;
  retries: number;
  finished(ex: Exchange, o: Observation, failure?: ExchangeFailure): void;
  /** runs the chain's route stages from ex.stage, then sends the request upstream */
  proceed(ex: Exchange): void;
  /** the version's current upstream (a config change may have replaced the one a waiter queued on) */
  upstream(v: VersionName): Upstream;
}

export type RequestBody = Readable | Buffer | null;

/** An upstream failure that ended an exchange (for the log line). */
export interface ExchangeFailure {
  err?: unknown;
  code?: string;
}

/**
 * A per-exchange hook on the upstream's answer, set by a stage that shapes one response (the fault kinds
 * throttle, truncate, reset after the headers) and null on every other exchange, so the ordinary path pays
 * one null check per event and allocates nothing.
 */
export interface ResponseTap {
  /** after the response head was written (not yet flushed); false pauses the upstream */
  headers(ex: Exchange, rawHeaders: Buffer[]): boolean;
  /** instead of writing `chunk` (use ex.writeBody to pass it on); false pauses the upstream (ex.resumeUpstream) */
  data(ex: Exchange, chunk: Buffer): boolean;
  /** the upstream finished; true when the tap ends the response itself later (ex.endResponse) or never */
  complete(ex: Exchange, trailers: string[] | null): boolean;
}

/**
 * Told of each upstream attempt of one request: set by the tracing stage on a sampled request (one client
 * span per attempt, retries included) and null on every other, so the ordinary path pays one null check.
 */
export interface AttemptTrace {
  /** an attempt is about to be sent with `headers` (the tracer may rewrite its traceparent value in place) */
  attempt(ex: Exchange, headers: string[]): void;
  /** the attempt failed (it may be retried) */
  attemptFailed(ex: Exchange, err: Error): void;
}

/** The part of a compiled stage chain (proxy/stages.ts) an exchange keeps: its route stages. */
export interface RouteStages {
  readonly route: ReadonlyArray<{ route?(ex: Exchange): boolean }>;
}

/** ServerResponse that knows its exchange, so per-request listeners need no closures. */
export class CanarydResponse extends ServerResponse {
  exchange: Exchange | null = null;
}

function onResponseClose(this: CanarydResponse): void {
  this.exchange?.clientClosed();
}

function onResponseDrain(this: CanarydResponse): void {
  this.exchange?.resumeUpstream();
}

export class Exchange implements Dispatcher.DispatchHandler, Waiter {
  readonly req: IncomingMessage;
  readonly res: CanarydResponse;
  readonly startedAt: number;
  version: VersionName = 'baseline';
  /** the targeting rule that pinned this request, if any */
  rule: string | null = null;
  /** set by fault injection: the request is counted apart */
  faulted = false;
  /** set by fault injection: the fault kind(s) it injected ("delay", "abort,delay") */
  faultKinds: string | null = null;
  /** set by the tracing stage: the traceparent forwarded instead of the received one (proxy/headers.ts) */
  traceparent: string | null = null;
  /** set by the tracing stage on a sampled request: told of each upstream attempt */
  trace: AttemptTrace | null = null;
  /** extra request headers added before forwarding (e.g. by the dependency fault) */
  extraHeaders: string[] | null = null;
  /** set by fault injection: the request carried x-canaryd-fault-* headers (taken off before forwarding) */
  faultHeaders = false;
  /** set by a stage on the requests whose response it shapes (fault kinds); null otherwise */
  tap: ResponseTap | null = null;
  /** the chain this exchange runs through (the one compiled when it arrived) and its next route stage */
  chain: RouteStages | null = null;
  stage = 0;
  /** what goes upstream: the origin-form path, the rewritten headers, the body (a stage may replace it: mirror's tee) */
  path = '/';
  upstreamHeaders: string[] = [];
  body: RequestBody = null;
  upstream: Upstream | null = null;
  /** the client speaks HTTP/2 (req/res are node:http2's compatibility objects) */
  readonly h2: boolean;
  /** an HTTP/2 client sent `te: trailers` (forwarded to an HTTP/2 upstream only) */
  teTrailers = false;
  /** a deadline for the exchange in ms from its arrival (a gRPC request's grpc-timeout); 0: timeouts.* only */
  deadlineMs = 0;
  /** a gRPC call (content-type application/grpc*): its outcome is its grpc-status (proxy/grpc.ts) */
  readonly grpc: boolean;
  /** the grpc-status the call ended with (response headers of a trailers-only answer, or trailers); -1 until known */
  grpcStatus = -1;
  /** set by the HTTP/2 upstream pool: the upstream's answer was trailers-only (its HEADERS ended the stream) */
  trailersOnly = false;
  /** refused by the upstream's pending limit (circuit breaker): counted, and not held against the upstream's health */
  overflowed = false;
  /** the client's address when a per-client in-flight limit counts this request (proxy/limits.ts) */
  clientKey: string | null = null;
  /** when it started to wait for an upstream connection (0: not waiting); read by proxy/deadline.ts */
  queuedAt = 0;
  /** request-body progress, kept by proxy/deadline.ts: socket bytes at arrival, last seen, when they moved */
  bodyBytesAt = 0;
  bodyBytesSeen = 0;
  bodyProgressAt = 0;
  /** time the body waited on canaryd (backpressure), not on the client: not held against its rate */
  bodyExemptMs = 0;
  #host: ExchangeHost;
  #headers: string[] = [];
  #path = '/';
  /** holds one of the upstream's connection slots (released when undici ends the request) */
  #slot = false;
  #attempts = 0;
  #abort: ((err?: Error) => void) | null = null;
  #resume: (() => void) | null = null;
  #status = 0;
  #done = false;
  /** canaryd answered this gRPC call itself (trailers-only, HTTP 200): recorded as the 200 the client saw */
  #grpcLocal = false;

  constructor(host: ExchangeHost, req: IncomingMessage, res: CanarydResponse, startedAt: number) {
    this.#host = host;
    this.req = req;
    this.res = res;
    this.startedAt = startedAt;
    this.h2 = req.httpVersionMajor === 2;
    this.grpc = isGrpcContentType(req.headers['content-type']);
    res.exchange = this;
    // 'on', not 'once': the response lives for this request only, and once() would allocate a wrapper
    res.on('close', onResponseClose);
  }

  get done(): boolean {
    return this.#done;
  }

  /** upstream attempts sent so far (retries included) */
  get attempts(): number {
    return this.#attempts;
  }

  /** the final status the upstream answered (0: none yet) */
  get upstreamStatus(): number {
    return this.#status;
  }

  /** The request was sent to an upstream (at least once): its ending says something about that upstream. */
  get dispatched(): boolean {
    return this.#attempts > 0;
  }

  /** Goes on down the chain after a stage took the exchange over (a fault's delay ended...). */
  proceed(): void {
    this.#host.proceed(this);
  }

  /** Sends the request (path, upstreamHeaders, body, as the stages left them) to `upstream`. */
  forward(upstream: Upstream): void {
    this.#headers = this.extraHeaders === null ? this.upstreamHeaders : this.upstreamHeaders.concat(this.extraHeaders);
    this.#admit(upstream);
  }

  #admit(upstream: Upstream): void {
    this.upstream = upstream;
    this.#path = upstream.basePath + this.path;
    const a = upstream.admit(this);
    if (a === 'now') {
      this.#slot = true;
      this.#dispatch();
    } else if (a === 'queued') this.queuedAt = performance.now();
    else {
      this.overflowed = true;
      this.respondError(
        503,
        'CANARYD_ERR_QUEUE_FULL',
        `${this.version} upstream: every connection busy and ${upstream.queueSize} requests waiting (upstreams.${this.version}.maxPending, default limits.queue.size)`,
      );
      this.#finish(503, 'refused');
    }
  }

  /** Waiter: a connection slot is free for this request. */
  admitted(): void {
    this.queuedAt = 0;
    this.#slot = true;
    this.#dispatch();
  }

  /** Waiter: the upstream it waited on was replaced; wait on the current one. */
  requeue(): void {
    this.queuedAt = 0;
    this.#admit(this.#host.upstream(this.version));
  }

  #releaseSlot(): void {
    if (this.#slot) {
      this.#slot = false;
      this.upstream!.release();
    }
  }

  #dispatch(): void {
    this.#attempts++;
    if (this.trace !== null) this.trace.attempt(this, this.#headers);
    this.upstream!.dispatch(
      {
        origin: this.upstream!.origin,
        path: this.#path,
        method: this.req.method as Dispatcher.HttpMethod,
        headers: this.#headers,
        body: this.body,
      },
      this,
    );
  }

  // ---- undici legacy dispatch handler (native to undici's client: no wrapping on the hot path) ----

  onConnect(abort: (err?: Error) => void): void {
    if (this.#done) abort();
    else this.#abort = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) {
      this.#informational(statusCode, rawHeaders);
      return true;
    }
    this.#status = statusCode;
    this.#resume = resume;
    const res = this.res;
    if (res.destroyed) return false;
    if (this.#host.draining) res.shouldKeepAlive = false; // a request in flight when the drain began
    const req = this.req;
    // Node frames the client response as chunked only for HTTP/1.1 clients and responses that have a body;
    // an HTTP/2 stream can always end with trailers
    const chunked = (this.h2 || req.httpVersionMinor >= 1) && req.method !== 'HEAD' && statusCode !== 204 && statusCode !== 304;
    const headers = clientResponseHeaders(rawHeaders, this.#host.versionHeader ? this.version : null, chunked);
    if (this.grpc) {
      const g = grpcStatusIn(rawHeaders);
      if (g >= 0) this.grpcStatus = g;
      if (this.trailersOnly && this.h2) {
        // gRPC clients read a status from the headers only when they end the stream: pass it on as it came
        // (the compatibility API's writeHead + end would send an empty DATA frame after the HEADERS)
        if (!this.#respondH2(statusCode, headersObject(headers), true)) return false;
        if (this.tap !== null) return this.tap.headers(this, rawHeaders);
        return true;
      }
    }
    if (this.h2) {
      // HTTP/2 has no reason phrase (RFC 9113 §8.3.2); a field node:http2 refuses is a bad upstream answer
      try {
        res.writeHead(statusCode, headers);
      } catch (err) {
        this.onError(
          Object.assign(new Error(`response field not allowed in HTTP/2: ${(err as Error).message}`), { code: 'UND_ERR_INVALID_ARG' }),
        );
        return false;
      }
    } else res.writeHead(statusCode, statusText, headers);
    if (this.tap !== null) return this.tap.headers(this, rawHeaders);
    return true;
  }

  /**
   * RFC 9110 §15.2: a proxy MUST forward 1xx responses it did not ask for, and MUST NOT send them to an
   * HTTP/1.0 client. Node can write 102 and 103 (with Link); 100 never comes (Expect is answered here, not
   * forwarded) and other codes have no writer, so they are dropped.
   */
  #informational(statusCode: number, rawHeaders: Buffer[]): void {
    const res = this.res;
    if ((!this.h2 && this.req.httpVersionMinor < 1) || res.headersSent || res.destroyed) return;
    try {
      if (statusCode === 103) res.writeEarlyHints(headersObject(rawHeaders));
      else if (statusCode === 102 && !this.h2) res.writeProcessing();
    } catch {
      /* an early hint Node refuses to write (e.g. an invalid Link) is dropped; the final response follows */
    }
  }

  onData(chunk: Buffer): boolean {
    if (this.tap !== null) return this.tap.data(this, chunk);
    return this.writeBody(chunk);
  }

  /** Writes a body chunk to the client; false (and the upstream resumes on 'drain') when the client is slow. */
  writeBody(chunk: Buffer): boolean {
    const ok = this.res.write(chunk);
    if (!ok) this.res.once('drain', onResponseDrain);
    return ok;
  }

  onComplete(trailers: string[] | null): void {
    this.#releaseSlot();
    if (this.tap !== null && this.tap.complete(this, trailers)) return;
    this.endResponse(trailers);
  }

  /** Ends the client response with the upstream's trailers and records the exchange as answered. */
  endResponse(trailers: string[] | null): void {
    if (this.grpc) {
      const g = grpcStatusIn(trailers);
      if (g >= 0) this.grpcStatus = g;
      if (this.trailersOnly && this.h2) {
        this.#finish(this.#status, 'ok'); // the response HEADERS ended the client stream already
        return;
      }
    }
    // typed as string[] by undici, delivered as Buffer[] at run time; trailersObject takes either
    const t = trailersObject(trailers);
    if (t !== null) this.res.addTrailers(t);
    this.res.end();
    this.#finish(this.#status, 'ok');
  }

  onError(err: Error): void {
    if (this.trace !== null) this.trace.attemptFailed(this, err);
    const failure = classifyUpstreamError(err);
    const res = this.res;
    if (
      !this.#done &&
      failure.beforeSend &&
      !res.headersSent &&
      this.body === null &&
      this.#attempts <= this.#host.retries &&
      isIdempotent(this.req.method ?? '')
    ) {
      this.#dispatch(); // a connect failure of a body-less idempotent request: retried, keeping its slot
      return;
    }
    this.#releaseSlot();
    if (this.#done) return;
    if (failure.outcome === 'client_abort') {
      this.#finish(499, 'client_abort');
      return;
    }
    if (!res.headersSent) {
      this.respondError(failure.status, failure.code, `${this.version} upstream ${describeFailure(failure.outcome, err)}`);
      this.#finish(failure.status, failure.outcome, err, failure.code);
      return;
    }
    // Headers already went out: the only honest signal left is to cut the connection (the client sees a
    // truncated response, never a silently short one), or for a gRPC call to end it with an error status.
    // Recorded as a gateway error for analysis.
    this.#breakResponse(failure.code === 'CANARYD_ERR_DEADLINE' ? GRPC_DEADLINE_EXCEEDED : grpcCodeOfHttp(failure.status), err.message);
    this.#finish(failure.status, failure.outcome, err, failure.code);
  }

  resumeUpstream(): void {
    this.#resume?.();
  }

  /** The client went away (or the response closed). Abort the upstream side if still running. */
  clientClosed(): void {
    if (this.#done) return;
    // an HTTP/2 stream reset by the client also ends its writable side: `aborted` tells the two apart
    if (this.res.writableFinished && !(this.h2 && (this.res as unknown as { stream: { aborted: boolean } }).stream.aborted)) return;
    this.#abort?.();
    this.#finish(499, 'client_abort');
  }

  /**
   * A small JSON error answer produced by canaryd itself. `routed: false` for answers given before routing
   * (bad requests): they name no version, in the body or the header.
   */
  respondError(status: number, code: string, message: string, routed = true): void {
    const res = this.res;
    if (res.headersSent || res.destroyed) return;
    if (this.grpc) {
      // a gRPC client reads the outcome from grpc-status, not the HTTP status (Envoy answers the same way)
      const headers = grpcAnswerHeaders(code === 'CANARYD_ERR_DEADLINE' ? GRPC_DEADLINE_EXCEEDED : grpcCodeOfHttp(status), message);
      headers['x-canaryd-error'] = code;
      this.respondGrpc(headers, routed);
      return;
    }
    const body = JSON.stringify(routed ? { error: code, message, version: this.version } : { error: code, message });
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'x-canaryd-error': code,
    };
    if (routed && this.#host.versionHeader) headers['x-canaryd-version'] = this.version;
    res.writeHead(status, headers);
    res.end(body);
  }

  /**
   * A trailers-only gRPC answer made by canaryd (an error, an injected abort): HTTP 200 whose only HEADERS
   * carry grpc-status and grpc-message (proxy/grpc.ts grpcAnswerHeaders). Recorded as the 200 it is, with
   * its grpc-status as the outcome.
   */
  respondGrpc(headers: Record<string, string>, routed = true): void {
    const res = this.res;
    if (res.headersSent || res.destroyed) return;
    if (routed && this.#host.versionHeader) headers['x-canaryd-version'] = this.version;
    this.grpcStatus = Number(headers['grpc-status']);
    this.#grpcLocal = true;
    if (this.h2) this.#respondH2(200, headers, true);
    else {
      headers['content-length'] = '0';
      res.writeHead(200, headers);
      res.end();
    }
  }

  /** HEADERS on the client stream directly (not through the compatibility API), ending it when `end`. */
  #respondH2(status: number, headers: Record<string, string | string[]>, end: boolean): boolean {
    try {
      (this.res as unknown as { stream: { respond(h: object, o: object): void } }).stream.respond(
        { ...headers, ':status': status },
        { endStream: end },
      );
      return true;
    } catch (err) {
      this.onError(
        Object.assign(new Error(`response field not allowed in HTTP/2: ${(err as Error).message}`), { code: 'UND_ERR_INVALID_ARG' }),
      );
      return false;
    }
  }

  /**
   * After the headers went out: a gRPC call over HTTP/2 ends with trailers carrying `code` (its client gets a
   * status, not a reset stream); anything else has its connection (HTTP/2: its stream) cut.
   */
  #breakResponse(code: number, message: string): void {
    const res = this.res;
    if (this.grpc && this.h2 && !this.trailersOnly && !res.destroyed && !res.writableEnded) {
      const t = grpcAnswerHeaders(code, message);
      res.addTrailers({ 'grpc-status': t['grpc-status'], 'grpc-message': t['grpc-message'] });
      res.end();
      this.grpcStatus = code;
      return;
    }
    res.destroy();
  }

  /** Ends the exchange with a response canaryd produced (fault, bad request). */
  finishLocal(status: number, outcome: Outcome): void {
    this.#finish(status, outcome);
  }

  /** An answer produced by canaryd with its own headers and body (an injected abort). */
  respondLocal(status: number, headers: Record<string, string>, body: string): void {
    const res = this.res;
    if (res.headersSent || res.destroyed) return;
    const noBody = status === 204 || status === 304 || this.req.method === 'HEAD';
    res.writeHead(status, {
      ...headers,
      'content-length': noBody ? '0' : String(Buffer.byteLength(body)),
      ...(this.#host.versionHeader ? { 'x-canaryd-version': this.version } : {}),
    });
    res.end(noBody ? undefined : body);
  }

  /**
   * Records the end of an exchange a fault broke after the upstream was called (truncate, reset after the
   * headers, hang at its bound), then aborts the upstream side. The caller cuts the client connection.
   * Recording first keeps the upstream's abort error from being counted as a client abort.
   */
  finishFault(status: number, outcome: Outcome): void {
    if (this.#done) return;
    this.#finish(status, outcome);
    this.#abort?.();
  }

  /**
   * Ends the exchange from outside, when one of its deadlines passed (proxy/deadline.ts): an answer when
   * none was sent yet, else the connection is cut (a truncated body, never a silently short one).
   */
  cut(status: 408 | 503 | 504, code: string, message: string, outcome: Outcome): void {
    if (this.#done) return;
    const res = this.res;
    if (!this.req.complete) res.shouldKeepAlive = false; // the rest of the body will not be read
    if (!res.headersSent) this.respondError(status, code, message);
    else this.#breakResponse(code === 'CANARYD_ERR_DEADLINE' ? GRPC_DEADLINE_EXCEEDED : grpcCodeOfHttp(status), message);
    this.#finish(status, outcome); // recorded first: the abort's error must not count as a client abort
    this.#abort?.();
  }

  #grpcOutcome(status: number, outcome: Outcome): number {
    return this.grpcStatus >= 0 && outcome !== 'client_abort' ? this.grpcStatus : derivedGrpcStatus(status, outcome);
  }

  #finish(status: number, outcome: Outcome, err?: unknown, code?: string): void {
    if (this.#done) return;
    this.#done = true;
    if (this.queuedAt > 0) {
      this.queuedAt = 0;
      this.upstream!.left();
    }
    this.res.exchange = null;
    const o: Observation = {
      version: this.version,
      status: this.#grpcLocal ? 200 : status,
      durationMs: performance.now() - this.startedAt,
      outcome,
      faulted: this.faulted,
      grpcStatus: this.grpc ? this.#grpcOutcome(status, outcome) : -1,
    };
    this.#host.finished(this, o, err === undefined ? undefined : { err, code });
  }
}

/** Outcome status of a gRPC call that ended without a grpc-status: what a gRPC client makes of it. */
function derivedGrpcStatus(status: number, outcome: Outcome): number {
  if (outcome === 'client_abort') return GRPC_CANCELLED;
  return status === 200 ? GRPC_UNKNOWN : grpcCodeOfHttp(status);
}

function describeFailure(outcome: Outcome, err: Error): string {
  const detail = (err as { code?: string }).code ?? err.message;
  if (classifyUpstreamError(err).code === 'CANARYD_ERR_TLS') return `failed TLS verification (${detail}: ${err.message})`;
  switch (outcome) {
    case 'refused':
      return `refused the connection (${detail})`;
    case 'timeout':
      return `timed out (${detail})`;
    default:
      return `reset the connection (${detail})`;
  }
}
