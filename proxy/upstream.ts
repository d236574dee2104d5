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
}

export interface Timeouts {
  connect: number;
  headers: number;
  body: number;
}

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

  /** Throws CANARYD_ERR_TLS when a TLS file cannot be read. */
  constructor(version: VersionName, target: UpstreamTarget, timeouts: Timeouts) {
    const u = new URL(target.url);
    this.version = version;
    this.origin = u.origin;
    this.basePath = u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '');
    this.host = u.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
    this.tls = u.protocol === 'https:' ? upstreamTlsOptions(version, target.tls ?? { rejectUnauthorized: true }, this.host) : null;
    if (target.http2) {
      this.pool = new H2Pool(u.origin, { connections: target.connections, connectTimeout: timeouts.connect, headersTimeout: timeouts.headers, bodyTimeout: timeouts.body, tls: this.tls });
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

  async close(): Promise<void> {
    await this.pool.close().catch(() => this.pool.destroy());
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
