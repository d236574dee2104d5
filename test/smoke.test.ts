import t from 'tap';
import { latencyBucket, LATENCY_BOUNDS_MS, histogramQuantile, emptyHistogram } from '../core/index.js';

t.test('latency buckets are consistent with their bounds', async (t) => {
  for (const ms of [0, 0.05, 0.1, 0.11, 1, 1.5, 10, 99.9, 1000, 5e4, 1e9]) {
    const i = latencyBucket(ms);
    t.ok(ms <= LATENCY_BOUNDS_MS[i], `${ms} <= upper bound of ${i}`);
    if (i > 0) t.ok(ms > LATENCY_BOUNDS_MS[i - 1], `${ms} > lower bound of ${i}`);
  }
  const h = emptyHistogram();
  for (let k = 1; k <= 1000; k++) h[latencyBucket(k)]++;
  const p95 = histogramQuantile(h, 0.95);
  t.ok(Math.abs(p95 - 950) / 950 < 0.05, `p95 ${p95} within 5% of 950`);
});
