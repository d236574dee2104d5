/**
 * The one interface every streaming anomaly detector implements, and the shared pieces they are built from.
 *
 * Contract (checked by test/anomaly-monitor.test.ts for every registered detector):
 *  - `update(value, t)` scores the point it is given using that point and the ones before it only (strictly
 *    streaming: no look-ahead, no whole-series min/max), in O(1) or O(window) time and memory;
 *  - the score is in [0, 1]; `ANOMALY_THRESHOLD` (0.5) is where the detector's own rule fires (z = 3σ for the
 *    z-score, 30 % for the moving average, ...), so a score can be swept like NAB does and also read as a
 *    yes/no with a threshold fixed in advance;
 *  - a non-finite value is a gap: it scores 0 and changes no state;
 *  - `reset()` restores the state of a new detector; the same inputs always give the same scores.
 */

export interface AnomalyDetector {
  /** anomaly score of this point in [0, 1]; t (epoch ms) is optional and only some detectors use it */
  update(value: number, t?: number): number;
  reset(): void;
}

/** A score at or above this is the detector's own "anomaly" verdict. */
export const ANOMALY_THRESHOLD = 0.5;

/** The smallest spread a detector believes in: absolute (series units) and relative to the series' level. */
export interface ScaleFloor {
  minScale?: number;
  minRelativeScale?: number;
}

/** max(spread, minScale, minRelativeScale·|level|) */
export function floorScale(spread: number, level: number, floor: ScaleFloor): number {
  return Math.max(spread, floor.minScale ?? 0, (floor.minRelativeScale ?? 0) * Math.abs(level));
}

/**
 * Map a non-negative excess ratio (e.g. z/3) to [0, 1) with 1 → 0.5: monotone, so thresholds sweep the same
 * ordering as the ratio, and saturating, so one huge outlier does not squash the rest of the scale.
 */
export function ratioScore(ratio: number): number {
  if (!(ratio > 0)) return 0;
  if (ratio === Infinity) return 1;
  return ratio / (ratio + 1);
}

/**
 * Fixed-capacity ring of the last `capacity` values with their mean and variance in O(1) per push. Sums are
 * kept relative to a reference value (the first one seen) so large magnitudes (bytes, 1e9) keep their
 * precision, and are recomputed from the ring every `capacity` pushes so rounding cannot drift.
 */
export class RollingStats {
  readonly capacity: number;
  #buf: Float64Array;
  #head = 0;
  #size = 0;
  #ref = 0;
  #sum = 0;
  #sumSq = 0;
  #sinceExact = 0;

  constructor(capacity: number) {
    if (!(capacity >= 1)) throw new RangeError('RollingStats capacity must be >= 1');
    this.capacity = Math.floor(capacity);
    this.#buf = new Float64Array(this.capacity);
  }

  get size(): number {
    return this.#size;
  }

  push(x: number): void {
    if (this.#size === 0) this.#ref = x;
    const d = x - this.#ref;
    if (this.#size === this.capacity) {
      const old = this.#buf[this.#head] - this.#ref;
      this.#sum -= old;
      this.#sumSq -= old * old;
    } else this.#size++;
    this.#buf[this.#head] = x;
    this.#head = (this.#head + 1) % this.capacity;
    this.#sum += d;
    this.#sumSq += d * d;
    if (++this.#sinceExact >= this.capacity) this.#recompute();
  }

  mean(): number {
    return this.#size === 0 ? NaN : this.#ref + this.#sum / this.#size;
  }

  /** population variance of the values in the ring */
  variance(): number {
    if (this.#size === 0) return NaN;
    const m = this.#sum / this.#size;
    return Math.max(0, this.#sumSq / this.#size - m * m);
  }

  /** the i-th most recent value (0 = newest) */
  recent(i: number): number {
    return this.#buf[(this.#head - 1 - i + 2 * this.capacity) % this.capacity];
  }

  clear(): void {
    this.#head = 0;
    this.#size = 0;
    this.#sum = 0;
    this.#sumSq = 0;
    this.#sinceExact = 0;
  }

  #recompute(): void {
    this.#sinceExact = 0;
    this.#ref = this.mean();
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < this.#size; i++) {
      const d = this.recent(i) - this.#ref;
      s += d;
      s2 += d * d;
    }
    this.#sum = s;
    this.#sumSq = s2;
  }
}

/**
 * The last `capacity` values kept both in arrival order and sorted, for rolling quantiles and nearest-value
 * queries. Insert and evict are a binary search plus a typed-array shift: O(window) per point, no allocation.
 */
export class RollingQuantiles {
  readonly capacity: number;
  #ring: Float64Array;
  #sorted: Float64Array;
  #head = 0;
  #size = 0;

  constructor(capacity: number) {
    if (!(capacity >= 1)) throw new RangeError('RollingQuantiles capacity must be >= 1');
    this.capacity = Math.floor(capacity);
    this.#ring = new Float64Array(this.capacity);
    this.#sorted = new Float64Array(this.capacity);
  }

  get size(): number {
    return this.#size;
  }

  push(x: number): void {
    if (this.#size === this.capacity) {
      const old = this.#ring[this.#head];
      const at = this.#lowerBound(old);
      this.#sorted.copyWithin(at, at + 1, this.#size);
      this.#size--;
    }
    this.#ring[this.#head] = x;
    this.#head = (this.#head + 1) % this.capacity;
    const at = this.#lowerBound(x);
    this.#sorted.copyWithin(at + 1, at, this.#size);
    this.#sorted[at] = x;
    this.#size++;
  }

  /** q-quantile (0..1), linear interpolation between order statistics (the "type 7" rule) */
  quantile(q: number): number {
    if (this.#size === 0) return NaN;
    const h = (this.#size - 1) * q;
    const lo = Math.floor(h);
    const hi = Math.min(this.#size - 1, lo + 1);
    return this.#sorted[lo] + (h - lo) * (this.#sorted[hi] - this.#sorted[lo]);
  }

  min(): number {
    return this.#size === 0 ? NaN : this.#sorted[0];
  }

  max(): number {
    return this.#size === 0 ? NaN : this.#sorted[this.#size - 1];
  }

  /** distance from x to the nearest value held (0 if x itself is held), Infinity when empty */
  nearestDistance(x: number): number {
    const at = this.#lowerBound(x);
    let d = Infinity;
    if (at < this.#size) d = this.#sorted[at] - x;
    if (at > 0) d = Math.min(d, x - this.#sorted[at - 1]);
    return d;
  }

  clear(): void {
    this.#head = 0;
    this.#size = 0;
  }

  #lowerBound(x: number): number {
    let lo = 0;
    let hi = this.#size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#sorted[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
