/**
 * `canaryd ctl plan` and `canaryd ctl pins`: what the current traffic can show before a start
 * (POST /api/v1/rollout/plan, analysis/rollout/forecast.ts), and the canary pins a rollback suspends
 * (POST /api/v1/rollout/pins).
 */
import type { PlanResult, RolloutStatus } from '../../contract/index.js';
import type { AdminClient } from './client.js';
import type { Io } from './commands.js';
import { UsageError } from './commands.js';

const secs = (s: number | null): string => (s === null ? 'not expected' : s < 90 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`);

export async function plan(c: AdminClient, io: Io, body: Record<string, number>): Promise<number> {
  const p = await c.request<PlanResult>('POST', '/api/v1/rollout/plan', body);
  if (io.json) return (io.out(JSON.stringify(p, null, 2)), 0);
  const i = p.input ?? {};
  io.out(
    `traffic: ${Math.round(i.rate ?? 0)} req/s, baseline 5xx ${((i.errorRate ?? 0) * 100).toFixed(2)} %${p.measured ? ` (measured over the last ${Math.round(p.measured.seconds)} s)` : ''}`,
  );
  for (const s of p.steps ?? []) {
    io.out(
      `  step ${String(s.weight).padStart(3)} %: ${secs(s.seconds).padEnd(13)} ${s.decidedBy}${s.mde5xxRatio ? `; detects 5xx ×${s.mde5xxRatio.toFixed(2)} by its end` : ''}`,
    );
  }
  io.out(
    `a good canary reaches 100 % in: ${secs(p.secondsToFullPromotion)}${p.mde5xxRatio ? `; smallest 5xx regression caught on the way: ×${p.mde5xxRatio.toFixed(2)}` : ''}`,
  );
  for (const n of p.notes ?? []) io.out(`note: ${n}`);
  return 0;
}

export async function pins(c: AdminClient, io: Io, args: string[]): Promise<number> {
  const what = args[0];
  if (args.length !== 1 || (what !== 'resume' && what !== 'suspend')) throw new UsageError('pins takes one argument: resume | suspend');
  const r = await c.request<RolloutStatus>('POST', '/api/v1/rollout/pins', { suspended: what === 'suspend' });
  if (io.json) return (io.out(JSON.stringify(r, null, 2)), 0);
  io.out(r.pinsSuspended ? `canary pins suspended: ${(r.suspendedPins ?? []).join(', ') || 'none configured'}` : 'canary pins re-enabled');
  return 0;
}
