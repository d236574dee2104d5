/**
 * The deadlines of every request in flight, checked by one sweep every SWEEP_MS rather than a timer per
 * request (a timer per request costs an allocation and a heap insert on the hot path; a sweep over the
 * live set costs nothing per request but a Set add/delete). Each sweep, per exchange:
 *   - `timeouts.request`: the total, counted from the request's ARRIVAL, so time spent waiting for an
 *     upstream connection counts (a hung canary cannot hold requests past it); a hung or byte-trickling
 *     upstream is cut with 504, a client still trickling its body with 408;
 *   - a gRPC call's `grpc-timeout` (ex.deadlineMs, below timeouts.request), also from arrival: DEADLINE_EXCEEDED
 *     (the HTTP/2 upstream pool also holds a precise timer for it; this sweep covers the time before the
 *     upstream was called — queued, or held by a fault — and HTTP/1.1 upstreams);
 *   - `limits.queue.timeout`: a request still waiting for an upstream connection gets 503;
 *   - the request body (while it is being received): idle longer than `timeouts.clientBody`, or slower on
 *     average than `limits.minBodyRate` once `timeouts.clientBody` has passed (allowed time = clientBody +
 *     bytes / minBodyRate, Apache mod_reqtimeout's MinRate rule), gets 408. Progress is read from the
 *     socket's byte count, so nothing listens to the body stream; time the body waited on canaryd itself
 *     (bytes read but not yet taken by the upstream) is not held against the client.
 * Expiry is therefore seen within SWEEP_MS of the deadline.
 */
import type { Exchange } from './exchange.js';

export const SWEEP_MS = 250;

export interface DeadlineSettings {
  /** timeouts.request */
  requestMs: number;
  /** timeouts.clientBody */
  clientBodyMs: number;
  /** limits.minBodyRate, bytes/s (0: off) */
  minBodyRate: number;
  /** limits.queue.timeout */
  queueTimeoutMs: number;
}

export class RequestSweeper {
  settings: DeadlineSettings;
  readonly #live = new Set<Exchange>();

  constructor(settings: DeadlineSettings) {
    this.settings = settings;
  }

  get size(): number {
    return this.#live.size;
  }

  /** A request arrived: its deadlines start now (`ex.startedAt`). */
  add(ex: Exchange, expectsBody: boolean): void {
    if (expectsBody) {
      const read = ex.req.socket.bytesRead;
      ex.bodyBytesAt = ex.bodyBytesSeen = read;
      ex.bodyProgressAt = ex.startedAt;
    }
    this.#live.add(ex);
  }

  delete(ex: Exchange): void {
    this.#live.delete(ex);
  }

  /** Shutdown deadline: every request still in flight is answered 503 (or cut), for neither version. */
  cutAll(status: 503, code: string, message: string): number {
    let n = 0;
    for (const ex of this.#live) {
      if (ex.done) continue;
      ex.cut(status, code, message, 'bad_request');
      n++;
    }
    this.#live.clear();
    return n;
  }

  sweep(now: number): void {
    const s = this.settings;
    for (const ex of this.#live) {
      if (ex.done) {
        this.#live.delete(ex);
        continue;
      }
      const req = ex.req;
      const receiving = !req.complete && ex.bodyProgressAt > 0;
      if (now - ex.startedAt >= s.requestMs) {
        if (receiving)
          ex.cut(
            408,
            'CANARYD_ERR_CLIENT_TIMEOUT',
            `request body not received within timeouts.request (${s.requestMs} ms)`,
            'client_abort',
          );
        else
          ex.cut(
            504,
            'CANARYD_ERR_DEADLINE',
            `${ex.version} upstream: no complete answer within timeouts.request (${s.requestMs} ms from arrival)`,
            'timeout',
          );
        continue;
      }
      if (ex.deadlineMs > 0 && now - ex.startedAt >= ex.deadlineMs) {
        ex.cut(
          504,
          'CANARYD_ERR_DEADLINE',
          `${ex.version} upstream: no complete answer within grpc-timeout (${ex.deadlineMs} ms)`,
          'timeout',
        );
        continue;
      }
      if (ex.queuedAt > 0 && now - ex.queuedAt >= s.queueTimeoutMs) {
        ex.cut(
          503,
          'CANARYD_ERR_QUEUE_TIMEOUT',
          `${ex.version} upstream: no connection free within limits.queue.timeout (${s.queueTimeoutMs} ms)`,
          'refused',
        );
        continue;
      }
      if (receiving) this.#checkBody(ex, now, s);
    }
  }

  #checkBody(ex: Exchange, now: number, s: DeadlineSettings): void {
    const req = ex.req;
    const read = req.socket.bytesRead;
    if (req.readableLength > 0 || req.socket.isPaused()) {
      // bytes wait on canaryd (the upstream reads slowly): the client is not the slow one
      ex.bodyExemptMs += SWEEP_MS;
      ex.bodyProgressAt = now;
      ex.bodyBytesSeen = read;
      return;
    }
    if (read !== ex.bodyBytesSeen) {
      ex.bodyBytesSeen = read;
      ex.bodyProgressAt = now;
    } else if (now - ex.bodyProgressAt >= s.clientBodyMs) {
      ex.cut(408, 'CANARYD_ERR_CLIENT_TIMEOUT', `no request-body bytes for timeouts.clientBody (${s.clientBodyMs} ms)`, 'client_abort');
      return;
    }
    if (s.minBodyRate > 0) {
      const allowed = s.clientBodyMs + ex.bodyExemptMs + ((read - ex.bodyBytesAt) * 1000) / s.minBodyRate;
      if (now - ex.startedAt >= allowed) {
        ex.cut(408, 'CANARYD_ERR_CLIENT_TIMEOUT', `request body slower than limits.minBodyRate (${s.minBodyRate} B/s)`, 'client_abort');
      }
    }
  }
}
