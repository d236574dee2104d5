/**
 * Keys of the rollout section that set how fast a good canary is promoted (docs/rollout.md, "Pace"), spread
 * into `rollout` by config/sections/rollout.ts. They live apart so the promote side's knobs read together.
 */
import { Type } from '@sinclair/typebox';

export const paceKeys = {
  evidence: Type.Union([Type.Literal('step'), Type.Literal('rollout')], {
    default: 'step',
    description:
      "step: each step is judged on its own data (time-matched arms). rollout: all the data since the rollout started, the error tests restarting at each step's start; EXPERIMENTAL: the latency tests then pool arms whose time mix differs (the canary's data sit later), and under latency drift this rolled back 22 % of A/A canaries in bench:analysis at 2,000 req/s — not the default until the latency checks are stratified by step",
  }),
  harmBudget: Type.Number({
    exclusiveMinimum: 0,
    maximum: 1,
    default: 0.5,
    description:
      "Share of the SLO budget the canary may plausibly use at the next step's weight: a step below the last is promoted when the upper bound of the canary's excess 5xx (and non-success) rate × the next weight is within harmBudget × slo.maxErrorRate (1 − minSuccessRate), and its excess p95/p99 × the next weight within harmBudget × the baseline's headroom to maxP95Ms/maxP99Ms (the rollback side keeps watching at the next step)",
  }),
  finalHarmBudget: Type.Number({
    exclusiveMinimum: 0,
    maximum: 1,
    default: 0.25,
    description:
      'The same share for the final promotion into 100 %: the absolute floor beside maxDegradation. A canary is promoted into 100 % only when shown within maxDegradation of the baseline or its excess shown under finalHarmBudget × the budget the baseline leaves (slo.maxErrorRate minus the baseline rate; latency: the headroom to the latency SLO)',
  }),
  falsePromotionRate: Type.Number({
    exclusiveMinimum: 0,
    maximum: 0.5,
    default: 0.05,
    description: 'Bound on the chance that a canary worse than the final margin (maxDegradation, or the harm floor) reaches 100 %',
  }),
  power: Type.Number({
    exclusiveMinimum: 0,
    exclusiveMaximum: 1,
    default: 0.8,
    description:
      'Power (1 − β) at which the minimum detectable effect is reported: the smallest regression the rollback side would catch with this probability on the traffic seen so far',
  }),
  maxStepPolicy: Type.Union([Type.Literal('promote-if-no-harm'), Type.Literal('pause')], {
    default: 'promote-if-no-harm',
    description:
      'What a step still undecided after maxStepDuration does: promote-if-no-harm promotes when no check fails or holds and the harm bound is within harmBudget (the decision notes the weaker guarantee: not shown within maxDegradation), otherwise it keeps waiting; pause stops for an operator',
  }),
};
