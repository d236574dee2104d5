/**
 * How a rollout's steps share its statistical budget and its margin — two pure helpers that the controller
 * (controller/settings.ts) and the analysis bench (bench/analysis-rollout.ts) both call, so the bench
 * measures exactly what canaryd does.
 *
 * promotionMargin — the promote-side (non-inferiority) margin of step k. The fail side always uses the
 *   configured margin δ: a canary is rolled back only on evidence that it is more than δ worse. Leaving
 *   step k (weight w_k) needs the canary shown no worse than δ_k = δ · min(cap, W / w_k), W the weight of
 *   the last analysed step (the last one below 100 %). Why: the harm a canary can do beyond the baseline is
 *   exposure × excess, so a canary up to (W/w_k)·δ worse at weight w_k costs no more extra errors (as a
 *   share of all requests) than a δ-worse canary at W; the weight only rises as far as the evidence allows,
 *   and the final promotion (into 100 %) still needs the full margin δ at the last analysed step.
 *   `fixed` gives δ at every step. Default steps and δ = 0.1: 1.0, 0.75, 0.3, 0.15, 0.1.
 *
 * alphaForStep — the false-rollback budget of step k's analysis. `equal`: falseRollbackRate / analysed
 *   steps; `front`: ½, ¼, ⅛, … of it on the first steps, the last two sharing the rest equally (a bad canary
 *   is held at its first step where it cannot be shown non-inferior, so that is where speed is bought).
 *   Either way the shares sum to 1, so by the union bound a canary no worse than the margin is rolled back
 *   in a whole rollout with probability ≤ falseRollbackRate.
 */

export type PromotionMarginMode = 'exposure' | 'fixed';
export type AlphaPlan = 'equal' | 'front';

export interface PromotionMarginOptions {
  mode: PromotionMarginMode;
  /** largest factor the margin may grow by (rollout.baseline.maxExposureFactor, ≥ 1) */
  cap: number;
}

/** Indices of the analysed steps: every step below 100 % (a step at 100 % is the end of the rollout). */
function analysedWeights(steps: readonly number[]): number[] {
  return steps.filter((w) => w < 100);
}

/** The weight W of the last analysed step, or null when no step is analysed. */
export function lastAnalysedWeight(steps: readonly number[]): number | null {
  const a = analysedWeights(steps);
  return a.length > 0 ? a[a.length - 1] : null;
}

/** The factor δ_k / δ for step `stepIndex`: min(cap, W / w_k), 1 in fixed mode, past the analysed steps or out of range. */
export function exposureFactor(steps: readonly number[], stepIndex: number, opts: PromotionMarginOptions): number {
  if (opts.mode === 'fixed') return 1;
  const w = steps[stepIndex];
  const W = lastAnalysedWeight(steps);
  if (w === undefined || W === null || !(w > 0) || w >= 100) return 1;
  return Math.max(1, Math.min(Math.max(1, opts.cap), W / w));
}

/** δ_k: the margin the canary must be shown within to leave step `stepIndex` (δ itself in fixed mode). */
export function promotionMargin(delta: number, steps: readonly number[], stepIndex: number, opts: PromotionMarginOptions): number {
  return delta * exposureFactor(steps, stepIndex, opts);
}

/** Why the promote margin of the step is what it is, for report sentences: "exposure 5 % of 75 %, capped at 10×". */
export function promotionMarginBasis(steps: readonly number[], stepIndex: number, opts: PromotionMarginOptions): string {
  if (opts.mode === 'fixed') return 'fixed margin';
  const w = steps[stepIndex];
  const W = lastAnalysedWeight(steps);
  if (w === undefined || W === null || w >= 100) return 'fixed margin';
  const f = exposureFactor(steps, stepIndex, opts);
  const capped = W / w > f + 1e-12 ? `, capped at ${fmt(f)}×` : '';
  return `exposure ${fmt(w)} % of ${fmt(W)} %${capped}`;
}

function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : String(Math.round(x * 100) / 100);
}

/**
 * Share of the rollout's false-rollback budget given to step `stepIndex`. The shares of the analysed steps
 * sum to 1; an index past them (a step at 100 % is never analysed) gets the last analysed step's share, so
 * the result is never 0.
 */
export function alphaShare(steps: readonly number[], stepIndex: number, plan: AlphaPlan): number {
  const n = Math.max(1, analysedWeights(steps).length);
  // the k-th analysed step (steps rise, so the analysed ones come first)
  const k = Math.min(Math.max(0, Math.floor(stepIndex)), n - 1);
  if (plan === 'equal' || n === 1) return 1 / n;
  // ½, ¼, …, 1/2^(n−1), 1/2^(n−1): sums to 1
  return Math.pow(0.5, Math.min(k + 1, n - 1));
}

/** α of step `stepIndex`'s analysis: falseRollbackRate × its share of the plan. */
export function alphaForStep(falseRollbackRate: number, steps: readonly number[], stepIndex: number, plan: AlphaPlan): number {
  return falseRollbackRate * alphaShare(steps, stepIndex, plan);
}

/** Share of the fail-side e-process on the rollout's start when evidence is carried across steps (the rest is split over the later steps' starts). */
export const ROLLOUT_START_SHARE = 0.75;

/**
 * Weights of the error tests' fail-side e-process at step `stepIndex` when evidence is carried across
 * steps (analysis/judge/error-rate.ts FailMix): ROLLOUT_START_SHARE on the component started with the
 * rollout, the rest split equally over the starts of the later analysed steps, fixed before any data. At
 * step k the current step's component has its share, the steps not started yet keep theirs as a constant
 * (their components are still 1), the earlier steps' components are left out (which only lowers the sum).
 * With the whole rollout judged as one test, the fail side may spend the whole falseRollbackRate: no α plan.
 */
export function failMix(steps: readonly number[], stepIndex: number): { rollout: number; step: number; rest: number } {
  const n = analysedWeights(steps).length;
  if (n <= 1) return { rollout: 1, step: 0, rest: 0 };
  const each = (1 - ROLLOUT_START_SHARE) / (n - 1);
  const k = Math.min(Math.max(0, Math.floor(stepIndex)), n - 1);
  return { rollout: ROLLOUT_START_SHARE, step: k >= 1 ? each : 0, rest: each * (n - 1 - k) };
}

/** The next step's weight as a fraction (1 when the next promotion is the final one): where the harm bound is judged. */
export function nextWeightFraction(steps: readonly number[], stepIndex: number): number {
  const next = steps[stepIndex + 1];
  return next === undefined || next >= 100 ? 1 : next / 100;
}

/**
 * Share of rollout.falsePromotionRate given to the harm bound; the margin (non-inferiority) tests get the
 * rest. A metric is cleared by either route, so the union bound adds the two levels.
 */
export const HARM_SHARE = 0.8;
