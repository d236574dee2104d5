/**
 * Reference judges for the analysis benchmark, written from their public docs and code as honest
 * baselines (not canaryd's math):
 *  - FlaggerStyle: every interval, the canary's own metrics over that interval against fixed thresholds
 *    (Flagger's built-in `request-success-rate` min and `request-duration` p99 max); a failed check
 *    increments a counter that is never reset during the analysis; `threshold` (here failureLimit) failed
 *    checks → rollback; a passing interval advances one step.
 *  - KayentaStyle: every interval, each metric classified by a Mann–Whitney U test (95 %… here 98 %
 *    two-sided, Kayenta's NetflixACAJudge default) of canary vs baseline with Kayenta's classifier rules
 *    (High when the CI's lower end exceeds tolerance 0.25 × the Hodges–Lehmann estimate, and the effect size
 *    — mean ratio — exceeds allowedIncrease = 1 + margin); score = 100 × Pass / (Pass + High), a critical
 *    metric High → 0; score ≥ pass → promote, < marginal → a failed interval, in between → hold.
 *    Metrics: 5xx rate per second (critical), request latency (the two histograms, ties by bucket), and the
 *    per-second p95 series.
 */
import { LATENCY_BUCKETS, histogramQuantile, type WindowRecord } from '../core/index.js';

export type IntervalVerdict = 'pass' | 'fail' | 'hold';

export interface IntervalJudge {
  name: string;
  /** failed intervals counted cumulatively (Flagger) or consecutively (Kayenta, like canaryd's controller) */
  cumulativeFailures: boolean;
  decide(baseline: readonly WindowRecord[], canary: readonly WindowRecord[]): IntervalVerdict;
}

function sumHist(ws: readonly WindowRecord[]): { hist: Float64Array; n: number; errors: number; sumMs: number } {
  const hist = new Float64Array(LATENCY_BUCKETS);
  let n = 0;
  let errors = 0;
  let sumMs = 0;
  for (const w of ws) {
    n += w.clean.requests;
    errors += w.clean.statusClass[4];
    sumMs += w.clean.latencySumMs;
    for (let i = 0; i < LATENCY_BUCKETS; i++) hist[i] += w.clean.latency[i];
  }
  return { hist, n, errors, sumMs };
}

export function flaggerStyle(name: string, maxErrorRate: number, maxP99Ms: number): IntervalJudge {
  return {
    name,
    cumulativeFailures: true,
    decide(_baseline, canary) {
      const c = sumHist(canary);
      if (c.n === 0) return 'fail'; // Flagger: "no values found" fails the check
      const errorRate = c.errors / c.n;
      const p99 = histogramQuantile(c.hist, 0.99);
      return errorRate > maxErrorRate || p99 > maxP99Ms ? 'fail' : 'pass';
    },
  };
}

// ---- Mann–Whitney (fixed-sample, normal approximation), Kayenta classifier rules ----
const Z98 = 2.3263478740408408; // two-sided 98 %

/** HL estimate and CI of (canary − baseline) from two samples of values. */
function mwuSamples(c: number[], b: number[]): { est: number; lo: number; hi: number } {
  const d: number[] = [];
  for (const x of c) for (const y of b) d.push(x - y);
  d.sort((p, q) => p - q);
  const m = c.length;
  const n = b.length;
  const mn = m * n;
  const k = Math.max(0, Math.floor(mn / 2 - Z98 * Math.sqrt((mn * (m + n + 1)) / 12)));
  const est = mn % 2 ? d[(mn - 1) / 2] : (d[mn / 2 - 1] + d[mn / 2]) / 2;
  return { est, lo: d[Math.min(k, mn - 1)], hi: d[Math.max(0, mn - 1 - k)] };
}

/** The same from histograms: differences of bucket indices, weighted by counts (ties are bucket ties). */
function mwuHist(c: Float64Array, nc: number, b: Float64Array, nb: number): { est: number; lo: number; hi: number } {
  const B = LATENCY_BUCKETS;
  const diff = new Float64Array(2 * B - 1);
  for (let i = 0; i < B; i++) {
    if (c[i] === 0) continue;
    for (let j = 0; j < B; j++) if (b[j] !== 0) diff[i - j + B - 1] += c[i] * b[j];
  }
  const mn = nc * nb;
  const half = Z98 * Math.sqrt((mn * (nc + nb + 1)) / 12);
  const at = (rank: number): number => {
    let seen = 0;
    for (let k = 0; k < diff.length; k++) {
      seen += diff[k];
      if (seen >= rank) return k - (B - 1);
    }
    return B - 1;
  };
  return { est: at(mn / 2), lo: at(Math.max(1, mn / 2 - half)), hi: at(Math.min(mn, mn / 2 + half)) };
}

function classify(r: { est: number; lo: number }, effectRatio: number, allowedIncrease: number): 'pass' | 'high' {
  const upperBound = 0.25 * Math.abs(r.est); // Kayenta: tolerance fraction of the HL estimate
  return r.lo > upperBound && r.est > 0 && effectRatio >= allowedIncrease ? 'high' : 'pass';
}

const mean = (xs: number[]): number => xs.reduce((a, x) => a + x, 0) / Math.max(1, xs.length);

export function kayentaStyle(name: string, margin: number, pass: number, marginal: number): IntervalJudge {
  const allowed = 1 + margin;
  return {
    name,
    cumulativeFailures: false,
    decide(baseline, canary) {
      const results: { cls: 'pass' | 'high' | 'nodata'; critical: boolean }[] = [];
      // 5xx rate per second (critical)
      const rc: number[] = [];
      const rb: number[] = [];
      for (const w of canary) if (w.clean.requests > 0) rc.push(w.clean.statusClass[4] / w.clean.requests);
      for (const w of baseline) if (w.clean.requests > 0) rb.push(w.clean.statusClass[4] / w.clean.requests);
      if (rc.length < 3 || rb.length < 3) results.push({ cls: 'nodata', critical: true });
      else {
        const mb = mean(rb);
        results.push({ cls: classify(mwuSamples(rc, rb), mb > 0 ? mean(rc) / mb : Infinity, allowed), critical: true });
      }
      // request latency from the histograms
      const c = sumHist(canary);
      const b = sumHist(baseline);
      if (c.n < 3 || b.n < 3) results.push({ cls: 'nodata', critical: false });
      else results.push({ cls: classify(mwuHist(c.hist, c.n, b.hist, b.n), c.sumMs / c.n / (b.sumMs / b.n), allowed), critical: false });
      // per-second p95 series
      const pc: number[] = [];
      const pb: number[] = [];
      for (const w of canary) if (w.clean.requests >= 20) pc.push(histogramQuantile(w.clean.latency, 0.95));
      for (const w of baseline) if (w.clean.requests >= 20) pb.push(histogramQuantile(w.clean.latency, 0.95));
      if (pc.length < 3 || pb.length < 3) results.push({ cls: 'nodata', critical: false });
      else results.push({ cls: classify(mwuSamples(pc, pb), mean(pc) / mean(pb), allowed), critical: false });
      const counted = results.filter((r) => r.cls !== 'nodata');
      if (counted.length === 0) return 'hold';
      if (counted.some((r) => r.critical && r.cls === 'high')) return 'fail';
      const score = (100 * counted.filter((r) => r.cls === 'pass').length) / counted.length;
      return score >= pass ? 'pass' : score < marginal ? 'fail' : 'hold';
    },
  };
}
