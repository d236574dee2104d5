/**
 * Fleet failure modes, with a real redis-server and real canaryd processes:
 *  - kill -9 of the leader mid-rollout: another replica leads within the lease TTL (+ a heartbeat), at
 *    the same step and weight, with every audit entry still there, and the rollout goes on from there;
 *  - SIGSTOP of the leader past its lease, then SIGCONT: it wakes as a follower and its state never wins;
 *    a write with the stale fencing token is refused inside Redis (the coordinator, in-process);
 * (Redis outages: fleet-outage.test.ts.)
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { spawnCanaryd } from './helpers/canaryd.js';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { startRedis } from './helpers/redis.js';
import { until, type TapTest } from './helpers/admin.js';
import { api, converged, fleetYaml, leaderOf, startFleet, stopFleet, weights } from './helpers/fleet.js';
import { FleetCoordinator, type FleetHost } from '../fleet/index.js';

const ROLLOUT = 'rollout: { steps: [10, 50, 100], interval: 1h, analysisInterval: 200ms }\n';

async function rig(t: TapTest, service: string, opts: { keep?: boolean } = {}) {
  const redis = await startRedis(opts);
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  t.teardown(async () => (await base.close(), await can.close(), await redis.stop()));
  const rs = await startFleet(3, () => fleetYaml(base.url, can.url, redis.url, service, ROLLOUT));
  t.teardown(() => stopFleet(rs));
  return { redis, rs };
}

t.test('leader kill -9 mid-rollout: a new leader within the lease, same step, no lost audit entries', async (t) => {
  const { rs } = await rig(t, 'kill');
  const old = (await leaderOf(rs))!;
  await api(old.adminUrl, 'POST', '/api/v1/rollout/start', {});
  await api(old.adminUrl, 'POST', '/api/v1/rollout/promote', {});
  await converged(rs, 50);
  const live = rs.filter((r) => r !== old);
  const before = (await api(live[0].adminUrl, 'GET', '/api/v1/fleet/audit?limit=1000')).body.entries as Array<{ id: string }>;
  old.child.kill('SIGKILL');
  await old.exited;
  const t0 = Date.now();
  const next = await until('a new leader', () => leaderOf(live), 60_000, 50);
  t.comment(`new leader ${next.name} after ${Date.now() - t0} ms (lease 2 s, heartbeat 250 ms)`);
  t.not(next, old);
  const s = (await api(next.adminUrl, 'GET', '/api/v1/rollout')).body;
  t.match(s, { phase: 'progressing', step: 1, canaryWeight: 50 }, 'the new leader continues at the same step and weight');
  const after = (await api(live[1].adminUrl, 'GET', '/api/v1/fleet/audit?limit=1000')).body.entries as Array<{ id: string }>;
  const ids = new Set(after.map((e) => e.id));
  t.ok(
    before.every((e) => ids.has(e.id)),
    `all ${before.length} audit entries written before the kill are still there`,
  );
  const p = await api(live[1].adminUrl, 'POST', '/api/v1/rollout/promote', {});
  t.equal(p.status, 200);
  t.match(p.body, { phase: 'promoted', canaryWeight: 100 }, 'the next promotion goes to the next step: none repeated or skipped');
  await converged(live, 100);

  // the killed replica comes back on its own state.dir (a stale copy at step 2, 50 %): it takes the fleet's
  const again = await spawnCanaryd(readFileSync(old.configPath, 'utf8'), {}, 90_000);
  t.teardown(async () => (again.child.kill('SIGTERM'), await again.exited));
  const restarted = (await api(again.adminUrl, 'GET', '/api/v1/rollout')).body;
  t.match(
    restarted,
    { phase: 'promoted', canaryWeight: 100 },
    "a restarted replica serves the fleet's state from its first request, not its stale copy",
  );
});

t.test('SIGSTOP past the lease, then SIGCONT: the old leader wakes as a follower, its state never wins', async (t) => {
  const { rs } = await rig(t, 'stop');
  const old = (await leaderOf(rs))!;
  await api(old.adminUrl, 'POST', '/api/v1/rollout/start', {});
  await converged(rs, 10);
  const oldToken = (await api(old.adminUrl, 'GET', '/api/v1/fleet')).body.token as number;
  old.child.kill('SIGSTOP');
  const live = rs.filter((r) => r !== old);
  const next = await until('a new leader while the old one is stopped', () => leaderOf(live), 60_000, 50);
  await api(next.adminUrl, 'POST', '/api/v1/rollout/promote', {});
  await converged(live, 50);
  old.child.kill('SIGCONT');
  await old.waitForLog((l) => l.event === 'fleet_follower' || l.event === 'fleet_write_fenced', 60_000);
  const f = (await api(old.adminUrl, 'GET', '/api/v1/fleet')).body;
  t.equal(f.leading, false, 'the woken replica does not lead');
  t.ok((await api(next.adminUrl, 'GET', '/api/v1/fleet')).body.token > oldToken, 'the new leader holds a newer fencing token');
  await converged(rs, 50);
  t.same(await weights(rs), [50, 50, 50], "the woken replica took the fleet's step, not its own stale one");
});

function quietHost(over: Partial<FleetHost> = {}): FleetHost {
  const log = { info() {}, warn() {}, error() {} };
  return {
    windowMs: 1000,
    localWindows: () => [],
    heartbeat: () => ({}),
    adopt() {},
    leadership() {},
    execute: async () => ({}),
    log,
    ...over,
  };
}

t.test('a state write carrying a stale fencing token is refused by Redis', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const settings = (replica: string) => ({
    connection: { url: redis.url },
    service: 'fence',
    keyPrefix: 'canaryd',
    replica,
    leaseTtlMs: 60_000,
    heartbeatMs: 60_000,
    evidenceKeepMs: 60_000,
    commandTimeoutMs: 1000,
  });
  const warnings: Array<Record<string, unknown>> = [];
  const a = new FleetCoordinator(
    settings('a'),
    quietHost({ log: { info() {}, error() {}, warn: (o) => void warnings.push(o as Record<string, unknown>) } }),
  );
  await a.start();
  t.teardown(() => a.stop());
  t.ok(a.leading, 'a took the free lease');
  a.record('doc', 'rollout.json', { phase: 'progressing', step: 0 });
  const raw = new Redis(redis.url);
  t.teardown(() => raw.disconnect());
  await until('a write lands', async () => (await raw.hget(a.keys.state, 'doc:rollout.json')) !== null);
  // a pause longer than the lease, seen from Redis: the lease is gone and b takes it with a newer token
  await raw.del(a.keys.leader);
  const adopted: unknown[] = [];
  const b = new FleetCoordinator(settings('b'), quietHost({ adopt: (docs) => void adopted.push(docs) }));
  await b.start();
  t.teardown(() => b.stop());
  t.ok(b.leading, 'b leads');
  t.ok(b.token > a.token, 'with a newer token');
  t.ok(a.leading, 'a still believes it leads (its local lease has not run out)');
  b.record('doc', 'rollout.json', { phase: 'progressing', step: 1 });
  await until("b's write lands", async () => JSON.parse((await raw.hget(a.keys.state, 'doc:rollout.json')) ?? '{}').step === 1);
  a.record('doc', 'rollout.json', { phase: 'rolledback', step: 0 });
  await until('a is refused', () => warnings.find((w) => w.event === 'fleet_write_fenced'));
  t.same(
    JSON.parse((await raw.hget(a.keys.state, 'doc:rollout.json'))!),
    { phase: 'progressing', step: 1 },
    "the stale leader's write did not land",
  );
  t.notOk(a.leading, 'and a stepped down');
});
