/**
 * canaryd's strong detector: streaming nearest-neighbour novelty of the value, relative to the recent range.
 *
 * The score of x_t is how far x_t lies from every value of the last `memory` points, as a fraction of
 * their range (max − min):  g_t = min_i |x_t − x_i| / range,  score = r/(r+1) with r = g_t / scale.
 * A value inside a region the series has visited scores ~0 however large it is; a value in a region it has
 * not visited (a new high or low, or a gap inside the range) scores by how far it is from the known
 * region. The memory is the window of last values, kept sorted (O(window) per point, no allocation).
 *
 * Then a threshold-free rest period: a point is reported only when its score beats every score of the
 * previous `rest` points (otherwise 0), so one episode is reported once — again only if it gets worse.
 *
 * Why this design (docs/anomaly.md has the measurements): on NAB, contextual and likelihood machinery
 * (HTM + anomaly likelihood, CAD OSE's context memory) win mostly by flagging the first visit of a value
 * region and then staying quiet. CAD OSE encodes values on 8 bins of the whole file's min/max and scores
 * "new contexts"; at order zero that is a new value bin, and its rest period suppresses repeats. Numenta's
 * detector adds a "spatial anomaly" (outside the seen range by 5 %). This detector keeps that core — novelty
 * of the value against the streaming range — continuous instead of binned (so NAB's threshold sweep has
 * something to sweep), with the range taken from the data seen so far (never the whole file), and without
 * the bins that a growing range would invalidate. We measured CAD-like hashed context novelty, time-of-day
 * contexts, lag/mean embeddings and a Numenta-style likelihood on top: none beat this on NAB without adding
 * knobs that did not transfer between splits.
 *
 * References: Ahmad et al., Neurocomputing 262 (2017) — HTM, anomaly likelihood, spatial anomaly;
 * Smirnov, CAD OSE (github.com/smirmik/CAD, 2016); Burnaev & Ishimtsev, "Conformalized density- and
 * distance-based anomaly detection in time-series data" (2016) — kNN novelty (KNN CAD); Pimentel et al.,
 * "A review of novelty detection", Signal Processing 99 (2014); Wu & Keogh, "Current time series anomaly
 * detection benchmarks are flawed", IEEE TKDE (2021) — most NAB anomalies are visible as simple novelty.
 */
import { type AnomalyDetector, type ScaleFloor, RollingQuantiles, floorScale, ratioScore } from './detector.js';

export interface NoveltyOptions extends ScaleFloor {
  /** how many past values are remembered (the window); default 5000 */
  memory?: number;
  /** values seen before anything is scored; default 30 */
  warmup?: number;
  /** the distance to the nearest remembered value, as a fraction of the range, that scores 0.5; default 0.02 */
  scale?: number;
  /** points an episode is reported once in (a later point must beat every score since); default 60, 0 = off */
  rest?: number;
}

/** The novelty channel: the last `memory` values, sorted; ratio = gap to the nearest / (range · scale). */
export class NoveltyMemory {
  readonly #memory: RollingQuantiles;
  readonly #warmup: number;
  readonly #scale: number;
  readonly #floor: ScaleFloor;

  constructor(o: NoveltyOptions = {}) {
    this.#memory = new RollingQuantiles(o.memory ?? 5000);
    this.#warmup = Math.max(2, Math.min(o.warmup ?? 30, this.#memory.capacity));
    this.#scale = o.scale ?? 0.02;
    this.#floor = { minScale: o.minScale, minRelativeScale: o.minRelativeScale };
    if (!(this.#scale > 0)) throw new RangeError('novelty scale must be > 0');
  }

  /** excess ratio of x against the values before it (1 = a gap of `scale` of the range); then remembers x */
  ratio(x: number): number {
    let r = 0;
    if (this.#memory.size >= this.#warmup) {
      // 1e-12 relative: a flat series has range 0, and any departure from it is then certain novelty
      const lo = this.#memory.min();
      const hi = this.#memory.max();
      const range = Math.max(floorScale(hi - lo, (hi + lo) / 2, this.#floor), 1e-12 * Math.max(1, Math.abs(x)));
      r = this.#memory.nearestDistance(x) / range / this.#scale;
    }
    this.#memory.push(x);
    return r;
  }

  clear(): void {
    this.#memory.clear();
  }
}

/**
 * Threshold-free rest period: a score is passed only if it beats every score of the previous `rest` points.
 * `rest` 0 passes every score (the monitor, which holds an episode itself for `holdFor`).
 */
export class RestGate {
  readonly #recent: Float64Array;
  #head = 0;

  constructor(rest: number) {
    this.#recent = new Float64Array(Math.max(0, Math.floor(rest)));
  }

  gate(score: number): number {
    if (this.#recent.length === 0) return score;
    let since = 0;
    for (let i = 0; i < this.#recent.length; i++) if (this.#recent[i] > since) since = this.#recent[i];
    this.#recent[this.#head] = score;
    this.#head = (this.#head + 1) % this.#recent.length;
    return score > since ? score : 0;
  }

  clear(): void {
    this.#recent.fill(0);
    this.#head = 0;
  }
}

export class RangeNoveltyDetector implements AnomalyDetector {
  readonly #memory: NoveltyMemory;
  readonly #rest: RestGate;

  constructor(o: NoveltyOptions = {}) {
    this.#memory = new NoveltyMemory(o);
    this.#rest = new RestGate(o.rest ?? 60);
  }

  update(x: number): number {
    if (!Number.isFinite(x)) return 0;
    return this.#rest.gate(ratioScore(this.#memory.ratio(x)));
  }

  reset(): void {
    this.#memory.clear();
    this.#rest.clear();
  }
}
