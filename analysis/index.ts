/** The analysis engine's public face: pure functions over window data, and the rollout state machine. */
export * from './report.js';
export { judge, FAIL_BUDGET_SHARE } from './judge/judge.js';
export { HARD_FACTOR } from './judge/slo.js';
export {
  RolloutMachine,
  initialRolloutState,
  type RolloutPhase,
  type RolloutSettings,
  type RolloutState,
  type Transition,
  type GateStatus,
} from './rollout/machine.js';
export * from './anomaly/index.js';
export * from './metrics/index.js';
export {
  promotionMargin,
  promotionMarginBasis,
  exposureFactor,
  lastAnalysedWeight,
  alphaForStep,
  alphaShare,
  failMix,
  nextWeightFraction,
  ROLLOUT_START_SHARE,
  HARM_SHARE,
  type AlphaPlan,
  type PromotionMarginMode,
  type PromotionMarginOptions,
} from './rollout/plan.js';
export { planRollout, type PlanInput, type PlanStep, type RolloutPlanForecast } from './rollout/forecast.js';
