/**
 * `novelty-shift`: value novelty (novelty.ts) blended with a two-sided Page–Hinkley / CUSUM level-shift test,
 * one shared rest period. Novelty flags a value in a region the series has not visited; it cannot see a
 * shift that stays inside the visited range (a doubled p95 that earlier spikes already reached, a mean that
 * moves within the noise band). The CUSUM accumulates standardised excess over an allowance and sees exactly
 * that. Each channel reports an excess ratio with 1 = its own rule fires (novelty: gap = 2 % of the range;
 * CUSUM: sum = h), the detector reports ratioScore(max of the two), so 0.5 is still "the method fires".
 *
 * CUSUM (Page 1954; Hinkley 1971): z_t = (x_t − m_{t−1}) / s_{t−1} with m, s² an EWMA of the level and its
 * variance (α 0.01: ~100 points), S⁺ = max(0, S⁺ + z − δ), S⁻ = max(0, S⁻ − z − δ), ratio max(S⁺, S⁻)/h.
 * When the ratio reaches 1 the test restarts from the current value (S = 0, m = x): a change is reported
 * once, and the new level is the reference, so a permanent shift is not re-reported for ever.
 *
 * Parameters (docs/anomaly.md): δ = 1 σ and α = 0.01 are textbook values, not tuned; h = 30 was chosen by
 * cross-validation on ../shared/nab (leave one category out, grid h ∈ {10, 30, 100, 300}: 3 of 5 folds and
 * the whole corpus pick 30). Cost O(novelty memory) per point, like `novelty`.
 */
import { type AnomalyDetector, type ScaleFloor, floorScale, ratioScore } from './detector.js';
import { NoveltyMemory, RestGate, type NoveltyOptions } from './novelty.js';

export interface LevelShiftOptions extends ScaleFloor {
  /** allowance δ in σ: drift below this is not accumulated; default 1 */
  allowance?: number;
  /** decision interval h (σ-points accumulated) that scores 0.5; default 30 */
  limit?: number;
  /** EWMA weight of the reference level and variance; default 0.01 */
  alpha?: number;
  /** points before the test scores; default 30 */
  warmup?: number;
}

/** Two-sided CUSUM on the standardised value against an EWMA reference, restarted after each alarm. */
export class PageHinkleyTest {
  readonly #allowance: number;
  readonly #limit: number;
  readonly #alpha: number;
  readonly #warmup: number;
  readonly #floor: ScaleFloor;
  #n = 0;
  #mean = 0;
  #var = 0;
  #up = 0;
  #down = 0;

  constructor(o: LevelShiftOptions = {}) {
    this.#allowance = o.allowance ?? 1;
    this.#limit = o.limit ?? 30;
    this.#alpha = o.alpha ?? 0.01;
    this.#warmup = Math.max(2, o.warmup ?? 30);
    this.#floor = { minScale: o.minScale, minRelativeScale: o.minRelativeScale };
    if (!(this.#limit > 0) || !(this.#alpha > 0 && this.#alpha < 1))
      throw new RangeError('level-shift limit must be > 0 and alpha in (0, 1)');
  }

  /** excess ratio of x (1 = the test fires); x must be finite */
  ratio(x: number): number {
    let ratio = 0;
    if (this.#n >= this.#warmup) {
      const sd = Math.max(floorScale(Math.sqrt(this.#var), this.#mean, this.#floor), 1e-12 * Math.max(1, Math.abs(x)));
      const z = (x - this.#mean) / sd;
      this.#up = Math.max(0, this.#up + z - this.#allowance);
      this.#down = Math.max(0, this.#down - z - this.#allowance);
      ratio = Math.max(this.#up, this.#down) / this.#limit;
    }
    // the first points set the reference as a plain mean, then the EWMA takes over
    const a = this.#n < this.#warmup ? 1 / (this.#n + 1) : this.#alpha;
    const d = x - this.#mean;
    this.#mean += a * d;
    this.#var = (1 - a) * (this.#var + a * d * d);
    this.#n++;
    if (ratio >= 1) {
      this.#up = 0;
      this.#down = 0;
      this.#mean = x;
    }
    return ratio;
  }

  reset(): void {
    this.#n = 0;
    this.#mean = 0;
    this.#var = 0;
    this.#up = 0;
    this.#down = 0;
  }
}

export interface NoveltyShiftOptions extends NoveltyOptions {
  shift?: Omit<LevelShiftOptions, keyof ScaleFloor>;
}

export class NoveltyShiftDetector implements AnomalyDetector {
  readonly #novelty: NoveltyMemory;
  readonly #shift: PageHinkleyTest;
  readonly #rest: RestGate;

  constructor(o: NoveltyShiftOptions = {}) {
    this.#novelty = new NoveltyMemory(o);
    this.#shift = new PageHinkleyTest({ warmup: o.warmup, ...o.shift, minScale: o.minScale, minRelativeScale: o.minRelativeScale });
    this.#rest = new RestGate(o.rest ?? 60);
  }

  update(x: number): number {
    if (!Number.isFinite(x)) return 0;
    const r = Math.max(this.#novelty.ratio(x), this.#shift.ratio(x));
    return this.#rest.gate(ratioScore(r));
  }

  reset(): void {
    this.#novelty.clear();
    this.#shift.reset();
    this.#rest.clear();
  }
}
