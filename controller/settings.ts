/**
 * From the config's `rollout` section to the settings of the pure pieces: the state machine's
 * RolloutSettings and the judge's JudgeSettings. The one place that knows how the false-rollback budget of
 * a whole rollout is split: equally over the steps that are analysed (every step below 100 %), so the
 * union bound keeps the chance of any false rollback in one rollout at or under rollout.falseRollbackRate.
 */
import type { Config } from '../config/index.js';
import type { JudgeSettings, RolloutSettings } from '../analysis/index.js';

export type RolloutConfig = Config['rollout'];

export function analysedSteps(steps: readonly number[]): number {
  return Math.max(1, steps.filter((w) => w < 100).length);
}

export function machineSettings(r: RolloutConfig): RolloutSettings {
  return {
    steps: r.steps,
    intervalMs: r.interval,
    minRequests: r.minRequests,
    maxStepDurationMs: r.maxStepDuration,
    failureLimit: r.failureLimit,
    hardBreach: r.hardBreach,
    dryRun: r.dryRun,
  };
}

export function judgeSettings(r: RolloutConfig): JudgeSettings {
  return {
    slo: { ...r.slo },
    maxDegradation: r.baseline.maxDegradation,
    alpha: r.falseRollbackRate / analysedSteps(r.steps),
    scoring: { ...r.scoring },
    critical: r.critical,
    countFaulted: r.countFaulted,
  };
}
