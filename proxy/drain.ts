/**
 * The data plane's client connections: accept times, which ones have carried a request, tunnels; the
 * first-byte timeout; and the graceful drain (SIGTERM). Three races lose requests in a naive drain (each
 * was seen on a busy machine):
 *   - closing the listener at once resets every connection the kernel has completed but Node has not yet
 *     accepted (the accept queue), and connections a load balancer still sends before it has seen /readyz
 *     fail. So the listener keeps accepting for `shutdown.settle` (what arrives is served with Connection:
 *     close), then closes at a quiet moment of the accept queue (no accept for ACCEPT_QUIET_MS, waited for
 *     at most SETTLE_MAX_MS), right after a poll phase has accepted what was queued;
 *   - closing an idle keep-alive connection while its client is about to reuse it: the request crosses the
 *     close and is reset. So a served connection is closed (FIN, not RST) only once it has been idle for
 *     `shutdown.idleGrace`; until then its next request is served, with Connection: close, and the client
 *     closes it itself;
 *   - closing a connection once the known requests are done cuts a request still in the socket buffer. So
 *     a connection that has not carried a request yet is given FRESH_GRACE_MS from its accept.
 * Tunnels (WebSocket) and whatever else remains are cut at the deadline. The idle test reads Node's
 * `socket._httpMessage`, as Node's own closeIdleConnections() and http-terminator do.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** How long a connection that never carried a request is given (from its accept) to send one, when draining. */
export const FRESH_GRACE_MS = 1000;
/** The listener closes once no connection has been accepted for this long... */
export const ACCEPT_QUIET_MS = 50;
/** ...or after this long at most (after the settle time). */
export const SETTLE_MAX_MS = 1000;
const SWEEP_MS = 10;

export interface DrainTimes {
  /** shutdown.drainTimeout: everything left is cut then */
  deadline: number;
  /** shutdown.settle: keep accepting this long (capped at half the deadline) */
  settle: number;
  /** shutdown.idleGrace: close a served keep-alive connection once idle this long */
  idleGrace: number;
}

const now = () => performance.now();
/** Waits a little, then past the next poll phase (where libuv accepts), so checks see this turn's accepts. */
const tick = (ms: number) => new Promise<void>((r) => setTimeout(() => setImmediate(r), ms).unref());

type HttpSocket = Socket & { _httpMessage?: { finished?: boolean } | null };

export class ConnectionTracker {
  readonly #server: Server;
  /** what accepts connections: the HTTP server itself, or a listener in front that hands them over */
  #listener: { close(cb: () => void): void };
  /** open connections, with when each was accepted */
  readonly #sockets = new Map<HttpSocket, number>();
  #lastAccept = -Infinity;
  readonly #served = new WeakSet<Socket>();
  readonly #tunnels = new WeakSet<Socket>();
  /** while draining: when each connection was first seen idle */
  readonly #idleSince = new Map<Socket, number>();

  constructor(server: Server) {
    this.#server = server;
    this.#listener = server;
    const sockets = this.#sockets;
    const idleSince = this.#idleSince;
    function forget(this: HttpSocket): void {
      sockets.delete(this);
      idleSince.delete(this);
    }
    server.on('connection', (s: HttpSocket) => {
      if (s.destroyed || sockets.has(s)) return; // refused by a limit, or handed back after an upgrade attempt
      const at = now();
      sockets.set(s, at);
      this.#lastAccept = at;
      s.once('close', forget);
    });
  }

  /** The listener that accepts for `server` (proxy/h2/listener.ts): closed when the drain stops accepting. */
  acceptOn(listener: { close(cb: () => void): void }): void {
    this.#listener = listener;
  }

  get size(): number {
    return this.#sockets.size;
  }

  /** Called for every request: this connection is no longer fresh. */
  served(socket: Socket): void {
    this.#served.add(socket);
  }

  /** An upgraded connection (WebSocket) is an exchange in flight until it closes: kept up to the deadline. */
  tunnel(socket: Socket): void {
    this.#tunnels.add(socket);
  }

  /**
   * The first-byte / first-head timeout: a connection that has not completed a request head within
   * `ms` of its accept is closed (silent ones at once; a partial head gets 408). Node's headersTimeout
   * only starts at a head's first byte, so without this a connection that sends nothing is held for ever.
   * Returns how many were closed.
   */
  closeSilent(t: number, ms: number): number {
    let closed = 0;
    for (const [s, acceptedAt] of this.#sockets) {
      if (t - acceptedAt < ms || this.#served.has(s) || s.destroyed) continue;
      if (s.bytesRead === 0) s.destroy();
      else s.end('HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      this.#served.add(s); // counted once
      closed++;
    }
    return closed;
  }

  #closeIdle(times: DrainTimes): void {
    const t = now();
    for (const [s, acceptedAt] of this.#sockets) {
      if (s.writableEnded) {
        // closed by us: a client that does not close its side within a grace is not waited for
        if (t - (this.#idleSince.get(s) ?? t) >= times.idleGrace + FRESH_GRACE_MS) s.destroy();
        continue;
      }
      const m = s._httpMessage;
      if ((m && !m.finished) || this.#tunnels.has(s)) {
        this.#idleSince.delete(s); // a response or a tunnel in progress
        continue;
      }
      if (!this.#served.has(s)) {
        if (t - acceptedAt >= Math.min(FRESH_GRACE_MS, times.deadline)) {
          this.#idleSince.set(s, t - times.idleGrace);
          s.end();
        }
        continue;
      }
      const since = this.#idleSince.get(s);
      if (since === undefined) this.#idleSince.set(s, t);
      else if (t - since >= times.idleGrace) s.end(); // FIN: the client sees a clean close, not a reset
    }
  }

  /**
   * The drain (see the file comment). `cutAll` answers or cuts every request still in flight at the
   * deadline and returns how many there were.
   */
  async drain(times: DrainTimes, inflight: () => number, cutAll: () => number): Promise<number> {
    const start = now();
    const settle = Math.min(times.settle, times.deadline / 2);
    // 1. keep accepting while load balancers notice /readyz, serving with Connection: close
    while (now() - start < settle) {
      this.#closeIdle(times);
      await tick(SWEEP_MS);
    }
    // 2. then stop accepting when the accept queue is quiet, so no completed handshake is reset
    const quietFrom = now();
    while (now() - quietFrom < SETTLE_MAX_MS && now() - start < times.deadline) {
      this.#closeIdle(times);
      await tick(SWEEP_MS);
      if (now() - this.#lastAccept >= ACCEPT_QUIET_MS) break;
    }
    const listener = this.#listener;
    const closed = Promise.all([
      new Promise<void>((r) => listener.close(() => r())),
      listener === this.#server ? null : new Promise<void>((r) => this.#server.close(() => r())),
    ]);
    // 3. sweep idle connections until nothing is left in flight or open, or the deadline
    for (;;) {
      this.#closeIdle(times);
      if ((inflight() === 0 && this.#sockets.size === 0) || now() - start >= times.deadline) break;
      await tick(SWEEP_MS);
    }
    const cut = inflight() > 0 ? cutAll() : 0;
    if (cut > 0) await tick(0); // let the 503s go out before the sockets close
    this.#server.closeAllConnections();
    for (const s of this.#sockets.keys()) s.destroy(); // tunnels too: Node's list no longer holds upgraded sockets
    await closed;
    return cut;
  }
}
