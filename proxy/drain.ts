/**
 * Graceful drain of the data plane's client connections (SIGTERM). Node's server.closeIdleConnections()
 * would also close a connection that was accepted a moment ago and whose request is still in the kernel
 * buffer or half parsed — the client sees a reset and a request is lost, which a busy machine made happen in
 * the SIGTERM test. So connections are tracked here, and the drain closes:
 *   - a connection that has served a request and is idle between requests, at once (the keep-alive close
 *     race RFC 9112 §9.5 allows: a client retries a request it sent as the connection closed);
 *   - a connection that has not served a request yet, only once it is still idle after a short grace
 *     (`freshGraceMs`): a request on it arrives meanwhile and is served, with Connection: close;
 *   - every connection, WebSocket tunnels included, at the deadline.
 * Responses still in flight finish with Connection: close (the Exchange clears keep-alive when draining).
 * The approach is http-terminator's (gajus/http-terminator), reading Node's `socket._httpMessage` the way
 * Node's own closeIdleConnections() does.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** How long a connection that never carried a request is given to send one once draining starts. */
export const FRESH_GRACE_MS = 1000;
const SWEEP_MS = 25;

type HttpSocket = Socket & { _httpMessage?: { finished?: boolean } | null };

export class ConnectionTracker {
  readonly #server: Server;
  readonly #sockets = new Set<HttpSocket>();
  readonly #served = new WeakSet<Socket>();
  readonly #tunnels = new WeakSet<Socket>();

  constructor(server: Server) {
    this.#server = server;
    const sockets = this.#sockets;
    function forget(this: HttpSocket): void {
      sockets.delete(this);
    }
    server.on('connection', (s: HttpSocket) => {
      sockets.add(s);
      s.once('close', forget);
    });
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

  #closeIdle(fresh: boolean): void {
    for (const s of this.#sockets) {
      const m = s._httpMessage;
      if ((m && !m.finished) || this.#tunnels.has(s)) continue; // a response or a tunnel in progress
      if (fresh || this.#served.has(s)) s.destroy();
    }
  }

  /**
   * Stops accepting, then sweeps idle connections until no request is in flight and no connection is left,
   * or the deadline passes (then every connection is closed). Resolves with the requests still in flight at
   * the deadline (cut).
   */
  async drain(deadlineMs: number, inflight: () => number, freshGraceMs = FRESH_GRACE_MS): Promise<number> {
    const closed = new Promise<void>((r) => this.#server.close(() => r()));
    const start = performance.now();
    for (;;) {
      const elapsed = performance.now() - start;
      this.#closeIdle(elapsed >= Math.min(freshGraceMs, deadlineMs));
      if ((inflight() === 0 && this.#sockets.size === 0) || elapsed >= deadlineMs) break;
      await new Promise((r) => setTimeout(r, SWEEP_MS).unref());
    }
    const cut = inflight();
    this.#server.closeAllConnections();
    for (const s of this.#sockets) s.destroy(); // tunnels too: Node's list no longer holds upgraded sockets
    await closed;
    return cut;
  }
}
