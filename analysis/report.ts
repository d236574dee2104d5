/**
 * The shape of what the analysis engine says. A report is a pure function of window data and config; the
 * rollout controller turns reports into Decisions. Everything needed to reproduce a verdict is in here, so
 * the audit log alone can replay it.
 */
import type { DecisionAction, VersionSummary, WindowRecord } from '../core/index.js';

export type CheckStatus = 'pass' | 'marginal' | 'fail' | 'nodata';
/** metric: a Prometheus-backed check (rollout.metrics), point-in-time evidence (analysis/metrics/) */
export type CheckKind = 'slo' | 'comparison' | 'anomaly' | 'metric';

export interface CheckResult {
  /** stable name, e.g. "slo.errorRate", "compare.p95", "anomaly.canary.p95" */
  name: string;
  kind: CheckKind;
  status: CheckStatus;
  /** a failing critical check fails the whole analysis on its own */
  critical: boolean;
  /** a failing hard check rolls back at once, without spending failureLimit */
  hard: boolean;
  /** one line a person can read: names the check and its numbers */
  message: string;
  observed?: number | null;
  threshold?: number | null;
  /** free-form statistical record: n per arm, estimates, interval, evidence, boundary crossed */
  stats?: Record<string, number | string | boolean | null>;
}

export type Verdict = 'pass' | 'fail' | 'inconclusive';

/** One metric of the harm bound (analysis/judge/harm.ts): the canary's plausible excess against its limit at the next weight. */
export interface HarmMetric {
  name: 'errorRate' | 'successRate' | 'p95' | 'p99';
  /** 'rate': excess share of requests (p_c − p_b); 'ms': excess milliseconds of the quantile */
  unit: 'rate' | 'ms';
  estimate: number | null;
  /** always-valid upper bound of the excess (null without data) */
  upper: number | null;
  /** the most excess allowed at the next weight: harmBudget × SLO budget (or latency headroom) / next weight */
  limit: number;
  within: boolean;
}

/** May the canary take the next step's share? The harm it could still do there, against the budget. */
export interface HarmBound {
  /** next step's weight as a fraction (1 at the final promotion) */
  nextWeight: number;
  budget: number;
  alpha: number;
  within: boolean;
  metrics: HarmMetric[];
  /** canary requests until every bound fits, if the estimates stay (null: not expected to fit) */
  neededCanaryRequests: number | null;
}

/** What the traffic seen can show: the smallest regression the rollback side would catch at the configured power. */
export interface DetectableEffect {
  check: string;
  /** as a ratio to the baseline (5xx rate, p95), null with too little data */
  ratio: number | null;
  /** excess 5xx share (error rate only) */
  excess: number | null;
  text: string;
}

/** When the next decision is expected, at the current canary request rate. */
export interface DecisionForecast {
  /** canary requests per second at the current weight (null: no traffic measured) */
  canaryRate: number | null;
  /** canary requests until a verdict or the harm bound promotes (null: not expected from this traffic) */
  requests: number | null;
  /** seconds until then (null: unknown) */
  seconds: number | null;
  /** which knob would change it, when the wait is long or open-ended */
  knob: string | null;
}

export interface AnalysisReport {
  /** epoch ms the analysis ran at (the caller's clock) */
  at: number;
  /** [from, to) epoch ms of the data judged */
  window: { from: number; to: number };
  verdict: Verdict;
  /** a hard SLO breach was seen with enough evidence: roll back now */
  hardBreach: boolean;
  /**
   * a critical comparison (rollout.critical, e.g. compare.errorRate) failed: its always-valid evidence
   * crossed the fail boundary, which is sticky — waiting for failureLimit consecutive failures adds no
   * certainty, only canary requests — so the machine rolls back at once (rollout.hardBreach: rollback)
   */
  criticalBreach?: boolean;
  /** the canary was shown no worse than the margin on every comparison (needed to promote) */
  nonInferior: boolean;
  /** 0..100 Kayenta-style score over the comparison checks, null without data */
  score: number | null;
  checks: CheckResult[];
  arms: { baseline: VersionSummary; canary: VersionSummary };
  /**
   * how many more canary requests a verdict is expected to need (an estimate from the current data), null
   * when a verdict exists (fail, or pass with nonInferior)
   */
  moreCanaryRequestsNeeded: number | null;
  reasons: string[];
  /**
   * The step may be promoted on this report: verdict pass and every comparison shown within its promote
   * margin, or (with settings.harm) nothing fails or holds, the latency shift is shown within its margin and
   * the remaining comparisons are bounded by the harm bound. (Timing and minRequests are the machine's.)
   */
  promotable?: boolean;
  /** canary requests in the current step's data (input.stepFrom on); equals arms.canary.requests without it */
  stepCanaryRequests?: number;
  harm?: HarmBound | null;
  mde?: DetectableEffect[];
  forecast?: DecisionForecast;
  /** one line a person can read: where the canary stands and what happens next */
  summary?: string;
}

export interface Decision {
  at: number;
  action: DecisionAction;
  /** the step index after this decision */
  step: number;
  /** the canary weight after this decision */
  canaryWeight: number;
  reasons: string[];
  /** the analysis the decision was made from (null for manual actions) */
  report: AnalysisReport | null;
  /** who decided: the engine, or an operator through the API */
  source: 'analysis' | 'manual' | 'webhook' | 'recovery' | 'ejection';
  dryRun?: boolean;
  /** one line: the action, its first reason and the report's summary */
  summary?: string;
}

// ---- the judge's contract (analysis/judge/): a pure function of window data and settings ----

/** What the judge needs to know, copied from the config's rollout section by the caller (analysis/ never reads config). */
export interface JudgeSettings {
  slo: { maxErrorRate: number; maxP95Ms: number; maxP99Ms: number; minSuccessRate: number };
  /**
   * baseline.maxDegradation, the fail margin δ: the canary is failed (rolled back) only on evidence that it
   * is more than this much worse (0.1 = 10 %)
   */
  maxDegradation: number;
  /**
   * The promote margin δ_k of this step: to leave it the canary must be shown no more than this much worse
   * (non-inferiority). Default maxDegradation; must be ≥ it. The controller scales it with exposure
   * (analysis/rollout/plan.ts promotionMargin: δ·min(cap, W/w_k), δ at the last analysed step). The fail
   * side never uses it, so the false-rollback bound does not depend on it; the rate floors of the promote
   * side scale by the same factor δ_k/δ, capped at the matching SLO limit (never below the fail floor).
   */
  promoteMaxDegradation?: number;
  /** why the promote margin is what it is, for the report's sentences (e.g. "exposure 5 % of 75 %") */
  promoteMarginBasis?: string;
  /**
   * The false-rollback budget of this analysis (the whole test over one step's data, however often it is
   * peeked at). The controller splits rollout.falseRollbackRate over the steps it analyses
   * (analysis/rollout/plan.ts alphaForStep).
   */
  alpha: number;
  /**
   * The false-promotion level of each comparison's non-inferiority test at this step (a canary worse than
   * the promote margin on a comparison is shown within it with probability ≤ this). Default alpha. The
   * controller keeps it at falseRollbackRate / analysed steps whatever rollout.alphaPlan does to the
   * false-rollback budget, so front-loading the rollback budget does not make the final promotions dearer.
   */
  promoteAlpha?: number;
  scoring: { pass: number; marginal: number };
  /** names of checks whose failure fails the analysis on its own */
  critical: readonly string[];
  /** count fault-injected requests in the verdict (WindowRecord.faulted merged into clean) */
  countFaulted: boolean;
  /**
   * Absolute floor of the error-rate margin: a canary 5xx rate under it is never a regression, so the
   * margin is max((1+maxDegradation)·baseline, floor). Default maxDegradation·slo.maxErrorRate.
   */
  errorRateFloor?: number;
  /** The same floor for the non-success (4xx+5xx) share. Default maxDegradation·(1 − slo.minSuccessRate). */
  nonSuccessFloor?: number;
  /**
   * A shared SLO breach (the baseline breaches too) holds the step only while it is still on in this most
   * recent span of the data. Default 60,000 ms.
   */
  sloHoldWindowMs?: number;
  /**
   * The harm bound of this step (rollout.harmBudget): the next step's weight as a fraction (1 for the final
   * promotion), the budget share and the level of the bound. Absent: promotion needs every comparison shown
   * within its promote margin (the rule before the harm bound).
   */
  harm?: { nextWeight: number; budget: number; alpha: number };
  /**
   * With evidence carried across steps, the weights of the error tests' fail-side e-process: rollout start,
   * the current step's start, steps not started yet (analysis/judge/error-rate.ts FailMix; the controller
   * gets them from analysis/rollout/plan.ts failMix). Default {1, 0, 0}.
   */
  failMix?: { rollout: number; step: number; rest: number };
  /** power (1 − β) at which the minimum detectable effect is reported; default 0.8 */
  power?: number;
}

export interface JudgeInput {
  /** epoch ms the analysis runs at */
  at: number;
  /** epoch ms the data starts at (the start of the current step) */
  from: number;
  /** windows of each version in [from, at), oldest first */
  baseline: readonly WindowRecord[];
  canary: readonly WindowRecord[];
  /**
   * Checks from the anomaly monitor (kind 'anomaly'), merged into the report: status 'fail' counts against
   * the canary; 'marginal' holds the step (blocks promotion, spends no failure budget).
   */
  anomalies?: readonly CheckResult[];
  /** epoch ms the current step's data starts at when `from` is the rollout's start (evidence carried across steps) */
  stepFrom?: number;
  /** canary requests per second at the current weight, for the report's time estimates */
  canaryRate?: number | null;
  /**
   * Prometheus-backed checks (kind 'metric', analysis/metrics/), merged into the report and the score:
   * 'fail' counts against the canary (on its own when critical); 'marginal' and 'nodata' hold the step.
   */
  metrics?: readonly CheckResult[];
}

export type Judge = (input: JudgeInput, settings: JudgeSettings) => AnalysisReport;
