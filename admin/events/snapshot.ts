/**
 * The per-second live snapshot: for both versions, request rate, error rate and p50/p95/p99 latency over
 * the last few complete windows of the in-process record (a MetricSource), published on the event bus as
 * `{type: "snapshot"}`. This is what the dashboard charts and `canaryd ctl watch` draw.
 *
 * Only complete windows are read (the one being filled would bias the rate low), and the span is a few
 * windows wide (default 5 s) so percentiles of a low-traffic canary are not one-request noise. Latency
 * quantiles come from the shared bucket layout (core/latency.ts), within ~4.5 % of the true value.
 */
import {
  emptyHistogram,
  histogramQuantile,
  VERSION_NAMES,
  type MetricSource,
  type VersionName,
  type VersionSummary,
} from '../../core/index.js';
import type { EventSink } from './bus.js';
import { SnapshotHistory, type HistoryPoint } from './history.js';

export interface Snapshot {
  type: 'snapshot';
  /** [from, to) epoch ms of the data */
  from: number;
  to: number;
  spanMs: number;
  weights: { baseline: number; canary: number };
  /** per version: the shared summary (core's VersionSummary) plus `rps`, requests per second over the span */
  versions: Record<VersionName, VersionSummary & { rps: number }>;
}

const round = (x: number, digits = 3) => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};
const orNull = (x: number) => (Number.isFinite(x) ? round(x) : null);

const DEFAULT_SPAN_MS = 5000;

/** Pure: the snapshot of `source` for the complete windows in the span ending at or before `now`. */
export function computeSnapshot(source: MetricSource, canaryWeight: number, now: number, spanMs = DEFAULT_SPAN_MS): Snapshot {
  const to = now - (now % source.windowMs);
  const from = to - spanMs;
  const versions = {} as Snapshot['versions'];
  for (const v of VERSION_NAMES) {
    const hist = emptyHistogram();
    let requests = 0;
    let errors = 0;
    let faulted = 0;
    for (const w of source.windows(v, from, to)) {
      for (const c of [w.clean, w.faulted]) {
        requests += c.requests;
        errors += c.statusClass[4];
        for (let i = 0; i < hist.length; i++) hist[i] += c.latency[i];
      }
      faulted += w.faulted.requests;
    }
    versions[v] = {
      rps: round(requests / (spanMs / 1000)),
      requests,
      errors,
      errorRate: requests > 0 ? round(errors / requests, 5) : null,
      p50Ms: orNull(histogramQuantile(hist, 0.5)),
      p95Ms: orNull(histogramQuantile(hist, 0.95)),
      p99Ms: orNull(histogramQuantile(hist, 0.99)),
      faultedRequests: faulted,
    };
  }
  return { type: 'snapshot', from, to, spanMs, weights: { baseline: 100 - canaryWeight, canary: canaryWeight }, versions };
}

/**
 * Publishes a snapshot every `intervalMs` while started, and keeps each one published in `history` (the
 * dashboard's backfill). The composition root starts and stops it.
 */
export class SnapshotPublisher {
  #timer: NodeJS.Timeout | null = null;
  #last: Snapshot | null = null;
  readonly history: SnapshotHistory;

  constructor(
    private readonly opts: {
      source: MetricSource;
      canaryWeight: () => number;
      sink: EventSink;
      now: () => number;
      spanMs?: number;
      intervalMs?: number;
      /** points kept in `history` (default 900: 15 minutes at one a second) */
      historySize?: number;
    },
  ) {
    this.history = new SnapshotHistory(opts.historySize);
  }

  /** Computes (and remembers) the current snapshot without publishing it. */
  current(): Snapshot {
    this.#last = computeSnapshot(this.opts.source, this.opts.canaryWeight(), this.opts.now(), this.opts.spanMs);
    return this.#last;
  }

  /** The points of the last `seconds` (by the clock), oldest first: what GET /api/v1/history answers. */
  recent(seconds: number): { spanMs: number; capacity: number; points: HistoryPoint[] } {
    const points = this.history.since(this.opts.now() - seconds * 1000);
    return { spanMs: this.opts.spanMs ?? DEFAULT_SPAN_MS, capacity: this.history.capacity, points };
  }

  get last(): Snapshot | null {
    return this.#last;
  }

  tick(): void {
    const s = this.current();
    this.history.add(s);
    this.opts.sink.publish(s as unknown as { type: string });
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.tick(), this.opts.intervalMs ?? 1000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}
