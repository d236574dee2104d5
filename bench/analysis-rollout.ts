/**
 * The rollout loop of the analysis benchmark. It follows the controller's rules (issue 3, item 6; the real
 * state machine lives in analysis/rollout/ — this is a small stand-in so the bench depends only on the judge):
 * steps [5, 10, 25, 50, 75, 100]; at each step the judge sees the windows since the step started (or, with
 * rollout.evidence rollout, since the rollout started).
 *  - canaryd (sequential): judged every second; hardBreach → rollback; `fail` spends one unit of the
 *    failure budget (failureLimit consecutive → rollback; any other verdict resets it); `pass` with
 *    nonInferior, once the step's interval and minRequests are met → next step. α and the promote margin
 *    of each step come from the same helpers the controller uses (analysis/rollout/plan.ts alphaForStep,
 *    promotionMargin), with the plan's alphaPlan and promotionMargin.
 *  - interval references: judged at the end of each interval on that interval's windows; pass → next
 *    step, fail → one failure (cumulative for Flagger, consecutive for Kayenta), hold → stay.
 * A step still undecided after maxStep seconds ends the rollout as "held" (the controller pauses).
 */
import {
  alphaForStep,
  failMix,
  HARM_SHARE,
  nextWeightFraction,
  promotionMargin,
  promotionMarginBasis,
  type AlphaPlan,
  type Judge,
  type JudgeSettings,
  type PromotionMarginOptions,
} from '../analysis/index.js';
import type { WindowRecord } from '../core/index.js';
import type { IntervalJudge } from './analysis-references.js';
import { newEnvironment, simulateSecond, type Scenario } from './analysis-sim.js';

export interface RolloutPlan {
  steps: readonly number[];
  intervalS: number;
  minRequests: number;
  failureLimit: number;
  maxStepS: number;
  falseRollbackRate: number;
  /** rollout.alphaPlan: how the false-rollback budget is divided over the analysed steps */
  alphaPlan: AlphaPlan;
  /** rollout.baseline.promotionMargin and maxExposureFactor */
  promotion: PromotionMarginOptions;
  rate: number;
  /**
   * canaryd's pace rules (issue 12), as the controller applies them (controller/settings.ts): the harm
   * bound at the next weight, maxStepPolicy promote-if-no-harm after maxStepDurationS, and rollout.evidence
   * (step, the default: each step judged on its own windows with the alphaPlan share of the false-rollback
   * budget; rollout: the windows since the rollout started, the whole budget, failMix restarts).
   * Absent: the rules before (per-step evidence, non-inferiority only).
   */
  pace?: {
    harmBudget: number;
    finalHarmBudget: number;
    falsePromotionRate: number;
    maxStepDurationS: number;
    evidence: 'step' | 'rollout';
  };
  settings: Omit<JudgeSettings, 'alpha' | 'promoteAlpha' | 'promoteMaxDegradation' | 'promoteMarginBasis'>;
}

export interface RolloutResult {
  outcome: 'promoted' | 'rolledback' | 'held';
  /** seconds from the rollout's start to its end */
  seconds: number;
  /** canary requests from the start to the end */
  canaryRequests: number;
  /** index of the step where it ended */
  step: number;
  /** canary 5xx beyond what the baseline's rate in the same windows would have given (the harm done) */
  excessErrors: number;
  /** canary requests when the judge first said `fail` in the run of failures that rolled back (its detection) */
  detectedAt: number | null;
  /** seconds from the start to that verdict */
  detectedS: number | null;
  /** canaryd: the minimum detectable effect (ratio to the baseline, per check) its last report announced */
  mde: Record<string, number | null> | null;
}

/** A sequential judge may override the plan's promotion margin (e.g. canaryd with `fixed` beside `exposure`). */
export type BenchJudge =
  | {
      kind: 'sequential';
      name: string;
      judge: Judge;
      promotion?: PromotionMarginOptions;
      /** false: the rules before issue 12 */ pace?: boolean;
      /** overrides the plan's rollout.evidence */ evidence?: 'step' | 'rollout';
    }
  | { kind: 'interval'; name: string; judge: IntervalJudge };

export function runRollout(j: BenchJudge, sc: Scenario, plan: RolloutPlan, seed: number): RolloutResult {
  const env = newEnvironment(seed, plan.rate);
  const promotion = (j.kind === 'sequential' ? j.promotion : undefined) ?? plan.promotion;
  let t = 0;
  let canaryRequests = 0;
  let excessErrors = 0;
  let failures = 0;
  let firstFail: [number, number] | null = null;
  const B: WindowRecord[] = [];
  const C: WindowRecord[] = [];
  let rolloutStart = 0;
  let mde: RolloutResult['mde'] = null;
  const end = (outcome: RolloutResult['outcome'], step: number): RolloutResult => ({
    outcome,
    seconds: t,
    canaryRequests,
    step,
    excessErrors,
    detectedAt: outcome === 'rolledback' ? (firstFail?.[0] ?? canaryRequests) : null,
    detectedS: outcome === 'rolledback' ? (firstFail?.[1] ?? t) : null,
    mde,
  });
  for (let step = 0; step < plan.steps.length; step++) {
    const weight = plan.steps[step];
    if (weight >= 100) return end('promoted', step);
    const start = t;
    const pace = j.kind === 'sequential' && j.pace !== false ? plan.pace : undefined;
    const carry = pace !== undefined && ((j.kind === 'sequential' ? j.evidence : undefined) ?? pace.evidence) === 'rollout';
    const next = nextWeightFraction(plan.steps, step);
    const settings: JudgeSettings = {
      ...plan.settings,
      alpha: carry ? plan.falseRollbackRate : alphaForStep(plan.falseRollbackRate, plan.steps, step, plan.alphaPlan),
      promoteAlpha: pace ? pace.falsePromotionRate * (1 - HARM_SHARE) : alphaForStep(plan.falseRollbackRate, plan.steps, step, 'equal'),
      promoteMaxDegradation: promotionMargin(plan.settings.maxDegradation, plan.steps, step, promotion),
      promoteMarginBasis: promotionMarginBasis(plan.steps, step, promotion),
      ...(carry ? { failMix: failMix(plan.steps, step) } : {}),
      ...(pace
        ? {
            harm: {
              nextWeight: next,
              budget: next >= 1 ? pace.finalHarmBudget : pace.harmBudget,
              alpha: pace.falsePromotionRate * HARM_SHARE,
            },
          }
        : {}),
    };
    // rollout.evidence rollout: the windows since the rollout started; step: the step's own windows
    if (!carry || step === 0) {
      B.length = 0;
      C.length = 0;
      rolloutStart = start;
    }
    let stepCanary = 0;
    if (j.kind === 'sequential') failures = 0;
    let promoted = false;
    while (!promoted) {
      const { baseline, canary } = simulateSecond(env, sc, t, weight);
      t++;
      B.push(baseline);
      C.push(canary);
      canaryRequests += canary.clean.requests;
      stepCanary += canary.clean.requests;
      if (baseline.clean.requests > 0)
        excessErrors += canary.clean.statusClass[4] - (canary.clean.requests * baseline.clean.statusClass[4]) / baseline.clean.requests;
      const elapsed = t - start;
      if (j.kind === 'sequential') {
        const r = j.judge({ at: t * 1000, from: rolloutStart * 1000, stepFrom: start * 1000, baseline: B, canary: C }, settings);
        if (r.mde) mde = Object.fromEntries(r.mde.map((m) => [m.check, m.ratio]));
        if (r.hardBreach || (pace && r.criticalBreach)) return end('rolledback', step);
        if (r.verdict === 'fail') {
          if (failures === 0) firstFail = [canaryRequests, t];
          if (++failures >= plan.failureLimit) return end('rolledback', step);
        } else failures = 0;
        const ready = pace ? r.promotable === true : r.verdict === 'pass' && r.nonInferior;
        if (ready && elapsed >= plan.intervalS && stepCanary >= plan.minRequests) promoted = true;
        // maxStepPolicy promote-if-no-harm: past maxStepDuration, nothing failing or holding and the harm bound within budget
        else if (
          pace &&
          elapsed >= pace.maxStepDurationS &&
          r.verdict !== 'fail' &&
          r.harm?.within === true &&
          stepCanary >= plan.minRequests &&
          !r.checks.some(
            (c) =>
              c.status === 'fail' || (c.status === 'marginal' && c.kind !== 'comparison') || (c.status === 'nodata' && c.kind === 'metric'),
          )
        )
          promoted = true;
      } else if (elapsed % plan.intervalS === 0) {
        const v = j.judge.decide(B.slice(-plan.intervalS), C.slice(-plan.intervalS));
        if (v === 'fail') {
          if (failures === 0 || !j.judge.cumulativeFailures) firstFail = failures === 0 ? [canaryRequests, t] : firstFail;
          if (++failures >= plan.failureLimit) return end('rolledback', step);
        } else if (!j.judge.cumulativeFailures) failures = 0;
        if (v === 'pass') promoted = true;
      }
      if (!promoted && elapsed >= plan.maxStepS) return end('held', step);
      // the interval judges only need the last interval
      if (j.kind === 'interval' && B.length > plan.intervalS) {
        B.shift();
        C.shift();
      }
    }
  }
  return end('promoted', plan.steps.length - 1);
}
