/**
 * The stages a faulted direction of a relayed connection passes its bytes through: latency, bandwidth,
 * slicer, hold (timeout) and a byte limit (resetPeer, limitData). A direction without faults has no stage
 * at all: its bytes go straight from one socket to the other.
 *
 * Every stage keeps the order of the bytes, and release() lifts it: what it holds goes on at once, in order,
 * and later bytes pass straight through (the kill switch, a deleted or expired rule). One timer per stage at
 * most, cleared on release. Bytes a stage holds count against the direction's buffer, so a slow stage
 * pauses the socket it reads from (backpressure) instead of growing memory.
 */

export type Next = (chunk: Buffer) => void;

export interface Stage {
  push(chunk: Buffer): void;
  /** lifts the fault: queued bytes go on now, in order; later pushes pass through. Idempotent. */
  release(): void;
}

export interface StageHost {
  random(): number;
  /** monotonic ms */
  now(): number;
  /** ends the connection: "rst" resets both sides once what was written is flushed, "fin" closes them */
  cut(how: 'rst' | 'fin', why: string): void;
}

/** A FIFO of chunks with a moving head (no Array.shift per chunk). */
class ChunkQueue<T> {
  #items: T[] = [];
  #head = 0;
  get length(): number {
    return this.#items.length - this.#head;
  }
  push(x: T): void {
    this.#items.push(x);
  }
  peek(): T {
    return this.#items[this.#head];
  }
  shift(): T {
    const x = this.#items[this.#head++];
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return x;
  }
  drain(fn: (x: T) => void): void {
    while (this.length > 0) fn(this.shift());
  }
}

/** Each chunk goes on `ms ± jitterMs` after it arrived, never before the chunk ahead of it. */
export class LatencyStage implements Stage {
  #q = new ChunkQueue<{ at: number; chunk: Buffer }>();
  #timer: NodeJS.Timeout | null = null;
  #last = 0;
  #released = false;
  constructor(
    readonly host: StageHost,
    readonly next: Next,
    readonly ms: number,
    readonly jitterMs: number,
  ) {}

  push(chunk: Buffer): void {
    if (this.#released) return this.next(chunk);
    const d = Math.max(0, this.ms + (this.jitterMs > 0 ? this.jitterMs * (2 * this.host.random() - 1) : 0));
    const at = Math.max(this.host.now() + d, this.#last);
    this.#last = at;
    this.#q.push({ at, chunk });
    if (this.#timer === null) this.#arm();
  }

  #arm(): void {
    const wait = Math.max(0, this.#q.peek().at - this.host.now());
    this.#timer = setTimeout(() => this.#fire(), wait);
  }

  #fire(): void {
    this.#timer = null;
    // timers fire on whole ms: a chunk due within the next half ms goes now rather than a tick later
    const t = this.host.now() + 0.5;
    while (this.#q.length > 0 && this.#q.peek().at <= t) this.next(this.#q.shift().chunk);
    if (this.#q.length > 0 && !this.#released) this.#arm();
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#q.drain((x) => this.next(x.chunk));
  }
}

/** A steady rate: slices of ~50 ms worth of bytes, each sent when the rate allows. */
export class BandwidthStage implements Stage {
  #q = new ChunkQueue<Buffer>();
  #timer: NodeJS.Timeout | null = null;
  #nextAt = 0;
  /** bytes of the head chunk already sent */
  #off = 0;
  #slice: number;
  #released = false;
  constructor(
    readonly host: StageHost,
    readonly next: Next,
    readonly bytesPerSecond: number,
  ) {
    this.#slice = Math.max(1, Math.min(65_536, Math.floor(bytesPerSecond / 20)));
  }

  push(chunk: Buffer): void {
    if (this.#released) return this.next(chunk);
    this.#q.push(chunk);
    if (this.#timer === null) this.#pump();
  }

  #pump(): void {
    this.#timer = null;
    while (this.#q.length > 0) {
      const now = this.host.now();
      if (now < this.#nextAt) {
        this.#timer = setTimeout(() => this.#pump(), Math.ceil(this.#nextAt - now));
        return;
      }
      const head = this.#q.peek();
      const piece = head.subarray(this.#off, this.#off + this.#slice);
      this.#off += piece.length;
      if (this.#off >= head.length) {
        this.#q.shift();
        this.#off = 0;
      }
      this.#nextAt = Math.max(this.#nextAt, now) + (piece.length * 1000) / this.bytesPerSecond;
      this.next(piece);
    }
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#q.length > 0 && this.#off > 0) this.next(this.#q.shift().subarray(this.#off));
    this.#q.drain((c) => this.next(c));
  }
}

/** Splits every chunk into writes of averageSize ± sizeVariation bytes, delayUs apart (timer resolution: 1 ms). */
export class SlicerStage implements Stage {
  #q = new ChunkQueue<Buffer>();
  #timer: NodeJS.Timeout | null = null;
  #released = false;
  constructor(
    readonly host: StageHost,
    readonly next: Next,
    readonly averageSize: number,
    readonly sizeVariation: number,
    readonly delayUs: number,
  ) {}

  #size(): number {
    const v = this.sizeVariation > 0 ? Math.round(this.sizeVariation * (2 * this.host.random() - 1)) : 0;
    return Math.max(1, this.averageSize + v);
  }

  push(chunk: Buffer): void {
    if (this.#released) return this.next(chunk);
    for (let off = 0; off < chunk.length;) {
      const n = Math.min(this.#size(), chunk.length - off);
      const piece = chunk.subarray(off, off + n);
      off += n;
      if (this.delayUs === 0) this.next(piece);
      else this.#q.push(piece);
    }
    if (this.delayUs > 0 && this.#timer === null && this.#q.length > 0) this.#tick();
  }

  #tick(): void {
    this.#timer = null;
    if (this.#q.length === 0) return;
    this.next(this.#q.shift());
    if (this.#q.length > 0) this.#timer = setTimeout(() => this.#tick(), Math.max(1, this.delayUs / 1000));
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#q.drain((c) => this.next(c));
  }
}

/** Holds every byte until released (the timeout fault): the peer waits, the connection stays open. */
export class HoldStage implements Stage {
  #q = new ChunkQueue<Buffer>();
  #released = false;
  constructor(readonly next: Next) {}
  push(chunk: Buffer): void {
    if (this.#released) return this.next(chunk);
    this.#q.push(chunk);
  }
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#q.drain((c) => this.next(c));
  }
}

/** A byte budget shared by the directions a rule covers (resetPeer, limitData count both ways by default). */
export interface ByteBudget {
  remaining: number;
  spent: boolean;
}

/** Forwards bytes until the budget is spent, then cuts the connection (rst: resetPeer; fin: limitData). */
export class ByteLimitStage implements Stage {
  #released = false;
  constructor(
    readonly host: StageHost,
    readonly next: Next,
    readonly budget: ByteBudget,
    readonly how: 'rst' | 'fin',
    readonly why: string,
  ) {}

  push(chunk: Buffer): void {
    if (this.#released) return this.next(chunk);
    const b = this.budget;
    if (b.spent) return; // the cut is under way: nothing more goes through
    if (chunk.length < b.remaining) {
      b.remaining -= chunk.length;
      return this.next(chunk);
    }
    const head = chunk.subarray(0, b.remaining);
    b.remaining = 0;
    b.spent = true;
    if (head.length > 0) this.next(head);
    this.host.cut(this.how, this.why);
  }

  release(): void {
    this.#released = true;
  }
}
