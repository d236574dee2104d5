/**
 * Majority vote of several detectors. The vote's score is the k-th largest member score with k = ⌊m/2⌋ + 1,
 * so "score ≥ θ" holds exactly when a strict majority of members score ≥ θ — a majority vote at every
 * threshold, not only at 0.5, which keeps the ensemble sweepable like any other detector.
 */
import type { AnomalyDetector } from './detector.js';

export class MajorityVoteDetector implements AnomalyDetector {
  readonly #members: readonly AnomalyDetector[];
  readonly #scores: Float64Array;
  readonly #sorted: Float64Array;
  readonly #k: number;

  constructor(members: readonly AnomalyDetector[]) {
    if (members.length === 0) throw new RangeError('a vote needs at least one member');
    this.#members = members;
    this.#scores = new Float64Array(members.length);
    this.#sorted = new Float64Array(members.length);
    this.#k = Math.floor(members.length / 2) + 1;
  }

  update(value: number, t?: number): number {
    if (!Number.isFinite(value)) return 0;
    for (let i = 0; i < this.#members.length; i++) this.#scores[i] = this.#members[i].update(value, t);
    // k-th largest of a handful of numbers (m is 4 here): sort a copy
    this.#sorted.set(this.#scores);
    this.#sorted.sort();
    return this.#sorted[this.#members.length - this.#k];
  }

  /** the members' scores of the last scored point, in member order (for per-method gauges) */
  memberScores(): readonly number[] {
    return Array.from(this.#scores);
  }

  reset(): void {
    for (const m of this.#members) m.reset();
    this.#scores.fill(0);
  }
}
