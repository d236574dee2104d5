/**
 * The shape of what the analysis engine says. A report is a pure function of window data and config; the
 * rollout controller turns reports into Decisions. Everything needed to reproduce a verdict is in here, so
 * the audit log alone can replay it.
 */
import type { DecisionAction } from '../core/index.js';

export type CheckStatus = 'pass' | 'marginal' | 'fail' | 'nodata';
export type CheckKind = 'slo' | 'comparison' | 'anomaly';

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

export interface ArmSummary {
  requests: number;
  errors: number;
  errorRate: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  /** fault-touched requests, counted apart (left out of the verdict unless configured) */
  faultedRequests: number;
}

export type Verdict = 'pass' | 'fail' | 'inconclusive';

export interface AnalysisReport {
  /** epoch ms the analysis ran at (the caller's clock) */
  at: number;
  /** [from, to) epoch ms of the data judged */
  window: { from: number; to: number };
  verdict: Verdict;
  /** a hard SLO breach was seen with enough evidence: roll back now */
  hardBreach: boolean;
  /** the canary was shown no worse than the margin on every comparison (needed to promote) */
  nonInferior: boolean;
  /** 0..100 Kayenta-style score over the comparison checks, null without data */
  score: number | null;
  checks: CheckResult[];
  arms: { baseline: ArmSummary; canary: ArmSummary };
  /** how many more canary requests a verdict is expected to need, null when a verdict exists */
  moreCanaryRequestsNeeded: number | null;
  reasons: string[];
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
  source: 'analysis' | 'manual' | 'webhook' | 'recovery';
  dryRun?: boolean;
}
