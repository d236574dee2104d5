/**
 * A worker's side of the IPC channel (docs/fleet.md "Workers"): says hello, is given the config and the
 * traffic state, listens, then applies every pushed change synchronously on receipt and acks it (so once
 * a worker has a message, its next routed request uses it), sends its per-second windows, totals and memory
 * every second, answers metrics requests, and drains when told — or when the primary is gone.
 */
import { toWire, type VersionName, type WindowRecord, type WireWindow } from '../core/index.js';
import { isWorkerMessage, type FromWorker, type NoticeKind, type ToWorker, type TrafficPush, type WorkerTotals } from './protocol.js';

/** What a worker process runs: the data plane, as the link drives it (worker.ts). */
export interface WorkerPlane {
  readonly windowMs: number;
  /** builds the data plane from the primary's config and state, and listens */
  init(config: unknown, traffic: TrafficPush): Promise<{ host: string; port: number }>;
  traffic(t: TrafficPush): void;
  configure(config: unknown): void;
  windows(version: VersionName, fromMs: number, toMs: number): WindowRecord[];
  totals(version: VersionName): WorkerTotals;
  readonly inflight: number;
  metrics(): Promise<unknown[]>;
  drain(deadlineMs: number, settleMs: number): Promise<number>;
  /** the last words before exit (flush the log) */
  exit(code: number): void;
}

/** How long a worker whose primary vanished drains before it exits. */
const ORPHAN_DRAIN_MS = 5_000;

export class PrimaryLink {
  readonly #plane: WorkerPlane;
  readonly #now: () => number;
  #ticker: NodeJS.Timeout | null = null;
  /** the start of the window last sent while still open: sent again (grown) on the next tick */
  #sentFrom = 0;
  #draining = false;

  constructor(plane: WorkerPlane, now: () => number = Date.now) {
    this.#plane = plane;
    this.#now = now;
  }

  /** Tells the primary of something it owns (an ejection, a fault auto-disable): it logs, audits and acts. */
  notice(kind: NoticeKind, detail: unknown): void {
    this.#send({ canaryd: 'notice', kind, detail });
  }

  start(): void {
    process.on('message', (m: unknown) => {
      if (isWorkerMessage(m)) void this.#onMessage(m as ToWorker);
    });
    process.on('disconnect', () => void this.#drain(ORPHAN_DRAIN_MS, 0)); // the primary is gone: no orphan
    // the primary coordinates SIGINT/SIGHUP (a terminal sends them to the whole group); a SIGTERM sent to this
    // worker alone drains it, and the primary starts a new one
    process.on('SIGINT', () => undefined);
    process.on('SIGHUP', () => undefined);
    process.on('SIGTERM', () => void this.#drain(ORPHAN_DRAIN_MS, 0));
    this.#send({ canaryd: 'hello' });
  }

  #send(m: FromWorker): void {
    if (process.connected) process.send!(m, undefined, undefined, () => undefined);
  }

  async #onMessage(m: ToWorker): Promise<void> {
    const plane = this.#plane;
    switch (m.canaryd) {
      case 'init':
        try {
          const address = await plane.init(m.config, m.traffic);
          this.#send({ canaryd: 'ready', address });
          this.#ticker = setInterval(() => this.#sendWindows(), plane.windowMs);
          this.#ticker.unref();
        } catch (e) {
          const err = e as NodeJS.ErrnoException & { port?: number; address?: string };
          this.#send({ canaryd: 'failed', message: err.message, code: err.code, port: err.port, address: err.address });
          plane.exit(1);
        }
        return;
      case 'traffic':
        plane.traffic(m.traffic); // synchronous: the next request routed sees it
        this.#send({ canaryd: 'ack', seq: m.seq });
        return;
      case 'config':
        plane.configure(m.config);
        return;
      case 'metrics':
        this.#send({ canaryd: 'metrics', id: m.id, metrics: await plane.metrics() });
        return;
      case 'drain':
        await this.#drain(m.deadlineMs, m.settleMs);
        return;
    }
  }

  #sendWindows(): void {
    const plane = this.#plane;
    const now = this.#now();
    const out: WireWindow[] = [];
    for (const v of ['baseline', 'canary'] as const)
      for (const w of plane.windows(v, this.#sentFrom, now + 1))
        if (w.start >= this.#sentFrom && w.clean.requests + w.faulted.requests > 0) out.push(toWire(w));
    this.#sentFrom = now - (now % plane.windowMs);
    const mem = process.memoryUsage();
    this.#send({
      canaryd: 'windows',
      windows: out,
      totals: { baseline: plane.totals('baseline'), canary: plane.totals('canary') },
      memory: { rss: mem.rss, heapUsed: mem.heapUsed },
      inflight: plane.inflight,
    });
  }

  async #drain(deadlineMs: number, settleMs: number): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    const cut = await this.#plane.drain(deadlineMs, settleMs);
    if (this.#ticker) clearInterval(this.#ticker);
    this.#sendWindows(); // the last requests' windows reach the primary before the exit
    this.#send({ canaryd: 'drained', cut });
    this.#plane.exit(0);
  }
}
