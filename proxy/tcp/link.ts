/**
 * One relayed connection: the app's socket and canaryd's socket to the dependency, and a Pipe for each
 * direction. A Pipe without faults writes each chunk straight to the other socket (backpressure: the
 * source pauses while the destination needs a drain) and adds nothing else. A faulted Pipe (pipe.ts) passes
 * its chunks through the faults' stages (stages.ts); bytes held there count against a 256 KiB buffer, past
 * which the source pauses too.
 *
 * A rule's probability is rolled once per connection (as Toxiproxy's toxicity): when the connection opens,
 * or when the rule appears while it is open. Live rules apply to open connections, so a client's pooled
 * connection is hit by a rule added later, and lifted when the rule goes (deleted, expired, kill switch).
 * Closes propagate half by half (a FIN reaches the other side once the bytes before it are through; an RST
 * is passed on as an RST).
 */
import type { Socket } from 'node:net';
import type { VersionName } from '../../core/index.js';
import type { Direction, FaultState, TcpFault } from './kinds.js';
import type { StageHost } from './stages.js';
import { Pipe } from './pipe.js';

const EMPTY = Buffer.alloc(0);
const RST_AFTER_MS = 20;

/** A live rule compiled by the relay (once per rule change; the same object while the rule is unchanged). */
export interface LinkRule {
  readonly key: string;
  readonly name: string;
  readonly type: string;
  readonly probability: number;
  readonly version: VersionName | null;
  readonly fault: TcpFault;
  count(): void;
}

export interface LinkHost {
  random(): number;
  now(): number;
  bytes(dir: Direction, n: number): void;
  closed(link: Link): void;
}

let nextId = 1;

export class Link implements StageHost {
  readonly id = nextId++;
  /** wall-clock ms, set by the relay */
  openedAt = 0;
  readonly up: Pipe;
  readonly down: Pipe;
  #active: LinkRule[] = [];
  #rolls = new Map<string, boolean>();
  #state = new Map<string, FaultState>();
  #closeTimers = new Map<string, NodeJS.Timeout>();
  #grace: NodeJS.Timeout | null = null;
  #done = false;
  #cutting = false;

  constructor(
    readonly version: VersionName | null,
    readonly client: Socket,
    readonly upstream: Socket,
    readonly host: LinkHost,
  ) {
    this.up = new Pipe('upstream', client, upstream, (n) => host.bytes('upstream', n));
    this.down = new Pipe('downstream', upstream, client, (n) => host.bytes('downstream', n));
    client.on('error', (e) => this.#failed(upstream, e));
    upstream.on('error', (e) => this.#failed(client, e));
    client.on('close', () => this.#closed(upstream, this.up));
    upstream.on('close', () => this.#closed(client, this.down));
  }

  /** Starts the relay (both sockets were paused while the upstream was dialled). */
  start(): void {
    this.client.resume();
    this.upstream.resume();
  }

  random(): number {
    return this.host.random();
  }

  now(): number {
    return this.host.now();
  }

  get faulted(): boolean {
    return this.#active.length > 0;
  }

  get faults(): string[] {
    return this.#active.map((r) => r.name);
  }

  /** An RST from one side is passed on as an RST; any other error closes the other side. */
  #failed(other: Socket, e: NodeJS.ErrnoException): void {
    if (e.code === 'ECONNRESET') resetSocket(other);
    else other.destroy();
  }

  #closed(other: Socket, towardOther: Pipe): void {
    if (this.client.destroyed && this.upstream.destroyed) return this.#finish();
    if (other.destroyed) return;
    // the other side gets its FIN once the bytes for it are through (slowClose included); a pipe that still
    // holds them (a timeout fault) cannot deliver them to a peer that left, so the other side closes now
    if (!towardOther.endScheduled) other.destroy();
    else if (this.#grace === null) this.#grace = setTimeout(() => other.destroy(), 30_000 + towardOther.closeDelayMs).unref();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#grace !== null) clearTimeout(this.#grace);
    for (const t of this.#closeTimers.values()) clearTimeout(t);
    this.#closeTimers.clear();
    this.up.dispose();
    this.down.dispose();
    this.host.closed(this);
  }

  /** Closes both sockets now (shutdown, a dependency removed from the config). */
  destroy(): void {
    this.client.destroy();
    this.upstream.destroy();
  }

  /** Ends the connection on both sides: "rst" resets them once what was written is flushed, "fin" closes them. */
  cut(how: 'rst' | 'fin', _why: string): void {
    if (this.#cutting || this.#done) return;
    this.#cutting = true;
    this.up.stopped = true;
    this.down.stopped = true;
    if (how === 'fin') {
      this.client.destroySoon();
      this.upstream.destroySoon();
      return;
    }
    // the RST follows the last bytes by a moment: one that arrives with unread bytes is reported by the
    // peer's stack as a plain close, and the point of a reset is that the client sees ECONNRESET
    const rst = () => (resetSocket(this.client), resetSocket(this.upstream));
    flushThen(this.client, () =>
      flushThen(this.upstream, () => (this.up.bytes + this.down.bytes > 0 ? setTimeout(rst, RST_AFTER_MS) : rst())),
    );
  }

  /**
   * Applies the dependency's live rules: rolls the probability of each rule new to this connection, keeps the
   * roll of the others, and rebuilds the stages when the set of faults acting on it changed. With `cut`, a
   * connection that loses a fault is reset instead (kill switch, auto-disable).
   */
  apply(rules: readonly LinkRule[], cut: boolean): 'cut' | void {
    if (this.#done || this.#cutting) return;
    const next: LinkRule[] = [];
    const seen = new Set<string>();
    for (const r of rules) {
      if (r.fault.refuse || (r.version !== null && r.version !== this.version)) continue;
      seen.add(r.key);
      let hit = this.#rolls.get(r.key);
      if (hit === undefined) {
        hit = this.host.random() < r.probability;
        this.#rolls.set(r.key, hit);
        if (hit) r.count();
      }
      if (hit) next.push(r);
    }
    for (const k of [...this.#rolls.keys()]) {
      if (seen.has(k)) continue;
      this.#rolls.delete(k);
      this.#state.delete(k);
    }
    const prev = this.#active;
    if (prev.length === next.length && prev.every((r, i) => r === next[i])) return;
    if (cut && prev.some((r) => !next.includes(r))) {
      this.cut('rst', 'faults halted');
      return 'cut';
    }
    this.#active = next;
    for (const [k, t] of this.#closeTimers) {
      if (next.some((r) => r.key === k)) continue;
      clearTimeout(t);
      this.#closeTimers.delete(k);
    }
    for (const r of next) {
      if (prev.includes(r)) continue;
      if (r.fault.immediate !== null) return this.cut(r.fault.immediate, `${r.type} at once`);
      if (r.fault.closeAfterMs > 0)
        this.#closeTimers.set(
          r.key,
          setTimeout(() => this.cut('fin', `${r.type} closeAfterMs`), r.fault.closeAfterMs),
        );
    }
    const faults = next.map((r) => {
      let state = this.#state.get(r.key);
      if (state === undefined) this.#state.set(r.key, (state = {}));
      return { fault: r.fault, state };
    });
    this.up.setFaults(faults, this);
    this.down.setFaults(faults, this);
  }
}

/** Closes s with a TCP RST (a plain destroy where the runtime cannot reset). */
export function resetSocket(s: Socket): void {
  if (s.destroyed) return;
  try {
    s.resetAndDestroy();
  } catch {
    s.destroy();
  }
}

/** Runs fn once what was written to s has reached the kernel (at once when nothing is pending). */
function flushThen(s: Socket, fn: () => void): void {
  if (s.destroyed || s.writableEnded || s.writableLength === 0) return fn();
  s.write(EMPTY, () => fn());
}
