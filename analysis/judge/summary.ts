/**
 * The sentences a person reads first: a one-line summary of a report ("canary 5xx 0.32 % vs baseline
 * 0.16 % over 1,264 requests: not yet distinguishable; ~40 s more at 25 req/s") and the forecast of the next
 * decision behind it. The statistical detail stays in the checks; nothing here feeds a decision.
 */
import type { VersionSummary } from '../../core/index.js';
import type { AnalysisReport, DecisionForecast, HarmBound } from '../report.js';
import { int, ms, pct } from './format.js';

/** past this, the forecast names the knob that would shorten the wait */
const LONG_WAIT_S = 300;

export function forecastFor(o: {
  decided: boolean;
  more: number | null;
  harmNeed: number | null;
  canaryRate: number | null;
}): DecisionForecast {
  const rate = o.canaryRate !== null && o.canaryRate > 0 && Number.isFinite(o.canaryRate) ? o.canaryRate : null;
  if (o.decided) return { canaryRate: rate, requests: 0, seconds: 0, knob: null };
  const routes = [o.more, o.harmNeed].filter((x): x is number => x !== null && Number.isFinite(x) && x < 1e9);
  const requests = routes.length > 0 ? Math.max(1, Math.min(...routes)) : null;
  const seconds = requests !== null && rate !== null ? Math.ceil(requests / rate) : null;
  const knob =
    requests === null
      ? 'at the current estimates no verdict is expected: a larger step, a looser rollout.harmBudget or baseline.maxDegradation would change it (maxStepPolicy promote-if-no-harm decides at maxStepDuration)'
      : seconds !== null && seconds > LONG_WAIT_S
        ? 'a larger step weight (more canary traffic), a looser rollout.harmBudget or baseline.maxDegradation would shorten it'
        : null;
  return { canaryRate: rate, requests, seconds, knob };
}

/** "~3 min", "~40 s", "~2.5 h" */
export function duration(s: number): string {
  if (s < 90) return `~${Math.max(1, Math.round(s))} s`;
  if (s < 5400) return `~${Math.round(s / 60)} min`;
  return `~${(s / 3600).toFixed(1)} h`;
}

export function forecastText(f: DecisionForecast): string {
  if (f.requests === null) return 'not decidable at the current estimates';
  if (f.requests === 0) return 'decided';
  const req = `~${int(f.requests)} canary requests`;
  if (f.seconds === null || f.canaryRate === null) return `${req} more`;
  return `${duration(f.seconds)} more at ${f.canaryRate >= 10 ? int(f.canaryRate) : f.canaryRate.toFixed(1)} req/s (${req})`;
}

function arms(a: { baseline: VersionSummary; canary: VersionSummary }): string {
  const c = a.canary;
  const b = a.baseline;
  const lat = c.p95Ms !== null && b.p95Ms !== null ? `, p95 ${ms(c.p95Ms)} vs ${ms(b.p95Ms)}` : '';
  return `canary 5xx ${pct(c.errorRate)} vs baseline ${pct(b.errorRate)} over ${int(c.requests)} requests${lat}`;
}

export interface SummaryInput {
  verdict: AnalysisReport['verdict'];
  promotable: boolean;
  hardBreach: boolean;
  nonInferior: boolean;
  failing: string[];
  holding: string[];
  arms: { baseline: VersionSummary; canary: VersionSummary };
  harm: HarmBound | null;
  forecast: DecisionForecast;
}

export function summaryLine(s: SummaryInput): string {
  const head = arms(s.arms);
  if (s.arms.canary.requests === 0) return 'no canary traffic yet';
  if (s.verdict === 'fail') return `${head}: worse than baseline (${s.failing.join(', ')})${s.hardBreach ? ', hard SLO breach' : ''}`;
  if (s.promotable) {
    const why = s.nonInferior ? 'shown within the margin' : `harm within budget at ${Math.round((s.harm?.nextWeight ?? 1) * 1000) / 10} %`;
    return `${head}: ${why}; ready to promote`;
  }
  if (s.holding.length > 0) return `${head}: held by ${s.holding.join(', ')}; ${forecastText(s.forecast)}`;
  return `${head}: not yet distinguishable; ${forecastText(s.forecast)}`;
}
