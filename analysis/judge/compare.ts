/**
 * The comparison checks (canary vs time-matched baseline) as CheckResults: compare.errorRate (5xx),
 * compare.successRate (non-success 4xx+5xx), compare.p95, compare.p99, compare.latency (Mann–Whitney shift).
 * Each carries the full statistical record in `stats` so the decision can be replayed from the audit log.
 * Status: fail = shown worse than the fail margin (δ, maxDegradation); pass = shown within the promote
 * margin (δ_k ≥ δ, promoteMaxDegradation: the step's exposure-scaled margin, δ itself in fixed mode;
 * non-inferior); marginal = neither yet; nodata = too few requests on an arm. Messages and stats name both
 * margins, so a report says what would roll the canary back and what would promote it.
 */
import type { CheckResult } from '../report.js';
import type { Aggregate } from './aggregate.js';
import { compareRates, NI_FLOOR_SHARE, SINGLE, type FailMix, type RateComparison, type RateMargins } from './error-rate.js';
import { compareQuantile, compareShift } from './latency.js';
import { int, ms, num, odds, pct } from './format.js';

export interface CompareBudget {
  errorRate: number;
  successRate: number;
  p95: number;
  p99: number;
  latency: number;
}

export interface CompareOutcome {
  checks: CheckResult[];
  /** canary requests each undecided comparison still needs (by check name) */
  needed: Map<string, number>;
}

/** Both margins of the comparisons, as the judge derives them from the settings. */
export interface CompareMargins {
  /** fail margin δ and promote margin δ_k (≥ δ) */
  delta: number;
  deltaNi: number;
  /** fail-side and promote-side floors of the two rate comparisons */
  floors: { errorRate: number; nonSuccess: number };
  floorsNi: { errorRate: number; nonSuccess: number };
  /** why δ_k is what it is ("exposure 5 % of 75 %", "fixed margin"), for the sentences */
  basis: string;
}

const ratioText = (r: number): string => `${r.toFixed(2)}×`;

/** The requests an undecided check still needs, never "~0" (an estimate at 0 while undecided says nothing) or "∞". */
function moreText(n: number): string {
  if (!Number.isFinite(n) || n >= 1e9)
    return '; no verdict expected at the current estimates (a larger step or a looser margin would change it)';
  return `; ~${int(Math.max(1, n))} more canary requests`;
}

/** "needs X > Y" for a bound that may still be open (∞): say what is missing instead. */
function needs(lhs: number, op: '>' | '<', rhs: number): string {
  if (!Number.isFinite(lhs) || !Number.isFinite(rhs)) return 'needs more data on both arms before the bounds close';
  return `needs ${ms(lhs)} ${op} ${ms(rhs)}`;
}

function rateCheck(
  name: string,
  what: string,
  r: RateComparison,
  t: { nc: number; nb: number; xc: number; xb: number },
  m: RateMargins,
  basis: string,
  aF: number,
  aN: number,
  critical: boolean,
): CheckResult {
  const pc = t.nc > 0 ? t.xc / t.nc : null;
  const pb = t.nb > 0 ? t.xb / t.nb : null;
  const head = `${name}: canary ${what} ${pct(pc)} vs baseline ${pct(pb)} (n=${int(t.nc)} vs ${int(t.nb)})`;
  const ratio = r.ratio.mhRatio;
  const failMargin = `max(${ratioText(m.r0)} baseline, ${pct(m.floor)})`;
  const niMargin = `max(${ratioText(m.r0Ni)} baseline, ${pct(m.floorNi)}) (${basis})`;
  let tail: string;
  if (r.status === 'fail') {
    tail = `, ratio ${ratio === null ? 'n/a' : ratioText(ratio)}: evidence ${odds(r.ratio.failMaxLogE)} crossed the 1/α = ${int(1 / aF)} boundary${r.ratio.crossedAt !== null ? ` in the window of ${new Date(r.ratio.crossedAt).toISOString()}` : ''} and the canary is shown above the floor ${pct(m.floor)}: worse than the fail margin ${failMargin}`;
  } else if (r.status === 'pass') {
    tail = r.ratioNiShown
      ? `: within-margin evidence ${odds(r.ratio.niLogE)} crossed the 1/(0.8α) = ${int(1 / (aN * (1 - NI_FLOOR_SHARE)))} boundary: shown within the promote margin ${niMargin}`
      : `: canary upper bound under the floor ${pct(m.floorNi)}: shown within the promote margin ${niMargin}`;
  } else if (r.status === 'nodata') {
    tail = `: too few requests (need ≥ 20 per arm)`;
  } else {
    tail = `, ratio ${ratio === null ? 'n/a' : ratioText(ratio)}: undecided: fail beyond ${failMargin}, promote within ${niMargin} (worse-evidence ${odds(r.ratio.failMaxLogE)} of ${int(1 / aF)}, within-evidence ${odds(r.ratio.niLogE)} of ${int(1 / (aN * (1 - NI_FLOOR_SHARE)))})${moreText(r.needed)}`;
  }
  return {
    name,
    kind: 'comparison',
    status: r.status,
    critical,
    hard: false,
    message: head + tail,
    observed: num(ratio, 4),
    threshold: m.r0,
    stats: {
      canaryN: t.nc,
      baselineN: t.nb,
      canaryEvents: t.xc,
      baselineEvents: t.xb,
      canaryRate: num(pc, 6),
      baselineRate: num(pb, 6),
      mhRatio: num(ratio, 4),
      marginRatio: m.r0,
      floor: m.floor,
      promoteMarginRatio: num(m.r0Ni, 6),
      promoteFloor: num(m.floorNi, 8),
      promoteBasis: basis,
      failEvidence: num(Math.exp(r.ratio.failLogE), 4),
      failEvidenceMax: num(Math.exp(r.ratio.failMaxLogE), 4),
      failBoundary: num(1 / aF, 2),
      crossedAt: r.ratio.crossedAt,
      floorFailShown: r.floorFailShown,
      niEvidence: num(Math.exp(r.ratio.niLogE), 4),
      niBoundary: num(1 / (aN * (1 - NI_FLOOR_SHARE)), 2),
      floorNiShown: r.floorNiShown,
      alphaFail: aF,
      alphaNi: aN,
      strataEvents: r.ratio.events,
      needed: r.needed,
    },
  };
}

export function compareChecks(
  agg: Aggregate,
  m: CompareMargins,
  budget: CompareBudget,
  alphaNi: number,
  critical: Set<string>,
  stepStart = -Infinity,
  mix: FailMix = SINGLE,
): CompareOutcome {
  const { canary: c, baseline: b, strata: st } = agg;
  const r0 = 1 + m.delta;
  const r0Ni = 1 + m.deltaNi;
  const checks: CheckResult[] = [];
  const needed = new Map<string, number>();
  const te = { nc: c.requests, nb: b.requests, xc: c.errors, xb: b.errors };
  const me: RateMargins = { r0, floor: m.floors.errorRate, r0Ni, floorNi: m.floorsNi.errorRate };
  const re = compareRates(st, st.ec, st.eb, te, me, budget.errorRate, alphaNi, stepStart, mix);
  checks.push(
    rateCheck('compare.errorRate', '5xx rate', re, te, me, m.basis, budget.errorRate, alphaNi, critical.has('compare.errorRate')),
  );
  needed.set('compare.errorRate', re.needed);
  const tu = { nc: c.requests, nb: b.requests, xc: c.nonSuccess, xb: b.nonSuccess };
  const mu: RateMargins = { r0, floor: m.floors.nonSuccess, r0Ni, floorNi: m.floorsNi.nonSuccess };
  const ru = compareRates(st, st.uc, st.ub, tu, mu, budget.successRate, alphaNi, stepStart, mix);
  checks.push(
    rateCheck(
      'compare.successRate',
      'non-success rate',
      ru,
      tu,
      mu,
      m.basis,
      budget.successRate,
      alphaNi,
      critical.has('compare.successRate'),
    ),
  );
  needed.set('compare.successRate', ru.needed);

  const promote = `${ratioText(r0Ni)} (${m.basis})`;
  for (const [name, q, aF] of [
    ['compare.p95', 0.95, budget.p95],
    ['compare.p99', 0.99, budget.p99],
  ] as const) {
    const r = compareQuantile(c.hist, c.requests, b.hist, b.requests, q, m.delta, m.deltaNi, aF, alphaNi);
    const qs = `p${Math.round(q * 100)}`;
    const head = `${name}: canary ${qs} ${ms(r.canary)} vs baseline ${ms(r.baseline)} (n=${int(c.requests)} vs ${int(b.requests)})`;
    let tail: string;
    if (r.status === 'fail')
      tail = `: canary lower bound ${ms(r.canaryLo)} > ${r0.toFixed(2)} × baseline upper bound ${ms(r.baselineHi)}: worse than the fail margin ${ratioText(r0)}`;
    else if (r.status === 'pass')
      tail = `: canary upper bound ${ms(r.canaryHi)} < ${r0Ni.toFixed(2)} × baseline lower bound ${ms(r.baselineLo)}: shown within the promote margin ${promote}`;
    else if (r.status === 'nodata') tail = ': too few requests (need ≥ 20 per arm)';
    else
      tail = `: undecided: fail beyond ${ratioText(r0)} (${needs(r.canaryLo, '>', r0 * r.baselineHi)}), promote within ${promote} (${needs(r.canaryHi, '<', r0Ni * r.baselineLo)})${moreText(r.needed)}`;
    checks.push({
      name,
      kind: 'comparison',
      status: r.status,
      critical: critical.has(name),
      hard: false,
      message: head + tail,
      observed: num(r.canary !== null && r.baseline ? r.canary / r.baseline : null, 4),
      threshold: r0,
      stats: {
        q,
        canaryN: c.requests,
        baselineN: b.requests,
        canaryMs: num(r.canary, 3),
        baselineMs: num(r.baseline, 3),
        failCanaryLoMs: num(r.canaryLo, 3),
        failBaselineHiMs: num(r.baselineHi, 3),
        niCanaryHiMs: num(r.canaryHi, 3),
        niBaselineLoMs: num(r.baselineLo, 3),
        marginRatio: r0,
        promoteMarginRatio: num(r0Ni, 6),
        promoteBasis: m.basis,
        alphaFail: aF,
        alphaNi,
        needed: r.needed,
      },
    });
    needed.set(name, r.needed);
  }

  const s = compareShift(c.hist, c.requests, b.hist, b.requests, m.delta, m.deltaNi, budget.latency, alphaNi);
  const head = `compare.latency: Mann–Whitney shift ${s.ratio === null ? 'n/a' : s.ratio.toFixed(3) + '×'} (P(canary slower) ${s.auc === null ? 'n/a' : s.auc.toFixed(3)}, n=${int(c.requests)} vs ${int(b.requests)})`;
  let tail: string;
  if (s.status === 'fail') tail = `: always-valid lower bound ${s.failLo!.toFixed(3)}× > ${ratioText(r0)}: worse than the fail margin`;
  else if (s.status === 'pass') tail = `: always-valid upper bound ${s.niHi!.toFixed(3)}× < ${promote}: shown within the promote margin`;
  else if (s.status === 'nodata') tail = ': too few requests (need ≥ 20 per arm)';
  else
    tail = `: undecided (bounds ${s.failLo!.toFixed(3)}×–${s.niHi!.toFixed(3)}×): fail beyond ${ratioText(r0)}, promote within ${promote}${moreText(s.needed)}`;
  checks.push({
    name: 'compare.latency',
    kind: 'comparison',
    status: s.status,
    critical: critical.has('compare.latency'),
    hard: false,
    message: head + tail,
    observed: num(s.ratio, 4),
    threshold: r0,
    stats: {
      canaryN: c.requests,
      baselineN: b.requests,
      shiftRatio: num(s.ratio, 4),
      failLoRatio: num(s.failLo, 4),
      niHiRatio: num(s.niHi, 4),
      auc: num(s.auc, 5),
      z: num(s.z, 3),
      marginRatio: r0,
      promoteMarginRatio: num(r0Ni, 6),
      promoteBasis: m.basis,
      alphaFail: budget.latency,
      alphaNi,
      needed: s.needed,
    },
  });
  needed.set('compare.latency', s.needed);
  return { checks, needed };
}
