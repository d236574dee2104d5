/**
 * The last minutes of per-second snapshots, for a page that opens mid-rollout (GET /api/v1/history): a
 * fixed-size ring of compact points — per version rps, error rate, p50/p95/p99, and the canary weight —
 * filled by the snapshot publisher's once-a-second tick, never by the request path. Each point is the very
 * snapshot the live stream sent for that second, so history and live events meet without a gap or a
 * disagreement; a client keys points by `to`.
 *
 * Memory is bounded by the capacity (default 900 points = 15 minutes, the span the windowed record keeps):
 * ~0.4 KB a point, ~360 KiB for a full ring (bench/history-memory.ts).
 */
import { VERSION_NAMES, type VersionName } from '../../core/index.js';

export interface HistoryVersion {
  rps: number;
  errorRate: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

export interface HistoryPoint {
  /** end of the snapshot's span, epoch ms (the `to` of the live snapshot event for this second) */
  to: number;
  canaryWeight: number;
  versions: Record<VersionName, HistoryVersion>;
}

/** What a point is taken from: a snapshot (./snapshot.ts), structurally (that file imports this one). */
export interface SnapshotLike {
  to: number;
  weights: { canary: number };
  versions: Record<VersionName, HistoryVersion>;
}

export const HISTORY_CAPACITY = 900;

export class SnapshotHistory {
  readonly capacity: number;
  #ring: Array<HistoryPoint | undefined>;
  #next = 0;
  #size = 0;

  constructor(capacity = HISTORY_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`history capacity must be a positive integer (${capacity})`);
    this.capacity = capacity;
    this.#ring = new Array<HistoryPoint | undefined>(capacity);
  }

  get size(): number {
    return this.#size;
  }

  /** The newest point, if any. */
  get last(): HistoryPoint | undefined {
    return this.#size === 0 ? undefined : this.#ring[(this.#next - 1 + this.capacity) % this.capacity];
  }

  /** Keeps the snapshot's point; a snapshot not newer than the last one kept (a second tick in one second) is ignored. */
  add(s: SnapshotLike): boolean {
    const last = this.last;
    if (last !== undefined && s.to <= last.to) return false;
    const versions = {} as HistoryPoint['versions'];
    for (const v of VERSION_NAMES) {
      const x = s.versions[v];
      versions[v] = { rps: x.rps, errorRate: x.errorRate, p50Ms: x.p50Ms, p95Ms: x.p95Ms, p99Ms: x.p99Ms };
    }
    this.#ring[this.#next] = { to: s.to, canaryWeight: s.weights.canary, versions };
    this.#next = (this.#next + 1) % this.capacity;
    this.#size = Math.min(this.#size + 1, this.capacity);
    return true;
  }

  /** Points with `to` > fromMs, oldest first. */
  since(fromMs: number): HistoryPoint[] {
    const out: HistoryPoint[] = [];
    for (let i = this.#size; i >= 1; i--) {
      const p = this.#ring[(this.#next - i + this.capacity) % this.capacity]!;
      if (p.to > fromMs) out.push(p);
    }
    return out;
  }
}
