/**
 * Special functions the sequential tests need, written out because JavaScript has no lgamma: the log-gamma
 * function (Lanczos, g = 7, n = 9; ~15 significant digits for x > 0), log-beta, and a stable log-sum-exp.
 * Pure and allocation-free: they run thousands of times per analysis.
 */

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];
const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** ln Γ(x) for x > 0: Stirling's series from x ≥ 10 (error < 1e-13; one log), Lanczos below. */
export function lgamma(x: number): number {
  if (x >= 10) {
    const r = 1 / x;
    const r2 = r * r;
    return (x - 0.5) * Math.log(x) - x + HALF_LOG_2PI + r * (1 / 12 - r2 * (1 / 360 - r2 * (1 / 1260 - r2 / 1680)));
  }
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lgamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (z + i);
  return HALF_LOG_2PI + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** ln B(a, b) for a, b > 0. */
export function lbeta(a: number, b: number): number {
  return lgamma(a) + lgamma(b) - lgamma(a + b);
}

/** Kullback–Leibler divergence KL(Bernoulli(p) || Bernoulli(q)) in nats; used to size "requests still needed". */
export function bernoulliKL(p: number, q: number): number {
  const e = 1e-12;
  const pp = Math.min(1 - e, Math.max(e, p));
  const qq = Math.min(1 - e, Math.max(e, q));
  return pp * Math.log(pp / qq) + (1 - pp) * Math.log((1 - pp) / (1 - qq));
}
