/**
 * Per-client limits of the data plane: connections and requests in flight per client IP, so one client
 * (or one slowloris botnet host) cannot take every slot. Peers listed in `proxy.trustProxy` (load
 * balancers) are exempt: every request of a service arrives from them. The in-flight limit counts the
 * client address canaryd resolved (the right-most untrusted X-Forwarded-For hop behind a trusted peer),
 * and is skipped when that address is itself a trusted peer (an LB that forwarded no client).
 */
import type { Socket } from 'node:net';
import type { CidrSet } from './match.js';

export interface ProxyLimits {
  /** limits.maxConnections after 'auto' was resolved: client connections at once */
  maxConnections: number;
  minBodyRate: number;
  bufferBodyBytes: number;
  queue: { size: number; timeout: number };
  perClient: { inflight: number; connections: number };
}

function bump(m: Map<string, number>, key: string, by: number): number {
  const n = (m.get(key) ?? 0) + by;
  if (n <= 0) m.delete(key);
  else m.set(key, n);
  return n;
}

export class ClientLimits {
  inflightLimit = 0;
  connectionLimit = 0;
  trusted: CidrSet | null = null;
  readonly #inflight = new Map<string, number>();
  readonly #connections = new Map<string, number>();
  readonly #counted = new WeakSet<Socket>();

  /** A request from `ip` starts: false when the client has `inflightLimit` in flight already (429). */
  enter(ip: string): boolean {
    if (this.inflightLimit === 0 || (this.trusted !== null && this.trusted.has(ip))) return true;
    const n = this.#inflight.get(ip) ?? 0;
    if (n >= this.inflightLimit) return false;
    this.#inflight.set(ip, n + 1);
    return true;
  }

  /** The request `enter` let in has ended. */
  leave(ip: string): void {
    bump(this.#inflight, ip, -1);
  }

  /** A connection was accepted: false when its peer holds `connectionLimit` already (the caller closes it). */
  accept(socket: Socket): boolean {
    if (this.connectionLimit === 0 || this.#counted.has(socket)) return true;
    const ip = socket.remoteAddress ?? '';
    if (this.trusted !== null && this.trusted.has(ip)) return true;
    if ((this.#connections.get(ip) ?? 0) >= this.connectionLimit) return false;
    this.#counted.add(socket);
    bump(this.#connections, ip, 1);
    socket.once('close', () => bump(this.#connections, ip, -1));
    return true;
  }

  get clientsInFlight(): number {
    return this.#inflight.size;
  }
}
