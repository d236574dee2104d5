/**
 * What an experiment measures during each step and how a step is judged. A StepMeter counts every finished
 * request (what clients saw: faulted ones included) per version, with a latency histogram in the shared
 * bucket layout (core/latency.ts), and turns it into availability (share of requests without a client-seen
 * error, see proxy/faults/safety.ts) and p50/p95/p99. A step passes its success criterion when availability >=
 * minSuccessRate and the latency bounds hold; with fewer than minRequests requests it is inconclusive
 * (missing data holds: it neither passes nor fails).
 */
import { emptyHistogram, histogramQuantile, latencyBucket, type Observation, type VersionName } from '../core/index.js';
import { clientSeen, SEEN_ERROR, SEEN_SKIP } from '../proxy/index.js';

export type Target = 'all' | VersionName;

export interface SuccessCriterion {
  minSuccessRate: number;
  maxP95Ms?: number;
  maxP99Ms?: number;
  minRequests: number;
}

export interface Measured {
  requests: number;
  errors: number;
  faulted: number;
  /** 1 - errors/requests; null without requests */
  availability: number | null;
  errorRate: number | null;
  latencyMs: { p50: number | null; p95: number | null; p99: number | null };
}

export interface StepReport {
  index: number;
  name: string;
  state: 'pending' | 'running' | 'done' | 'stopped' | 'skipped';
  durationMs: number;
  rules: string[];
  /** dependencies the step's TCP rules degrade: its measured numbers are the app's HTTP while they were degraded */
  dependencies?: string[];
  startedAt?: number;
  endedAt?: number;
  measured?: Measured & { byVersion: Record<VersionName, Measured> };
  criterion?: { passed: boolean | null; reasons: string[] };
  healthCheck?: HealthResult;
}

export interface HealthResult {
  ok: boolean;
  detail: string;
  at: number;
}

export type ExperimentState = 'running' | 'completed' | 'aborted' | 'stopped' | 'interrupted';

export interface ExperimentReport {
  id: string;
  name: string;
  description?: string;
  target: Target;
  state: ExperimentState;
  /** passed: every step met the criterion; failed: one did not, or a health check failed; inconclusive: too little data, or stopped early */
  verdict: 'passed' | 'failed' | 'inconclusive' | null;
  reason?: string;
  startedAt: number;
  endedAt?: number;
  successCriterion: SuccessCriterion;
  healthCheck?: unknown;
  precheck?: HealthResult;
  steps: StepReport[];
}

class Tally {
  requests = 0;
  errors = 0;
  faulted = 0;
  hist = emptyHistogram();

  add(o: Observation, error: boolean): void {
    this.requests++;
    if (error) this.errors++;
    if (o.faulted) this.faulted++;
    this.hist[latencyBucket(o.durationMs)]++;
  }

  merged(other: Tally): Tally {
    const t = new Tally();
    t.requests = this.requests + other.requests;
    t.errors = this.errors + other.errors;
    t.faulted = this.faulted + other.faulted;
    for (let i = 0; i < t.hist.length; i++) t.hist[i] = this.hist[i] + other.hist[i];
    return t;
  }

  measured(): Measured {
    const q = (p: number) => (this.requests === 0 ? null : Math.round(histogramQuantile(this.hist, p) * 100) / 100);
    return {
      requests: this.requests,
      errors: this.errors,
      faulted: this.faulted,
      availability: this.requests === 0 ? null : 1 - this.errors / this.requests,
      errorRate: this.requests === 0 ? null : this.errors / this.requests,
      latencyMs: { p50: q(0.5), p95: q(0.95), p99: q(0.99) },
    };
  }
}

export class StepMeter {
  #v: Record<VersionName, Tally> = { baseline: new Tally(), canary: new Tally() };

  add(o: Observation): void {
    const seen = clientSeen(o);
    if (seen === SEEN_SKIP) return;
    this.#v[o.version].add(o, seen === SEEN_ERROR);
  }

  report(target: Target): Measured & { byVersion: Record<VersionName, Measured> } {
    const all = target === 'all' ? this.#v.baseline.merged(this.#v.canary) : this.#v[target];
    return { ...all.measured(), byVersion: { baseline: this.#v.baseline.measured(), canary: this.#v.canary.measured() } };
  }
}

export function judgeStep(m: Measured, c: SuccessCriterion): { passed: boolean | null; reasons: string[] } {
  if (m.requests < c.minRequests) return { passed: null, reasons: [`inconclusive: ${m.requests} request(s), need ${c.minRequests}`] };
  const reasons: string[] = [];
  let passed = true;
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  if (m.availability! >= c.minSuccessRate) reasons.push(`success rate ${pct(m.availability!)} >= ${pct(c.minSuccessRate)}`);
  else {
    passed = false;
    reasons.push(`success rate ${pct(m.availability!)} < ${pct(c.minSuccessRate)}`);
  }
  for (const [key, bound] of [
    ['p95', c.maxP95Ms],
    ['p99', c.maxP99Ms],
  ] as const) {
    if (bound === undefined) continue;
    const v = m.latencyMs[key]!;
    if (v <= bound) reasons.push(`${key} ${v} ms <= ${bound} ms`);
    else {
      passed = false;
      reasons.push(`${key} ${v} ms > ${bound} ms`);
    }
  }
  return { passed, reasons };
}

/** The experiment's verdict from its steps (and how it ended). */
export function verdictOf(r: ExperimentReport): ExperimentReport['verdict'] {
  if (r.state === 'running') return null;
  if (r.state === 'aborted') return 'failed';
  const judged = r.steps.filter((s) => s.criterion !== undefined);
  if (judged.some((s) => s.criterion!.passed === false)) return 'failed';
  if (r.state !== 'completed') return 'inconclusive';
  return judged.length === r.steps.length && judged.every((s) => s.criterion!.passed === true) ? 'passed' : 'inconclusive';
}
