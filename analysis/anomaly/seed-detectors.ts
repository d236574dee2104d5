/**
 * The four methods canaryd's users asked for, as streaming detectors: rolling z-score (3σ), moving-average
 * deviation (window 10, 30 %), rolling IQR fences (1.5×) and exponential smoothing (α 0.3, 3σ of its
 * one-step errors). Each scores a point against the points before it (never including itself), and maps its
 * own rule to the shared scale: score = r/(r+1) with r = (observed excess)/(its threshold), so 0.5 is
 * exactly where the rule fires.
 *
 * `minScale` / `minRelativeScale` (every detector) are the smallest spread the detector believes in, in the
 * series' units and as a fraction of its level: with them, a series that has been perfectly flat (σ = 0,
 * IQR = 0) does not flag the first tiny wiggle as infinitely anomalous. Both default to 0 (the plain
 * methods); the monitor sets them per metric (e.g. 5 % of the level for p95, 0.5 pp for error rate).
 */
import { type AnomalyDetector, type ScaleFloor, RollingQuantiles, RollingStats, floorScale, ratioScore } from './detector.js';

export interface ZScoreOptions extends ScaleFloor {
  window?: number;
  threshold?: number;
  warmup?: number;
}

/** |x − mean| / σ over the previous `window` points; fires at `threshold` σ (default 3). */
export class RollingZScoreDetector implements AnomalyDetector {
  readonly #stats: RollingStats;
  readonly #threshold: number;
  readonly #warmup: number;
  readonly #floor: ScaleFloor;

  constructor(o: ZScoreOptions = {}) {
    this.#stats = new RollingStats(o.window ?? 30);
    this.#threshold = o.threshold ?? 3;
    this.#warmup = Math.min(o.warmup ?? 10, this.#stats.capacity);
    this.#floor = { minScale: o.minScale, minRelativeScale: o.minRelativeScale };
  }

  update(x: number): number {
    if (!Number.isFinite(x)) return 0;
    let score = 0;
    if (this.#stats.size >= this.#warmup) {
      const mean = this.#stats.mean();
      const sd = floorScale(Math.sqrt(this.#stats.variance()), mean, this.#floor);
      score = scaleExcess(Math.abs(x - mean), sd * this.#threshold);
    }
    this.#stats.push(x);
    return score;
  }

  reset(): void {
    this.#stats.clear();
  }
}

export interface MovingAverageOptions extends ScaleFloor {
  window?: number;
  /** relative deviation from the moving average that fires (default 0.3 = 30 %) */
  maxDeviation?: number;
}

/** |x − MA| / |MA| over the previous `window` points (default 10); fires at 30 %. */
export class MovingAverageDeviationDetector implements AnomalyDetector {
  readonly #stats: RollingStats;
  readonly #maxDeviation: number;
  readonly #floor: ScaleFloor;

  constructor(o: MovingAverageOptions = {}) {
    this.#stats = new RollingStats(o.window ?? 10);
    this.#maxDeviation = o.maxDeviation ?? 0.3;
    this.#floor = { minScale: o.minScale, minRelativeScale: o.minRelativeScale };
  }

  update(x: number): number {
    if (!Number.isFinite(x)) return 0;
    let score = 0;
    if (this.#stats.size === this.#stats.capacity) {
      const ma = this.#stats.mean();
      score = scaleExcess(Math.abs(x - ma), Math.max(Math.abs(ma), this.#floor.minScale ?? 0) * this.#maxDeviation);
    }
    this.#stats.push(x);
    return score;
  }

  reset(): void {
    this.#stats.clear();
  }
}

export interface IqrOptions extends ScaleFloor {
  window?: number;
  /** fence multiplier (default 1.5, Tukey's) */
  k?: number;
  warmup?: number;
}

/** Outside [Q1 − k·IQR, Q3 + k·IQR] of the previous `window` points. */
export class RollingIqrDetector implements AnomalyDetector {
  readonly #q: RollingQuantiles;
  readonly #k: number;
  readonly #warmup: number;
  readonly #floor: ScaleFloor;

  constructor(o: IqrOptions = {}) {
    this.#q = new RollingQuantiles(o.window ?? 30);
    this.#k = o.k ?? 1.5;
    this.#warmup = Math.min(o.warmup ?? 10, this.#q.capacity);
    this.#floor = { minScale: o.minScale, minRelativeScale: o.minRelativeScale };
  }

  update(x: number): number {
    if (!Number.isFinite(x)) return 0;
    let score = 0;
    if (this.#q.size >= this.#warmup) {
      const q1 = this.#q.quantile(0.25);
      const q3 = this.#q.quantile(0.75);
      const iqr = floorScale(q3 - q1, this.#q.quantile(0.5), this.#floor);
      score = scaleExcess(Math.max(q1 - x, x - q3, 0), this.#k * iqr);
    }
    this.#q.push(x);
    return score;
  }

  reset(): void {
    this.#q.clear();
  }
}

export interface ExponentialSmoothingOptions extends ScaleFloor {
  /** smoothing of the level (default 0.3) */
  alpha?: number;
  /** smoothing of the squared one-step error, i.e. how fast the detector learns the noise (default 0.1) */
  beta?: number;
  threshold?: number;
  warmup?: number;
}

/**
 * Simple exponential smoothing (Brown): the forecast of x_t is the level before it; fires when the
 * one-step error exceeds `threshold` times the EWMA of past errors' RMS.
 */
export class ExponentialSmoothingDetector implements AnomalyDetector {
  readonly #alpha: number;
  readonly #beta: number;
  readonly #threshold: number;
  readonly #warmup: number;
  readonly #floor: ScaleFloor;
  #level = 0;
  #meanSq = 0;
  #n = 0;

  constructor(o: ExponentialSmoothingOptions = {}) {
    this.#alpha = o.alpha ?? 0.3;
    this.#beta = o.beta ?? 0.1;
    this.#threshold = o.threshold ?? 3;
    this.#warmup = o.warmup ?? 10;
    this.#floor = { minScale: o.minScale, minRelativeScale: o.minRelativeScale };
  }

  update(x: number): number {
    if (!Number.isFinite(x)) return 0;
    if (this.#n === 0) {
      this.#level = x;
      this.#n = 1;
      return 0;
    }
    const err = x - this.#level;
    let score = 0;
    if (this.#n > this.#warmup) {
      const sd = floorScale(Math.sqrt(this.#meanSq), this.#level, this.#floor);
      score = scaleExcess(Math.abs(err), sd * this.#threshold);
    }
    // The first errors set the scale by their plain mean, then it is an EWMA (a warm start, not a 0 prior).
    const w = Math.max(this.#beta, 1 / this.#n);
    this.#meanSq += w * (err * err - this.#meanSq);
    this.#level += this.#alpha * err;
    this.#n++;
    return score;
  }

  reset(): void {
    this.#level = 0;
    this.#meanSq = 0;
    this.#n = 0;
  }
}

/** excess / limit on the shared scale; a zero limit makes any excess a certain anomaly and none a 0. */
function scaleExcess(excess: number, limit: number): number {
  if (limit > 0) return ratioScore(excess / limit);
  return excess > 0 ? 1 : 0;
}
