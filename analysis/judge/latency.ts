/**
 * Latency comparisons from the two arms' histograms.
 *
 * Two margins: fail beyond 1+δ (the configured margin), promote within 1+δ_k (the step's promote margin,
 * δ_k ≥ δ; analysis/rollout/plan.ts). Both are read off the same confidence sequences, which hold for every
 * margin at once, so moving the promote boundary changes nothing in the fail side's guarantee.
 *
 * Quantiles (compare.p95, compare.p99): a time-uniform confidence sequence for each arm's q-quantile
 * (sequential.ts, Howard & Ramdas 2022). Fail when canary's lower bound > (1+δ)·baseline's upper bound;
 * non-inferior when canary's upper bound < (1+δ_k)·baseline's lower bound. The union of the two arms'
 * sequences holds with probability ≥ 1 − α (α split 0.7 canary / 0.3 baseline: the baseline has more data),
 * so the baseline quantile's own uncertainty is accounted for. Ranks are turned into milliseconds by
 * log-linear interpolation inside the ~9 % buckets (the only within-bucket assumption the judge makes).
 *
 * Shift (compare.latency): a Mann–Whitney U over the histograms with ties counted ½ per bucket (as
 * Kayenta's classifier does), giving the Hodges–Lehmann shift of log-latency and its confidence sequence
 * by inverting U(Δ) with the normal-mixture boundary in U's information V = 12mn/(m+n+1)
 * (an asymptotic confidence sequence, Waudby-Smith et al. 2024): fail when the whole sequence lies beyond
 * ln(1+δ), pass when it lies inside ln(1+δ_k).
 */
import { LATENCY_BUCKETS } from '../../core/index.js';
import { LOG_BUCKET_RATIO, rankValue, shareAbove } from './aggregate.js';
import { normalMixtureZ, quantileRankRange } from './sequential.js';
import { bernoulliKL } from './special.js';

export const CANARY_SHARE = 0.7;
const MIN_N = 20;

export interface QuantileComparison {
  status: 'pass' | 'fail' | 'marginal' | 'nodata';
  q: number;
  canary: number | null;
  baseline: number | null;
  /** bounds used for the fail side (canary lower, baseline upper) and the promote side (canary upper, baseline lower) */
  canaryLo: number;
  baselineHi: number;
  canaryHi: number;
  baselineLo: number;
  needed: number;
}

function bounds(hist: Float64Array, n: number, q: number, alpha: number): { lo: number; hi: number } {
  const r = quantileRankRange(n, q, alpha);
  return { lo: r.lo < 0 ? 0 : rankValue(hist, n, r.lo, false), hi: r.hi > n ? Infinity : rankValue(hist, n, r.hi, true) };
}

export function compareQuantile(
  c: Float64Array,
  nc: number,
  b: Float64Array,
  nb: number,
  q: number,
  delta: number,
  deltaNi: number,
  alphaFail: number,
  alphaNi: number,
): QuantileComparison {
  const estC = nc > 0 ? rankValue(c, nc, q * nc, false) : null;
  const estB = nb > 0 ? rankValue(b, nb, q * nb, false) : null;
  const cf = bounds(c, nc, q, alphaFail * CANARY_SHARE);
  const bf = bounds(b, nb, q, alphaFail * (1 - CANARY_SHARE));
  const cn = bounds(c, nc, q, alphaNi * CANARY_SHARE);
  const bn = bounds(b, nb, q, alphaNi * (1 - CANARY_SHARE));
  const k = 1 + delta;
  const kNi = 1 + deltaNi;
  let status: QuantileComparison['status'];
  if (nc < MIN_N || nb < MIN_N) status = 'nodata';
  else if (cf.lo > k * bf.hi) status = 'fail';
  else if (cn.hi < kNi * bn.lo) status = 'pass';
  else status = 'marginal';
  let needed = 0;
  if (status === 'marginal' || status === 'nodata') {
    // exceedance of a margin threshold is a Bernoulli quantity: Wald's KL growth against 1 − q; the
    // promote side is sized at its own threshold (1+δ_k)×, the fail side at (1+δ)×, the sooner one counts.
    // With little data, assume a canary like the baseline: for a lognormal-ish body (σ ≈ 0.5) about 2/3
    // of the q-exceedance lies above (1+δ)× the quantile per 10 % of margin — a rough default, refined as
    // data arrive
    const exceed = (m: number, d: number): number => {
      const threshold = estB === null ? NaN : m * estB;
      return nc >= MIN_N ? shareAbove(c, nc, threshold) : nb >= 200 ? shareAbove(b, nb, threshold) : (1 - q) * Math.pow(0.66, d / 0.1);
    };
    const eNi = exceed(kNi, deltaNi);
    const eF = deltaNi === delta ? eNi : exceed(k, delta);
    let n = Infinity;
    if (Number.isFinite(eNi) && eNi < 1 - q) n = (Math.log(1 / (alphaNi * CANARY_SHARE)) + 2) / bernoulliKL(eNi, 1 - q);
    if (Number.isFinite(eF) && eF > 1 - q) n = Math.min(n, (Math.log(1 / (alphaFail * CANARY_SHARE)) + 2) / bernoulliKL(eF, 1 - q));
    needed = Math.max(0, Math.ceil(Math.min(1e9, n) - nc));
  }
  return { status, q, canary: estC, baseline: estB, canaryLo: cf.lo, baselineHi: bf.hi, canaryHi: cn.hi, baselineLo: bn.lo, needed };
}

/** Φ(x), Abramowitz & Stegun 26.2.17 (|error| < 7.5e-8): only for the rough "requests needed" estimate */
function normalCdf(x: number): number {
  const t = 1 / (1 + 0.2316419 * Math.abs(x));
  const d = 0.3989422804014327 * Math.exp((-x * x) / 2);
  const p = d * t * (0.31938153 + t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429))));
  return x >= 0 ? 1 - p : p;
}

// ---- Mann–Whitney over histograms ----

const B = LATENCY_BUCKETS;
const DIFF = new Float64Array(2 * B - 1); // D[k + B − 1] = pairs with canary bucket − baseline bucket = k
const TAIL = new Float64Array(2 * B); // TAIL[i] = Σ_{j ≥ i} DIFF[j]

export interface ShiftComparison {
  status: 'pass' | 'fail' | 'marginal' | 'nodata';
  /** Hodges–Lehmann shift of the canary over the baseline as a ratio (1.2 = 20 % slower), bounds likewise */
  ratio: number | null;
  failLo: number | null;
  niHi: number | null;
  /** P(canary slower than baseline) + ½ P(same bucket): 0.5 = no difference */
  auc: number | null;
  z: number | null;
  needed: number;
}

/** F(Δ) = share of pairs where the canary exceeds the baseline shifted by Δ buckets (ties ½), Δ real. */
function fAt(delta: number, mn: number): number {
  const lo = Math.floor(delta);
  const frac = delta - lo;
  const f = (k: number): number => {
    const i = k + B - 1;
    if (i < 0) return 1;
    if (i >= DIFF.length) return 0;
    return (TAIL[i + 1] + 0.5 * DIFF[i]) / mn;
  };
  return f(lo) * (1 - frac) + f(lo + 1) * frac;
}

/** The Δ where F(Δ) = target (F is non-increasing); ±Infinity when out of reach. */
function solveShift(target: number, mn: number): number {
  if (target >= 1) return -Infinity;
  if (target <= 0) return Infinity;
  let lo = -(B - 1);
  let hi = B - 1;
  if (fAt(lo, mn) < target) return -Infinity;
  if (fAt(hi, mn) > target) return Infinity;
  for (let i = 0; i < 50; i++) {
    const mid = (lo + hi) / 2;
    if (fAt(mid, mn) > target) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

export function compareShift(
  c: Float64Array,
  nc: number,
  b: Float64Array,
  nb: number,
  delta: number,
  deltaNi: number,
  alphaFail: number,
  alphaNi: number,
): ShiftComparison {
  if (nc < MIN_N || nb < MIN_N) {
    // before data: a canary like a lognormal(σ ≈ 0.5) baseline sits |F(margin) − ½| ≈ Φ(ln(1+δ_k)/(σ√2)) − ½
    // from the promote margin, and V ≈ 12·n_canary while the baseline has most of the traffic
    const gap = Math.max(1e-3, normalCdf(Math.log(1 + deltaNi) / (0.5 * Math.SQRT2)) - 0.5);
    let n = MIN_N;
    while (n < 1e9 && normalMixtureZ(12 * n, alphaNi, 1000) / Math.sqrt(12 * n) > gap) n *= 1.1;
    return { status: 'nodata', ratio: null, failLo: null, niHi: null, auc: null, z: null, needed: Math.max(0, Math.ceil(n) - nc) };
  }
  DIFF.fill(0);
  let c0 = 0;
  let c1 = B - 1;
  let b0 = 0;
  let b1 = B - 1;
  while (c0 < B && c[c0] === 0) c0++;
  while (c1 > 0 && c[c1] === 0) c1--;
  while (b0 < B && b[b0] === 0) b0++;
  while (b1 > 0 && b[b1] === 0) b1--;
  for (let i = c0; i <= c1; i++) {
    const ci = c[i];
    if (ci === 0) continue;
    const base = i + B - 1;
    for (let j = b0; j <= b1; j++) DIFF[base - j] += ci * b[j];
  }
  TAIL[DIFF.length] = 0;
  for (let i = DIFF.length - 1; i >= 0; i--) TAIL[i] = TAIL[i + 1] + DIFF[i];
  const mn = nc * nb;
  const info = (12 * mn) / (nc + nb + 1);
  const sd = 1 / Math.sqrt(info);
  const rho = 1000;
  const hF = normalMixtureZ(info, alphaFail, rho) * sd;
  const hN = normalMixtureZ(info, alphaNi, rho) * sd;
  const est = solveShift(0.5, mn);
  const failLo = solveShift(0.5 + hF, mn);
  const niHi = solveShift(0.5 - hN, mn);
  const marginBuckets = Math.log(1 + delta) / LOG_BUCKET_RATIO;
  const niBuckets = Math.log(1 + deltaNi) / LOG_BUCKET_RATIO;
  const auc = fAt(0, mn);
  let status: ShiftComparison['status'] = 'marginal';
  if (failLo > marginBuckets) status = 'fail';
  else if (niHi < niBuckets) status = 'pass';
  const toRatio = (d: number): number => Math.exp(d * LOG_BUCKET_RATIO);
  let needed = 0;
  if (status === 'marginal') {
    // distance from the estimate to a margin in F units vs the current half-width: n scales with its
    // square; the promote side is sized at its margin, the fail side at its own, the sooner one counts
    const grow = (gap: number, h: number): number => (gap > 0 ? nc * (h / gap) ** 2 * 1.15 : Infinity);
    let n = Infinity;
    if (est < niBuckets) n = grow(Math.abs(fAt(niBuckets, mn) - 0.5), hN);
    if (est > marginBuckets) n = Math.min(n, grow(Math.abs(fAt(marginBuckets, mn) - 0.5), hF));
    needed = Math.max(0, Math.ceil(Math.min(1e9, n) - nc));
  }
  return { status, ratio: toRatio(est), failLo: toRatio(failLo), niHi: toRatio(niHi), auc, z: (auc - 0.5) / sd, needed };
}
