/**
 * Promotion pace over a real canaryd process, real sample upstreams and real traffic (issue 12's live
 * target, test/helpers/pace.ts): both versions 0.2 % 5xx and ~2 ms. The good canary is promoted to 100 % by
 * the engine alone (the defaults: per-step evidence, the harm bound), judged by outcome; the seconds each
 * promotion took are in the assertion messages (and bench/RESULTS.md), never asserted against a budget.
 */
import t from 'tap';
import { decisions, paceRig, waitForEnd } from './helpers/pace.js';

// a real rollout at real speed on a shared machine: give the file room beyond tap's 180 s default
t.setTimeout(300_000);

t.test('a good canary (0.2 % 5xx like its baseline) is promoted to 100 % by the engine alone', async (t) => {
  const p = await paceRig(t, { errorRate: 0.002, latencyMs: 2 });
  // the wait only bounds the test; the outcome is what is asserted
  const end = await waitForEnd(p, 160_000);
  const ds = await decisions(p);
  const started = ds.find((d) => d.source === 'manual' && d.action === 'PROMOTE')?.at;
  const promotions = ds.filter((d) => d.action === 'PROMOTE' && d.source === 'analysis').reverse();
  const took = promotions.map((d) => ((d.at - started) / 1000).toFixed(1));
  t.equal(end.phase, 'promoted', `ended ${end.phase} (${end.lastDecision?.summary ?? ''}); promotions after ${took.join(' s, ')} s`);
  t.equal(promotions.length, 2, `10 → 50 → 100 by the analysis, after ${took.join(' s and ')} s`);
  for (const d of promotions) {
    t.equal(d.report.promotable, true);
    t.match(d.summary, /ready to promote/, 'each promotion carries a one-line summary');
  }
  const last = promotions[promotions.length - 1];
  t.ok(last.report.harm.nextWeight === 1, 'the final promotion was judged at 100 %');
  t.ok(last.report.nonInferior || last.report.harm.within, 'shown within maxDegradation or under the final harm floor');
  t.ok(
    Array.isArray(last.report.mde) && last.report.mde[0].ratio > 1,
    `the report says what the traffic can detect: ${last.report.mde.map((m: any) => m.text).join(', ')}`,
  );
});
