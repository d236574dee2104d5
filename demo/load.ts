/** A bounded synthetic load for the demo: a fixed request rate to 127.0.0.1, stopping at a deadline or count. */
import { Pool } from 'undici';

export interface LoadOptions {
  url: string;
  ratePerSecond: number;
  durationMs: number;
  maxRequests?: number;
  users?: number;
  onResponse?: (status: number, version: string | undefined) => void;
  /** stops the load early */
  signal?: AbortSignal;
}

export async function runLoad(o: LoadOptions): Promise<{ sent: number; byStatus: Record<number, number> }> {
  const u = new URL(o.url);
  if (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost') throw new Error('demo load only targets 127.0.0.1');
  const pool = new Pool(u.origin, { connections: 32 });
  const deadline = Date.now() + o.durationMs;
  const max = o.maxRequests ?? Number.MAX_SAFE_INTEGER;
  const byStatus: Record<number, number> = {};
  let sent = 0;
  const inflight = new Set<Promise<void>>();
  const send = () => {
    const user = `user-${Math.floor(Math.random() * (o.users ?? 1000))}`;
    const p = pool
      .request({ path: `/api/items/${sent % 50}`, method: 'GET', headers: { 'x-user-id': user } })
      .then(async (r) => {
        await r.body.dump();
        byStatus[r.statusCode] = (byStatus[r.statusCode] ?? 0) + 1;
        o.onResponse?.(r.statusCode, r.headers['x-canaryd-version'] as string | undefined);
      })
      .catch(() => {
        byStatus[0] = (byStatus[0] ?? 0) + 1;
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
    sent++;
  };
  // Paced in 20 ms ticks (a timer per request cannot keep up past a few hundred per second): each tick sends
  // what the rate owes since the start, so the average holds even when a tick runs late.
  const started = Date.now();
  while (Date.now() < deadline && sent < max && !o.signal?.aborted) {
    const owed = Math.min(max, Math.floor(((Date.now() - started) / 1000) * o.ratePerSecond)) - sent;
    for (let i = 0; i < owed && inflight.size < 1000; i++) send();
    await new Promise((r) => setTimeout(r, 20));
  }
  await Promise.all(inflight);
  await pool.close();
  return { sent, byStatus };
}
