/**
 * Prometheus metrics of the rollout controller and analysis engine, on a registry passed in. Names follow
 * the issue and Flagger's conventions (canary_*): dashboards and alert rules key on them.
 *   canary_decision_total{action}          one per analysis (PROMOTE, CONTINUE, ROLLBACK) and per manual action
 *   canary_rollout_step                    1-based step of the running rollout (0 idle; steps+1 promoted)
 *   canary_rollout_phase{phase}            1 for the current phase, 0 for the others
 *   canary_analysis_check_status{check}    1 pass, 0.5 marginal, 0 fail, -1 no data
 *   canary_analysis_score                  0..100 comparison score of the latest analysis (NaN without data)
 *   anomaly_detection_score{metric,method} latest anomaly score per series (metric = version_series, e.g.
 *                                          canary_p95) and detector, 0..1
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AnalysisReport, CheckStatus, RolloutPhase } from '../analysis/index.js';

const PHASES: readonly RolloutPhase[] = ['idle', 'progressing', 'paused', 'promoted', 'rolledback'];
const CHECK_VALUE: Record<CheckStatus, number> = { pass: 1, marginal: 0.5, fail: 0, nodata: -1 };

export class RolloutMetrics {
  readonly decisions: Counter<'action'>;
  readonly step: Gauge;
  readonly phase: Gauge<'phase'>;
  readonly checkStatus: Gauge<'check'>;
  readonly score: Gauge;
  readonly anomalyScore: Gauge<'metric' | 'method'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.decisions = new Counter({
      name: 'canary_decision_total',
      help: 'Rollout decisions by action (one per analysis, plus manual actions)',
      labelNames: ['action'],
      registers,
    });
    this.step = new Gauge({ name: 'canary_rollout_step', help: 'Current rollout step, 1-based (0 idle, steps+1 promoted)', registers });
    this.phase = new Gauge({
      name: 'canary_rollout_phase',
      help: 'Rollout phase: 1 for the current one',
      labelNames: ['phase'],
      registers,
    });
    this.checkStatus = new Gauge({
      name: 'canary_analysis_check_status',
      help: 'Latest status of each analysis check: 1 pass, 0.5 marginal, 0 fail, -1 no data',
      labelNames: ['check'],
      registers,
    });
    this.score = new Gauge({ name: 'canary_analysis_score', help: 'Comparison score 0..100 of the latest analysis', registers });
    this.anomalyScore = new Gauge({
      name: 'anomaly_detection_score',
      help: 'Latest anomaly score per series and detector, 0..1',
      labelNames: ['metric', 'method'],
      registers,
    });
    for (const a of ['PROMOTE', 'CONTINUE', 'ROLLBACK']) this.decisions.labels(a);
  }

  setPhase(phase: RolloutPhase, step: number, steps: number): void {
    for (const p of PHASES) this.phase.labels(p).set(p === phase ? 1 : 0);
    this.step.set(phase === 'idle' ? 0 : phase === 'promoted' ? steps + 1 : step + 1);
  }

  setReport(report: AnalysisReport): void {
    for (const c of report.checks) this.checkStatus.labels(c.name).set(CHECK_VALUE[c.status]);
    this.score.set(report.score ?? NaN);
  }

  /** The label set is {metric, method}: the version goes into the metric name (canary_p95, baseline_errorRate). */
  setAnomalyScores(scores: ReadonlyArray<{ metric: string; method: string; version: string; score: number }>): void {
    for (const s of scores) this.anomalyScore.labels(`${s.version}_${s.metric}`, s.method).set(s.score);
  }
}
