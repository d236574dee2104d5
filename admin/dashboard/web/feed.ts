/**
 * One stream of per-second points for every chart: the history (GET /api/v1/history) first, then the live
 * `snapshot` events. While the history is being fetched — at load, and again after a reconnect — live
 * points are held; then history and held points are merged by second (a point per `to`, the first one
 * wins) and only points newer than the last one drawn go on. So a page opened mid-rollout starts with what
 * happened, and a reconnect fills its gap, without a duplicate point or an out-of-order one.
 */
import type { HistoryPoint, SnapshotEvent } from '../../../contract/index.js';

export interface VersionPoint {
  rps: number | null;
  errorRate: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

export interface ChartPoint {
  /** epoch seconds: the end of the snapshot's span */
  x: number;
  canaryWeight: number | null;
  versions: { baseline: VersionPoint; canary: VersionPoint };
}

/** What the charts implement: append points, all newer than the ones they have. */
export interface PointSink {
  add(points: readonly ChartPoint[]): void;
}

export function fromSnapshot(s: SnapshotEvent): ChartPoint | null {
  if (typeof s.to !== 'number') return null;
  return { x: Math.round(s.to / 1000), canaryWeight: s.weights?.canary ?? null, versions: s.versions };
}

export function fromHistory(p: HistoryPoint): ChartPoint {
  return { x: Math.round(p.to / 1000), canaryWeight: p.canaryWeight, versions: p.versions };
}

export class PointFeed {
  #held: ChartPoint[] | null = []; // held until the first history answer
  #lastX = -Infinity;

  constructor(private readonly sinks: readonly PointSink[]) {}

  /** A live point: drawn now, or held while history is on its way. */
  live(p: ChartPoint): void {
    if (this.#held !== null) this.#held.push(p);
    else this.#emit([p]);
  }

  /** The stream dropped: hold live points until the history that covers the gap arrives. */
  hold(): void {
    this.#held ??= [];
  }

  /** The history arrived (or could not be had: []): draw it with the held live points, merged by second. */
  release(history: readonly ChartPoint[]): void {
    const held = this.#held ?? [];
    this.#held = null;
    const bySecond = new Map<number, ChartPoint>();
    for (const p of [...history, ...held]) if (!bySecond.has(p.x)) bySecond.set(p.x, p);
    this.#emit([...bySecond.values()].sort((a, b) => a.x - b.x));
  }

  #emit(points: readonly ChartPoint[]): void {
    const fresh = points.filter((p) => p.x > this.#lastX);
    if (fresh.length === 0) return;
    this.#lastX = fresh[fresh.length - 1].x;
    for (const s of this.sinks) s.add(fresh);
  }
}
