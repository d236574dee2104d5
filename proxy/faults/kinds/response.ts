/**
 * Fault kinds that act on the upstream's answer, through the exchange's response tap: throttle (bandwidth),
 * truncate (close mid-body), and the "after headers" form of reset. The upstream is paused while a tap
 * holds data back (undici resumes it on ex.resumeUpstream), so a throttled response never piles up in
 * memory beyond HIGH_WATER bytes. A released tap (kill switch) passes the rest of the response through.
 */
import type { Exchange } from '../../exchange.js';
import type { FaultKind, FaultRun, ReleasableTap } from '../types.js';

const HIGH_WATER = 64 * 1024;
/** pacing granularity: about 20 slices a second, never below one byte */
const SLICES_PER_SECOND = 20;

/** Paces the body at `bytesPerSecond` from the moment the headers went out (bytes allowed = rate × elapsed). */
export class ThrottleTap implements ReleasableTap {
  readonly #run: FaultRun;
  readonly #bps: number;
  readonly #slice: number;
  #queue: Buffer[] = [];
  #queued = 0;
  #sent = 0;
  #start = 0;
  #ending = false;
  #trailers: string[] | null = null;
  #paused = false;
  #waiting = false;
  #released = false;

  constructor(run: FaultRun, bytesPerSecond: number) {
    this.#run = run;
    this.#bps = bytesPerSecond;
    this.#slice = Math.max(1, Math.floor(bytesPerSecond / SLICES_PER_SECOND));
  }

  headers(): boolean {
    this.#start = this.#run.monotonic();
    return true;
  }

  data(ex: Exchange, chunk: Buffer): boolean {
    if (this.#released && this.#queued === 0) return ex.writeBody(chunk);
    this.#queue.push(chunk);
    this.#queued += chunk.length;
    if (!this.#waiting) this.#pump();
    if (this.#queued >= HIGH_WATER) {
      this.#paused = true;
      return false;
    }
    return true;
  }

  complete(_ex: Exchange, trailers: string[] | null): boolean {
    if (this.#queued === 0) return false;
    this.#ending = true;
    this.#trailers = trailers;
    return true;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    if (!this.#waiting) this.#pump();
  }

  #onTimer = (): void => {
    this.#waiting = false;
    this.#pump();
  };

  #onDrain = (): void => {
    this.#waiting = false;
    this.#pump();
  };

  #pump(): void {
    const ex = this.#run.ex;
    if (ex.done || ex.res.destroyed) return;
    const now = this.#run.monotonic();
    let budget = this.#released ? Infinity : Math.floor((this.#bps * (now - this.#start)) / 1000) - this.#sent;
    while (this.#queued > 0 && budget > 0) {
      const c = this.#queue[0];
      let part: Buffer;
      if (c.length <= budget) {
        part = c;
        this.#queue.shift();
      } else {
        part = c.subarray(0, budget);
        this.#queue[0] = c.subarray(budget);
      }
      this.#queued -= part.length;
      this.#sent += part.length;
      budget -= part.length;
      if (!ex.res.write(part)) {
        this.#waiting = true;
        ex.res.once('drain', this.#onDrain);
        return;
      }
    }
    if (this.#queued === 0) {
      if (this.#ending) {
        this.#ending = false;
        ex.endResponse(this.#trailers);
      } else if (this.#paused) {
        this.#paused = false;
        ex.resumeUpstream();
      }
      return;
    }
    // the time at which the next slice is allowed
    const need = Math.min(this.#queued, this.#slice);
    const at = this.#start + ((this.#sent + need) * 1000) / this.#bps;
    this.#waiting = true;
    this.#run.wait(Math.max(1, at - now), this.#onTimer, this.#onTimer);
  }
}

function contentLength(raw: Buffer[]): number | null {
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 14 && raw[i].toString('latin1').toLowerCase() === 'content-length') {
      const n = Number(raw[i + 1].toString('latin1').trim());
      return Number.isSafeInteger(n) && n >= 0 ? n : null;
    }
  }
  return null;
}

/**
 * Sends `afterBytes` of the body, then closes the connection. A body no longer than that (by Content-Length)
 * is cut at half its length, and a chunked body that ends first is cut before its last chunk, so a truncated
 * response is never mistaken for a complete one.
 */
export class TruncateTap implements ReleasableTap {
  readonly #run: FaultRun;
  readonly #after: number;
  #cutAt = 0;
  #written = 0;
  #cut = false;
  #released = false;

  constructor(run: FaultRun, afterBytes: number) {
    this.#run = run;
    this.#after = afterBytes;
  }

  headers(ex: Exchange, raw: Buffer[]): boolean {
    const cl = contentLength(raw);
    this.#cutAt = cl !== null && cl <= this.#after ? Math.floor(cl / 2) : this.#after;
    if (this.#cutAt > 0) return true;
    this.#cutHere(ex, null);
    return false;
  }

  data(ex: Exchange, chunk: Buffer): boolean {
    if (this.#released) return ex.writeBody(chunk);
    if (this.#cut) return false;
    const room = this.#cutAt - this.#written;
    if (chunk.length < room) {
      this.#written += chunk.length;
      return ex.writeBody(chunk);
    }
    this.#cutHere(ex, chunk.subarray(0, room));
    return false;
  }

  complete(ex: Exchange): boolean {
    if (this.#released) return false;
    if (!this.#cut) this.#cutHere(ex, null);
    return true;
  }

  release(): void {
    this.#released = true;
  }

  #cutHere(ex: Exchange, part: Buffer | null): void {
    this.#cut = true;
    ex.res.flushHeaders();
    if (part !== null && part.length > 0) ex.res.write(part);
    ex.finishFault(502, 'fault');
    this.#run.cut('fin');
  }
}

/**
 * How long the reset waits after the headers went out. A TCP reset that arrives before the peer has read the
 * bytes ahead of it makes Linux hand the peer those bytes and then a plain end-of-stream, not ECONNRESET; a
 * short gap lets the client read the headers, so it sees them and then the reset.
 */
const RESET_GAP_MS = 20;

/** Lets the upstream's response headers reach the client, then resets the connection. */
export class ResetAfterHeadersTap implements ReleasableTap {
  readonly #run: FaultRun;
  #released = false;
  #cut = false;

  constructor(run: FaultRun) {
    this.#run = run;
  }

  headers(ex: Exchange): boolean {
    if (this.#released) return true;
    this.#cut = true;
    ex.res.flushHeaders();
    ex.finishFault(502, 'fault');
    this.#run.wait(RESET_GAP_MS, () => this.#run.cut('rst'));
    return false;
  }

  data(ex: Exchange, chunk: Buffer): boolean {
    return this.#cut ? false : ex.writeBody(chunk);
  }

  complete(): boolean {
    return this.#cut;
  }

  release(): void {
    this.#released = true;
  }
}

export const throttleFault: FaultKind<'throttle'> = {
  type: 'throttle',
  category: 'latency',
  stage: 'outcome',
  compile(p) {
    const bytesPerSecond = p.bytesPerSecond;
    return {
      apply(run, next) {
        run.tap(new ThrottleTap(run, bytesPerSecond));
        next();
      },
    };
  },
};

export const truncateFault: FaultKind<'truncate'> = {
  type: 'truncate',
  category: 'error',
  stage: 'outcome',
  compile(p) {
    const afterBytes = p.afterBytes ?? 1024;
    return {
      apply(run, next) {
        run.tap(new TruncateTap(run, afterBytes));
        next();
      },
    };
  },
};
