/**
 * Memory of the dashboard's history ring (admin/events/history.ts): heap bytes per kept point, and for a
 * full ring of 900 points, measured over 20 full rings. Run: `npm run build && node --expose-gc
 * dist/bench/history-memory.js`. Results: bench/RESULTS.md.
 */
import { SnapshotHistory, type Snapshot } from '../admin/index.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

const version = () => ({
  rps: Math.random() * 100,
  requests: 5,
  errors: 0,
  errorRate: Math.random(),
  p50Ms: Math.random() * 10,
  p95Ms: Math.random() * 10,
  p99Ms: Math.random() * 10,
  faultedRequests: 0,
});
const snapshot = (to: number): Snapshot => ({
  type: 'snapshot',
  from: to - 5000,
  to,
  spanMs: 5000,
  weights: { baseline: 75, canary: 25 },
  versions: { baseline: version(), canary: version() },
});

const RINGS = 20;
const rings: SnapshotHistory[] = [];
gc();
const before = process.memoryUsage().heapUsed;
for (let k = 0; k < RINGS; k++) {
  const h = new SnapshotHistory();
  for (let i = 1; i <= h.capacity; i++) h.add(snapshot(i * 1000));
  rings.push(h);
}
gc();
const bytes = (process.memoryUsage().heapUsed - before) / RINGS;
console.log(
  `history ring: ${rings[0].size} points, ${(bytes / 1024).toFixed(0)} KiB per full ring, ${(bytes / rings[0].size).toFixed(0)} bytes per point`,
);
