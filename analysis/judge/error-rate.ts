/**
 * Error-rate comparison (5xx share, and the non-success share 4xx+5xx): canary vs the time-matched baseline.
 *
 * Margin: the canary is "no worse than the margin" when p_c ≤ max((1+δ)·p_b, floor), δ = maxDegradation and
 * floor a small absolute rate (default δ·slo.maxErrorRate) below which no error rate counts as a regression.
 *
 * Fail side — an intersection–union test (Berger 1982): reject "ratio ≤ 1+δ" AND reject "p_c ≤ floor",
 * each at the check's full α, so a canary inside either half of the margin fails with probability ≤ α.
 *  - The ratio half is a conditional mixture SPRT stratified by window: given the E_w errors seen in window
 *    w, each is the canary's with probability π_w(r) = r·s_w / (r·s_w + 1 − s_w) (s_w the canary's share of
 *    the window's requests, r = p_c/p_b, Poisson approximation). The baseline's own rate — bursts, drift,
 *    diurnal swings — cancels out of every window (Mantel–Haenszel-style stratification; the same
 *    conditioning as the Binomial MaxSPRT of Kulldorff et al. 2011 and the count tests of Lindon, Sanden &
 *    Shirikian 2022, "Rapid regression detection in software deployments through sequential testing").
 *    The e-process is a discrete mixture over r/(1+δ) ∈ {1.2 … 30} of likelihood ratios; each factor is a
 *    supermartingale under any r ≤ 1+δ (its mean is linear in π and 1 at the boundary), so Ville's
 *    inequality bounds the chance it ever reaches 1/α by α. It is replayed window by window, so "crossed"
 *    is sticky for the step and names the window where it happened.
 *  - The floor half is the canary's own beta-binomial confidence sequence: its lower end above the floor.
 * Promote side (non-inferiority) — against the promote margin max((1+δ_k)·p_b, floor_k), δ_k ≥ δ (the
 * exposure-scaled margin of the step, analysis/rollout/plan.ts; δ_k = δ in fixed mode): reject "ratio ≥
 * 1+δ_k and p_c ≥ floor_k": either the mirrored mixture over r ∈ {0.3 … 1 + δ_k/2} (most weight on r = 1,
 * every r < 1+δ_k, so each factor is a supermartingale under any ratio ≥ 1+δ_k by the same linearity
 * argument) reaches 1/(0.8α), or the canary's confidence sequence lies under floor_k at 0.2α (union bound
 * over the two halves). The fail side never sees δ_k: the false-rollback guarantee does not depend on it.
 */
import { bernoulliKL } from './special.js';
import { beyond } from './sequential.js';
import type { Strata } from './aggregate.js';

const FAIL_MULT = [1.2, 1.45, 1.75, 2.1, 2.6, 3.5, 5, 10, 30];
/**
 * Prior weights of the fail-side alternatives. A nat of evidence costs about 1/KL(m) canary requests, cheap
 * for a large regression (a handful of errors, or the hard SLO breach, settles it) and dear for a moderate
 * one, so most weight sits on 1.2–2.1× the margin and little on ≥ 3.5×. Measured (bench/RESULTS.md): against
 * the earlier flatter weights (0.12, 0.14, 0.15, 0.14, 0.12, 0.11, 0.09, 0.07, 0.06) this detects +0.5 pp
 * errors ~7 % and 2× errors ~4 % sooner (2,000 req/s, front plan); any weights summing to 1 keep the test valid.
 */
const FAIL_W = [0.16, 0.2, 0.2, 0.16, 0.1, 0.07, 0.05, 0.035, 0.025];
/**
 * Promote-side alternatives as absolute ratios r (canary/baseline), each < 1+δ_k (δ_k the promote margin):
 * the most weight on r = 1, "the canary behaves like the baseline", the typical good canary; the rest on
 * better, and on halfway to the promote boundary (a canary a little worse, still inside δ_k).
 */
const NI_RATIO = (delta: number): number[] => [1 + 0.5 * delta, 1, 0.9, 0.75, 0.55, 0.3];
const NI_W = [0.15, 0.35, 0.2, 0.12, 0.1, 0.08];
const FAIL_LOGM = FAIL_MULT.map(Math.log);
const FAIL_LOGW = FAIL_W.map(Math.log);
const LLR_F = new Float64Array(FAIL_MULT.length);
/** the same mixture restarted at the current step's first window (evidence carried across steps, FailMix) */
const LLR_S = new Float64Array(FAIL_MULT.length);

/**
 * Weights of the fail-side e-process when evidence is carried across steps: E = rollout·M(rollout start) +
 * step·M(current step's start) + rest. Each later analysed step's start gets a fixed weight in advance
 * (they sum with `rollout` to 1); `rest` is the weight of the steps not started yet, whose components are
 * still 1. A mixture of test supermartingales with fixed weights is one, and the components of earlier
 * steps' starts are left out, which only lowers the sum: Ville's bound holds for the whole rollout, and a
 * regression that shows only at a higher weight is not diluted by the evidence gathered at smaller ones.
 * Default {1, 0, 0}: one e-process over the data given (per-step evidence).
 */
export interface FailMix {
  rollout: number;
  step: number;
  rest: number;
}
export const SINGLE: FailMix = Object.freeze({ rollout: 1, step: 0, rest: 0 });

function mixed(mix: FailMix, restart: boolean, stepStarted: boolean): number {
  const r = logMix(LLR_F, FAIL_LOGW);
  const s = restart ? (stepStarted ? logMix(LLR_S, FAIL_LOGW) : 0) : r;
  const terms = [
    mix.rollout > 0 ? Math.log(mix.rollout) + r : -Infinity,
    mix.step > 0 ? Math.log(mix.step) + s : -Infinity,
    mix.rest > 0 ? Math.log(mix.rest) : -Infinity,
  ];
  const m = Math.max(...terms);
  if (m === -Infinity) return -Infinity;
  return m + Math.log(terms.reduce((a, t) => a + Math.exp(t - m), 0));
}

let NI_FOR = NaN;
let NI_MULT: number[] = [];
let NI_LOGM: number[] = [];
let NI_LOGW: number[] = [];
let LLR_N = new Float64Array(0);

/** The promote-side grid for margin ratio r0 (memoised for the last r0; components ≥ r0 are dropped). */
function niGrid(r0: number): void {
  if (r0 === NI_FOR) return;
  const rs = NI_RATIO(r0 - 1);
  const keep = rs.map((r, j) => [r / r0, NI_W[j]] as const).filter(([m]) => m < 1);
  const total = keep.reduce((a, [, w]) => a + w, 0);
  NI_MULT = keep.map(([m]) => m);
  NI_LOGM = NI_MULT.map(Math.log);
  NI_LOGW = keep.map(([, w]) => Math.log(w / total));
  LLR_N = new Float64Array(NI_MULT.length);
  NI_FOR = r0;
}

function logMix(llr: Float64Array, logw: readonly number[]): number {
  let max = -Infinity;
  for (let j = 0; j < llr.length; j++) if (llr[j] + logw[j] > max) max = llr[j] + logw[j];
  let s = 0;
  for (let j = 0; j < llr.length; j++) s += Math.exp(llr[j] + logw[j] - max);
  return max + Math.log(s);
}

export interface RatioEvidence {
  /** ln e-value of "canary worse than (1+δ)×" (the fail margin) now, and its maximum over the step (replayed) */
  failLogE: number;
  failMaxLogE: number;
  /** start (epoch ms) of the window where ln e first reached the fail boundary, or null */
  crossedAt: number | null;
  /** ln e-value of "canary within (1+δ_k)×" (the promote margin) now */
  niLogE: number;
  /** Mantel–Haenszel rate ratio over the strata (null without events on both sides) */
  mhRatio: number | null;
  events: number;
}

/**
 * Replays the conditional mixture tests over the strata. `xc`/`xb` are the event counts (5xx or
 * non-success); `r0` is the fail margin ratio 1+δ, `r0Ni` the promote margin ratio 1+δ_k (≥ r0).
 */
export function conditionalRatioTest(
  st: Strata,
  xc: Float64Array,
  xb: Float64Array,
  r0: number,
  r0Ni: number,
  failBoundary: number,
  stepStart = -Infinity,
  mix: FailMix = SINGLE,
): RatioEvidence {
  niGrid(r0Ni);
  LLR_F.fill(0);
  LLR_S.fill(0);
  LLR_N.fill(0);
  // the restart component exists only when the data go back past the current step's start
  const restart = st.count > 0 && stepStart > st.start[0] && mix.step > 0;
  const plain = mix.rollout === 1 && mix.step === 0 && mix.rest === 0;
  let failMax = -Infinity;
  let crossedAt: number | null = null;
  let mhNum = 0;
  let mhDen = 0;
  let events = 0;
  const logK = Math.log(FAIL_MULT.length);
  for (let w = 0; w < st.count; w++) {
    const nc = st.nc[w];
    const nb = st.nb[w];
    const x = xc[w];
    const e = x + xb[w];
    if (e === 0 || nc === 0 || nb === 0) continue;
    events += e;
    const n = nc + nb;
    mhNum += (x * nb) / n;
    mhDen += (xb[w] * nc) / n;
    const s = nc / n;
    const ru = (r0 * s) / (r0 * s + 1 - s); // (r − r0)·u = (m − 1)·r0·u with u = s/(r0 s + 1 − s)
    const ruN = r0Ni === r0 ? ru : (r0Ni * s) / (r0Ni * s + 1 - s); // the same, at the promote boundary
    let top = -Infinity;
    const inStep = restart && st.start[w] >= stepStart;
    for (let j = 0; j < FAIL_MULT.length; j++) {
      const f = x * FAIL_LOGM[j] - e * Math.log1p((FAIL_MULT[j] - 1) * ru);
      LLR_F[j] += f;
      if (inStep) LLR_S[j] += f;
      const v = Math.max(LLR_F[j], inStep ? LLR_S[j] : -Infinity) + FAIL_LOGW[j];
      if (v > top) top = v;
    }
    for (let j = 0; j < NI_MULT.length; j++) LLR_N[j] += x * NI_LOGM[j] - e * Math.log1p((NI_MULT[j] - 1) * ruN);
    // exact mixture only when it could matter (the max term bounds it within ln K)
    if (top + logK > failMax) {
      const m = plain ? logMix(LLR_F, FAIL_LOGW) : mixed(mix, restart, inStep);
      if (m > failMax) failMax = m;
      if (crossedAt === null && m >= failBoundary) crossedAt = st.start[w];
    }
  }
  const failLogE = events > 0 ? (plain ? logMix(LLR_F, FAIL_LOGW) : mixed(mix, restart, true)) : 0;
  return {
    failLogE,
    failMaxLogE: Math.max(failMax, failLogE),
    crossedAt,
    niLogE: events > 0 && NI_MULT.length > 0 ? logMix(LLR_N, NI_LOGW) : 0,
    mhRatio: mhDen > 0 ? mhNum / mhDen : null,
    events,
  };
}

export interface RateComparison {
  status: 'pass' | 'fail' | 'marginal' | 'nodata';
  ratio: RatioEvidence;
  floorFailShown: boolean;
  floorNiShown: boolean;
  ratioNiShown: boolean;
  /** canary requests still expected to be needed for a verdict (0 when decided) */
  needed: number;
}

export const MIN_ARM_REQUESTS = 20;
/** share of the promote-side α given to the floor half (the ratio half gets the rest): the floor only
 * matters for near-zero baselines, so it gets the smaller part */
export const NI_FLOOR_SHARE = 0.2;

/**
 * The two margins of a rate comparison: fail beyond max(r0·p_b, floor), promote within
 * max(r0Ni·p_b, floorNi); r0Ni ≥ r0 and floorNi ≥ floor (equal in fixed mode).
 */
export interface RateMargins {
  r0: number;
  floor: number;
  r0Ni: number;
  floorNi: number;
}

/**
 * Classifies one rate comparison. `alphaFail` is this check's share of the false-rollback budget,
 * `alphaNi` its false-promotion level.
 */
export function compareRates(
  st: Strata,
  xc: Float64Array,
  xb: Float64Array,
  totals: { nc: number; nb: number; xc: number; xb: number },
  margin: RateMargins,
  alphaFail: number,
  alphaNi: number,
  stepStart = -Infinity,
  mix: FailMix = SINGLE,
): RateComparison {
  const failB = Math.log(1 / alphaFail);
  const ratio = conditionalRatioTest(st, xc, xb, margin.r0, margin.r0Ni, failB, stepStart, mix);
  // the floor halves need only "is the floor outside the canary's confidence sequence, and on which side"
  const floorFailShown = beyond(totals.xc, totals.nc, margin.floor, alphaFail) === 1;
  const floorNiShown = beyond(totals.xc, totals.nc, margin.floorNi, alphaNi * NI_FLOOR_SHARE) === -1;
  const ratioNiShown = ratio.niLogE >= Math.log(1 / (alphaNi * (1 - NI_FLOOR_SHARE)));
  let status: RateComparison['status'];
  if (totals.nc < MIN_ARM_REQUESTS || totals.nb < MIN_ARM_REQUESTS) status = 'nodata';
  else if (ratio.crossedAt !== null && floorFailShown) status = 'fail';
  else if (ratioNiShown || floorNiShown) status = 'pass';
  else status = 'marginal';
  const needed = status === 'pass' || status === 'fail' ? 0 : neededRequests(totals, margin, alphaFail, alphaNi);
  return { status, ratio, floorFailShown, floorNiShown, ratioNiShown, needed };
}

/**
 * Expected canary requests for a verdict if the current estimates are the truth: the evidence of a
 * likelihood-ratio test grows by the KL divergence per observation (Wald), plus ~2 nats for the mixture.
 * A canary inside the promote margin is sized against it (the promotion it is waiting for); one beyond the
 * fail margin against that; one between the two margins (possible when δ_k > δ) by whichever comes first.
 * Without canary data the canary is assumed to behave like the baseline.
 */
function neededRequests(t: { nc: number; nb: number; xc: number; xb: number }, m: RateMargins, aF: number, aN: number): number {
  const pb = t.nb > 0 ? (t.xb + 0.5) / (t.nb + 1) : m.floor / 2; // no data at all: assume a clean service
  const pc = t.nc >= MIN_ARM_REQUESTS ? (t.xc + 0.5) / (t.nc + 1) : pb;
  const s = t.nc > 0 && t.nb > 0 ? t.nc / (t.nc + t.nb) : 0.05;
  const r = pc / pb;
  const pi1 = (r * s) / (r * s + 1 - s);
  const eventsPerCanary = pc + (pb * (1 - s)) / s;
  const ratioInfo = (r0: number): number => bernoulliKL(pi1, (r0 * s) / (r0 * s + 1 - s)) * eventsPerCanary;
  let n = Infinity;
  if (pc < Math.max(m.r0Ni * pb, m.floorNi)) {
    const L = Math.log(1 / (aN * (1 - NI_FLOOR_SHARE))) + 2;
    const Lf = Math.log(1 / (aN * NI_FLOOR_SHARE)) + 2;
    n = Math.min(pc < m.r0Ni * pb ? L / ratioInfo(m.r0Ni) : Infinity, pc < m.floorNi ? Lf / bernoulliKL(pc, m.floorNi) : Infinity);
  }
  if (pc > Math.max(m.r0 * pb, m.floor)) {
    const L = Math.log(1 / aF) + 2;
    n = Math.min(n, Math.max(L / ratioInfo(m.r0), L / bernoulliKL(pc, m.floor)));
  }
  return Math.max(0, Math.ceil(Math.min(1e9, n) - t.nc));
}
