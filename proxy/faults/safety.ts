/**
 * The numbers the safety switch and experiment reports read: what a client saw, per request, and the
 * client-seen error rate over a sliding window (a ring of 1-second buckets with running sums, O(1) per
 * request, no allocation).
 *
 * A request is an error for its client when it got a 5xx (canaryd's own gateway errors and injected
 * aborts/resets/truncations/hangs included: those are recorded as 502/504 with outcome "fault"), or when it
 * was faulted and the client gave up on it (a hang or long delay), or when a gRPC call ended with a
 * server-side grpc-status (the default grpc.errorCodes) or with an injected gRPC abort's status. A client that goes away from an ordinary
 * request says nothing about the service and is left out of both counts.
 */
import { GRPC_SERVER_ERROR_MASK, type Observation } from '../../core/index.js';

export const SEEN_OK = 0;
export const SEEN_ERROR = 1;
export const SEEN_SKIP = 2;

export function clientSeen(o: Observation): number {
  if (o.outcome === 'client_abort') return o.faulted ? SEEN_ERROR : SEEN_SKIP;
  if (o.status >= 500 || o.outcome === 'reset' || o.outcome === 'refused' || o.outcome === 'timeout') return SEEN_ERROR;
  // a gRPC call answers HTTP 200 whatever its outcome: an injected gRPC abort, or a server-side code
  const g = o.grpcStatus ?? -1;
  if (g > 0 && (o.outcome === 'fault' || (GRPC_SERVER_ERROR_MASK >> g) & 1)) return SEEN_ERROR;
  return SEEN_OK;
}

const BUCKET_MS = 1000;

export class ErrorRateWindow {
  #requests: Float64Array;
  #errors: Float64Array;
  #slots: number;
  #current = -1; // bucket number (time / BUCKET_MS) of the newest bucket
  requests = 0;
  errors = 0;

  constructor(windowMs: number) {
    this.#slots = Math.max(1, Math.ceil(windowMs / BUCKET_MS));
    this.#requests = new Float64Array(this.#slots);
    this.#errors = new Float64Array(this.#slots);
  }

  get windowMs(): number {
    return this.#slots * BUCKET_MS;
  }

  #advance(now: number): number {
    const b = Math.floor(now / BUCKET_MS);
    if (b !== this.#current) {
      if (this.#current < 0 || b - this.#current >= this.#slots || b < this.#current) this.reset();
      else for (let x = this.#current + 1; x <= b; x++) this.#drop(x % this.#slots);
      this.#current = b;
    }
    return b % this.#slots;
  }

  #drop(i: number): void {
    this.requests -= this.#requests[i];
    this.errors -= this.#errors[i];
    this.#requests[i] = 0;
    this.#errors[i] = 0;
  }

  add(now: number, error: boolean): void {
    const i = this.#advance(now);
    this.#requests[i]++;
    this.requests++;
    if (error) {
      this.#errors[i]++;
      this.errors++;
    }
  }

  /** Brings the window up to `now` (expired buckets dropped) without adding a request. */
  /** The figures and the reason of an auto-disable, for the log, the audit record and the event. */
  tripped(maxErrorRate: number): {
    details: { errorRate: number; errors: number; requests: number; windowMs: number; maxErrorRate: number };
    reason: string;
  } {
    const errorRate = this.errors / this.requests;
    const reason = `client-seen error rate ${(errorRate * 100).toFixed(1)}% (${this.errors}/${this.requests} requests in the last ${this.windowMs / 1000}s) exceeded faults.maxErrorRate ${maxErrorRate}`;
    return { details: { errorRate, errors: this.errors, requests: this.requests, windowMs: this.windowMs, maxErrorRate }, reason };
  }

  at(now: number): { requests: number; errors: number; errorRate: number | null } {
    this.#advance(now);
    return { requests: this.requests, errors: this.errors, errorRate: this.requests > 0 ? this.errors / this.requests : null };
  }

  reset(): void {
    this.#requests.fill(0);
    this.#errors.fill(0);
    this.requests = 0;
    this.errors = 0;
    this.#current = -1;
  }
}
