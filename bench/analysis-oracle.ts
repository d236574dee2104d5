/**
 * How fast could any valid test catch the 2×-error canary? An oracle SPRT that knows the true ratio (2)
 * tests "ratio ≤ margin" with the same stratified conditional likelihood as canaryd's error test, on
 * stationary Poisson traffic at a 5 % canary share (1 % baseline 5xx, 100 canary req/s). Its median sample
 * size is a floor for any test at that α (Wald–Wolfowitz optimality of the SPRT); `npm run build` then
 * `node dist/bench/analysis-oracle.js`.
 */
import { Rng } from './analysis-sim.js';

function medianRequests(alpha: number, r0: number, runs: number, seed: number): number {
  const rng = new Rng(seed);
  const share = 0.05;
  const rate = 2000;
  const out: number[] = [];
  const llrPerCanaryEvent = Math.log(2 / r0);
  for (let k = 0; k < runs; k++) {
    let llr = 0;
    let n = 0;
    for (let t = 0; t < 3600; t++) {
      const nc = rng.poisson(rate * share);
      const nb = rng.poisson(rate * (1 - share));
      const x = rng.binomial(nc, 0.02);
      const y = rng.binomial(nb, 0.01);
      n += nc;
      if (nc === 0 || nb === 0) continue;
      const s = nc / (nc + nb);
      llr += x * llrPerCanaryEvent - (x + y) * Math.log((2 * s + 1 - s) / (r0 * s + 1 - s));
      if (llr >= Math.log(1 / alpha)) break;
    }
    out.push(n);
  }
  out.sort((a, b) => a - b);
  return out[Math.floor(runs / 2)];
}

// 0.0012 = the error test's share (0.6) of an equal step (0.002); 0.003 = the same of the front plan's first
// step (0.005); 0.005 = the whole first step; 0.01 = the whole rollout budget
for (const [alpha, r0] of [
  [0.0012, 1.1],
  [0.003, 1.1],
  [0.005, 1.1],
  [0.01, 1.1],
  [0.002, 1],
] as const) {
  console.log(
    `oracle SPRT, α = ${alpha}, margin ratio ${r0}: median ${medianRequests(alpha, r0, 2000, 7).toLocaleString('en-US')} canary requests (2,000 runs)`,
  );
}
