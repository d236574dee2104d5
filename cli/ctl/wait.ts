/**
 * `canaryd ctl wait --until promoted|rolledback --timeout 10m`, for deploy pipelines: polls the rollout
 * status every second until it ends. Exit 0 when the awaited state is reached, 1 when the rollout ended the
 * other way, 2 on timeout, 3 on an API error that waiting cannot fix (auth, no rollout controller).
 * canaryd being briefly unreachable (a restart) is retried until the timeout.
 */
import type { StatusView } from '../../contract/index.js';
import { AdminClient, CtlError } from './client.js';
import { num, terminalPhase } from './format.js';

export const WAIT_EXIT = { reached: 0, other: 1, timeout: 2, error: 3 } as const;

export async function waitFor(
  c: AdminClient,
  until: 'promoted' | 'rolledback',
  timeoutMs: number,
  log: (s: string) => void,
  pollMs = 1000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let lastPhase: string | null = null;
  let lastProblem = '';
  for (;;) {
    try {
      const s = await c.get<StatusView>('/api/v1/status');
      lastProblem = '';
      if (!s.rollout) {
        log(`canaryd at ${c.base} reports no rollout (no rollout controller): nothing to wait for`);
        return WAIT_EXIT.error;
      }
      const phase = s.rollout.phase;
      if (phase !== lastPhase) {
        log(`rollout ${phase}, canary ${num(s.rollout.canaryWeight)}%`);
        lastPhase = phase;
      }
      const end = terminalPhase(s.rollout);
      if (end !== null) {
        log(end === until ? `rollout ${end}` : `rollout ${end} (waited for ${until})`);
        return end === until ? WAIT_EXIT.reached : WAIT_EXIT.other;
      }
    } catch (e) {
      if (!(e instanceof CtlError)) throw e;
      if (e.status !== 0 && e.status < 500) {
        log(e.message);
        return WAIT_EXIT.error;
      }
      if (e.message !== lastProblem) log(`${e.message} (retrying)`);
      lastProblem = e.message;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      log(
        `timed out after ${Math.round(timeoutMs / 1000)} s waiting for the rollout to be ${until}${lastPhase ? ` (last phase ${lastPhase})` : ''}`,
      );
      return WAIT_EXIT.timeout;
    }
    await new Promise((r) => setTimeout(r, Math.min(pollMs, left)));
  }
}
