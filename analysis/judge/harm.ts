/**
 * The harm bound: may this canary take the next step's share of traffic? Answered from the damage it could
 * still plausibly do there, not from a ratio proof on rare events (docs/analysis.md, "The harm bound").
 *
 * Error rates (5xx, and non-success 4xx+5xx): the canary's excess rate d = p_c − p_b over the time-matched
 * baseline. S = Σ_w (x_c,w − n_c,w · x_b,w / n_b,w) over the windows w (each window its own stratum, so
 * baseline bursts and drift cancel) has mean d·n_c and a variance estimated without bias by
 * V = Σ_w (e_w / n_w) · n_c,w · (1 + n_c,w / n_b,w) (e_w the window's events of both arms). Robbins' normal
 * mixture (prior precision ρ) gives the always-valid upper bound d ≤ (S + √((V+ρ)(2 ln(1/α) + ln((V+ρ)/ρ)))) / n_c
 * — asymptotically valid (the same family as the Mann–Whitney sequence), peeked at as often as wanted.
 * Harm at the next weight w' is w'·d: within budget when w'·d_upper ≤ harmBudget × the SLO's error budget
 * (slo.maxErrorRate; 1 − minSuccessRate for non-successes). At the final promotion w' = 1, so the canary's
 * excess must be shown under finalHarmBudget × the budget the baseline leaves (the SLO's budget minus the
 * baseline's rate): the absolute floor beside maxDegradation.
 *
 * Latency (p95, p99): the canary's excess over the baseline's quantile, from the quantile confidence
 * sequences the comparisons already hold (canary upper bound − baseline lower bound), against harmBudget ×
 * the baseline's headroom to the latency SLO (maxP95Ms − baseline upper bound), scaled by w' the same way.
 *
 * Also here: the minimum detectable effect (MDE) of the rollback side on the data seen, at power 1 − β —
 * the regression the traffic can show — and the canary requests the harm bound still needs.
 */
import type { CheckResult, DetectableEffect, HarmBound, HarmMetric } from '../report.js';
import type { Aggregate, Strata } from './aggregate.js';

/** prior precision of the normal mixture, in events: tight near a few tens of events (rare-error services) */
export const HARM_RHO = 20;

export interface ExcessBound {
  /** excess rate estimate and its always-valid upper bound at α (null without canary data) */
  estimate: number | null;
  upper: number | null;
  /** the statistic's variance in events (V), canary requests */
  variance: number;
  n: number;
}

/** Robbins' normal-mixture boundary for a sum with variance v (events), at level α. */
export function harmBoundary(v: number, alpha: number): number {
  return Math.sqrt((v + HARM_RHO) * (2 * Math.log(1 / alpha) + Math.log((v + HARM_RHO) / HARM_RHO)));
}

/** Always-valid upper bound on the canary's excess rate (events xc/xb per window) at level α. */
export function excessRate(st: Strata, xc: Float64Array, xb: Float64Array, alpha: number): ExcessBound {
  let s = 0;
  let v = 0;
  let n = 0;
  for (let w = 0; w < st.count; w++) {
    const nc = st.nc[w];
    const nb = st.nb[w];
    if (nc === 0 || nb === 0) continue;
    n += nc;
    s += xc[w] - (nc * xb[w]) / nb;
    v += ((xc[w] + xb[w]) / (nc + nb)) * nc * (1 + nc / nb);
  }
  if (n === 0) return { estimate: null, upper: null, variance: 0, n: 0 };
  return { estimate: s / n, upper: (s + harmBoundary(v, alpha)) / n, variance: v, n };
}

/**
 * Canary requests until the bound would fit `limit` if the estimate stays where it is (the bound's width
 * shrinks like 1/√n): Infinity when the estimate itself is over the limit.
 */
function requestsToFit(b: ExcessBound, limit: number): number {
  if (b.estimate === null || b.upper === null) return Infinity;
  if (b.upper <= limit) return 0;
  const room = limit - Math.max(0, b.estimate);
  if (!(room > 0)) return Infinity;
  const width = b.upper - b.estimate;
  return Math.ceil(b.n * (width / room) ** 2 - b.n);
}

export interface HarmSettings {
  /** weight of the next step as a fraction (1 at the final promotion) */
  nextWeight: number;
  /** rollout.harmBudget */
  budget: number;
  /**
   * level of each bound (rollout.falsePromotionRate less the margin tests' share): a canary worse than the
   * final margin is worse on some metric, and its false promotion needs that metric's two routes to err
   * (shown within the margin, or harm bounded), so each metric's bound may use this level in full
   */
  alpha: number;
  slo: { maxErrorRate: number; maxP95Ms: number; maxP99Ms: number; minSuccessRate: number };
}

/** The baseline's pooled event rate over the windows where both arms have data (0 without data). */
function baselineRate(st: Strata, xb: Float64Array): number {
  let x = 0;
  let n = 0;
  for (let w = 0; w < st.count; w++) {
    if (st.nc[w] === 0 || st.nb[w] === 0) continue;
    x += xb[w];
    n += st.nb[w];
  }
  return n > 0 ? x / n : 0;
}

/**
 * At the final promotion every request goes to the canary, so its whole excess must fit a share of the
 * error budget the baseline leaves: the SLO's budget minus the baseline's own rate (as latency uses the
 * headroom to its SLO). Without this, a 1 % baseline under a 2 % SLO let a canary 25 % worse through
 * the floor (bench/RESULTS.md, "finalHarmBudget"). Earlier steps weigh the partial exposure against the
 * whole budget, as before.
 */
function rateBudget(sloBudget: number, baseline: number, h: HarmSettings): number {
  return h.nextWeight >= 1 ? Math.max(0, sloBudget - baseline) : sloBudget;
}

function rateMetric(name: HarmMetric['name'], b: ExcessBound, sloBudget: number, h: HarmSettings): HarmMetric & { needed: number } {
  const limit = (h.budget * sloBudget) / Math.max(1e-9, h.nextWeight);
  const within = b.upper !== null && b.n >= 20 && b.upper <= limit;
  return {
    name,
    unit: 'rate',
    estimate: b.estimate,
    upper: b.upper,
    limit,
    within,
    needed: within ? 0 : Math.max(requestsToFit(b, limit), 20 - b.n),
  };
}

function latencyMetric(
  name: HarmMetric['name'],
  check: CheckResult | undefined,
  sloMs: number,
  h: HarmSettings,
): HarmMetric & { needed: number } {
  const st = check?.stats ?? {};
  const cHi = typeof st.niCanaryHiMs === 'number' ? st.niCanaryHiMs : null;
  const bLo = typeof st.niBaselineLoMs === 'number' ? st.niBaselineLoMs : null;
  const bHi = typeof st.failBaselineHiMs === 'number' ? st.failBaselineHiMs : null;
  const c = typeof st.canaryMs === 'number' ? st.canaryMs : null;
  const b = typeof st.baselineMs === 'number' ? st.baselineMs : null;
  const headroom = bHi !== null ? Math.max(0, sloMs - bHi) : 0;
  const limit = (h.budget * headroom) / Math.max(1e-9, h.nextWeight);
  const upper = cHi !== null && bLo !== null ? cHi - bLo : null;
  const within = check !== undefined && check.status !== 'nodata' && check.status !== 'fail' && upper !== null && upper <= limit;
  // the quantile bounds narrow like 1/√n too; the check's own needed count is a fair stand-in when it is set
  const n = typeof st.canaryN === 'number' ? st.canaryN : 0;
  let needed = 0;
  if (!within) {
    const est = c !== null && b !== null ? c - b : null;
    const room = est === null ? -1 : limit - Math.max(0, est);
    needed = upper === null || est === null || !(room > 0) ? Infinity : Math.ceil(n * ((upper - est) / room) ** 2 - n);
    needed = Math.max(needed, 20 - n);
  }
  return { name, unit: 'ms', estimate: c !== null && b !== null ? c - b : null, upper, limit, within, needed };
}

/** The harm bound at the next weight, from the rollout's aggregate and the comparisons' latency bounds. */
export function harmBound(agg: Aggregate, checks: readonly CheckResult[], h: HarmSettings): HarmBound {
  const st = agg.strata;
  const find = (n: string): CheckResult | undefined => checks.find((c) => c.name === n);
  const metrics = [
    rateMetric('errorRate', excessRate(st, st.ec, st.eb, h.alpha), rateBudget(h.slo.maxErrorRate, baselineRate(st, st.eb), h), h),
    rateMetric('successRate', excessRate(st, st.uc, st.ub, h.alpha), rateBudget(1 - h.slo.minSuccessRate, baselineRate(st, st.ub), h), h),
    latencyMetric('p95', find('compare.p95'), h.slo.maxP95Ms, h),
    latencyMetric('p99', find('compare.p99'), h.slo.maxP99Ms, h),
  ];
  const needed = metrics.reduce((a, m) => Math.max(a, m.needed), 0);
  return {
    nextWeight: h.nextWeight,
    budget: h.budget,
    alpha: h.alpha,
    within: metrics.every((m) => m.within),
    metrics: metrics.map(({ needed: _n, ...m }) => m),
    neededCanaryRequests: Number.isFinite(needed) ? needed : null,
  };
}

export const normalQuantile = (p: number): number => {
  // inverse normal CDF (Acklam's rational approximation; |error| < 1.2e-9), for the power term only
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628274631];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const q = Math.min(1 - 1e-12, Math.max(1e-12, p));
  if (q < 0.02425) {
    const r = Math.sqrt(-2 * Math.log(q));
    return (((((c[0] * r + c[1]) * r + c[2]) * r + c[3]) * r + c[4]) * r + c[5]) / ((((d[0] * r + d[1]) * r + d[2]) * r + d[3]) * r + 1);
  }
  if (q > 1 - 0.02425) return -normalQuantile(1 - q);
  const r = q - 0.5;
  const s = r * r;
  return (
    ((((((a[0] * s + a[1]) * s + a[2]) * s + a[3]) * s + a[4]) * s + a[5]) * r) /
    (((((b[0] * s + b[1]) * s + b[2]) * s + b[3]) * s + b[4]) * s + 1)
  );
};

/**
 * Minimum detectable effect of the rollback side on the data seen: the smallest regression that would be
 * shown worse than the fail margin with probability `power` if it were the truth (normal approximation of
 * each test; an estimate for the operator, not part of any test).
 *  - 5xx: the excess rate the conditional test needs, δ·p_b + (√(2 ln(1/α)) + z_power)·√V / n_c, as a ratio
 *    to the baseline's rate;
 *  - p95: the ratio (1+δ) × the two confidence sequences' widths, the canary's widened for power.
 */
export function detectableEffects(
  agg: Aggregate,
  checks: readonly CheckResult[],
  delta: number,
  alphaFail: { errorRate: number; p95: number },
  power: number,
): DetectableEffect[] {
  const out: DetectableEffect[] = [];
  const st = agg.strata;
  const zb = normalQuantile(power);
  const b = excessRate(st, st.ec, st.eb, alphaFail.errorRate);
  const pb = agg.baseline.requests > 0 ? (agg.baseline.errors + 0.5) / (agg.baseline.requests + 1) : null;
  if (b.n >= 20 && pb !== null) {
    const v = Math.max(b.variance, pb * b.n); // no canary error seen yet: the baseline's rate sets the scale
    const excess = delta * pb + ((Math.sqrt(2 * Math.log(1 / alphaFail.errorRate)) + zb) * Math.sqrt(v)) / b.n;
    out.push({
      check: 'compare.errorRate',
      ratio: 1 + excess / pb,
      excess,
      text: `5xx ×${(1 + excess / pb).toFixed(2)} (+${(excess * 100).toFixed(2)} pp)`,
    });
  } else out.push({ check: 'compare.errorRate', ratio: null, excess: null, text: '5xx: too few requests yet' });
  const p95 = checks.find((c) => c.name === 'compare.p95')?.stats ?? {};
  const c = p95.canaryMs;
  const cLo = p95.failCanaryLoMs;
  const bm = p95.baselineMs;
  const bHi = p95.failBaselineHiMs;
  if (typeof c === 'number' && typeof cLo === 'number' && typeof bm === 'number' && typeof bHi === 'number' && cLo > 0 && bm > 0) {
    const za = Math.sqrt(2 * Math.log(1 / alphaFail.p95));
    const logR = Math.log(1 + delta) + Math.log(bHi / bm) + Math.log(c / cLo) * (1 + zb / za);
    const ratio = Math.exp(logR);
    out.push({ check: 'compare.p95', ratio, excess: null, text: `p95 +${((ratio - 1) * 100).toFixed(0)} %` });
  } else out.push({ check: 'compare.p95', ratio: null, excess: null, text: 'p95: too few requests yet' });
  return out;
}
