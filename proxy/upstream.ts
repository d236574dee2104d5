/**
 * The upstream side: one undici Pool per version (keep-alive, bounded connections), and the one table that
 * maps upstream failures to gateway statuses: refused -> 502, reset -> 502, timeout -> 504.
 * This is the only module that imports undici.
 */
import { createRequire } from 'node:module';
import type { Dispatcher, Pool as UndiciPool, errors as UndiciErrors } from 'undici';
import type { ErrorCode, Outcome, VersionName } from '../core/index.js';
import { H2Pool } from './h2/upstream.js';
import { upstreamTlsOptions, type UpstreamTlsFiles } from './tls/context.js';

/**
 * undici's Pool and error classes, loaded by path rather than through `import 'undici'`, whose index also
 * loads fetch, WebSocket, the cache, mocks and more: memory for nothing the proxy runs (measured on node 20:
 * the pool alone adds 11 MB of RSS, the whole package 19 MB; canaryd runs ~6-10 MB lower, bench/RESULTS.md).
 * Types are the package's public ones. undici is pinned to ^7; every proxy test fails at once if a release
 * moves these files.
 */
const requireUndici = createRequire(import.meta.url);
const Pool = requireUndici('undici/lib/dispatcher/pool.js') as typeof UndiciPool;
export const undiciErrors = requireUndici('undici/lib/core/errors.js') as typeof UndiciErrors;

export interface UpstreamTarget {
  url: string;
  connections: number;
  /** speak HTTP/2 to it (proxy/h2/upstream.ts) */
  http2?: boolean;
  /** TLS for https:// URLs: CA bundle, client certificate (mTLS), SNI, verification */
  tls?: UpstreamTlsFiles;
  /** circuit breaker: requests that may wait for a connection (default limits.queue.size) */
  maxPending?: number;
}

export interface Timeouts {
  connect: number;
  headers: number;
  body: number;
  /** total, from the request's arrival (proxy/deadline.ts) */
  request: number;
  /** client side: first request head of a connection, and each later head from its first byte */
  clientHeaders: number;
  /** client side: idle time between request-body bytes */
  clientBody: number;
}

/** A request waiting for one of the upstream's connections (an Exchange). */
export interface Waiter {
  readonly done: boolean;
  /** a connection slot is its: dispatch now */
  admitted(): void;
  /** its upstream was replaced by a config change while it waited: wait on the new one */
  requeue(): void;
}

export type Admission = 'now' | 'queued' | 'full';

export class Upstream {
  readonly version: VersionName;
  readonly origin: string;
  /** path prefix of the upstream URL ('' when it is '/') */
  readonly basePath: string;
  readonly host: string;
  readonly port: number;
  readonly pool: UndiciPool | H2Pool;
  /** TLS options towards it (https:// only); null in clear */
  readonly tls: ReturnType<typeof upstreamTlsOptions> | null;
  /** requests that may wait once every connection is busy (limits.queue.size) */
  queueSize = 256;
  readonly #connections: number;
  #active = 0;
  #waiting: Waiter[] = [];
  #head = 0;
  #waitingLive = 0;
  #closed = false;

  /** Throws CANARYD_ERR_TLS when a TLS file cannot be read. */
  constructor(version: VersionName, target: UpstreamTarget, timeouts: Timeouts) {
    const u = new URL(target.url);
    this.version = version;
    this.origin = u.origin;
    this.basePath = u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '');
    this.host = u.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
    this.#connections = target.connections;
    this.tls = u.protocol === 'https:' ? upstreamTlsOptions(version, target.tls ?? { rejectUnauthorized: true }, this.host) : null;
    if (target.http2) {
      this.pool = new H2Pool(u.origin, {
        connections: target.connections,
        connectTimeout: timeouts.connect,
        headersTimeout: timeouts.headers,
        bodyTimeout: timeouts.body,
        tls: this.tls,
      });
      return;
    }
    this.pool = new Pool(u.origin, {
      connections: target.connections,
      pipelining: 1,
      connect: { timeout: timeouts.connect, ...this.tls },
      headersTimeout: timeouts.headers,
      bodyTimeout: timeouts.body,
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 600_000,
    });
  }

  dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    // H2Pool reads the Exchange's request (trailers, te) and deadline from the handler
    return this.pool.dispatch(opts, handler);
  }

  /**
   * Admission: a request gets one of the `connections` slots at once, or waits in a bounded FIFO queue
   * (canaryd's, not undici's: undici's pool queue has no bound and no timeout, and a request queued there
   * cannot be withdrawn). 'full' when the queue holds `queueSize` live waiters already (the caller: 503).
   */
  admit(w: Waiter): Admission {
    if (this.#active < this.#connections && this.#waitingLive === 0) {
      this.#active++;
      return 'now';
    }
    if (this.#waitingLive >= this.queueSize) return 'full';
    if (this.#waiting.length - this.#head > 2 * this.queueSize + 64) this.#compact();
    this.#waiting.push(w);
    this.#waitingLive++;
    return 'queued';
  }

  /** A waiter left the queue without a slot (timed out, client gone): it no longer counts against the bound. */
  left(): void {
    this.#waitingLive--;
  }

  /** A slot's request ended: the oldest live waiter takes the slot. */
  release(): void {
    this.#active--;
    while (this.#head < this.#waiting.length && this.#active < this.#connections) {
      const w = this.#waiting[this.#head];
      this.#waiting[this.#head++] = undefined as unknown as Waiter;
      if (w.done) continue;
      this.#waitingLive--;
      this.#active++;
      w.admitted();
    }
    if (this.#head === this.#waiting.length) {
      this.#waiting.length = 0;
      this.#head = 0;
    }
  }

  get active(): number {
    return this.#active;
  }

  get queued(): number {
    return this.#waitingLive;
  }

  #compact(): void {
    this.#waiting = this.#waiting.slice(this.#head).filter((w) => !w.done);
    this.#head = 0;
  }

  /** Hands the waiters over to a replacement upstream (config change), then closes once requests end. */
  async close(): Promise<void> {
    this.#closeQueue();
    await this.pool.close().catch(() => this.pool.destroy());
  }

  #closeQueue(): void {
    if (this.#closed) return;
    this.#closed = true;
    const waiting = this.#waiting.slice(this.#head);
    this.#waiting = [];
    this.#head = 0;
    this.#waitingLive = 0;
    for (const w of waiting) if (!w.done) w.requeue();
  }

  async destroy(): Promise<void> {
    await this.pool.destroy().catch(() => undefined);
  }
}

export interface GatewayFailure {
  outcome: Extract<Outcome, 'refused' | 'reset' | 'timeout' | 'client_abort'>;
  status: 502 | 503 | 504 | 499;
  code: ErrorCode;
  /** true when the failure happened before any byte reached the upstream, so a retry is safe */
  beforeSend: boolean;
}

/** The one mapping of upstream errors to gateway statuses. */
export function classifyUpstreamError(err: unknown): GatewayFailure {
  const code = (err as { code?: string } | null)?.code ?? '';
  switch (code) {
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EADDRNOTAVAIL':
      return { outcome: 'refused', status: 502, code: 'CANARYD_ERR_UPSTREAM_REFUSED', beforeSend: true };
    case 'UND_ERR_CONNECT_TIMEOUT':
      return { outcome: 'timeout', status: 504, code: 'CANARYD_ERR_UPSTREAM_TIMEOUT', beforeSend: true };
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'ETIMEDOUT':
      return { outcome: 'timeout', status: 504, code: 'CANARYD_ERR_UPSTREAM_TIMEOUT', beforeSend: false };
    case 'CANARYD_DEADLINE': // the call's own deadline (grpc-timeout) passed: proxy/h2/upstream.ts
      return { outcome: 'timeout', status: 504, code: 'CANARYD_ERR_DEADLINE', beforeSend: false };
    case 'UND_ERR_ABORTED':
    case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH':
      return { outcome: 'client_abort', status: 499, code: 'CANARYD_ERR_BAD_REQUEST', beforeSend: false };
    // TLS towards the upstream (node's X509 verify codes): a misconfiguration, never worth a retry
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'CERT_UNTRUSTED':
    case 'CERT_REVOKED':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
    case 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA':
    case 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE':
    case 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED':
    case 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE':
      return { outcome: 'refused', status: 502, code: 'CANARYD_ERR_TLS', beforeSend: false };
    case 'UND_ERR_CLOSED':
    case 'UND_ERR_DESTROYED':
      return { outcome: 'refused', status: 503, code: 'CANARYD_ERR_UPSTREAM_UNAVAILABLE', beforeSend: true };
    default:
      // ECONNRESET, EPIPE, UND_ERR_SOCKET (other side closed), parser errors: the upstream broke the exchange
      return { outcome: 'reset', status: 502, code: 'CANARYD_ERR_UPSTREAM_RESET', beforeSend: false };
  }
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}
