/**
 * The rollout state machine: idle → progressing through the steps → promoted (100 % canary) or rolled back
 * (0 %), plus paused. It advances one explicit step at a time — `evaluate(now, report)` for the engine,
 * `start/pause/resume/promote/rollback/retry` for operators — and returns what happened as a Transition:
 * the Decision (if any) and the weight to apply. It owns no timer, no clock and no I/O: the controller
 * (controller/) calls it on its timer and applies the weight, so every sequence of states can be replayed
 * in a test with a fake clock.
 *
 * Policy, in the order evaluate() applies it:
 *  1. a hard SLO breach, or a critical comparison crossing its always-valid fail boundary, rolls back at
 *     once (settings.hardBreach = 'rollback'), else it counts as a failure;
 *  2. a failed analysis spends one unit of the failure budget; failureLimit consecutive failures roll back;
 *     any analysis that does not fail refills the budget (the failures must be consecutive);
 *  3. a step is promoted only when the report is promotable (every comparison shown within its margin, or
 *     bounded by the harm bound at the next weight: report.promotable), the step has run
 *     `interval` and seen `minRequests` canary requests — silence never promotes;
 *  4. the final promotion (to 100 %) waits for the confirm-promotion gate when one is configured;
 *  5. a step still undecided after maxStepDuration follows maxStepPolicy: pause for a person to look, or
 *     promote-if-no-harm (nothing fails or holds and the harm bound is within budget; a weaker guarantee);
 *  6. otherwise CONTINUE, with the report's reasons.
 * Paused rollouts keep being analysed and still roll back on failure: a pause stops promotions, never the
 * safety net. Dry-run computes and returns every decision but never moves the weight or the step (it keeps
 * the failure count, so "would roll back" is reported when it would happen).
 */
import { CanarydError } from '../../core/index.js';
import type { AnalysisReport, Decision } from '../report.js';

export type RolloutPhase = 'idle' | 'progressing' | 'paused' | 'promoted' | 'rolledback';

export interface RolloutSettings {
  /** canary weights of the analysed steps, strictly rising; promoting past the last one goes to 100 % */
  steps: readonly number[];
  intervalMs: number;
  minRequests: number;
  /** 0: never pause for an inconclusive step */
  maxStepDurationMs: number;
  failureLimit: number;
  hardBreach: 'rollback' | 'count';
  dryRun: boolean;
  /**
   * What a step still undecided at maxStepDuration does: 'pause' stops for an operator; 'promote-if-no-harm'
   * promotes when nothing fails or holds and the report's harm bound is within budget (a weaker guarantee,
   * said in the decision). Default 'pause'.
   */
  maxStepPolicy?: 'pause' | 'promote-if-no-harm';
  /** after a rollback, suspend routing rules and flags that send traffic to the canary (routing.keepPinnedOnRollback: false) */
  suspendPinsOnRollback?: boolean;
}

export interface RolloutState {
  phase: RolloutPhase;
  /** rollouts started so far; the current one's number (0 before the first) */
  id: number;
  /** index into steps: the running step; after a rollback the step it failed at; steps.length when promoted; -1 before any */
  step: number;
  canaryWeight: number;
  startedAt: number | null;
  stepStartedAt: number | null;
  /** when an inconclusive step pauses (stepStartedAt + maxStepDuration, pushed back on resume); null: never */
  stepDeadlineAt: number | null;
  /** consecutive failed analyses at this step */
  failures: number;
  /** why the rollout is paused or rolled back, or what it waits for */
  reason: string | null;
  endedAt: number | null;
  lastDecision: Decision | null;
  /**
   * Rules and flags that send traffic to the canary are suspended (set by a rollback, cleared by a start, a
   * retry or an operator): the router skips them, so every request goes to the baseline.
   */
  pinsSuspended?: boolean;
}

/** What a call did: the decision taken (if any), the weight to apply now (if it changed), whether state changed. */
export interface Transition {
  decision: Decision | null;
  weight: number | null;
  changed: boolean;
  /** the final promotion is due but the confirm-promotion gate has not approved it yet */
  awaitingConfirmation?: boolean;
}

export type GateStatus = 'none' | 'approved' | 'pending' | 'refused';

export function initialRolloutState(canaryWeight = 0): RolloutState {
  return {
    phase: 'idle',
    id: 0,
    step: -1,
    canaryWeight,
    startedAt: null,
    stepStartedAt: null,
    stepDeadlineAt: null,
    failures: 0,
    reason: null,
    endedAt: null,
    lastDecision: null,
  };
}

const ACTIVE: ReadonlySet<RolloutPhase> = new Set(['progressing', 'paused']);

function conflict(message: string): CanarydError {
  return new CanarydError('CANARYD_ERR_CONFLICT', message);
}

export class RolloutMachine {
  #settings: RolloutSettings;
  #s: RolloutState;

  constructor(settings: RolloutSettings, state: RolloutState = initialRolloutState()) {
    this.#settings = settings;
    this.#s = { ...state };
  }

  get state(): Readonly<RolloutState> {
    return this.#s;
  }

  get settings(): Readonly<RolloutSettings> {
    return this.#settings;
  }

  get active(): boolean {
    return ACTIVE.has(this.#s.phase);
  }

  /** Takes another copy's state as its own (a fleet follower adopting the leader's state). */
  restore(state: RolloutState): void {
    this.#s = { ...state };
  }

  /** New settings (config reload). A running step index is clamped to the new step list; the weight stays. */
  configure(settings: RolloutSettings): void {
    this.#settings = settings;
    if (this.active && this.#s.step >= settings.steps.length) this.#s = { ...this.#s, step: settings.steps.length - 1 };
  }

  /** True when promoting the current step ends the rollout at 100 %. */
  get nextIsFinal(): boolean {
    const next = this.#s.step + 1;
    return next >= this.#settings.steps.length || this.#settings.steps[next] >= 100;
  }

  // ---- operator commands ----

  start(now: number, reason = 'rollout started'): Transition {
    if (this.active)
      throw conflict(
        `a rollout is already ${this.#s.phase} (step ${this.#s.step + 1}/${this.#settings.steps.length}, canary ${this.#s.canaryWeight} %)`,
      );
    const weight = this.#settings.steps[0];
    this.#s = {
      ...initialRolloutState(weight),
      id: this.#s.id + 1,
      phase: 'progressing',
      step: 0,
      startedAt: now,
      stepStartedAt: now,
      stepDeadlineAt: this.#deadline(now),
      lastDecision: this.#s.lastDecision,
      pinsSuspended: false,
    };
    return this.#decide(
      now,
      'PROMOTE',
      [`${reason}: step 1/${this.#settings.steps.length}, canary ${weight} %`],
      null,
      'manual',
      true,
      weight,
    );
  }

  /** Start again after a rollback (same as start, only from rolledback). */
  retry(now: number): Transition {
    if (this.#s.phase !== 'rolledback') throw conflict(`retry restarts a rolled-back rollout; this one is ${this.#s.phase}`);
    return this.start(now, 'rollout retried');
  }

  pause(now: number, reason = 'paused by an operator'): Transition {
    if (this.#s.phase !== 'progressing') throw conflict(`only a progressing rollout can be paused; this one is ${this.#s.phase}`);
    this.#s = { ...this.#s, phase: 'paused', reason };
    void now;
    return { decision: null, weight: null, changed: true };
  }

  resume(now: number): Transition {
    if (this.#s.phase !== 'paused') throw conflict(`only a paused rollout can be resumed; this one is ${this.#s.phase}`);
    // The step keeps its data (more data is what an inconclusive step needs) but gets a new deadline, or it
    // would pause again at once.
    const d = this.#deadline(now);
    const deadline = d === null ? null : Math.max(d, this.#s.stepDeadlineAt ?? d);
    this.#s = { ...this.#s, phase: 'progressing', reason: null, stepDeadlineAt: deadline };
    return { decision: null, weight: null, changed: true };
  }

  /** Manual promotion: the next step, or 100 % at once with `full`. Operators are their own gate. */
  promote(now: number, opts: { full?: boolean; reason?: string } = {}): Transition {
    if (!this.active) throw conflict(`only a progressing or paused rollout can be promoted; this one is ${this.#s.phase}`);
    const reason = opts.reason ?? `promoted by an operator${opts.full ? ' to 100 %' : ''}`;
    return this.#advance(now, [reason], null, 'manual', opts.full === true);
  }

  /** Instant rollback: the returned weight is 0; the caller applies it before routing another request. */
  rollback(now: number, reason = 'rolled back by an operator', source: Decision['source'] = 'manual'): Transition {
    if (!this.active) throw conflict(`only a progressing or paused rollout can be rolled back; this one is ${this.#s.phase}`);
    return this.#rollback(now, [reason], null, source);
  }

  /** An operator re-enables (or suspends) the canary pins outside a rollback. */
  setPinsSuspended(suspended: boolean): Transition {
    if (this.#s.pinsSuspended === suspended || (!suspended && this.#s.pinsSuspended === undefined))
      return { decision: null, weight: null, changed: false };
    this.#s = { ...this.#s, pinsSuspended: suspended };
    return { decision: null, weight: null, changed: true };
  }

  // ---- the engine ----

  /**
   * One analysis result at `now`. `gate` is the confirm-promotion gate's answer for the final promotion
   * ('none' when no gate is configured).
   */
  evaluate(now: number, report: AnalysisReport, gate: GateStatus = 'none'): Transition {
    const s = this.#s;
    if (!this.active) return { decision: null, weight: null, changed: false };
    const set = this.#settings;
    const failed = report.hardBreach || report.verdict === 'fail';
    if (report.hardBreach && set.hardBreach === 'rollback') {
      return this.#engineRollback(now, ['hard SLO breach, rolled back at once', ...report.reasons], report);
    }
    if (report.criticalBreach === true && set.hardBreach === 'rollback') {
      const names = report.checks.filter((c) => c.status === 'fail' && c.critical && c.kind === 'comparison').map((c) => c.name);
      return this.#engineRollback(
        now,
        [`critical check ${names.join(', ')} crossed its fail boundary (always-valid, sticky): rolled back at once`, ...report.reasons],
        report,
      );
    }
    if (failed) {
      const failures = s.failures + 1;
      if (failures >= set.failureLimit) {
        return this.#engineRollback(
          now,
          [`${failures} consecutive failed analyses (failureLimit ${set.failureLimit})`, ...report.reasons],
          report,
        );
      }
      this.#s = { ...s, failures };
      return this.#decide(
        now,
        'CONTINUE',
        [`failed analysis ${failures}/${set.failureLimit}`, ...report.reasons],
        report,
        'analysis',
        true,
      );
    }
    if (s.failures !== 0) this.#s = { ...s, failures: 0 };
    if (s.phase === 'paused') return this.#decide(now, 'CONTINUE', [`paused: ${s.reason ?? 'by an operator'}`, ...report.reasons], report);

    const elapsed = now - (s.stepStartedAt ?? now);
    const canaryRequests = report.stepCanaryRequests ?? report.arms.canary.requests;
    const ready = report.promotable ?? (report.verdict === 'pass' && report.nonInferior);
    const waits: string[] = [];
    if (!ready) waits.push(report.verdict === 'pass' ? 'the canary is not yet shown non-inferior' : 'the analysis is inconclusive');
    if (elapsed < set.intervalMs) waits.push(`step time ${fmtS(elapsed)} of ${fmtS(set.intervalMs)}`);
    if (canaryRequests < set.minRequests) waits.push(`${canaryRequests} of ${set.minRequests} canary requests`);
    if (waits.length === 0) {
      if (this.nextIsFinal && gate !== 'none' && gate !== 'approved') {
        const t = this.#decide(
          now,
          'CONTINUE',
          [`ready for the final promotion, waiting for the confirm-promotion gate (${gate})`, ...report.reasons],
          report,
        );
        return { ...t, awaitingConfirmation: true };
      }
      const basis =
        report.nonInferior || !report.harm
          ? 'canary shown no worse than baseline'
          : `canary's harm at the next weight bounded within budget`;
      return this.#advance(
        now,
        [`step ${s.step + 1}/${set.steps.length} passed: ${basis} over ${canaryRequests} requests in ${fmtS(elapsed)}`, ...report.reasons],
        report,
        'analysis',
        false,
      );
    }
    if (s.stepDeadlineAt !== null && now >= s.stepDeadlineAt && !ready) {
      const reason = `step ${s.step + 1} still undecided after ${fmtS(elapsed)} (maxStepDuration ${fmtS(set.maxStepDurationMs)})`;
      if (set.maxStepPolicy === 'promote-if-no-harm') {
        const clear =
          report.verdict !== 'fail' &&
          !report.checks.some(
            (c) =>
              c.status === 'fail' || (c.status === 'marginal' && c.kind !== 'comparison') || (c.status === 'nodata' && c.kind === 'metric'),
          );
        if (clear && report.harm?.within === true && canaryRequests >= set.minRequests) {
          if (this.nextIsFinal && gate !== 'none' && gate !== 'approved') {
            const t = this.#decide(
              now,
              'CONTINUE',
              [`${reason}: no harm seen, waiting for the confirm-promotion gate (${gate})`, ...report.reasons],
              report,
            );
            return { ...t, awaitingConfirmation: true };
          }
          return this.#advance(
            now,
            [
              `${reason}: promoted because no check failed and the harm bound is within budget (maxStepPolicy promote-if-no-harm; weaker guarantee: not shown within the margin)`,
              ...report.reasons,
            ],
            report,
            'analysis',
            false,
          );
        }
        return this.#decide(
          now,
          'CONTINUE',
          [`${reason}: waiting for the harm bound (maxStepPolicy promote-if-no-harm)`, ...report.reasons],
          report,
        );
      }
      if (!set.dryRun) this.#s = { ...this.#s, phase: 'paused', reason };
      return this.#decide(now, 'CONTINUE', [`${reason}: paused for an operator`, ...report.reasons], report, 'analysis', !set.dryRun);
    }
    return this.#decide(now, 'CONTINUE', [`waiting: ${waits.join('; ')}`, ...report.reasons], report);
  }

  // ---- internals ----

  #deadline(now: number): number | null {
    return this.#settings.maxStepDurationMs > 0 ? now + this.#settings.maxStepDurationMs : null;
  }

  #engineRollback(now: number, reasons: string[], report: AnalysisReport): Transition {
    if (this.#settings.dryRun) {
      this.#s = { ...this.#s, failures: 0 }; // the would-be rollback is reported; counting starts again
      return this.#decide(now, 'ROLLBACK', reasons, report, 'analysis');
    }
    return this.#rollback(now, reasons, report, 'analysis');
  }

  #rollback(now: number, reasons: string[], report: AnalysisReport | null, source: Decision['source']): Transition {
    const pinsSuspended = this.#settings.suspendPinsOnRollback === true ? true : this.#s.pinsSuspended;
    this.#s = {
      ...this.#s,
      phase: 'rolledback',
      canaryWeight: 0,
      stepStartedAt: null,
      stepDeadlineAt: null,
      failures: 0,
      reason: reasons[0],
      endedAt: now,
      pinsSuspended,
    };
    return this.#decide(now, 'ROLLBACK', reasons, report, source, true, 0);
  }

  #advance(now: number, reasons: string[], report: AnalysisReport | null, source: Decision['source'], full: boolean): Transition {
    const set = this.#settings;
    if (source === 'analysis' && set.dryRun) return this.#decide(now, 'PROMOTE', reasons, report, source);
    const next = this.#s.step + 1;
    if (full || next >= set.steps.length || set.steps[next] >= 100) {
      this.#s = {
        ...this.#s,
        phase: 'promoted',
        canaryWeight: 100,
        step: set.steps.length,
        stepStartedAt: null,
        stepDeadlineAt: null,
        failures: 0,
        reason: null,
        endedAt: now,
      };
      return this.#decide(now, 'PROMOTE', [...reasons, 'rollout complete: canary at 100 %'], report, source, true, 100);
    }
    const weight = set.steps[next];
    this.#s = {
      ...this.#s,
      phase: this.#s.phase === 'paused' && source === 'manual' ? 'progressing' : this.#s.phase,
      step: next,
      canaryWeight: weight,
      stepStartedAt: now,
      stepDeadlineAt: this.#deadline(now),
      failures: 0,
      reason: null,
    };
    return this.#decide(
      now,
      'PROMOTE',
      [...reasons, `now at step ${next + 1}/${set.steps.length}, canary ${weight} %`],
      report,
      source,
      true,
      weight,
    );
  }

  #decide(
    now: number,
    action: Decision['action'],
    reasons: string[],
    report: AnalysisReport | null,
    source: Decision['source'] = 'analysis',
    changed = false,
    weight: number | null = null,
  ): Transition {
    const s = this.#s;
    const dryRun = source === 'analysis' && this.#settings.dryRun && action !== 'CONTINUE' ? true : undefined;
    const summary = `${action}: ${reasons[0] ?? ''}${report?.summary ? ` — ${report.summary}` : ''}`;
    const decision: Decision = {
      at: now,
      action,
      step: s.step,
      canaryWeight: s.canaryWeight,
      reasons,
      report,
      source,
      summary,
      ...(dryRun ? { dryRun } : {}),
    };
    if (action !== 'CONTINUE' || changed) this.#s = { ...this.#s, lastDecision: decision };
    return { decision, weight, changed: changed || action !== 'CONTINUE' };
  }
}

function fmtS(ms: number): string {
  return ms >= 60_000 && ms % 60_000 === 0 ? `${ms / 60_000}m` : `${Math.round(ms / 100) / 10}s`;
}
