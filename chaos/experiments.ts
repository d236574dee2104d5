/**
 * Chaos experiments: a named sequence of steps, each a set of fault rules held for a duration, with a
 * health check before the first step and after each one (an HTTP GET that must answer 2xx — or a given
 * status — and/or the step's client-seen error rate under a bound); a failed check aborts the experiment,
 * as a Chaos Mesh workflow's status check does. Each step's availability and p50/p95/p99 are measured while
 * it runs and judged against the success criterion (experiment-report.ts).
 *
 * One experiment runs at a time. Its rules are ordinary engine rules (source "experiment") so every safety
 * switch applies: the kill switch, auto-disable and a config that turns faults off abort it. Reports are
 * kept in state.dir (experiments.json, the last 50); one that was running when canaryd stopped is marked
 * "interrupted" on the next start. Step timers are the only timers, one at a time, cleared on stop.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { randomBytes } from 'node:crypto';
import { CanarydError } from '../core/index.js';
import type { FaultEngine, FaultEventSink, FaultLog, FaultStore, FaultRuleSpec } from '../proxy/index.js';
import {
  judgeStep,
  StepMeter,
  verdictOf,
  type ExperimentReport,
  type ExperimentState,
  type HealthResult,
  type Measured,
  type SuccessCriterion,
  type Target,
} from './report.js';
import { durationOf, specOf, type RuleBody } from './rule-body.js';

export const EXPERIMENTS_FILE = 'experiments.json';
const KEEP = 50;

export interface ExperimentSpec {
  name: string;
  description?: string;
  target?: Target;
  steps: Array<{ name: string; duration: string | number; rules: Array<Omit<RuleBody, 'name'> & { name?: string }> }>;
  healthCheck?: { url?: string; timeout?: string | number; expectStatus?: number; maxErrorRate?: number };
  successCriterion?: Partial<SuccessCriterion>;
}

export type HealthProbe = (url: string, timeoutMs: number) => Promise<{ status: number }>;

/** GET without keep-alive (nothing lingers after the check), bounded by the timeout. */
export const httpProbe: HealthProbe = (url, timeoutMs) =>
  new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(
      u,
      { method: 'GET', agent: false, headers: { connection: 'close', 'user-agent': 'canaryd-experiment' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });

interface Plan {
  steps: Array<{ name: string; durationMs: number; rules: FaultRuleSpec[] }>;
  timeoutMs: number;
}

interface Running {
  report: ExperimentReport;
  spec: ExperimentSpec;
  plan: Plan;
  step: number;
  timer: NodeJS.Timeout | null;
  meter: StepMeter | null;
  gen: number;
}

export class ExperimentRunner {
  #engine: FaultEngine;
  #store: FaultStore;
  #log: FaultLog;
  #events: FaultEventSink | undefined;
  #probe: HealthProbe;
  #reports: ExperimentReport[];
  #running: Running | null = null;
  #gen = 0;

  constructor(o: { engine: FaultEngine; store: FaultStore; log: FaultLog; events?: FaultEventSink; probe?: HealthProbe }) {
    this.#engine = o.engine;
    this.#store = o.store;
    this.#log = o.log;
    this.#events = o.events;
    this.#probe = o.probe ?? httpProbe;
    const saved = this.#store.readJson<{ experiments?: ExperimentReport[] }>(EXPERIMENTS_FILE);
    this.#reports = Array.isArray(saved?.experiments) ? saved.experiments : [];
    let interrupted = false;
    for (const r of this.#reports) {
      if (r.state !== 'running') continue;
      r.state = 'interrupted';
      r.reason = 'canaryd stopped while the experiment ran';
      r.endedAt ??= this.#engine.now();
      for (const s of r.steps) if (s.state === 'running' || s.state === 'pending') s.state = s.state === 'running' ? 'stopped' : 'skipped';
      r.verdict = verdictOf(r);
      interrupted = true;
    }
    if (interrupted) this.#persist();
    this.#engine.setObservationTap((obs) => this.#running?.meter?.add(obs));
    this.#engine.onHalt((reason) => {
      if (this.#running) this.#endEarly('aborted', reason);
    });
  }

  get running(): ExperimentReport | null {
    return this.#running?.report ?? null;
  }

  list(): Array<Pick<ExperimentReport, 'id' | 'name' | 'state' | 'verdict' | 'startedAt' | 'endedAt' | 'reason'> & { steps: number }> {
    return [...this.#reports].reverse().map((r) => ({
      id: r.id,
      name: r.name,
      state: r.state,
      verdict: r.verdict,
      startedAt: r.startedAt,
      endedAt: r.endedAt,
      reason: r.reason,
      steps: r.steps.length,
    }));
  }

  get(id: string): ExperimentReport {
    const r = this.#reports.find((x) => x.id === id);
    if (!r) throw new CanarydError('CANARYD_ERR_NOT_FOUND', `no experiment ${JSON.stringify(id)}`);
    return structuredClone(r);
  }

  start(spec: ExperimentSpec): ExperimentReport {
    if (this.#running)
      throw new CanarydError(
        'CANARYD_ERR_CONFLICT',
        `experiment ${this.#running.report.id} (${this.#running.report.name}) is running; stop it first`,
      );
    this.#engine.assertArmable();
    const now = this.#engine.now();
    const id = `exp-${now.toString(36)}-${randomBytes(2).toString('hex')}`;
    const plan = this.#plan(spec, id);
    const c = spec.successCriterion ?? {};
    const report: ExperimentReport = {
      id,
      name: spec.name,
      ...(spec.description !== undefined ? { description: spec.description } : {}),
      target: spec.target ?? 'all',
      state: 'running',
      verdict: null,
      startedAt: now,
      successCriterion: {
        minSuccessRate: c.minSuccessRate ?? 0.95,
        minRequests: c.minRequests ?? 10,
        ...(c.maxP95Ms !== undefined ? { maxP95Ms: c.maxP95Ms } : {}),
        ...(c.maxP99Ms !== undefined ? { maxP99Ms: c.maxP99Ms } : {}),
      },
      ...(spec.healthCheck !== undefined ? { healthCheck: spec.healthCheck } : {}),
      steps: plan.steps.map((s, i) => {
        const degraded = [...new Set(s.rules.flatMap((r) => (r.match?.dependency !== undefined ? [r.match.dependency] : [])))];
        return {
          index: i,
          name: s.name,
          state: 'pending' as const,
          durationMs: s.durationMs,
          rules: s.rules.map((r) => r.name),
          ...(degraded.length > 0 ? { dependencies: degraded } : {}),
        };
      }),
    };
    this.#reports.push(report);
    if (this.#reports.length > KEEP) this.#reports.splice(0, this.#reports.length - KEEP);
    const run: Running = { report, spec, plan, step: -1, timer: null, meter: null, gen: ++this.#gen };
    this.#running = run;
    this.#persist();
    this.#log.info({ event: 'experiment_started', id, name: spec.name, steps: plan.steps.length }, `chaos experiment ${spec.name} started`);
    this.#publish('started', report);
    if (spec.healthCheck?.url !== undefined) {
      void this.#check(run, undefined).then((h) => {
        if (this.#running !== run || run.gen !== this.#gen) return;
        report.precheck = h;
        if (!h.ok) this.#finish('aborted', `health check before the first step failed: ${h.detail}`);
        else this.#runStep(0);
      });
    } else this.#runStep(0);
    return structuredClone(report);
  }

  #plan(spec: ExperimentSpec, id: string): Plan {
    const steps = spec.steps.map((s, i) => {
      const where = `body.steps[${i}]`;
      const durationMs = durationOf(s.duration, where)!;
      const names = new Set<string>();
      const rules = s.rules.map((r, j) => {
        const local =
          r.name ??
          `${Object.keys(r).find((k) => !['match', 'probability', 'enabled', 'description', 'duration', 'name'].includes(k)) ?? 'fault'}-${j}`;
        if (names.has(local))
          throw new CanarydError(
            'CANARYD_ERR_BAD_REQUEST',
            `${where}.rules[${j}].name: duplicate rule name ${JSON.stringify(local)} in this step`,
          );
        names.add(local);
        const spec = specOf({ ...r, name: local } as RuleBody, `${where}.rules[${j}]`);
        this.#engine.checkDependency(spec, `${where}.rules[${j}]`);
        return { ...spec, name: `${id}.${i}.${local}`, enabled: true };
      });
      return { name: s.name, durationMs, rules };
    });
    return { steps, timeoutMs: durationOf(spec.healthCheck?.timeout ?? 2000, 'body.healthCheck') ?? 2000 };
  }

  #runStep(i: number): void {
    const run = this.#running!;
    const step = run.report.steps[i];
    run.step = i;
    step.state = 'running';
    step.startedAt = this.#engine.now();
    this.#engine.rules.addExperimentRules(run.report.id, run.plan.steps[i].rules, { step: step.name, rules: step.rules });
    run.meter = new StepMeter();
    this.#engine.setObserving(true);
    run.timer = setTimeout(() => this.#endStep(run), run.plan.steps[i].durationMs);
    this.#persist();
    this.#publish('step', run.report);
  }

  /** Closes the running step: rules off, numbers measured and judged. */
  #closeStep(run: Running, state: 'done' | 'stopped'): void {
    if (run.timer !== null) clearTimeout(run.timer);
    run.timer = null;
    const step = run.report.steps[run.step];
    if (!step || step.state !== 'running') return;
    this.#engine.rules.removeExperimentRules(run.report.id, { step: step.name });
    step.state = state;
    step.endedAt = this.#engine.now();
    step.measured = run.meter!.report(run.report.target);
    step.criterion = judgeStep(step.measured, run.report.successCriterion);
    run.meter = null;
    this.#engine.setObserving(false);
  }

  #endStep(run: Running): void {
    if (this.#running !== run) return;
    this.#closeStep(run, 'done');
    this.#persist();
    const step = run.report.steps[run.step];
    void this.#check(run, step.measured).then((h) => {
      if (this.#running !== run) return;
      step.healthCheck = h;
      if (!h.ok) return this.#finish('aborted', `health check after step "${step.name}" failed: ${h.detail}`);
      if (run.step + 1 < run.plan.steps.length) this.#runStep(run.step + 1);
      else this.#finish('completed');
    });
  }

  async #check(run: Running, measured: Measured | undefined): Promise<HealthResult> {
    const hc = run.spec.healthCheck;
    const at = () => this.#engine.now();
    if (!hc) return { ok: true, detail: 'no health check', at: at() };
    const parts: string[] = [];
    if (hc.maxErrorRate !== undefined && measured !== undefined) {
      const rate = measured.errorRate;
      if (rate !== null && rate > hc.maxErrorRate)
        return { ok: false, detail: `error rate ${(rate * 100).toFixed(2)}% > ${(hc.maxErrorRate * 100).toFixed(2)}%`, at: at() };
      parts.push(
        rate === null
          ? 'no requests to judge the error rate'
          : `error rate ${(rate * 100).toFixed(2)}% <= ${(hc.maxErrorRate * 100).toFixed(2)}%`,
      );
    }
    if (hc.url !== undefined) {
      try {
        const { status } = await this.#probe(hc.url, run.plan.timeoutMs);
        const ok = hc.expectStatus !== undefined ? status === hc.expectStatus : status >= 200 && status < 300;
        if (!ok)
          return {
            ok: false,
            detail: `GET ${hc.url} answered ${status}${hc.expectStatus !== undefined ? `, expected ${hc.expectStatus}` : ''}`,
            at: at(),
          };
        parts.push(`GET ${hc.url} answered ${status}`);
      } catch (e) {
        return { ok: false, detail: `GET ${hc.url} failed: ${(e as Error).message}`, at: at() };
      }
    }
    return { ok: true, detail: parts.join('; ') || 'no health check', at: at() };
  }

  /** Stops the running experiment (POST /api/v1/experiments/:id/stop). */
  stop(id: string, reason: string): ExperimentReport {
    this.get(id);
    if (this.#running?.report.id !== id) throw new CanarydError('CANARYD_ERR_CONFLICT', `experiment ${JSON.stringify(id)} is not running`);
    this.#endEarly('stopped', reason);
    return this.get(id);
  }

  /** canaryd is stopping: the experiment ends as interrupted. */
  shutdown(): void {
    if (this.#running) this.#endEarly('interrupted', 'canaryd stopped while the experiment ran');
  }

  #endEarly(state: ExperimentState, reason: string): void {
    const run = this.#running!;
    this.#closeStep(run, 'stopped');
    this.#finish(state, reason);
  }

  #finish(state: ExperimentState, reason?: string): void {
    const run = this.#running!;
    const r = run.report;
    for (const s of r.steps) if (s.state === 'pending') s.state = 'skipped';
    r.state = state;
    r.endedAt = this.#engine.now();
    if (reason !== undefined) r.reason = reason;
    r.verdict = verdictOf(r);
    this.#running = null;
    this.#persist();
    this.#log.info(
      { event: 'experiment_ended', id: r.id, state, verdict: r.verdict, reason },
      `chaos experiment ${r.name} ${state}: ${r.verdict}`,
    );
    this.#publish(state, r);
  }

  #persist(): void {
    try {
      this.#store.writeJson(EXPERIMENTS_FILE, { version: 1, experiments: this.#reports });
    } catch (e) {
      this.#log.error({ err: e }, 'cannot persist experiment reports');
    }
  }

  #publish(action: string, r: ExperimentReport): void {
    this.#events?.publish({
      type: 'experiment',
      action,
      id: r.id,
      name: r.name,
      state: r.state,
      verdict: r.verdict,
      step: r.steps.find((s) => s.state === 'running')?.name ?? null,
      reason: r.reason,
    });
  }
}
