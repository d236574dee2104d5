/**
 * Turns the per-second WindowRecords the controller hands the anomaly monitor into points of
 * `windowSeconds`, per version, and remembers which canary weight was in effect when.
 *
 * Points are aligned to multiples of the point length (epoch ms), so both versions' point k covers the
 * same seconds. A point is emitted only once it is complete (the analysis time is past its end); windows
 * are keyed by their start, so a caller that passes overlapping ranges on every tick (all windows since
 * the step began) and one that passes only new windows produce the same points. Memory is bounded by the
 * windows of the points not yet emitted.
 */
import { LATENCY_BOUNDS_MS, emptyHistogram, type WindowCounts, type WindowRecord } from '../../core/index.js';

/** One version's totals over one point. */
export interface PointTotals {
  /** requests counted for latency and errors (clean, or clean + faulted when countFaulted) */
  requests: number;
  /** 5xx among them */
  errors: number;
  latency: Uint32Array;
  /** every request routed to the version, faulted or not (for the request rate) */
  routed: number;
  /** windows that fell in the point */
  windows: number;
}

export class PointBuffer {
  readonly #windows = new Map<number, WindowRecord>();

  /** keep a window unless it belongs to a point already emitted (start < from) */
  add(w: WindowRecord, from: number): void {
    if (w.start >= from) this.#windows.set(w.start, w);
  }

  /** sum and forget the windows starting in [start, end) */
  take(start: number, end: number, countFaulted: boolean): PointTotals {
    const t: PointTotals = { requests: 0, errors: 0, latency: emptyHistogram(), routed: 0, windows: 0 };
    for (const [s, w] of this.#windows) {
      if (s < start || s >= end) continue;
      this.#windows.delete(s);
      t.windows++;
      addCounts(t, w.clean);
      if (countFaulted) addCounts(t, w.faulted);
      t.routed += w.clean.requests + w.faulted.requests;
    }
    return t;
  }

  /** drop windows older than `from` (after a catch-up skip) */
  prune(from: number): void {
    for (const s of this.#windows.keys()) if (s < from) this.#windows.delete(s);
  }

  get size(): number {
    return this.#windows.size;
  }

  clear(): void {
    this.#windows.clear();
  }
}

function addCounts(t: PointTotals, c: WindowCounts): void {
  t.requests += c.requests;
  t.errors += c.statusClass[4];
  const n = Math.min(t.latency.length, c.latency.length);
  for (let i = 0; i < n; i++) t.latency[i] += c.latency[i];
}

/**
 * Requests of a histogram above `ms`, interpolated log-linearly inside the bucket that holds `ms` (the same
 * rule histogramQuantile uses), for the per-point "how many canary requests were slower than the
 * baseline's p95" test.
 */
export function countAbove(hist: ArrayLike<number>, ms: number): number {
  let above = 0;
  for (let i = hist.length - 1; i >= 0; i--) {
    const hi = LATENCY_BOUNDS_MS[i];
    const lo = i === 0 ? 0 : LATENCY_BOUNDS_MS[i - 1];
    if (lo >= ms) above += hist[i];
    else {
      if (hi > ms && hist[i] > 0 && Number.isFinite(hi)) {
        const frac = lo > 0 ? Math.log(hi / ms) / Math.log(hi / lo) : (hi - ms) / hi;
        above += hist[i] * Math.min(1, Math.max(0, frac));
      }
      break;
    }
  }
  return above;
}

/**
 * The canary weight over time, as seen at analysis ticks: a change first seen at tick `seenAt` happened
 * somewhere in (previous tick, seenAt]. A point whose span meets such an interval had mixed weights.
 */
export class WeightTimeline {
  #changes: { after: number; before: number; weight: number }[] = [];
  #lastTick = -Infinity;
  #current: number | null = null;

  observe(at: number, weight: number): void {
    if (weight !== this.#current) {
      this.#changes.push({ after: this.#lastTick, before: at, weight });
      if (this.#changes.length > 32) this.#changes.shift();
      this.#current = weight;
    }
    this.#lastTick = at;
  }

  /** the weight in effect over all of [start, end), or null if it changed inside or is unknown */
  constantOver(start: number, end: number): number | null {
    let weight: number | null = null;
    for (const c of this.#changes) {
      if (c.before <= start) weight = c.weight;
      else if (c.after < end) return null;
    }
    return weight;
  }

  clear(): void {
    this.#changes = [];
    this.#lastTick = -Infinity;
    this.#current = null;
  }
}
