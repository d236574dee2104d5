/**
 * From the config's `rollout` section to the settings of the pure pieces: the state machine's
 * RolloutSettings and the judge's JudgeSettings of one step. The split of the false-rollback budget over
 * the analysed steps (rollout.alphaPlan; the shares sum to 1, so by the union bound a whole rollout stays
 * within rollout.falseRollbackRate) and the step's promote margin (rollout.baseline.promotionMargin) come
 * from the pure helpers in analysis/rollout/plan.ts, which the analysis bench calls too.
 */
import type { Config } from '../config/index.js';
import {
  alphaForStep,
  failMix,
  HARM_SHARE,
  nextWeightFraction,
  promotionMargin,
  promotionMarginBasis,
  type JudgeSettings,
  type RolloutSettings,
} from '../analysis/index.js';

export type RolloutConfig = Config['rollout'];

export function machineSettings(r: RolloutConfig, keepPinnedOnRollback = false): RolloutSettings {
  return {
    steps: r.steps,
    intervalMs: r.interval,
    minRequests: r.minRequests,
    maxStepDurationMs: r.maxStepDuration,
    failureLimit: r.failureLimit,
    hardBreach: r.hardBreach,
    dryRun: r.dryRun,
    maxStepPolicy: r.maxStepPolicy,
    suspendPinsOnRollback: !keepPinnedOnRollback,
  };
}

/** The judge's settings for the step at `stepIndex` (the machine's current step). */
export function judgeSettings(r: RolloutConfig, stepIndex: number): JudgeSettings {
  const margin = { mode: r.baseline.promotionMargin, cap: r.baseline.maxExposureFactor };
  return {
    slo: { ...r.slo },
    maxDegradation: r.baseline.maxDegradation,
    promoteMaxDegradation: promotionMargin(r.baseline.maxDegradation, r.steps, stepIndex, margin),
    promoteMarginBasis: promotionMarginBasis(r.steps, stepIndex, margin),
    // evidence carried across steps: the whole rollout is one test, so the fail side spends the whole
    // falseRollbackRate (its e-process restarts at each step's start with a fixed share, plan.ts failMix);
    // per-step evidence splits it over the steps (rollout.alphaPlan)
    alpha: r.evidence === 'rollout' ? r.falseRollbackRate : alphaForStep(r.falseRollbackRate, r.steps, stepIndex, r.alphaPlan),
    ...(r.evidence === 'rollout' ? { failMix: failMix(r.steps, stepIndex) } : {}),
    // false promotion: falsePromotionRate split between the margin tests and the harm bound (a metric is
    // cleared by either, so the union bound adds the two; plan.ts HARM_SHARE)
    promoteAlpha: r.falsePromotionRate * (1 - HARM_SHARE),
    harm: {
      nextWeight: nextWeightFraction(r.steps, stepIndex),
      budget: nextWeightFraction(r.steps, stepIndex) >= 1 ? r.finalHarmBudget : r.harmBudget,
      alpha: r.falsePromotionRate * HARM_SHARE,
    },
    power: r.power,
    scoring: { ...r.scoring },
    critical: r.critical,
    countFaulted: r.countFaulted,
  };
}
