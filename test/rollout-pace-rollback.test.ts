/**
 * The rollback side of issue 12's live targets (test/helpers/pace.ts): a canary at 5 % 5xx and one 150 ms
 * slower are rolled back quickly — judged by the canary requests the engine had seen when it rolled back,
 * not by a wall-clock budget. Carrying evidence and promoting faster must not cost these.
 */
import t from 'tap';
import { decisions, paceRig, waitForEnd } from './helpers/pace.js';

t.test('a canary at 5 % 5xx is rolled back within 200 canary requests', async (t) => {
  const p = await paceRig(t, { errorRate: 0.05, latencyMs: 2 });
  const end = await waitForEnd(p, 60_000);
  t.equal(end.phase, 'rolledback', `ended ${end.phase}`);
  const rb = (await decisions(p)).find((d) => d.action === 'ROLLBACK');
  const n = rb.report.arms.canary.requests;
  t.ok(n <= 200, `rolled back after ${n} canary requests: ${rb.summary}`);
  t.match(rb.reasons.join('\n'), /errorRate/);
  t.equal(rb.step, 0, 'caught at the first step');
});

t.test('a canary 150 ms slower is rolled back within 300 canary requests', async (t) => {
  const p = await paceRig(t, { errorRate: 0.002, latencyMs: 152 });
  const end = await waitForEnd(p, 60_000);
  t.equal(end.phase, 'rolledback', `ended ${end.phase}`);
  const rb = (await decisions(p)).find((d) => d.action === 'ROLLBACK');
  const n = rb.report.arms.canary.requests;
  t.ok(n <= 300, `rolled back after ${n} canary requests: ${rb.summary}`);
  t.match(rb.reasons.join('\n'), /p95|p99|latency/);
});
