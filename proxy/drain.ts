/**
 * Graceful drain of the data plane's client connections (SIGTERM). Two races lose requests in a naive drain
 * (both were seen in the SIGTERM test on a busy machine):
 *   - closing the listener at once resets every connection the kernel has completed but Node has not yet
 *     accepted (the accept queue): the client sent its request and gets ECONNRESET. So the listener stays
 *     open until the accept queue has been quiet for ACCEPT_QUIET_MS (at most SETTLE_MAX_MS); what arrives
 *     meanwhile is served with Connection: close, and /readyz already says "not ready" so balancers move on;
 *   - closing every connection once the known requests are done cuts a request that is still in the socket
 *     buffer or half parsed. So connections are tracked, and the drain closes:
 *       - a connection that has served a request and is idle between requests, at once (the keep-alive
 *         close race RFC 9112 §9.5 allows: a client retries a request it sent as the connection closed);
 *       - a connection that has not served a request yet, only once it has been open `freshGraceMs` and is
 *         still idle: a request on it arrives meanwhile and is served, with Connection: close;
 *       - every connection, WebSocket tunnels included, at the deadline.
 * Responses in flight finish with Connection: close (the Exchange clears keep-alive when draining). The
 * idle test reads Node's `socket._httpMessage`, as Node's own closeIdleConnections() and http-terminator do.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** How long a connection that never carried a request is given (from its accept) to send one. */
export const FRESH_GRACE_MS = 1000;
/** The listener closes once no connection has been accepted for this long... */
export const ACCEPT_QUIET_MS = 50;
/** ...or after this long at most. */
export const SETTLE_MAX_MS = 1000;
const SWEEP_MS = 10;

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

  constructor(server: Server) {
    this.#server = server;
    this.#listener = server;
    const sockets = this.#sockets;
    function forget(this: HttpSocket): void {
      sockets.delete(this);
    }
    server.on('connection', (s: HttpSocket) => {
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

  #closeIdle(freshGraceMs: number): void {
    const t = now();
    for (const [s, acceptedAt] of this.#sockets) {
      const m = s._httpMessage;
      if ((m && !m.finished) || this.#tunnels.has(s)) continue; // a response or a tunnel in progress
      if (this.#served.has(s) || t - acceptedAt >= freshGraceMs) s.destroy();
    }
  }

  /**
   * Stops accepting, then sweeps idle connections until no request is in flight and no connection is left,
   * or the deadline passes (then every connection is closed). Resolves with the requests still in flight at
   * the deadline (cut).
   */
  async drain(deadlineMs: number, inflight: () => number, freshGraceMs = FRESH_GRACE_MS): Promise<number> {
    const start = now();
    const grace = Math.min(freshGraceMs, deadlineMs);
    // 1. keep accepting until the accept queue is quiet, so no completed handshake is reset
    while (now() - start < Math.min(SETTLE_MAX_MS, deadlineMs)) {
      this.#closeIdle(grace);
      await tick(SWEEP_MS);
      if (now() - this.#lastAccept >= ACCEPT_QUIET_MS) break;
    }
    const listener = this.#listener;
    const closed = Promise.all([
      new Promise<void>((r) => listener.close(() => r())),
      listener === this.#server ? null : new Promise<void>((r) => this.#server.close(() => r())),
    ]);
    // 2. sweep idle connections until nothing is left in flight or open, or the deadline
    for (;;) {
      this.#closeIdle(grace);
      if ((inflight() === 0 && this.#sockets.size === 0) || now() - start >= deadlineMs) break;
      await tick(SWEEP_MS);
    }
    const cut = inflight();
    this.#server.closeAllConnections();
    for (const s of this.#sockets.keys()) s.destroy(); // tunnels too: Node's list no longer holds upgraded sockets
    await closed;
    return cut;
  }
}
