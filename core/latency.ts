/**
 * The one latency bucket layout used by the in-process window record and by the analysis engine.
 * Log-spaced at 2^(1/8) (~9 % wide) from 0.1 ms to ~2 min, so a quantile read from it is within ~4.5 %
 * of the true value: fine enough for a +10 % p95 comparison, small enough to copy per window.
 * Bucket i holds durations in (BOUNDS[i-1], BOUNDS[i]]; the last bucket is +Inf.
 */

const RATIO = Math.pow(2, 1 / 8);
const FIRST_MS = 0.1;
const COUNT = 162; // 0.1 ms * 2^(161/8) ~ 112 s, then +Inf

function makeBounds(): Float64Array {
  const b = new Float64Array(COUNT + 1);
  for (let i = 0; i < COUNT; i++) b[i] = FIRST_MS * Math.pow(RATIO, i);
  b[COUNT] = Infinity;
  return b;
}

/** Upper bounds in ms, inclusive; last is Infinity. */
export const LATENCY_BOUNDS_MS: Float64Array = makeBounds();
export const LATENCY_BUCKETS = LATENCY_BOUNDS_MS.length;
const LOG_RATIO = Math.log(RATIO);

/** Index of the bucket for a duration in ms. O(1): a log, then at most one correction step. */
export function latencyBucket(ms: number): number {
  if (!(ms > FIRST_MS)) return 0;
  let i = Math.ceil(Math.log(ms / FIRST_MS) / LOG_RATIO);
  if (i >= COUNT) return COUNT;
  if (LATENCY_BOUNDS_MS[i] < ms) i++;
  else if (i > 0 && LATENCY_BOUNDS_MS[i - 1] >= ms) i--;
  return i;
}

/** The q-quantile (0..1) of a bucket histogram, interpolated log-linearly inside the bucket. NaN if empty. */
export function histogramQuantile(counts: ArrayLike<number>, q: number): number {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  if (total === 0) return NaN;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i];
    if (c === 0) continue;
    if (seen + c >= rank) {
      const lo = i === 0 ? FIRST_MS / RATIO : LATENCY_BOUNDS_MS[i - 1];
      const hi = i >= COUNT ? lo * RATIO : LATENCY_BOUNDS_MS[i];
      const frac = c === 0 ? 0 : Math.min(1, Math.max(0, (rank - seen) / c));
      return lo * Math.pow(hi / lo, frac);
    }
    seen += c;
  }
  return LATENCY_BOUNDS_MS[COUNT - 1];
}

export function emptyHistogram(): Uint32Array {
  return new Uint32Array(LATENCY_BUCKETS);
}
