/**
 * SLO checks on the canary (rollout.slo): 5xx share, success share (1xx–3xx), p95, p99 — each judged with
 * its time-uniform confidence sequence at the step's α, never on a point estimate:
 *  - pass    the upper bound is within the limit;
 *  - nodata  undecided (the bound straddles the limit, or too few requests);
 *  - fail    the lower bound is beyond the limit AND the breach is the canary's own: the matching comparison
 *            (compare.errorRate for slo.errorRate, ...) has shown the canary worse than the baseline by more
 *            than the margin. A hard breach is such a failure with the lower bound beyond 2× the limit
 *            (HARD_FACTOR): the controller rolls back at once for it;
 *  - marginal the canary breaches the limit but the baseline shares the breach (the environment, not the
 *            canary): marked `shared`, it holds the step (no promotion) and never counts against the canary.
 * Because a failure needs the comparison's failure, the SLO checks spend no false-rollback budget of their
 * own: a canary within the margin fails here only when its comparison test errs (already in the budget).
 */
import type { CheckResult, JudgeSettings } from '../report.js';
import type { ArmTotals } from './aggregate.js';
import { rankValue } from './aggregate.js';
import { proportionCS, quantileRankRange } from './sequential.js';
import { int, ms, num, pct } from './format.js';

export const HARD_FACTOR = 2;
const MIN_N = 20;

type CompareStatus = Record<string, CheckResult['status'] | undefined>;

function classify(
  name: string,
  counterpart: string,
  lo: number,
  hi: number,
  limit: number,
  upward: boolean,
  n: number,
  compare: CompareStatus,
): { status: CheckResult['status']; hard: boolean; shared: boolean } {
  if (n < MIN_N) return { status: 'nodata', hard: false, shared: false };
  const breach = upward ? lo > limit : false;
  if (breach) {
    const own = compare[counterpart] === 'fail';
    return { status: own ? 'fail' : 'marginal', hard: own && lo > HARD_FACTOR * limit, shared: !own };
  }
  if (hi <= limit) return { status: 'pass', hard: false, shared: false };
  return { status: 'nodata', hard: false, shared: false };
}

function describe(status: CheckResult['status'], hard: boolean, shared: boolean, counterpart: string): string {
  if (status === 'fail') return hard ? `hard breach (beyond ${HARD_FACTOR}× the limit), the canary's own (${counterpart} failed): roll back` : `breached, the canary's own (${counterpart} failed)`;
  if (status === 'marginal' && shared) return `breached, but the baseline shares it (${counterpart} did not fail): environment, holding the step`;
  if (status === 'pass') return 'within the limit';
  return 'undecided';
}

export function sloChecks(canary: ArmTotals, hist: Float64Array, settings: JudgeSettings, compare: CompareStatus, critical: Set<string>): CheckResult[] {
  const a = settings.alpha;
  const n = canary.requests;
  const out: CheckResult[] = [];
  const rate = (name: string, counterpart: string, events: number, limit: number, label: string, asSuccess: boolean): void => {
    const cs = proportionCS(events, n, a);
    const est = n > 0 ? events / n : null;
    const c = classify(name, counterpart, cs.lo, cs.hi, limit, true, n, compare);
    const show = (x: number | null): string => pct(x === null ? null : asSuccess ? 1 - x : x);
    const bound = asSuccess ? `[${show(cs.hi)}, ${show(cs.lo)}]` : `[${show(cs.lo)}, ${show(cs.hi)}]`;
    out.push({
      name,
      kind: 'slo',
      status: c.status,
      critical: critical.has(name),
      hard: c.hard,
      message: `${name}: canary ${label} ${show(est)} (n=${int(n)}), always-valid ${pct(1 - a)} bounds ${bound} vs limit ${show(limit)}: ${describe(c.status, c.hard, c.shared, counterpart)}`,
      observed: est === null ? null : num(asSuccess ? 1 - est : est, 6),
      threshold: asSuccess ? 1 - limit : limit,
      stats: { n, events, estimate: num(est, 6), lo: num(cs.lo, 6), hi: num(cs.hi, 6), limit, hardLimit: HARD_FACTOR * limit, alpha: a, shared: c.shared, counterpart, counterpartStatus: compare[counterpart] ?? null },
    });
  };
  rate('slo.errorRate', 'compare.errorRate', canary.errors, settings.slo.maxErrorRate, '5xx rate', false);
  rate('slo.successRate', 'compare.successRate', canary.nonSuccess, 1 - settings.slo.minSuccessRate, 'success rate', true);
  const quant = (name: string, counterpart: string, q: number, limit: number): void => {
    const r = quantileRankRange(n, q, a);
    const lo = r.lo < 0 ? 0 : rankValue(hist, n, r.lo, false);
    const hi = r.hi > n ? Infinity : rankValue(hist, n, r.hi, true);
    const est = n > 0 ? rankValue(hist, n, q * n, false) : null;
    const c = classify(name, counterpart, lo, hi, limit, true, n, compare);
    out.push({
      name,
      kind: 'slo',
      status: c.status,
      critical: critical.has(name),
      hard: c.hard,
      message: `${name}: canary ${ms(est)} (n=${int(n)}), always-valid ${pct(1 - a)} bounds [${ms(lo)}, ${ms(hi)}] vs limit ${ms(limit)}: ${describe(c.status, c.hard, c.shared, counterpart)}`,
      observed: num(est, 3),
      threshold: limit,
      stats: { n, q, estimateMs: num(est, 3), loMs: num(lo, 3), hiMs: Number.isFinite(hi) ? num(hi, 3) : null, limit, hardLimit: HARD_FACTOR * limit, alpha: a, shared: c.shared, counterpart, counterpartStatus: compare[counterpart] ?? null },
    });
  };
  quant('slo.p95', 'compare.p95', 0.95, settings.slo.maxP95Ms);
  quant('slo.p99', 'compare.p99', 0.99, settings.slo.maxP99Ms);
  return out;
}
