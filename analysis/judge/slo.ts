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
 *            canary) and the breach is still on over the last sloHoldWindowMs (default 60 s): marked
 *            `shared`, it holds the step (no promotion) and never counts against the canary. A shared breach
 *            that is over (an error burst earlier in the step) is reported (`shared`, `current: false`) with
 *            status nodata and does not hold: the cumulative numbers of a step remember a burst long
 *            after it ended, and the hold is there to avoid promoting into an incident, not after one.
 * Because a failure needs the comparison's failure, the SLO checks spend no false-rollback budget of their
 * own: a canary within the margin fails here only when its comparison test errs (already in the budget).
 */
import type { CheckResult, JudgeSettings } from '../report.js';
import type { ArmTotals } from './aggregate.js';
import { rankValue } from './aggregate.js';
import { beyond, proportionCS, quantileRankRange } from './sequential.js';
import { int, ms, num, pct } from './format.js';

export const HARD_FACTOR = 2;
const MIN_N = 20;

type CompareStatus = Record<string, CheckResult['status'] | undefined>;

interface Classified {
  status: CheckResult['status'];
  hard: boolean;
  shared: boolean;
  current: boolean | null;
}

function classify(
  lo: number,
  hi: number,
  limit: number,
  n: number,
  counterpart: string,
  compare: CompareStatus,
  stillOn: () => boolean,
): Classified {
  if (n < MIN_N) return { status: 'nodata', hard: false, shared: false, current: null };
  if (lo > limit) {
    const own = compare[counterpart] === 'fail';
    if (own) return { status: 'fail', hard: lo > HARD_FACTOR * limit, shared: false, current: null };
    const current = stillOn();
    return { status: current ? 'marginal' : 'nodata', hard: false, shared: true, current };
  }
  if (hi <= limit) return { status: 'pass', hard: false, shared: false, current: null };
  return { status: 'nodata', hard: false, shared: false, current: null };
}

function describe(c: Classified, counterpart: string, holdS: number): string {
  if (c.status === 'fail')
    return c.hard
      ? `hard breach (beyond ${HARD_FACTOR}× the limit), the canary's own (${counterpart} failed): roll back`
      : `breached, the canary's own (${counterpart} failed)`;
  if (c.shared && c.current)
    return `breached, but the baseline shares it (${counterpart} did not fail) and it is still on in the last ${holdS} s: environment, holding the step`;
  if (c.shared)
    return `breached earlier in the step, shared by the baseline (${counterpart} did not fail), over in the last ${holdS} s: not holding`;
  if (c.status === 'pass') return 'within the limit';
  return 'undecided';
}

/** The canary's most recent data (the last sloHoldWindowMs), for "is a shared breach still on?" */
export interface RecentCanary {
  ms: number;
  requests: number;
  errors: number;
  nonSuccess: number;
  /** summed lazily: only needed when a latency SLO breach is shared */
  hist: () => Float64Array;
}

export function sloChecks(
  canary: ArmTotals,
  hist: Float64Array,
  settings: JudgeSettings,
  compare: CompareStatus,
  critical: Set<string>,
  recent: RecentCanary,
): CheckResult[] {
  const a = settings.alpha;
  const n = canary.requests;
  const out: CheckResult[] = [];
  const holdS = Math.round(recent.ms / 1000);
  const rate = (
    name: string,
    counterpart: string,
    events: number,
    recentEvents: number,
    limit: number,
    label: string,
    asSuccess: boolean,
  ): void => {
    const cs = proportionCS(events, n, a);
    const est = n > 0 ? events / n : null;
    const c = classify(cs.lo, cs.hi, limit, n, counterpart, compare, () => beyond(recentEvents, recent.requests, limit, a) === 1);
    const show = (x: number | null): string => pct(x === null ? null : asSuccess ? 1 - x : x);
    const bound = asSuccess ? `[${show(cs.hi)}, ${show(cs.lo)}]` : `[${show(cs.lo)}, ${show(cs.hi)}]`;
    out.push({
      name,
      kind: 'slo',
      status: c.status,
      critical: critical.has(name),
      hard: c.hard,
      message: `${name}: canary ${label} ${show(est)} (n=${int(n)}), always-valid ${pct(1 - a)} bounds ${bound} vs limit ${show(limit)}: ${describe(c, counterpart, holdS)}`,
      observed: est === null ? null : num(asSuccess ? 1 - est : est, 6),
      threshold: asSuccess ? 1 - limit : limit,
      stats: {
        n,
        events,
        estimate: num(est, 6),
        lo: num(cs.lo, 6),
        hi: num(cs.hi, 6),
        limit,
        hardLimit: HARD_FACTOR * limit,
        alpha: a,
        shared: c.shared,
        current: c.current,
        recentN: recent.requests,
        recentEvents,
        counterpart,
        counterpartStatus: compare[counterpart] ?? null,
      },
    });
  };
  rate('slo.errorRate', 'compare.errorRate', canary.errors, recent.errors, settings.slo.maxErrorRate, '5xx rate', false);
  rate(
    'slo.successRate',
    'compare.successRate',
    canary.nonSuccess,
    recent.nonSuccess,
    1 - settings.slo.minSuccessRate,
    'success rate',
    true,
  );
  const quant = (name: string, counterpart: string, q: number, limit: number): void => {
    const r = quantileRankRange(n, q, a);
    const lo = r.lo < 0 ? 0 : rankValue(hist, n, r.lo, false);
    const hi = r.hi > n ? Infinity : rankValue(hist, n, r.hi, true);
    const est = n > 0 ? rankValue(hist, n, q * n, false) : null;
    const c = classify(lo, hi, limit, n, counterpart, compare, () => {
      const rh = recent.hist();
      const rr = quantileRankRange(recent.requests, q, a);
      return rr.lo >= 0 && rankValue(rh, recent.requests, rr.lo, false) > limit;
    });
    out.push({
      name,
      kind: 'slo',
      status: c.status,
      critical: critical.has(name),
      hard: c.hard,
      message: `${name}: canary ${ms(est)} (n=${int(n)}), always-valid ${pct(1 - a)} bounds [${ms(lo)}, ${ms(hi)}] vs limit ${ms(limit)}: ${describe(c, counterpart, holdS)}`,
      observed: num(est, 3),
      threshold: limit,
      stats: {
        n,
        q,
        estimateMs: num(est, 3),
        loMs: num(lo, 3),
        hiMs: Number.isFinite(hi) ? num(hi, 3) : null,
        limit,
        hardLimit: HARD_FACTOR * limit,
        alpha: a,
        shared: c.shared,
        current: c.current,
        recentN: recent.requests,
        counterpart,
        counterpartStatus: compare[counterpart] ?? null,
      },
    });
  };
  quant('slo.p95', 'compare.p95', 0.95, settings.slo.maxP95Ms);
  quant('slo.p99', 'compare.p99', 0.99, settings.slo.maxP99Ms);
  return out;
}
