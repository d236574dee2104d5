/**
 * The rollout controller: the impure shell around the pure pieces. On its timer (rollout.analysisInterval)
 * it reads the current step's windows from the metric source, feeds the anomaly monitor, asks the judge for
 * a report, lets the state machine decide, applies the weight through TrafficControl (synchronously: a
 * rollback is at weight 0 before the next request is routed), persists the state, records the decision,
 * publishes events, sets metrics and calls webhooks. Operator commands go through the same path.
 *
 * Decisions: data from before the step started (or before this process started, after a restart) is never
 * judged: a step's verdict is about traffic at that step's weight only.
 */
import type { DecisionSummary, RolloutStatus } from '../contract/index.js';
import {
  CanarydError,
  VERSION_NAMES,
  type Clock,
  type Log,
  type MetricSource,
  type TrafficRouting,
  type WindowRecord,
} from '../core/index.js';
import {
  RolloutMachine,
  initialRolloutState,
  planRollout,
  type RolloutPlanForecast,
  type AnalysisReport,
  type CheckResult,
  type Decision,
  type GateStatus,
  type Judge,
  type RolloutState,
  type Transition,
} from '../analysis/index.js';
import { RolloutAudit, type AuditStore } from './audit.js';
import { RolloutMetrics } from './metrics.js';
import { judgeSettings, machineSettings, type RolloutConfig } from './settings.js';
import { WebhookRunner } from './webhooks.js';
import type { MetricCheckFeed } from './prometheus.js';

/** Test-only: kill -9 this process right after the state of a decision with this action is saved. */
const CRASH_BETWEEN_STATE_AND_WEIGHT = process.env.CANARYD_TEST_CRASH_AFTER_STATE || undefined;

/** What the controller needs of the anomaly monitor (analysis/anomaly's AnomalyMonitor): fed windows, it returns checks. */
export interface AnomalyFeed {
  observe(tick: { at: number; baseline: readonly WindowRecord[]; canary: readonly WindowRecord[]; canaryWeight: number }): CheckResult[];
  scores(): ReadonlyArray<{ metric: string; method: string; version: string; score: number }>;
  reset(): void;
}

export interface RolloutControllerOptions {
  config: RolloutConfig;
  judge: Judge;
  /** builds the anomaly monitor for a rollout config (rebuilt when rollout.anomaly changes); null: none */
  anomaly?: ((config: RolloutConfig) => AnomalyFeed) | null;
  /** Prometheus-backed checks (rollout.metrics, controller/prometheus.ts), polled each tick; null: none */
  metricChecks?: MetricCheckFeed | null;
  source: MetricSource;
  traffic: TrafficRouting;
  store: AuditStore;
  metrics: RolloutMetrics;
  events: { publish(e: { type: string; [k: string]: unknown }): unknown };
  log: Log;
  clock: Clock;
  /** version labels for webhook texts */
  versions: () => { baseline: string; canary: string };
  /** routing.keepPinnedOnRollback (read at each rollback, so a reload applies) */
  keepPinnedOnRollback?: () => boolean;
}

interface ConfirmGate {
  key: string;
  status: 'pending' | 'approved' | 'refused';
  at: number;
  reason?: string;
}

export class RolloutController {
  readonly machine: RolloutMachine;
  readonly webhooks: WebhookRunner;
  readonly audit: RolloutAudit;
  #o: RolloutControllerOptions;
  #config: RolloutConfig;
  #timer: NodeJS.Timeout | null = null;
  #report: AnalysisReport | null = null;
  #latest: Decision | null = null;
  /** no data before this instant is judged (process start, rollout start) */
  #dataFrom: number;
  #anomaly: AnomalyFeed | null;
  #anomalyFedTo = 0;
  #confirm: ConfirmGate | null = null;
  #starting = false;
  /** what the router was last told about the canary pins (the machine's state is the owner) */
  #pinsApplied = false;

  constructor(o: RolloutControllerOptions) {
    this.#o = o;
    this.#config = o.config;
    this.audit = new RolloutAudit(o.store);
    this.webhooks = new WebhookRunner(o.config.webhooks, o.log);
    this.#dataFrom = o.clock.now();
    this.#anomalyFedTo = this.#dataFrom;
    this.#anomaly = o.anomaly ? o.anomaly(o.config) : null;
    const saved = this.audit.loadState();
    this.machine = new RolloutMachine(
      machineSettings(o.config, o.keepPinnedOnRollback?.() ?? false),
      saved ?? initialRolloutState(o.traffic.weight().canary),
    );
    if (saved?.pinsSuspended === true) {
      o.traffic.setPinsSuspended(true, 'restored from state.dir', { restored: true });
      this.#pinsApplied = true;
    }
    const ended =
      saved && !this.machine.active && o.traffic.weight().owner === 'rollout' && o.traffic.weight().canary !== saved.canaryWeight;
    if (ended) {
      // a crash after an ending decision was saved and before its weight moved: apply the ending's weight
      o.traffic.setWeight('rollout', saved.canaryWeight, `rollout ${saved.id} ${saved.phase}: weight recovered`);
    } else if (saved && this.machine.active) {
      // kill -9 recovery: the same step and weight as before; the step's clock keeps running.
      o.traffic.setWeight('rollout', saved.canaryWeight, `rollout recovered at step ${saved.step + 1}`);
      this.audit.event(
        this.#dataFrom,
        'recovery',
        `rollout ${saved.id} resumed ${saved.phase} at step ${saved.step + 1}, canary ${saved.canaryWeight} %`,
        { rolloutId: saved.id, step: saved.step, canaryWeight: saved.canaryWeight },
      );
      o.log.info(
        { event: 'rollout_recovered', rolloutId: saved.id, phase: saved.phase, step: saved.step, canaryWeight: saved.canaryWeight },
        'rollout state restored from state.dir',
      );
    }
    this.#publishPhase();
  }

  get config(): RolloutConfig {
    return this.#config;
  }

  /** Starts the analysis timer (and an automatic rollout when rollout.autoStart and none is recorded). */
  run(): void {
    this.#schedule();
    if (this.#config.autoStart && this.machine.state.id === 0) this.#autoStart();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.webhooks.settle();
  }

  configure(config: RolloutConfig): void {
    const anomalyChanged =
      JSON.stringify([config.anomaly, config.baseline, config.countFaulted]) !==
      JSON.stringify([this.#config.anomaly, this.#config.baseline, this.#config.countFaulted]);
    this.#config = config;
    if (anomalyChanged && this.#o.anomaly) {
      // new detector settings: a fresh monitor, fed from now on (its warm-up holds nothing)
      this.#anomaly = this.#o.anomaly(config);
      this.#anomalyFedTo = this.#o.clock.now();
    }
    this.machine.configure(machineSettings(config, this.#o.keepPinnedOnRollback?.() ?? false));
    this.webhooks.configure(config.webhooks);
    if (this.#timer) this.#schedule();
  }

  /** True while a rollout owns the weight (manual weight changes are refused then). */
  get active(): boolean {
    return this.machine.active;
  }

  latestReport(): AnalysisReport | null {
    return this.#report;
  }

  status(): RolloutStatus {
    const s = this.machine.state;
    const r = this.#report;
    return {
      phase: s.phase,
      id: s.id,
      step: s.step,
      steps: this.#config.steps,
      canaryWeight: this.#o.traffic.weight().canary,
      dryRun: this.#config.dryRun,
      failures: s.failures,
      failureLimit: this.#config.failureLimit,
      reason: s.reason,
      startedAt: s.startedAt,
      stepStartedAt: s.stepStartedAt,
      stepDeadlineAt: s.stepDeadlineAt,
      endedAt: s.endedAt,
      verdict: r?.verdict ?? null,
      score: r?.score ?? null,
      moreCanaryRequestsNeeded: r?.moreCanaryRequestsNeeded ?? null,
      summary: r?.summary ?? null,
      forecast: r?.forecast ?? null,
      mde: r?.mde ?? null,
      harm: r?.harm ?? null,
      evidence: this.#config.evidence,
      maxStepPolicy: this.#config.maxStepPolicy,
      pinsSuspended: s.pinsSuspended === true,
      suspendedPins: s.pinsSuspended === true ? this.#o.traffic.canaryPins() : [],
      confirmGate: this.#confirm?.status ?? null,
      lastDecision: summary(this.#latest ?? s.lastDecision),
    };
  }

  /**
   * Takes the state another replica's controller wrote (fleet mode): the machine, its metrics and events
   * follow; the weight is applied by the caller from the shared weights. Nothing is judged or audited.
   */
  adopt(state: RolloutState): void {
    const before = this.machine.state;
    this.machine.restore(state);
    if (state.stepStartedAt !== before.stepStartedAt || state.id !== before.id) {
      // a new step or rollout elsewhere: the anomaly monitor and confirm gate start over here too
      this.#anomaly?.reset();
      this.#confirm = null;
    }
    this.#latest = state.lastDecision;
    this.#publishPhase();
  }

  // ---- the analysis tick ----

  /** One analysis now. Public so tests can drive it with a ManualClock instead of the timer. */
  tick(): Transition | null {
    if (!this.machine.active) return null;
    const now = this.#o.clock.now();
    const s = this.machine.state;
    const win = this.#o.source.windowMs;
    // judge whole windows at the step's weight only: the window holding the step change is left out
    const stepFrom = Math.ceil(Math.max(s.stepStartedAt ?? now, this.#dataFrom) / win) * win;
    // rollout.evidence: rollout carries the evidence across steps (the canary build does not change)
    const evidenceStart = this.#config.evidence === 'rollout' ? (s.startedAt ?? s.stepStartedAt ?? now) : (s.stepStartedAt ?? now);
    const from = Math.min(stepFrom, Math.ceil(Math.max(evidenceStart, this.#dataFrom) / win) * win);
    const baseline = this.#o.source.windows('baseline', from, now);
    const canary = this.#o.source.windows('canary', from, now);
    const anomalies = this.#feedAnomaly(now);
    const metrics = this.#o.metricChecks?.poll(now, Math.max(s.stepStartedAt ?? now, this.#dataFrom));
    let report: AnalysisReport;
    try {
      // the step's own promote margin and harm bound (analysis/rollout/plan.ts); the fail side's α
      report = this.#o.judge(
        {
          at: now,
          from,
          stepFrom,
          baseline,
          canary,
          anomalies,
          canaryRate: canaryRate(canary, stepFrom, now),
          ...(metrics?.length ? { metrics } : {}),
        },
        judgeSettings(this.#config, s.step),
      );
    } catch (e) {
      this.#o.log.error({ err: e }, 'analysis failed; holding the step');
      return null;
    }
    this.#report = report;
    this.#o.metrics.setReport(report);
    const t = this.machine.evaluate(now, report, this.#gateForFinal());
    if (t.awaitingConfirmation) this.#runConfirmGate(now);
    this.#apply(t);
    return t;
  }

  /**
   * What the traffic can show before a start (POST /api/v1/rollout/plan): the traffic of the last minute
   * (or the rates given), the configured steps, the forecast of analysis/rollout/forecast.ts.
   */
  plan(
    given: { rate?: number; errorRate?: number; nonSuccessRate?: number } = {},
  ): RolloutPlanForecast & { measured: { rate: number; errorRate: number | null; nonSuccessRate: number | null; seconds: number } } {
    const now = this.#o.clock.now();
    const win = this.#o.source.windowMs;
    const to = Math.floor(now / win) * win;
    const from = to - 60_000;
    let n = 0;
    let e = 0;
    let u = 0;
    let first = Infinity;
    for (const v of VERSION_NAMES) {
      for (const w of this.#o.source.windows(v, from, to)) {
        const c = w.clean;
        n += c.requests;
        e += Math.max(c.statusClass[4], c.gatewayErrors);
        u += c.requests - c.statusClass[0] - c.statusClass[1] - c.statusClass[2];
        first = Math.min(first, w.start);
      }
    }
    const seconds = Number.isFinite(first) ? Math.max(1, (to - first) / 1000) : 0;
    const measured = {
      rate: seconds > 0 ? n / seconds : 0,
      errorRate: n > 0 ? e / n : null,
      nonSuccessRate: n > 0 ? u / n : null,
      seconds,
    };
    const c = this.#config;
    const forecast = planRollout({
      rate: given.rate ?? measured.rate,
      errorRate: given.errorRate ?? measured.errorRate ?? 0,
      nonSuccessRate: given.nonSuccessRate ?? measured.nonSuccessRate ?? given.errorRate ?? measured.errorRate ?? 0,
      steps: c.steps,
      intervalS: c.interval / 1000,
      minRequests: c.minRequests,
      maxStepS: c.maxStepDuration / 1000,
      maxStepPolicy: c.maxStepPolicy,
      harmBudget: c.harmBudget,
      finalHarmBudget: c.finalHarmBudget,
      falsePromotionRate: c.falsePromotionRate,
      falseRollbackRate: c.falseRollbackRate,
      maxDegradation: c.baseline.maxDegradation,
      power: c.power,
      slo: { maxErrorRate: c.slo.maxErrorRate, minSuccessRate: c.slo.minSuccessRate },
    });
    return { ...forecast, measured };
  }

  // ---- operator commands (admin API, CLI, dashboard) ----

  async start(reason = 'rollout started by an operator'): Promise<RolloutStatus> {
    return this.#startVia(() => this.machine.start(this.#o.clock.now(), reason));
  }

  async retry(): Promise<RolloutStatus> {
    const phase = this.machine.state.phase;
    if (phase !== 'rolledback')
      throw new CanarydError('CANARYD_ERR_CONFLICT', `retry restarts a rolled-back rollout; this one is ${phase}`);
    return this.#startVia(() => this.machine.retry(this.#o.clock.now()));
  }

  pause(reason?: string): RolloutStatus {
    this.#apply(this.machine.pause(this.#o.clock.now(), reason ? `paused by an operator: ${reason}` : undefined));
    this.audit.event(this.#o.clock.now(), 'pause', this.machine.state.reason ?? 'paused', {
      rolloutId: this.machine.state.id,
      step: this.machine.state.step,
    });
    return this.status();
  }

  resume(): RolloutStatus {
    this.#apply(this.machine.resume(this.#o.clock.now()));
    this.audit.event(this.#o.clock.now(), 'resume', 'resumed by an operator', {
      rolloutId: this.machine.state.id,
      step: this.machine.state.step,
    });
    return this.status();
  }

  promote(opts: { full?: boolean; reason?: string } = {}): RolloutStatus {
    this.#apply(
      this.machine.promote(this.#o.clock.now(), {
        full: opts.full,
        reason: opts.reason ? `promoted by an operator: ${opts.reason}` : undefined,
      }),
    );
    return this.status();
  }

  rollback(reason?: string): RolloutStatus {
    this.#apply(this.machine.rollback(this.#o.clock.now(), reason ? `rolled back by an operator: ${reason}` : undefined));
    return this.status();
  }

  /** A rollback an incoming alert asked for (POST /api/v1/alerts, rollout.abortOn): source 'webhook', the alert in the reason. */
  rollbackOnAlert(reason: string, alert: Record<string, unknown>): RolloutStatus {
    const now = this.#o.clock.now();
    this.#apply(this.machine.rollback(now, reason, 'webhook'));
    this.audit.event(now, 'alert-rollback', reason, { rolloutId: this.machine.state.id, alert });
    return this.status();
  }

  /**
   * The canary's upstream was ejected by outlier detection (proxy/outlier): it is a hard failure of the step,
   * whatever the failure budget, since the analysis would see no canary traffic while the ejection lasts and
   * hold (missing data holds). Rolled back at once, source 'ejection'; in a dry run the would-be rollback is
   * recorded as a decision and nothing moves. Null when no rollout is progressing or paused.
   */
  rollbackOnEjection(reason: string, detail: Record<string, unknown>): RolloutStatus | null {
    if (!this.machine.active) return null;
    const now = this.#o.clock.now();
    const why = `canary upstream ejected: ${reason}`;
    if (this.#config.dryRun) {
      const s = this.machine.state;
      this.#o.log.warn(
        { event: 'decision', action: 'ROLLBACK', source: 'ejection', dryRun: true, rolloutId: s.id, step: s.step, reasons: [why] },
        `[dry run] ROLLBACK: ${why}`,
      );
      this.audit.event(now, 'ejection', `[dry run] ${why}`, { rolloutId: s.id, step: s.step, ...detail });
      return this.status();
    }
    this.#apply(this.machine.rollback(now, why, 'ejection'));
    this.audit.event(now, 'ejection-rollback', why, { rolloutId: this.machine.state.id, ...detail });
    return this.status();
  }

  // ---- internals ----

  async #startVia(begin: () => Transition): Promise<RolloutStatus> {
    if (this.machine.active) begin(); // the machine throws the 409 naming the running phase
    if (this.#starting) throw new CanarydError('CANARYD_ERR_CONFLICT', 'a rollout start is already waiting for its pre-rollout gates');
    this.#starting = true;
    try {
      if (this.webhooks.has('pre-rollout')) {
        const g = await this.webhooks.gate('pre-rollout', this.#payload('pre-rollout gate', []));
        if (!g.approved) {
          this.audit.event(this.#o.clock.now(), 'gate-refused', g.reason, { gate: 'pre-rollout', results: g.results });
          this.#o.events.publish({ type: 'rollout', action: 'gate-refused', gate: 'pre-rollout', reason: g.reason });
          throw new CanarydError('CANARYD_ERR_GATE_REFUSED', g.reason, { details: g.results });
        }
      }
      const t = begin();
      this.#dataFrom = this.#o.clock.now();
      this.#anomalyFedTo = this.#dataFrom;
      this.#anomaly?.reset();
      this.#o.metricChecks?.reset();
      this.#confirm = null;
      this.#apply(t);
      return this.status();
    } finally {
      this.#starting = false;
    }
  }

  #autoStart(): void {
    this.start('rollout started automatically (rollout.autoStart)').catch((e: unknown) => {
      const retryIn = Math.max(this.#config.interval, 5_000);
      this.#o.log.warn(
        { event: 'autostart_held', err: (e as Error).message, retryInMs: retryIn },
        `automatic rollout start held: ${(e as Error).message}`,
      );
      if ((e as CanarydError).code === 'CANARYD_ERR_GATE_REFUSED' && this.#timer !== null)
        setTimeout(() => this.machine.state.id === 0 && this.#autoStart(), retryIn).unref();
    });
  }

  #apply(t: Transition): void {
    const before = this.machine.state;
    // the state is on disk BEFORE the weight moves: a crash in between restarts at the new state, whose
    // weight recovery applies (a ROLLBACK stays rolled back); the other order resumed the old step's weight
    if (t.changed) {
      try {
        this.audit.saveState(this.machine.state);
      } catch (e) {
        this.#o.log.error({ err: e }, 'cannot persist rollout state');
      }
      if (CRASH_BETWEEN_STATE_AND_WEIGHT !== undefined && t.decision?.action === CRASH_BETWEEN_STATE_AND_WEIGHT)
        process.kill(process.pid, 'SIGKILL');
    }
    if (t.weight !== null)
      this.#o.traffic.setWeight('rollout', t.weight, `${t.decision?.action ?? 'change'}: ${t.decision?.reasons[0] ?? ''}`);
    // in the same synchronous turn as the weight: the next request routed sees both
    if (this.#pinsApplied !== (this.machine.state.pinsSuspended === true))
      this.#applyPins(this.machine.state.pinsSuspended === true, t.decision?.reasons[0] ?? 'operator');
    const d = t.decision;
    let notified = false;
    if (d !== null) {
      this.#latest = d;
      this.#o.metrics.decisions.labels(d.action).inc();
      if (this.audit.decision(d, before.id, this.#config.interval)) notified = this.#recorded(d);
    }
    if (t.changed) {
      this.#publishPhase();
      // a phase change that no decision announced (start, pause, resume...): `event` webhooks' "phase" topic
      const s = this.machine.state;
      if (!notified && s.phase !== before.phase)
        this.webhooks.notify('event', this.#payload(`rollout ${s.phase}`, s.reason ? [s.reason] : []), 'phase');
    }
  }

  /** The traffic state applies, audits and announces the suspension; this remembers what it was told. */
  #applyPins(suspended: boolean, why: string): void {
    this.#pinsApplied = suspended;
    this.#o.traffic.setPinsSuspended(suspended, why);
  }

  /** Operator command: re-enable (false) or suspend (true) the rules and flags that send traffic to the canary. */
  setPinsSuspended(suspended: boolean): RolloutStatus {
    this.#apply(this.machine.setPinsSuspended(suspended));
    return this.status();
  }

  /** Logs, publishes and notifies a decision; true when the notification announced a phase change or rollback. */
  #recorded(d: Decision): boolean {
    const s = this.machine.state;
    this.#o.log[d.action === 'ROLLBACK' ? 'warn' : 'info'](
      {
        event: 'decision',
        action: d.action,
        source: d.source,
        dryRun: d.dryRun,
        rolloutId: s.id,
        step: d.step,
        canaryWeight: d.canaryWeight,
        reasons: d.reasons,
      },
      `${d.dryRun ? '[dry run] ' : ''}${d.action}: ${d.reasons[0] ?? ''}`,
    );
    this.#o.events.publish({ type: 'decision', decision: summary(d), rolloutId: s.id, phase: s.phase });
    const payload = this.#payload(`${d.dryRun ? '[dry run] ' : ''}${d.action}`, d.reasons);
    if (d.action === 'ROLLBACK' && !d.dryRun) this.webhooks.notify('rollback', payload);
    else if (s.phase === 'promoted' && d.action === 'PROMOTE') this.webhooks.notify('post-rollout', payload);
    else if (d.action === 'PROMOTE' && !d.dryRun)
      this.webhooks.notify('event', payload, 'phase'); // a step up
    else {
      this.webhooks.notify('event', payload, 'decision'); // CONTINUE, HOLD...: only to webhooks that ask for every decision
      return false;
    }
    return true;
  }

  #payload(what: string, reasons: string[]): { text: string; [k: string]: unknown } {
    const s = this.machine.state;
    const v = this.#o.versions();
    const where =
      s.phase === 'promoted' ? 'canary at 100 %' : `step ${s.step + 1}/${this.#config.steps.length}, canary ${s.canaryWeight} %`;
    return {
      text: `canaryd: ${what} — ${v.canary} vs ${v.baseline} (rollout ${s.id}, ${where})${reasons[0] ? `: ${reasons[0]}` : ''}`,
      phase: s.phase,
      rolloutId: s.id,
      step: s.step,
      canaryWeight: s.canaryWeight,
      reasons,
      versions: v,
    };
  }

  #publishPhase(): void {
    const s = this.machine.state;
    this.#o.metrics.setPhase(s.phase, s.step, this.#config.steps.length);
    this.#o.events.publish({
      type: 'rollout',
      phase: s.phase,
      rolloutId: s.id,
      step: s.step,
      canaryWeight: s.canaryWeight,
      reason: s.reason,
    });
  }

  /** Feeds the monitor the windows completed since the last tick (it aggregates them into points). */
  #feedAnomaly(now: number): CheckResult[] | undefined {
    const a = this.#anomaly;
    if (!a || !this.#config.anomaly.enabled) return undefined;
    const win = this.#o.source.windowMs;
    const to = Math.floor(now / win) * win; // completed windows only
    const from = this.#anomalyFedTo;
    const [baseline, canary] =
      to > from ? VERSION_NAMES.map((v) => this.#o.source.windows(v, from, to).filter((w) => w.start >= from)) : [[], []];
    this.#anomalyFedTo = Math.max(from, to);
    const checks = a.observe({ at: now, baseline, canary, canaryWeight: this.#o.traffic.weight().canary });
    if (to > from) this.#o.metrics.setAnomalyScores(a.scores());
    return checks;
  }

  #gateForFinal(): GateStatus {
    if (!this.machine.nextIsFinal || !this.webhooks.has('confirm-promotion')) return 'none';
    const c = this.#confirm;
    return c !== null && c.key === this.#gateKey() ? c.status : 'pending';
  }

  #gateKey(): string {
    return `${this.machine.state.id}:${this.machine.state.step}`;
  }

  #runConfirmGate(now: number): void {
    const key = this.#gateKey();
    const c = this.#confirm;
    const recheckMs = Math.max(5_000, Math.min(this.#config.interval, 60_000));
    if (c !== null && c.key === key && (c.status !== 'refused' || now - c.at < recheckMs)) return;
    this.#confirm = { key, status: 'pending', at: now };
    void this.webhooks.gate('confirm-promotion', this.#payload('confirm-promotion gate', [])).then((g) => {
      if (this.#confirm?.key !== key) return;
      this.#confirm = { key, status: g.approved ? 'approved' : 'refused', at: this.#o.clock.now(), reason: g.reason };
      if (!g.approved) {
        this.audit.event(this.#o.clock.now(), 'gate-refused', g.reason, { gate: 'confirm-promotion', results: g.results });
        this.#o.events.publish({ type: 'rollout', action: 'gate-refused', gate: 'confirm-promotion', reason: g.reason });
      }
    });
  }

  #schedule(): void {
    if (this.#timer) clearTimeout(this.#timer);
    const loop = () => {
      try {
        this.tick();
      } catch (e) {
        this.#o.log.error({ err: e }, 'rollout tick failed');
      }
      this.#timer = setTimeout(loop, this.#config.analysisInterval);
    };
    this.#timer = setTimeout(loop, this.#config.analysisInterval);
  }
}

function summary(d: Decision | null): DecisionSummary | null {
  if (d === null) return null;
  return {
    at: d.at,
    action: d.action,
    step: d.step,
    canaryWeight: d.canaryWeight,
    reasons: d.reasons,
    summary: d.summary ?? null,
    source: d.source,
    ...(d.dryRun ? { dryRun: true } : {}),
    verdict: d.report?.verdict ?? null,
  };
}

/** Canary requests per second over the step's last 10 s of whole windows (null before a whole window). */
function canaryRate(canary: readonly WindowRecord[], stepFrom: number, now: number): number | null {
  const from = Math.max(stepFrom, now - 10_000);
  let n = 0;
  let first = Infinity;
  let last = -Infinity;
  for (const w of canary) {
    if (w.start < from || w.start + w.durationMs > now) continue;
    n += w.clean.requests + w.faulted.requests;
    first = Math.min(first, w.start);
    last = Math.max(last, w.start + w.durationMs);
  }
  return last > first ? (n * 1000) / (last - first) : null;
}
