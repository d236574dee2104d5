/**
 * The IPC messages between the primary and its data-plane workers (docs/fleet.md "Workers"). Every message
 * carries a `canaryd` tag (its kind), so it never collides with the other users of the cluster channel.
 * Workers send aggregates only (per-second windows, totals, memory), never per-request data.
 */
import type { WireWindow } from '../core/index.js';

/** The traffic state a worker routes by. Sent whole on every change: a few hundred bytes, applied idempotently. */
export interface TrafficPush {
  canary: number;
  /** the runtime routes (admin flags) as RuleSpecs, compiled by each worker's splitter */
  routes: unknown[];
  pinsSuspended: boolean;
  mirror: { percent: number; maxBodyBytes: number };
  /** the fault engine's runtime rules and latch (proxy/faults FaultMirror), or null when there is none */
  faults: unknown;
}

/** Cumulative counts of one worker process since it started (status: `versions.*.requests`). */
export interface WorkerTotals {
  requests: number;
  faulted: number;
  byStatus: Record<string, number>;
}

export interface WorkerMemory {
  rss: number;
  heapUsed: number;
}

export type ToWorker =
  | { canaryd: 'init'; seq: number; config: unknown; traffic: TrafficPush }
  | { canaryd: 'traffic'; seq: number; traffic: TrafficPush }
  | { canaryd: 'config'; config: unknown }
  | { canaryd: 'metrics'; id: number }
  | { canaryd: 'drain'; deadlineMs: number; settleMs: number };

export type FromWorker =
  | { canaryd: 'hello' }
  | { canaryd: 'ready'; address: { host: string; port: number } }
  | { canaryd: 'failed'; message: string; code?: string; port?: number; address?: string }
  | { canaryd: 'ack'; seq: number }
  | {
      canaryd: 'windows';
      windows: WireWindow[];
      totals: { baseline: WorkerTotals; canary: WorkerTotals };
      memory: WorkerMemory;
      inflight: number;
    }
  | { canaryd: 'metrics'; id: number; metrics: unknown[] }
  | { canaryd: 'drained'; cut: number }
  /** something the primary owns happened in a worker: an upstream ejection (outlier), a fault auto-disable */
  | { canaryd: 'notice'; kind: NoticeKind; detail: unknown };

export type NoticeKind = 'outlier' | 'faults-halted';

/** The environment variable that gives a worker its slot (1..N, stable across restarts: the `worker` label). */
export const WORKER_SLOT_ENV = 'CANARYD_WORKER';

export function isWorkerMessage(m: unknown): m is FromWorker & ToWorker {
  return typeof m === 'object' && m !== null && typeof (m as { canaryd?: unknown }).canaryd === 'string';
}
