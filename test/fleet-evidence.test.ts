/**
 * Merged evidence: the leader judges the sum of every replica's per-second windows. With the same total
 * traffic, a canary with twice the baseline's error rate is rolled back after fewer requests per replica
 * in a fleet of three than a single replica needs (it needs about the same total, spread over three).
 * Real redis-server, real canaryd processes, real upstreams answering 500 to every 20th (baseline) or
 * every 10th (canary) request.
 */
import t from 'tap';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { startRedis } from './helpers/redis.js';
import { api, fleetYaml, leaderOf, startFleet, stopFleet, type Replica } from './helpers/fleet.js';

async function failingEvery(n: number): Promise<{ url: string; close(): Promise<void> }> {
  let i = 0;
  const s: Server = createServer((_req, res) => {
    res.statusCode = ++i % n === 0 ? 500 : 200;
    res.end('x');
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, close: () => new Promise((r) => s.close(() => r())) };
}

// only the canary-vs-baseline comparison decides: no SLO breach at these rates, no anomaly hold
const ROLLOUT = `rollout:
  steps: [50, 100]
  interval: 1h
  analysisInterval: 200ms
  slo: { maxErrorRate: 0.5, minSuccessRate: 0.5 }
  anomaly: { enabled: false }
`;

/** Round-robin load over the replicas, 8 at a time, until the rollout is rolled back; canary requests per replica. */
async function untilRolledBack(rs: Replica[]): Promise<number[]> {
  const canary = rs.map(() => 0);
  let sent = 0;
  let done = false;
  const worker = async () => {
    while (!done && sent < 40_000) {
      const k = sent++ % rs.length;
      const res = await request(rs[k].url + '/');
      await res.body.dump();
      if (res.headers['x-canaryd-version'] === 'canary') canary[k]++;
    }
  };
  const watch = async () => {
    while (!done && sent < 40_000) {
      await new Promise((r) => setTimeout(r, 100));
      const s = (await api(rs[0].adminUrl, 'GET', '/api/v1/rollout')).body;
      if (s.phase === 'rolledback') done = true;
      else if (s.phase !== 'progressing') throw new Error(`unexpected phase ${s.phase}: ${s.reason}`);
    }
    done = true;
  };
  await Promise.all([watch(), ...Array.from({ length: 8 }, worker)]);
  return canary;
}

t.test('a 2x error canary is rolled back with fewer requests per replica in a fleet of 3 than alone', async (t) => {
  const redis = await startRedis();
  const base = await failingEvery(20);
  const can = await failingEvery(10);
  t.teardown(async () => (await base.close(), await can.close(), await redis.stop()));

  const alone = await startFleet(1, () => fleetYaml(base.url, can.url, redis.url, 'alone', ROLLOUT));
  await api(alone[0].adminUrl, 'POST', '/api/v1/rollout/start', {});
  const [single] = await untilRolledBack(alone);
  await stopFleet(alone);

  const fleet = await startFleet(3, () => fleetYaml(base.url, can.url, redis.url, 'three', ROLLOUT));
  t.teardown(() => stopFleet(fleet));
  await api((await leaderOf(fleet))!.adminUrl, 'POST', '/api/v1/rollout/start', {});
  const perReplica = await untilRolledBack(fleet);
  t.comment(
    `canary requests to the rollback: one replica alone ${single}; fleet of 3, per replica ${perReplica.join(', ')} (total ${perReplica.reduce((a, b) => a + b, 0)})`,
  );
  t.ok(Math.max(...perReplica) < single, 'every replica of the fleet saw fewer canary requests than the lone replica needed');
  const audit = (await api(fleet[2].adminUrl, 'GET', '/api/v1/fleet/audit?limit=200')).body.entries as Array<{
    type: string;
    source?: string;
  }>;
  t.ok(
    audit.some((e) => e.type === 'rollback' && e.source === 'analysis'),
    'the rollback was the analysis, not an operator',
  );
});
