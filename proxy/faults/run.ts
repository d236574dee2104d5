/**
 * One faulted request in flight: runs its faults in order (each calls next() to continue, the last next()
 * forwards to the upstream), owns the one timer a fault may hold, and cleans up when the client goes away —
 * the response's 'close' event fires however the exchange ends, so no timer or socket outlives its request.
 * Only requests a fault hit get a FaultRunImpl; every other request allocates nothing here.
 */
import type { Socket } from 'node:net';
import type { Exchange } from '../exchange.js';
import type { CompiledFault, FaultRun, ReleasableTap } from './types.js';

/** How long a cut waits for written bytes to reach the kernel before closing anyway. */
const CUT_FLUSH_BOUND_MS = 5_000;

export interface RunHost {
  random(): number;
  monotonic(): number;
  /** the run ended (client gone or response done): exactly once per run */
  ended(run: FaultRunImpl): void;
}

function closeSocket(sock: Socket, how: 'rst' | 'fin'): void {
  if (sock.destroyed) return;
  if (how === 'rst') {
    try {
      sock.resetAndDestroy(); // SO_LINGER 0: the peer sees ECONNRESET (Node >= 18.3)
      return;
    } catch {
      /* not a TCP handle: fall back to a plain close */
    }
  }
  sock.destroy();
}

export class FaultRunImpl implements FaultRun {
  readonly ex: Exchange;
  rule = '';
  #host: RunHost;
  #steps: readonly CompiledFault[];
  #i = 0;
  #timer: NodeJS.Timeout | null = null;
  #onRelease: (() => void) | null = null;
  #tap: ReleasableTap | null = null;
  #released = false;
  #ended = false;

  constructor(host: RunHost, ex: Exchange, steps: readonly CompiledFault[]) {
    this.#host = host;
    this.ex = ex;
    this.#steps = steps;
  }

  get released(): boolean {
    return this.#released;
  }

  get ended(): boolean {
    return this.#ended;
  }

  start(): void {
    this.ex.res.once('close', this.#onClose);
    this.#next();
  }

  #next = (): void => {
    if (this.#ended || this.ex.done) return;
    if (this.#released || this.#i >= this.#steps.length) {
      this.ex.proceed(); // the rest of the chain, then the upstream
      return;
    }
    const s = this.#steps[this.#i++];
    this.rule = s.name;
    s.action.apply(this, this.#next);
  };

  #onClose = (): void => {
    if (this.#ended) return;
    this.#ended = true;
    this.#clearTimer();
    this.#host.ended(this);
  };

  random(): number {
    return this.#host.random();
  }

  monotonic(): number {
    return this.#host.monotonic();
  }

  wait(ms: number, fn: () => void, onRelease: () => void = fn): void {
    this.#clearTimer();
    if (this.#ended) return;
    this.#onRelease = onRelease;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#onRelease = null;
      fn();
    }, ms);
  }

  #clearTimer(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    this.#onRelease = null;
  }

  tap(t: ReleasableTap): void {
    this.#tap = t;
    this.ex.tap = t;
  }

  cut(how: 'rst' | 'fin'): void {
    const sock = this.ex.req.socket;
    const go = () => closeSocket(sock, how);
    // http corks the socket until the next tick: wait for that, then for the kernel to take the bytes
    setImmediate(() => {
      if (sock.destroyed) return;
      if (sock.writableLength === 0) return go();
      sock.once('drain', go);
      this.wait(CUT_FLUSH_BOUND_MS, go);
    });
  }

  /** Lifts this request's faults: a pending wait ends now (a delay or hang forwards), a tap passes the rest through. Idempotent. */
  release(): void {
    if (this.#released || this.#ended) return;
    this.#released = true;
    this.#tap?.release(this.ex);
    const fn = this.#onRelease;
    if (fn !== null) {
      this.#clearTimer();
      fn();
    }
  }

  /** Disposal on shutdown: as release, then nothing more can happen. Idempotent. */
  dispose(): void {
    this.release();
  }
}
