/**
 * Bearer-token check for admin routes: constant-time comparison (timingSafeEqual over SHA-256 digests, so
 * length differences leak nothing), and failed attempts rate-limited per client IP with a throttled warning
 * (wrong tokens count towards the limit; a missing token is refused and logged but not counted).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { CanarydError } from '../core/index.js';
import { splitHostPort } from '../config/index.js';
import { LogThrottle } from './log-throttle.js';
import { hostAllowlist, type HostCheck } from './hosts.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

export function tokenMatches(expected: string, presented: string | undefined): boolean {
  if (!expected || presented === undefined) return false;
  return timingSafeEqual(digest(expected), digest(presented));
}

export function bearerOf(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  return m ? m[1].trim() : undefined;
}

/** Counts failures per key in a sliding window; `blocked` once `limit` failures are seen within `windowMs`. */
export class FailureLimiter {
  #failures = new Map<string, number[]>();
  constructor(
    readonly limit = 10,
    readonly windowMs = 60_000,
    readonly now: () => number = Date.now,
  ) {}

  #recent(key: string): number[] {
    const since = this.now() - this.windowMs;
    const list = (this.#failures.get(key) ?? []).filter((t) => t > since);
    if (list.length > 0) this.#failures.set(key, list);
    else this.#failures.delete(key);
    return list;
  }

  blocked(key: string): boolean {
    return this.#recent(key).length >= this.limit;
  }

  /** failures of `key` within the window */
  count(key: string): number {
    return this.#recent(key).length;
  }

  fail(key: string): number {
    const list = this.#recent(key);
    list.push(this.now());
    this.#failures.set(key, list);
    if (this.#failures.size > 10_000) this.#failures.delete(this.#failures.keys().next().value as string);
    return list.length;
  }
}

/**
 * The admin's one authentication policy, shared by fastify routes and the WebSocket upgrade:
 *  - a token is required when one is configured (always for mutations, for reads when `admin.authReads`);
 *  - with no token configured, mutations are refused (403 CANARYD_ERR_AUTH_REQUIRED) unless
 *    `admin.allowUnauthenticated: true` (loopback only, checked by the config): in a pod the app shares
 *    loopback, and any local process or rebinding web page could otherwise move the weight;
 *  - the right token always passes: failures are counted per client IP and a blocked IP gets 429 only for
 *    wrong or missing tokens, so a noisy neighbour on the same IP (on loopback, every local client) can
 *    never lock the operator out of a rollback or the fault kill switch;
 *  - the 401/429 warn lines are throttled per kind (LogThrottle), so a flood cannot fill the disk.
 */
export class AdminAuth {
  readonly limiter: FailureLimiter;
  readonly #logs: LogThrottle;
  constructor(
    private readonly opts: {
      token: () => string;
      authReads: () => boolean;
      allowUnauthenticated?: () => boolean;
      /** admin.listen and admin.allowedHosts, read live (compiled once per change) */
      hosts?: () => { listen: string; allowed: readonly string[] };
      log: { warn(obj: object, msg: string): void };
      now?: () => number;
    },
    limiter: FailureLimiter = new FailureLimiter(10, 60_000, opts.now),
  ) {
    this.limiter = limiter;
    this.#logs = new LogThrottle(opts.log, { now: opts.now });
  }

  #hostCheck: { key: string; check: HostCheck } | null = null;

  /** Throws CANARYD_ERR_HOST_NOT_ALLOWED (421) when the Host header names a host the admin does not answer to. */
  checkHost(host: string | undefined, ip: string, route: string): void {
    const h = this.opts.hosts?.();
    if (!h) return;
    const key = `${h.listen}|${h.allowed.join(',')}`;
    if (this.#hostCheck?.key !== key) this.#hostCheck = { key, check: hostAllowlist(splitHostPort(h.listen).host, h.allowed) };
    if (this.#hostCheck.check(host)) return;
    this.#logs.warn('host-refused', { ip, route, host }, 'admin request for a host not in admin.allowedHosts refused');
    throw new CanarydError(
      'CANARYD_ERR_HOST_NOT_ALLOWED',
      `host ${JSON.stringify(host)} is not one this admin answers to; add it to admin.allowedHosts if it is yours (DNS rebinding protection)`,
    );
  }

  /** true when reads need the token too (a token is configured and admin.authReads is on) */
  readsNeedToken(): boolean {
    return this.opts.token() !== '' && this.opts.authReads();
  }

  /**
   * Throws CANARYD_ERR_AUTH_REQUIRED, CANARYD_ERR_RATE_LIMITED or CANARYD_ERR_UNAUTHORIZED; returns when
   * allowed. `mutating` false: a read that needs the token (authReads), never refused for a missing config.
   */
  check(ip: string, presented: string | undefined, route: string, mutating = true): void {
    const expected = this.opts.token();
    if (!expected) {
      if (!mutating || this.opts.allowUnauthenticated?.()) return;
      this.#logs.warn('auth-required', { ip, route }, 'admin mutation refused: no admin.token configured');
      throw new CanarydError(
        'CANARYD_ERR_AUTH_REQUIRED',
        'no admin token is configured, so changes are refused: set admin.token or admin.tokenFile (or admin.allowUnauthenticated: true, loopback only)',
      );
    }
    if (tokenMatches(expected, presented)) return;
    if (this.limiter.blocked(ip)) {
      this.#logs.warn('rate-limited', { ip, route }, 'admin auth rate-limited');
      throw new CanarydError(
        'CANARYD_ERR_RATE_LIMITED',
        'too many failed authentication attempts from this address; try again later (the right token is never refused)',
      );
    }
    // a request with no token guesses nothing: it is refused and logged but not counted, so a client left
    // without its token (a dashboard tab) cannot push its IP towards the limit
    const missing = presented === undefined;
    const n = missing ? this.limiter.count(ip) : this.limiter.fail(ip);
    this.#logs.warn(
      missing ? 'missing-token' : 'wrong-token',
      { ip, route, failures: n, reason: missing ? 'missing token' : 'wrong token' },
      'admin auth failed',
    );
    throw new CanarydError(
      'CANARYD_ERR_UNAUTHORIZED',
      missing ? 'missing bearer token (Authorization: Bearer <admin.token>)' : 'invalid bearer token',
    );
  }
}

/** Browsers cannot set headers on a WebSocket: they offer the token as a subprotocol "bearer.<base64url>". */
export const WS_PROTOCOL = 'canaryd.v1';
export function tokenFromProtocols(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  for (const p of header.split(',')) {
    const s = p.trim();
    if (s.startsWith('bearer.')) return Buffer.from(s.slice(7), 'base64url').toString('utf8');
  }
  return undefined;
}

/**
 * true when a browser sent the request from another site: its Origin differs from the Host it addressed, or
 * Sec-Fetch-Site says cross-site. Such mutations and event streams are refused (403) — with no token
 * configured (loopback) any web page could otherwise POST a rollback to 127.0.0.1. Non-browser clients send
 * neither header and are not affected.
 */
export function isCrossSite(headers: {
  origin?: string | string[];
  host?: string | string[];
  'sec-fetch-site'?: string | string[];
}): boolean {
  const site = headers['sec-fetch-site'];
  if (site === 'cross-site') return true;
  const origin = headers.origin;
  if (typeof origin !== 'string' || origin === '') return false;
  if (origin === 'null') return true;
  try {
    const o = new URL(origin);
    // normalise the Host header the same way (a default port is dropped by URL)
    return o.host !== new URL(`${o.protocol}//${String(headers.host)}`).host;
  } catch {
    return true;
  }
}
