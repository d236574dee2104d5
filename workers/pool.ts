/**
 * The primary's side of the workers (docs/fleet.md "Workers"): forks N data-plane workers with node:cluster,
 * gives each the config and the traffic state before it listens, pushes every traffic change to all of them
 * and waits (bounded) for their acks, keeps the windows they send (the controller judges their merge),
 * restarts a crashed worker with a backoff, and drains them on stop.
 *
 * Scheduling: SCHED_RR (node's default on Linux, set explicitly): the primary accepts each connection and
 * hands it to the workers in turn. SCHED_NONE lets the kernel wake whichever worker, which on Linux piles
 * most connections onto one or two processes; `reusePort` (kernel balancing, no primary on the accept path)
 * needs Node ≥ 22.12 and is not used.
 */
import cluster, { type Worker } from 'node:cluster';
import { performance } from 'node:perf_hooks';
import { mergeWindows, RemoteEvidence, type Log, type MetricSource, type VersionName, type WindowRecord } from '../core/index.js';
import {
  isWorkerMessage,
  WORKER_SLOT_ENV,
  type FromWorker,
  type ToWorker,
  type NoticeKind,
  type TrafficPush,
  type WorkerMemory,
  type WorkerTotals,
} from './protocol.js';

export interface WorkerPoolOptions {
  count: number;
  /** the worker's entry file (dist/worker.js) */
  exec: string;
  log: Log;
  /** what a (re)started worker is given before it listens: the config and the traffic state now */
  config(): unknown;
  traffic(): TrafficPush;
  /** how long the windows of a worker are kept (the local recorder's span) */
  keepMs: number;
  windowMs: number;
  /** how long a traffic change waits for every worker's ack */
  ackTimeoutMs: number;
  /** a worker's notice: an upstream ejection, a fault auto-disable (the primary logs, audits, acts) */
  onNotice?(worker: number, kind: NoticeKind, detail: unknown): void;
  /** a worker exited while the pool was not stopping (counted: canaryd_worker_exits_total) */
  onLost?(slot: number, reason: string): void;
  now?(): number;
}

export type WorkerState = 'starting' | 'up' | 'restarting' | 'stopped';

/** One worker as status shows it. */
export interface WorkerView {
  worker: number;
  pid: number | null;
  state: WorkerState;
  startedAt: number;
  restarts: number;
  inflight: number;
  memory: WorkerMemory | null;
  requests: number;
  /** requests per version this worker process served */
  byVersion: Record<VersionName, number>;
}

interface Slot {
  slot: number;
  worker: Worker | null;
  pid: number | null;
  state: WorkerState;
  startedAt: number;
  restarts: number;
  /** exit times within BACKOFF_SPAN_MS (the restart backoff grows with them) */
  exits: number[];
  /** init sent: the worker is given every traffic change from now on */
  inited: boolean;
  acked: number;
  memory: WorkerMemory | null;
  totals: Record<VersionName, WorkerTotals> | null;
  inflight: number;
  cut: number;
  timer: NodeJS.Timeout | null;
  /** performance.now() of its last `windows` report (every second while its event loop runs) */
  reportedAt: number;
}

const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 10_000;
const BACKOFF_SPAN_MS = 60_000;
const METRICS_TIMEOUT_MS = 1_000;
/** A serving worker silent this long (no report: its event loop is stuck) is killed, then restarted as lost. */
export const WORKER_HANG_MS = 10_000;

const emptyTotals = (): WorkerTotals => ({ requests: 0, faulted: 0, byStatus: {} });
function addTotals(into: WorkerTotals, x: WorkerTotals): void {
  into.requests += x.requests;
  into.faulted += x.faulted;
  for (const [s, n] of Object.entries(x.byStatus)) into.byStatus[s] = (into.byStatus[s] ?? 0) + n;
}

export class WorkerPool {
  readonly #o: WorkerPoolOptions;
  readonly #slots: Slot[] = [];
  readonly #evidence: RemoteEvidence;
  readonly #now: () => number;
  /** the counts of worker processes that have exited (their totals stay in status) */
  readonly #retired: Record<VersionName, WorkerTotals> = { baseline: emptyTotals(), canary: emptyTotals() };
  #seq = 0;
  #stopping = false;
  #started = false;
  #address: { host: string; port: number } | null = null;
  #startWaiter: { resolve(a: { host: string; port: number }): void; reject(e: Error): void } | null = null;
  #ackWaiters: Array<() => void> = [];
  #metricsId = 0;
  readonly #metricsPending = new Map<number, { got: Map<number, unknown[]>; done: () => void }>();
  #exitWaiters: Array<() => void> = [];
  #watchdog: NodeJS.Timeout | null = null;
  /** the controller's MetricSource: every worker's windows, merged by core's mergeWindows (the fleet's merge) */
  readonly source: MetricSource;

  constructor(o: WorkerPoolOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#evidence = new RemoteEvidence(o.keepMs);
    const evidence = this.#evidence;
    this.source = {
      windowMs: o.windowMs,
      windows: (v: VersionName, from: number, to: number): WindowRecord[] => mergeWindows(evidence.windows(v, from, to)),
    };
  }

  get count(): number {
    return this.#o.count;
  }

  /** Forks every worker; resolves with the proxy's address once all listen, rejects if one fails first. */
  start(): Promise<{ host: string; port: number }> {
    cluster.schedulingPolicy = cluster.SCHED_RR;
    cluster.setupPrimary({ exec: this.#o.exec, args: [], silent: false });
    const started = new Promise<{ host: string; port: number }>((resolve, reject) => (this.#startWaiter = { resolve, reject }));
    for (let i = 1; i <= this.#o.count; i++) {
      const s: Slot = {
        slot: i,
        worker: null,
        pid: null,
        state: 'starting',
        startedAt: 0,
        restarts: 0,
        exits: [],
        inited: false,
        acked: 0,
        memory: null,
        totals: null,
        inflight: 0,
        cut: 0,
        timer: null,
        reportedAt: 0,
      };
      this.#slots.push(s);
      this.#fork(s);
    }
    this.#watchdog = setInterval(() => this.#checkHung(), 1_000);
    this.#watchdog.unref();
    return started;
  }

  #checkHung(): void {
    const now = performance.now();
    for (const s of this.#slots) {
      if (s.state !== 'up' || s.worker === null || now - s.reportedAt < WORKER_HANG_MS) continue;
      this.#o.log.error(
        { event: 'worker_hung', worker: s.slot, pid: s.pid, silentMs: Math.round(now - s.reportedAt) },
        `worker ${s.slot} (pid ${s.pid}) sent nothing for ${Math.round((now - s.reportedAt) / 1000)} s: killed, to be restarted`,
      );
      s.reportedAt = now; // killed once; its exit restarts it
      s.worker.process.kill('SIGKILL');
    }
  }

  #fork(s: Slot): void {
    const w = cluster.fork({ [WORKER_SLOT_ENV]: String(s.slot) });
    Object.assign(s, { worker: w, pid: w.process.pid ?? null, state: 'starting', startedAt: this.#now(), inited: false, acked: 0 });
    Object.assign(s, { memory: null, totals: null, inflight: 0, timer: null });
    w.on('message', (m: unknown) => {
      if (isWorkerMessage(m)) this.#onMessage(s, w, m);
    });
    w.on('exit', (code: number | null, signal: string | null) => this.#onExit(s, w, code, signal));
  }

  #send(w: Worker, m: ToWorker): void {
    if (w.isConnected()) w.send(m, undefined, undefined, () => undefined); // a closed channel: the exit handler follows
  }

  #onMessage(s: Slot, w: Worker, m: FromWorker): void {
    if (s.worker !== w) return;
    switch (m.canaryd) {
      case 'hello':
        // the state as of now, before the worker listens: it never routes a request by an older one
        this.#send(w, { canaryd: 'init', seq: this.#seq, config: this.#o.config(), traffic: this.#o.traffic() });
        s.inited = true;
        s.acked = this.#seq;
        return;
      case 'ready':
        s.state = 'up';
        s.reportedAt = performance.now();
        this.#address ??= m.address;
        this.#o.log.info({ event: 'worker_started', worker: s.slot, pid: s.pid, restarts: s.restarts }, `worker ${s.slot} serving`);
        if (!this.#started && this.#slots.every((x) => x.state === 'up')) {
          this.#started = true;
          this.#startWaiter?.resolve(this.#address);
          this.#startWaiter = null;
        }
        return;
      case 'failed':
        this.#o.log.error({ event: 'worker_failed', worker: s.slot, pid: s.pid, err: m.message }, `worker ${s.slot} failed to start`);
        if (!this.#started) this.#failStart(Object.assign(new Error(m.message), { code: m.code, port: m.port, address: m.address }));
        return;
      case 'ack':
        if (m.seq > s.acked) s.acked = m.seq;
        this.#checkAcks();
        return;
      case 'windows':
        this.#evidence.add(`${s.slot}:${s.pid}`, m.windows, this.#now());
        s.totals = m.totals;
        s.memory = m.memory;
        s.inflight = m.inflight;
        s.reportedAt = performance.now();
        return;
      case 'metrics': {
        const p = this.#metricsPending.get(m.id);
        if (p) {
          p.got.set(s.slot, m.metrics);
          p.done();
        }
        return;
      }
      case 'drained':
        s.cut = m.cut;
        return;
      case 'notice':
        this.#o.onNotice?.(s.slot, m.kind, m.detail);
        return;
    }
  }

  #failStart(err: Error): void {
    const w = this.#startWaiter;
    this.#startWaiter = null;
    this.#stopping = true;
    if (this.#watchdog) clearInterval(this.#watchdog);
    for (const s of this.#slots) s.worker?.process.kill('SIGKILL');
    w?.reject(err);
  }

  #onExit(s: Slot, w: Worker, code: number | null, signal: string | null): void {
    if (s.worker !== w) return;
    if (s.totals) {
      addTotals(this.#retired.baseline, s.totals.baseline);
      addTotals(this.#retired.canary, s.totals.canary);
    }
    s.worker = null;
    s.inited = false;
    s.totals = null;
    this.#checkAcks(); // a dead worker is waited for no more: its replacement is given the state at init
    if (this.#stopping) {
      s.state = 'stopped';
      for (const f of this.#exitWaiters) f();
      return;
    }
    const reason = signal ? `signal ${signal}` : `exit code ${code}`;
    if (!this.#started) {
      this.#failStart(new Error(`worker ${s.slot} exited before it listened (${reason})`));
      return;
    }
    const now = this.#now();
    s.exits = [...s.exits.filter((t) => now - t < BACKOFF_SPAN_MS), now];
    const delayMs = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (s.exits.length - 1));
    this.#o.onLost?.(s.slot, signal ? 'signal' : 'exit');
    this.#o.log.error(
      {
        event: 'worker_lost',
        worker: s.slot,
        pid: s.pid,
        code,
        signal,
        inflight: s.inflight,
        restartInMs: delayMs,
        recentExits: s.exits.length,
      },
      `worker ${s.slot} (pid ${s.pid}) lost (${reason}) with ~${s.inflight} requests in flight; restarting in ${delayMs} ms`,
    );
    s.state = 'restarting';
    s.timer = setTimeout(() => {
      s.timer = null;
      if (this.#stopping) return;
      s.restarts++;
      this.#fork(s);
    }, delayMs);
  }

  /** A traffic change: sent to every worker that has its init; returns the change's sequence number. */
  push(traffic: TrafficPush): number {
    const seq = ++this.#seq;
    for (const s of this.#slots) if (s.worker && s.inited) this.#send(s.worker, { canaryd: 'traffic', seq, traffic });
    return seq;
  }

  /** A new config for the workers (proxy settings, rules, log level, faults). */
  configure(config: unknown): void {
    for (const s of this.#slots) if (s.worker && s.inited) this.#send(s.worker, { canaryd: 'config', config });
  }

  /**
   * Waits until every live worker has applied the latest traffic change (acked its sequence), at most
   * `timeoutMs`. A worker that exits meanwhile is not waited for: its replacement gets the state at init.
   */
  async synced(timeoutMs = this.#o.ackTimeoutMs): Promise<{ seq: number; missing: number[] }> {
    const seq = this.#seq;
    const missing = () => this.#slots.filter((s) => s.worker !== null && s.inited && s.acked < seq).map((s) => s.slot);
    if (missing().length > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, timeoutMs);
        function done() {
          clearTimeout(t);
          resolve();
        }
        const check = () => {
          if (missing().length === 0) done();
          else this.#ackWaiters.push(check);
        };
        this.#ackWaiters.push(check);
      });
    }
    const left = missing();
    if (left.length > 0)
      this.#o.log.warn(
        { event: 'workers_ack_timeout', seq, missing: left, timeoutMs },
        `workers ${left.join(', ')} did not ack change ${seq}`,
      );
    return { seq, missing: left };
  }

  #checkAcks(): void {
    const ws = this.#ackWaiters;
    this.#ackWaiters = [];
    for (const f of ws) f();
  }

  /** Every live worker's metrics (prom-client JSON), each at most METRICS_TIMEOUT_MS away. */
  async metrics(): Promise<Array<{ worker: number; metrics: unknown[] }>> {
    const id = ++this.#metricsId;
    const asked = this.#slots.filter((s) => s.worker !== null && s.state === 'up');
    const got = new Map<number, unknown[]>();
    await new Promise<void>((resolve) => {
      const t = setTimeout(finish, METRICS_TIMEOUT_MS);
      function finish() {
        clearTimeout(t);
        resolve();
      }
      this.#metricsPending.set(id, { got, done: () => got.size >= asked.length && finish() });
      for (const s of asked) this.#send(s.worker!, { canaryd: 'metrics', id });
      if (asked.length === 0) finish();
    });
    this.#metricsPending.delete(id);
    return [...got].map(([worker, metrics]) => ({ worker, metrics }));
  }

  /** Drains every worker (each its own proxy.drain), waits for them to exit; returns the requests cut. */
  async drain(deadlineMs: number, settleMs: number): Promise<number> {
    this.#stopping = true;
    if (this.#watchdog) clearInterval(this.#watchdog);
    for (const s of this.#slots) if (s.timer) clearTimeout(s.timer);
    const live = () => this.#slots.filter((s) => s.worker !== null);
    for (const s of live()) this.#send(s.worker!, { canaryd: 'drain', deadlineMs, settleMs });
    const bound = deadlineMs + settleMs + 3_000;
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, bound);
      function done() {
        clearTimeout(t);
        resolve();
      }
      const check = () => live().length === 0 && done();
      this.#exitWaiters.push(check);
      check();
    });
    for (const s of live()) {
      this.#o.log.warn({ event: 'worker_kill', worker: s.slot, pid: s.pid }, `worker ${s.slot} did not exit after its drain: killed`);
      s.worker!.process.kill('SIGKILL');
    }
    return this.#slots.reduce((n, s) => n + s.cut, 0);
  }

  /** Requests served per version since start, over every worker process (the exited ones included). */
  totals(version: VersionName): WorkerTotals {
    const t = emptyTotals();
    addTotals(t, this.#retired[version]);
    for (const s of this.#slots) if (s.totals) addTotals(t, s.totals[version]);
    return t;
  }

  get inflight(): number {
    return this.#slots.reduce((n, s) => n + (s.worker ? s.inflight : 0), 0);
  }

  views(): WorkerView[] {
    return this.#slots.map((s) => ({
      worker: s.slot,
      pid: s.worker ? s.pid : null,
      state: s.state,
      startedAt: s.startedAt,
      restarts: s.restarts,
      inflight: s.worker ? s.inflight : 0,
      memory: s.worker ? s.memory : null,
      requests: s.totals ? s.totals.baseline.requests + s.totals.canary.requests : 0,
      byVersion: { baseline: s.totals?.baseline.requests ?? 0, canary: s.totals?.canary.requests ?? 0 },
    }));
  }

  /** Drops windows older than keepMs of workers that are gone (a live worker's are pruned as it sends). */
  prune(): void {
    this.#evidence.prune(this.#now());
  }
}
