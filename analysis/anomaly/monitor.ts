/**
 * AnomalyMonitor: anomaly detection for a rollout. The controller calls `observe` each analysis tick with
 * both versions' windows and the canary weight; the monitor aggregates them into points of `windowSeconds`
 * (complete points only), feeds three series per version to the detectors — p95 latency (ms), error rate
 * (5xx share) and request rate divided by the version's expected share (weight/100 for the canary, the rest
 * for the baseline, so a weight step is not a change) — and returns CheckResults of kind 'anomaly'.
 *
 * An anomaly counts against the canary ("canary-only") when, at point k, rule 1 or rule 2 holds, and rule 3:
 *  1. the configured detector flags the contrast series at k and k+1 — canary against baseline: log(p95
 *     ratio), error-rate difference, log(rate ratio) — where a shared disturbance cancels (p95 and error
 *     rate: upwards only). The baseline is the control: the contrast is the change the baseline lacks;
 *  2. or it flags the canary's own series (p95 and error rate: upwards only) while the baseline's detector
 *     flags nothing on that metric at k−1, k or k+1 (else it is shared: a load spike, a dependency slowing
 *     both — it passes, with a note);
 *  3. the canary is worse than the baseline at k and still at k+1, by more than `margin` and with evidence
 *     z ≥ 3 (p95: canary requests slower than the baseline's p95 against the 5 % expected; error rate: a
 *     two-proportion test; request rate: the canary's share of requests against its weight).
 * Rule 3 is what keeps noisy traffic from holding a rollout: one noisy point is common, a canary that is
 * significantly worse than the baseline on two points in a row while its own series just changed is not.
 * Verdicts therefore come one point late. A canary-only anomaly keeps its check at 'fail' (policy fail) or
 * 'marginal' (policy hold: the step is held, no failure budget spent) for `holdFor` after its point ends.
 *
 * Pure and deterministic: no clock of its own (`at` is the caller's), the same calls give the same checks.
 */
import type { VersionName, WindowRecord } from '../../core/index.js';
import { histogramQuantile } from '../../core/index.js';
import type { CheckResult } from '../report.js';
import { ANOMALY_THRESHOLD, type ScaleFloor } from './detector.js';
import { MonitoredSeries } from './monitor-series.js';
import { PointBuffer, WeightTimeline, countAbove, type PointTotals } from './monitor-points.js';
import { DETECTOR_NAMES, createDetector, type DetectorName } from './registry.js';

export const ANOMALY_METRICS = ['p95', 'errorRate', 'requestRate'] as const;
export type AnomalyMetric = (typeof ANOMALY_METRICS)[number];

export interface AnomalyMonitorSettings {
  enabled?: boolean;
  policy: 'hold' | 'fail';
  windowSeconds: number;
  /** the detector that decides (a DETECTOR_NAMES entry) */
  detector: string;
  metrics?: readonly AnomalyMetric[];
  /** how long a canary-only anomaly holds (or fails) its check, ms; default 60 000 */
  holdFor?: number;
  /** fewer requests than this in a point make its p95 and error rate a gap; default 20 */
  minPointRequests?: number;
  /** how much worse than the baseline the canary must be at the point (0.1 = 10 %); default 0.1 */
  margin?: number;
  countFaulted?: boolean;
}

export interface AnomalyTick {
  at: number;
  baseline: readonly WindowRecord[];
  canary: readonly WindowRecord[];
  /** the canary weight in percent now */
  canaryWeight: number;
}

/** One number for anomaly_detection_score{metric, method, version}. */
export interface AnomalyScore {
  metric: AnomalyMetric;
  method: DetectorName;
  version: VersionName;
  score: number;
  /** the series value of the last point (ms, share, requests/s ÷ share) */
  value: number;
  /** epoch ms the last point ended at */
  at: number;
}

interface AnomalyEvent {
  point: number;
  canaryValue: number;
  baselineValue: number;
  score: number;
  z: number;
}

/** The smallest spread the detectors believe in per metric: a 5 % wiggle of p95 is not an anomaly. */
const FLOORS: Record<AnomalyMetric, ScaleFloor> = {
  p95: { minRelativeScale: 0.05, minScale: 0.1 },
  errorRate: { minScale: 0.005 },
  requestRate: { minRelativeScale: 0.05 },
};
/** Floors of the contrast series (canary against baseline): 5 % in ratio terms, 0.5 pp of error rate. */
const CONTRAST_FLOORS: Record<AnomalyMetric, ScaleFloor> = {
  p95: { minScale: 0.05 },
  errorRate: { minScale: 0.005 },
  requestRate: { minScale: 0.05 },
};
const MIN_POINTS = 10;
const EVIDENCE_Z = 3;
const MAX_CATCH_UP = 360;

export class AnomalyMonitor {
  readonly #s: Required<Omit<AnomalyMonitorSettings, 'detector'>> & { detector: DetectorName };
  readonly #pointMs: number;
  readonly #buffers = { baseline: new PointBuffer(), canary: new PointBuffer() };
  readonly #weights = new WeightTimeline();
  #series!: Record<VersionName, Record<AnomalyMetric, MonitoredSeries>>;
  #contrast!: Record<AnomalyMetric, MonitoredSeries>;
  /** the cross-sectional condition (rule 3) by point, per metric, for the last points */
  #worse = new Map<AnomalyMetric, Map<number, { worse: boolean; z: number }>>();
  #canaryOnly = new Map<AnomalyMetric, AnomalyEvent>();
  #shared = new Map<AnomalyMetric, AnomalyEvent>();
  #next: number | null = null;

  constructor(settings: AnomalyMonitorSettings) {
    createDetector(settings.detector); // throws CANARYD_ERR_CONFIG_INVALID for an unknown name
    this.#s = {
      enabled: settings.enabled ?? true,
      policy: settings.policy,
      windowSeconds: settings.windowSeconds,
      detector: settings.detector as DetectorName,
      metrics: settings.metrics ?? ANOMALY_METRICS,
      holdFor: settings.holdFor ?? 60_000,
      minPointRequests: settings.minPointRequests ?? 20,
      margin: settings.margin ?? 0.1,
      countFaulted: settings.countFaulted ?? false,
    };
    if (!(this.#s.windowSeconds >= 1)) throw new RangeError('anomaly windowSeconds must be >= 1');
    this.#pointMs = this.#s.windowSeconds * 1000;
    this.reset();
  }

  /** Start over (a new rollout): every detector, buffer and event forgotten. */
  reset(): void {
    const make = (): Record<AnomalyMetric, MonitoredSeries> => ({
      p95: new MonitoredSeries(this.#s.detector, FLOORS.p95),
      errorRate: new MonitoredSeries(this.#s.detector, FLOORS.errorRate),
      requestRate: new MonitoredSeries(this.#s.detector, FLOORS.requestRate),
    });
    this.#series = { baseline: make(), canary: make() };
    this.#contrast = {
      p95: new MonitoredSeries(this.#s.detector, CONTRAST_FLOORS.p95),
      errorRate: new MonitoredSeries(this.#s.detector, CONTRAST_FLOORS.errorRate),
      requestRate: new MonitoredSeries(this.#s.detector, CONTRAST_FLOORS.requestRate),
    };
    this.#buffers.baseline.clear();
    this.#buffers.canary.clear();
    this.#weights.clear();
    this.#worse = new Map(ANOMALY_METRICS.map((m) => [m, new Map()]));
    this.#canaryOnly.clear();
    this.#shared.clear();
    this.#next = null;
  }

  /** One analysis tick: take the windows, score every point completed by `at`, return the checks. */
  observe(tick: AnomalyTick): CheckResult[] {
    if (!this.#s.enabled) return [];
    this.#weights.observe(tick.at, tick.canaryWeight);
    if (this.#next === null) {
      const first = Math.min(...tick.baseline.map((w) => w.start), ...tick.canary.map((w) => w.start));
      if (Number.isFinite(first)) this.#next = Math.ceil(first / this.#pointMs) * this.#pointMs;
    }
    if (this.#next !== null) {
      for (const w of tick.baseline) this.#buffers.baseline.add(w, this.#next);
      for (const w of tick.canary) this.#buffers.canary.add(w, this.#next);
      const lastEnd = Math.floor(tick.at / this.#pointMs) * this.#pointMs;
      if ((lastEnd - this.#next) / this.#pointMs > MAX_CATCH_UP) {
        this.#next = lastEnd - MAX_CATCH_UP * this.#pointMs;
        this.#buffers.baseline.prune(this.#next);
        this.#buffers.canary.prune(this.#next);
      }
      while (this.#next + this.#pointMs <= tick.at) {
        this.#emit(this.#next);
        this.#next += this.#pointMs;
      }
    }
    return this.checks(tick.at);
  }

  /** The checks as of `at` (no new data). */
  checks(at: number): CheckResult[] {
    if (!this.#s.enabled) return [];
    return this.#s.metrics.map((m) => this.#check(m, at));
  }

  /** Current score of every (metric, method, version), for the anomaly_detection_score gauge. */
  scores(): AnomalyScore[] {
    const out: AnomalyScore[] = [];
    for (const version of ['baseline', 'canary'] as const) {
      for (const metric of this.#s.metrics) {
        const series = this.#series[version][metric];
        for (const method of DETECTOR_NAMES) {
          out.push({
            metric,
            method,
            version,
            score: series.scores.get(method) ?? 0,
            value: series.lastValue,
            at: series.lastPoint < 0 ? 0 : series.lastPoint + this.#pointMs,
          });
        }
      }
    }
    return out;
  }

  #emit(start: number): void {
    const b = this.#buffers.baseline.take(start, start + this.#pointMs, this.#s.countFaulted);
    const c = this.#buffers.canary.take(start, start + this.#pointMs, this.#s.countFaulted);
    const live = b.windows + c.windows > 0; // no window at all: the source was silent, not the traffic
    const weight = live ? this.#weights.constantOver(start, start + this.#pointMs) : null;
    const seconds = this.#pointMs / 1000;
    const value = (t: PointTotals, metric: AnomalyMetric, share: number): number => {
      if (!live) return NaN;
      if (metric === 'requestRate') return weight === null || !(share > 0) ? NaN : t.routed / seconds / share;
      if (t.requests < this.#s.minPointRequests) return NaN;
      return metric === 'p95' ? histogramQuantile(t.latency, 0.95) : t.errors / t.requests;
    };
    const w = (weight ?? 0) / 100;
    for (const metric of ANOMALY_METRICS) {
      const bv = value(b, metric, 1 - w);
      const cv = value(c, metric, w);
      this.#series.baseline[metric].update(start, bv);
      this.#series.canary[metric].update(start, cv);
      this.#contrast[metric].update(start, metric === 'errorRate' ? cv - bv : Math.log(cv / bv)); // NaN (a gap) if either is
      const worse = this.#worse.get(metric)!;
      worse.set(start, this.#canaryWorse(metric, b, c, w, weight !== null));
      for (const p of worse.keys()) if (p < start - 2 * this.#pointMs) worse.delete(p); // keep k−2..k
      this.#judge(metric, start - this.#pointMs, start);
    }
  }

  /** Rule 3 at one point: is the canary worse than the baseline, by the margin and with evidence? */
  #canaryWorse(metric: AnomalyMetric, b: PointTotals, c: PointTotals, w: number, weightKnown: boolean): { worse: boolean; z: number } {
    const margin = this.#s.margin;
    if (metric === 'requestRate') {
      const n = b.routed + c.routed;
      if (!weightKnown || n === 0 || w <= 0 || w >= 1) return { worse: false, z: 0 };
      const z = (c.routed - n * w) / Math.sqrt(n * w * (1 - w));
      return { worse: Math.abs(z) >= EVIDENCE_Z && Math.abs(c.routed / (n * w) - 1) > margin, z };
    }
    if (b.requests < this.#s.minPointRequests || c.requests < this.#s.minPointRequests) return { worse: false, z: 0 };
    if (metric === 'p95') {
      const b95 = histogramQuantile(b.latency, 0.95);
      const c95 = histogramQuantile(c.latency, 0.95);
      const z = (countAbove(c.latency, b95) - 0.05 * c.requests) / Math.sqrt(c.requests * 0.05 * 0.95);
      return { worse: z >= EVIDENCE_Z && c95 > b95 * (1 + margin), z };
    }
    const pb = b.errors / b.requests;
    const pc = c.errors / c.requests;
    const pool = (b.errors + c.errors) / (b.requests + c.requests);
    const se = Math.sqrt(pool * (1 - pool) * (1 / b.requests + 1 / c.requests));
    const z = se > 0 ? (pc - pb) / se : 0;
    return { worse: z >= EVIDENCE_Z && pc > pb * (1 + margin), z };
  }

  /** Classify a canary flag at `point` now that `next` (the point after it) is known. */
  #judge(metric: AnomalyMetric, point: number, next: number): void {
    const canary = this.#series.canary[metric];
    const baseline = this.#series.baseline[metric];
    const upOnly = metric !== 'requestRate';
    // a contrast flag must hold for two points, like rule 3: one odd point of a thin canary slice is common
    const contrast = this.#contrast[metric].flagged(point, upOnly) && this.#contrast[metric].flagged(next, upOnly);
    if (!contrast && !canary.flagged(point, upOnly)) return;
    const event: AnomalyEvent = {
      point,
      canaryValue: canary.valueAt(point),
      baselineValue: baseline.valueAt(point),
      score: canary.score(point),
      z: this.#worse.get(metric)!.get(point)?.z ?? 0,
    };
    if (!contrast && [point - this.#pointMs, point, next].some((p) => baseline.flagged(p))) {
      this.#shared.set(metric, event);
      return;
    }
    const worse = this.#worse.get(metric)!;
    if (worse.get(point)?.worse && worse.get(next)?.worse) this.#canaryOnly.set(metric, event);
  }

  #check(metric: AnomalyMetric, at: number): CheckResult {
    const name = `anomaly.canary.${metric}`;
    const series = this.#series.canary[metric];
    const base = { name, kind: 'anomaly' as const, critical: false, hard: false, threshold: ANOMALY_THRESHOLD };
    const stats = { detector: this.#s.detector, points: series.scored, windowSeconds: this.#s.windowSeconds };
    if (series.scored < MIN_POINTS) {
      return {
        ...base,
        status: 'nodata',
        observed: null,
        message: `${name}: ${series.scored} of ${MIN_POINTS} points needed before the ${this.#s.detector} detector scores`,
        stats,
      };
    }
    const observed = series.scores.get(this.#s.detector) ?? 0;
    const live = (e: AnomalyEvent | undefined): e is AnomalyEvent => e !== undefined && e.point + this.#pointMs + this.#s.holdFor > at;
    const only = this.#canaryOnly.get(metric);
    if (live(only)) {
      const status = this.#s.policy === 'fail' ? 'fail' : 'marginal';
      return {
        ...base,
        status,
        observed,
        message: `${name}: canary-only anomaly at ${new Date(only.point).toISOString()} (${this.#s.detector} score ${only.score.toFixed(2)}; canary ${fmt(metric, only.canaryValue)} vs baseline ${fmt(metric, only.baselineValue)}, z ${only.z.toFixed(1)})${status === 'marginal' ? ', holding the step' : ''}`,
        stats: {
          ...stats,
          anomalyAt: only.point,
          score: only.score,
          canaryValue: only.canaryValue,
          baselineValue: only.baselineValue,
          z: only.z,
          policy: this.#s.policy,
        },
      };
    }
    const shared = this.#shared.get(metric);
    const note = live(shared) ? `; anomaly at ${new Date(shared.point).toISOString()} shared with the baseline (not counted)` : '';
    return {
      ...base,
      status: 'pass',
      observed,
      message: `${name}: no canary-only anomaly (${this.#s.detector} score ${observed.toFixed(2)})${note}`,
      stats,
    };
  }
}

function fmt(metric: AnomalyMetric, v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  if (metric === 'p95') return `${v.toFixed(1)} ms`;
  if (metric === 'errorRate') return `${(100 * v).toFixed(2)} %`;
  return `${v.toFixed(1)} req/s per share`;
}
