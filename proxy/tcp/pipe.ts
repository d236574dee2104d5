/**
 * One direction of a relayed connection (link.ts): chunks from `src` to `dst`. Without faults each chunk is
 * written straight through (backpressure: `src` pauses while `dst` needs a drain). With faults the chunks
 * pass the faults' stages (stages.ts), and bytes held there count against a 256 KiB buffer past which `src`
 * pauses too. A FIN goes on once the bytes before it are through (after a fault's close delay, if any).
 */
import type { Socket } from 'node:net';
import type { Direction, FaultState, TcpFault } from './kinds.js';
import type { Next, Stage, StageHost } from './stages.js';

const HIGH_WATER = 256 * 1024;

export class Pipe {
  #stages: Stage[] = [];
  #head: Next | null = null;
  #buffered = 0;
  #srcEnded = false;
  endScheduled = false;
  #endTimer: NodeJS.Timeout | null = null;
  #pausedByUs = false;
  closeDelayMs = 0;
  bytes = 0;
  /** set when the link is being cut: nothing more is written */
  stopped = false;

  constructor(
    readonly dir: Direction,
    readonly src: Socket,
    readonly dst: Socket,
    readonly count: (n: number) => void,
  ) {
    src.on('data', this.#onData);
    src.on('end', () => {
      this.#srcEnded = true;
      this.#maybeEnd();
    });
    dst.on('drain', () => this.#maybeResume());
  }

  #onData = (chunk: Buffer): void => {
    this.bytes += chunk.length;
    this.count(chunk.length);
    if (this.stopped) return;
    const head = this.#head;
    if (head === null) {
      if (!this.dst.write(chunk)) this.#pause();
      return;
    }
    this.#buffered += chunk.length;
    head(chunk);
    if (this.#buffered > HIGH_WATER || this.dst.writableNeedDrain) this.#pause();
  };

  /** the end of a chain of stages */
  #sink = (chunk: Buffer): void => {
    this.#buffered -= chunk.length;
    if (this.stopped || this.dst.destroyed || this.dst.writableEnded) return;
    if (!this.dst.write(chunk)) this.#pause();
    else this.#maybeResume();
    if (this.#buffered === 0 && this.#srcEnded) this.#maybeEnd();
  };

  #pause(): void {
    if (this.#pausedByUs) return;
    this.#pausedByUs = true;
    this.src.pause();
  }

  #maybeResume(): void {
    if (!this.#pausedByUs || this.#buffered > HIGH_WATER / 2 || this.dst.writableNeedDrain) return;
    this.#pausedByUs = false;
    this.src.resume();
  }

  #maybeEnd(): void {
    if (!this.#srcEnded || this.#buffered > 0 || this.endScheduled) return;
    this.endScheduled = true;
    const end = () => {
      this.#endTimer = null;
      if (!this.dst.destroyed && !this.dst.writableEnded) this.dst.end();
    };
    if (this.closeDelayMs > 0) this.#endTimer = setTimeout(end, this.closeDelayMs);
    else end();
  }

  /** Replaces the stages: the old ones are released first (what they hold goes on, in order). */
  setFaults(faults: Array<{ fault: TcpFault; state: FaultState }>, host: StageHost): void {
    this.#release();
    const ordered = [...faults.filter((f) => !f.fault.last), ...faults.filter((f) => f.fault.last)];
    let next: Next = this.#sink;
    const stages: Stage[] = [];
    for (let i = ordered.length - 1; i >= 0; i--) {
      const st = ordered[i].fault.stage(this.dir, host, next, ordered[i].state);
      if (st === null) continue;
      stages.unshift(st);
      next = (c) => st.push(c);
    }
    this.#stages = stages;
    this.#head = stages.length > 0 ? next : null;
    this.closeDelayMs = faults.reduce((m, f) => Math.max(m, f.fault.closeDelayMs), 0);
    this.#maybeResume();
    this.#maybeEnd();
  }

  #release(): void {
    const old = this.#stages;
    this.#stages = [];
    this.#head = null;
    for (const s of old) s.release();
  }

  dispose(): void {
    this.stopped = true;
    if (this.#endTimer !== null) clearTimeout(this.#endTimer);
    this.#endTimer = null;
    this.#release();
  }
}
