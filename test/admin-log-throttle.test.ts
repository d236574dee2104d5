/** LogThrottle with a fake clock: at most `limit` lines per kind per window, then one summary per kind. */
import t from 'tap';
import { LogThrottle } from '../admin/log-throttle.js';

t.test('per kind: 10 lines, then a summary of the suppressed ones when the window rolls over', async (t) => {
  let now = 1_000;
  const lines: Array<{ obj: any; msg: string }> = [];
  const th = new LogThrottle({ warn: (obj, msg) => lines.push({ obj, msg }) }, { limit: 10, windowMs: 10_000, now: () => now });
  let logged = 0;
  for (let i = 0; i < 500; i++) if (th.warn('wrong-token', { i }, 'admin auth failed')) logged++;
  for (let i = 0; i < 3; i++) th.warn('rate-limited', { i }, 'admin auth rate-limited');
  t.equal(logged, 10, 'ten lines of one kind');
  t.equal(lines.length, 13, 'the other kind has its own budget');
  now += 10_000;
  t.ok(th.warn('wrong-token', { i: 'next' }, 'admin auth failed'), 'a new window logs again');
  const summary = lines.find((l) => l.obj.event === 'log_suppressed');
  t.same(summary?.obj, { event: 'log_suppressed', kind: 'wrong-token', suppressed: 490, windowMs: 10_000 });
  t.equal(summary?.msg, 'admin auth failed: 490 more like this in the last 10 s not logged');
  t.equal(lines.filter((l) => l.obj.event === 'log_suppressed').length, 1, 'no summary for a kind that suppressed nothing');
});

t.test('the summary comes out from a timer when the flood stops', async (t) => {
  const lines: Array<{ obj: any; msg: string }> = [];
  const th = new LogThrottle({ warn: (obj, msg) => lines.push({ obj, msg }) }, { limit: 2, windowMs: 50 });
  for (let i = 0; i < 7; i++) th.warn('k', {}, 'm');
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => lines.some((l) => l.obj.event === 'log_suppressed') && (clearInterval(poll), resolve()), 10);
  });
  t.same(lines.find((l) => l.obj.event === 'log_suppressed')?.obj.suppressed, 5);
});
