/**
 * The live rig of issue 12's pace targets: a real canaryd process in front of two sample upstreams (~2 ms,
 * baseline 0.2 % 5xx), steps [10, 50, 100], interval 3 s, minRequests 100, everything else at its default,
 * and one open-loop client at ~250 req/s. Used by test/rollout-pace*.test.ts.
 */
import type { Test } from 'tap';
import { Pool } from 'undici';
import { startSampleUpstream } from '../../demo/upstream.js';
import { configYaml, spawnCanaryd, type CanarydProcess } from './canaryd.js';
import { rng } from './windows.js';

export const ROLLOUT = `rollout:
  autoStart: true
  steps: [10, 50, 100]
  interval: 3s
  minRequests: 100
`;

/** Open-loop paced load: `perTick` requests every 20 ms (250 req/s at 5), at most 400 in flight, until stopped or `maxMs`. */
export function startLoad(url: string, perTick = 5, maxMs = 300_000) {
  const pool = new Pool(url, { connections: 32 });
  let running = true;
  let inFlight = 0;
  let n = 0;
  const done = (async () => {
    const deadline = Date.now() + maxMs;
    while (running && Date.now() < deadline) {
      for (let i = 0; i < perTick && inFlight < 400; i++) {
        inFlight++;
        pool
          .request({ path: `/items/${n % 20}`, method: 'GET', headers: { 'x-user-id': `u${n++ % 1000}` } })
          .then(
            (r) => r.body.dump(),
            () => {},
          )
          .finally(() => inFlight--);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      await pool.close();
    },
  };
}

export async function json(url: string): Promise<any> {
  return (await fetch(url)).json();
}

export async function waitForEnd(p: CanarydProcess, maxMs: number): Promise<any> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    const s = await json(`${p.adminUrl}/api/v1/rollout`);
    if (['promoted', 'rolledback', 'paused'].includes(s.phase) || Date.now() > deadline) return s;
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function paceRig(t: Test, canary: { errorRate: number; latencyMs: number }) {
  // Seeded error sequences (seed 12 gives exactly 10 errors in its first 200 draws at 5 %): whether the 5xx
  // land early or late in the step is then the same on every run,
  // so the request count at rollback measures the engine, not the luck of Math.random.
  const base = await startSampleUpstream({ name: 'baseline', latencyMs: 2, errorRate: 0.002, random: rng(11) });
  const can = await startSampleUpstream({ name: 'canary', ...canary, random: rng(12) });
  const p = await spawnCanaryd(configYaml(base.url, can.url, ROLLOUT));
  const load = startLoad(p.url);
  t.teardown(async () => {
    await load.stop();
    p.child.kill('SIGKILL');
    await base.close();
    await can.close();
  });
  return p;
}

export async function decisions(p: CanarydProcess): Promise<any[]> {
  return (await json(`${p.adminUrl}/api/v1/decisions?limit=500`)).decisions;
}
