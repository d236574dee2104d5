/**
 * One monitored series (a metric of a version): the detectors that score it and the little history the
 * monitor's canary-only rule needs. Every method runs on every series — the five users' methods through
 * one majority vote (whose members' scores are the four single methods) and the novelty detector — so
 * anomaly_detection_score can show all of them; the configured detector alone decides. State is O(1) per
 * series apart from the detectors' own windows (bounded).
 */
import { ANOMALY_THRESHOLD, type ScaleFloor } from './detector.js';
import { MajorityVoteDetector } from './ensemble.js';
import { NoveltyShiftDetector } from './level-shift.js';
import { RangeNoveltyDetector } from './novelty.js';
import { SEED_DETECTOR_NAMES, type DetectorName } from './registry.js';
import {
  ExponentialSmoothingDetector,
  MovingAverageDeviationDetector,
  RollingIqrDetector,
  RollingZScoreDetector,
} from './seed-detectors.js';

export class MonitoredSeries {
  readonly #vote: MajorityVoteDetector;
  readonly #novelty: RangeNoveltyDetector;
  readonly #noveltyShift: NoveltyShiftDetector;
  readonly #decider: DetectorName;
  /** scores of the last scored point, by method */
  readonly scores = new Map<DetectorName, number>();
  /** the configured detector's score per point, newest last (the last 3 points) */
  readonly #recent: { point: number; score: number; up: boolean; value: number }[] = [];
  #level = NaN;
  /** points with a value (not gaps) */
  scored = 0;
  lastValue = NaN;
  lastPoint = -1;

  constructor(decider: DetectorName, floor: ScaleFloor) {
    this.#decider = decider;
    this.#vote = new MajorityVoteDetector([
      new RollingZScoreDetector(floor),
      new MovingAverageDeviationDetector(floor),
      new RollingIqrDetector(floor),
      new ExponentialSmoothingDetector(floor),
    ]);
    // The monitor reports episodes itself (it holds a check for `holdFor`), so no rest period here: a
    // point's score must not depend on whether an earlier, unrelated point was high. Warm-up 10 points like
    // the users' methods, so every method starts scoring at the same point.
    this.#novelty = new RangeNoveltyDetector({ ...floor, rest: 0, warmup: 10 });
    this.#noveltyShift = new NoveltyShiftDetector({ ...floor, rest: 0, warmup: 10 });
    for (const m of [...SEED_DETECTOR_NAMES, 'ensemble', 'novelty', 'novelty-shift', 'blend'] as const) this.scores.set(m, 0);
  }

  /** feed point k's value (NaN = a gap: scores nothing, changes nothing) */
  update(point: number, value: number): void {
    this.lastPoint = point;
    this.lastValue = value;
    if (!Number.isFinite(value)) {
      this.#push({ point, score: 0, up: false, value });
      return;
    }
    const vote = this.#vote.update(value);
    const members = this.#vote.memberScores();
    SEED_DETECTOR_NAMES.forEach((m, i) => this.scores.set(m, members[i]));
    this.scores.set('ensemble', vote);
    this.scores.set('novelty', this.#novelty.update(value));
    const shift = this.#noveltyShift.update(value);
    this.scores.set('novelty-shift', shift);
    this.scores.set('blend', Math.min(vote, shift)); // the registry's blend: a vote of two needs both
    // direction against the level before this point (an EWMA, α 0.2: about the last 10 points)
    const up = !Number.isFinite(this.#level) || value > this.#level;
    this.#level = Number.isFinite(this.#level) ? this.#level + 0.2 * (value - this.#level) : value;
    this.scored++;
    this.#push({ point, score: this.scores.get(this.#decider) ?? 0, up, value });
  }

  /** the configured detector flagged point k (any direction, or upward only) */
  flagged(point: number, upOnly = false): boolean {
    const r = this.#recent.find((x) => x.point === point);
    return r !== undefined && r.score >= ANOMALY_THRESHOLD && (!upOnly || r.up);
  }

  valueAt(point: number): number {
    return this.#recent.find((x) => x.point === point)?.value ?? NaN;
  }

  score(point: number): number {
    return this.#recent.find((x) => x.point === point)?.score ?? 0;
  }

  #push(r: { point: number; score: number; up: boolean; value: number }): void {
    this.#recent.push(r);
    if (this.#recent.length > 3) this.#recent.shift();
  }
}
