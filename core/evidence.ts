/**
 * Merged evidence, the one merge the fleet (replicas over Redis, fleet/) and the workers of one replica
 * (over IPC, workers/) share: per-second windows (counts by status class, latency buckets, faulted counts,
 * per version: a few hundred bytes each) travel as WireWindows, never per-request data, and windows of one
 * version with the same start are summed field by field by `mergeWindows`. `RemoteEvidence` holds the
 * windows received from other sources (replicas or workers), bounded in time.
 */
import type { VersionName, WindowCounts, WindowRecord } from './types.js';

/** A window as JSON: the latency buckets as a plain array. */
export interface WireWindow {
  version: VersionName;
  start: number;
  durationMs: number;
  clean: WireCounts;
  faulted: WireCounts;
}
type WireCounts = Omit<WindowCounts, 'latency'> & { latency: number[] };

export function toWire(w: WindowRecord): WireWindow {
  const c = (x: WindowCounts): WireCounts => ({
    requests: x.requests,
    statusClass: x.statusClass,
    gatewayErrors: x.gatewayErrors,
    latency: Array.from(x.latency),
    latencySumMs: x.latencySumMs,
  });
  return { version: w.version, start: w.start, durationMs: w.durationMs, clean: c(w.clean), faulted: c(w.faulted) };
}

export function fromWire(w: WireWindow): WindowRecord {
  const c = (x: WireCounts): WindowCounts => ({
    requests: x.requests,
    statusClass: [...x.statusClass] as WindowCounts['statusClass'],
    gatewayErrors: x.gatewayErrors,
    latency: Uint32Array.from(x.latency),
    latencySumMs: x.latencySumMs,
  });
  return { version: w.version, start: w.start, durationMs: w.durationMs, clean: c(w.clean), faulted: c(w.faulted) };
}

function addCounts(into: WindowCounts, x: WindowCounts): void {
  into.requests += x.requests;
  for (let i = 0; i < 5; i++) into.statusClass[i] += x.statusClass[i];
  into.gatewayErrors += x.gatewayErrors;
  const n = Math.min(into.latency.length, x.latency.length);
  for (let i = 0; i < n; i++) into.latency[i] += x.latency[i];
  into.latencySumMs += x.latencySumMs;
}

function copy(w: WindowRecord): WindowRecord {
  const c = (x: WindowCounts): WindowCounts => ({
    ...x,
    statusClass: [...x.statusClass] as WindowCounts['statusClass'],
    latency: Uint32Array.from(x.latency),
  });
  return { ...w, clean: c(w.clean), faulted: c(w.faulted) };
}

/** Sums windows of one version by start; oldest first. Inputs are not modified. */
export function mergeWindows(lists: ReadonlyArray<readonly WindowRecord[]>): WindowRecord[] {
  const byStart = new Map<number, WindowRecord>();
  for (const list of lists) {
    for (const w of list) {
      const have = byStart.get(w.start);
      if (have === undefined) byStart.set(w.start, copy(w));
      else {
        addCounts(have.clean, w.clean);
        addCounts(have.faulted, w.faulted);
      }
    }
  }
  return [...byStart.values()].sort((a, b) => a.start - b.start);
}

/**
 * Windows received from other sources (the fleet's replicas, or one replica's workers), per source and start. Bounded: windows
 * older than `keepMs` are dropped on every add.
 */
export class RemoteEvidence {
  readonly #byReplica = new Map<string, Map<string, WindowRecord>>();
  readonly keepMs: number;

  constructor(keepMs: number) {
    this.keepMs = keepMs;
  }

  add(replica: string, windows: readonly WireWindow[], now: number): void {
    let m = this.#byReplica.get(replica);
    if (!m) this.#byReplica.set(replica, (m = new Map()));
    for (const w of windows) m.set(`${w.version}:${w.start}`, fromWire(w));
    for (const [k, w] of m) if (w.start < now - this.keepMs) m.delete(k);
    if (m.size === 0) this.#byReplica.delete(replica);
  }

  /** Drops windows older than keepMs from every source (a source that stopped sending is pruned here only). */
  prune(now: number): void {
    for (const [id, m] of this.#byReplica) {
      for (const [k, w] of m) if (w.start < now - this.keepMs) m.delete(k);
      if (m.size === 0) this.#byReplica.delete(id);
    }
  }

  clear(): void {
    this.#byReplica.clear();
  }

  replicas(): string[] {
    return [...this.#byReplica.keys()];
  }

  windows(version: VersionName, fromMs: number, toMs: number, exclude?: string): WindowRecord[][] {
    const out: WindowRecord[][] = [];
    for (const [id, m] of this.#byReplica) {
      if (id === exclude) continue;
      const list: WindowRecord[] = [];
      for (const w of m.values()) if (w.version === version && w.start + w.durationMs > fromMs && w.start < toMs) list.push(w);
      out.push(list);
    }
    return out;
  }
}
