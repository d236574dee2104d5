/**
 * Fleet mode over a real redis-server with three real canaryd processes: one rollout for the fleet.
 * Commands sent to followers are run by the leader; every replica applies each weight (the time it took
 * is printed; bench/fleet-bench.ts measures the decision-to-applied p99); a rollback sent to one replica
 * moves every replica's sticky users off the canary; the audit trail is the fleet's, the same everywhere.
 */
import t from 'tap';
import { request } from 'undici';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { startRedis } from './helpers/redis.js';
import { until } from './helpers/admin.js';
import { api, converged, fleetYaml, leaderOf, startFleet, stopFleet, versionFor } from './helpers/fleet.js';

t.test('three replicas, one rollout: start, promote, rollback from followers; sticky users follow everywhere', async (t) => {
  const redis = await startRedis();
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  t.teardown(async () => (await base.close(), await can.close(), await redis.stop()));
  const yaml = () =>
    fleetYaml(base.url, can.url, redis.url, 'conv', 'rollout: { steps: [10, 50, 100], interval: 1h, analysisInterval: 200ms }\n');
  const rs = await startFleet(3, yaml);
  t.teardown(() => stopFleet(rs));

  const leader = (await leaderOf(rs))!;
  const followers = rs.filter((r) => r !== leader);
  // a replica registers with its first heartbeat after start; wait for all three before asserting on them
  await until(
    'three registered replicas',
    async () => (await api(followers[0].adminUrl, 'GET', '/api/v1/fleet')).body?.replicas?.length === 3,
    10_000,
  ).catch(() => undefined);
  const fleet = (await api(followers[0].adminUrl, 'GET', '/api/v1/fleet')).body;
  t.equal(fleet.leader, (await api(leader.adminUrl, 'GET', '/api/v1/fleet')).body.replica, 'followers name the leader');
  t.equal(fleet.replicas.length, 3, 'every replica is registered with a heartbeat');

  const leaders = await Promise.all(
    rs.map(async (r) => {
      const text = await (await request(r.adminUrl + '/metrics')).body.text();
      return Number(/^canaryd_fleet_leader (\d+)$/m.exec(text)?.[1] ?? NaN);
    }),
  );
  t.same(leaders.sort(), [0, 0, 1], '/metrics per replica: exactly one says it leads');

  const started = await api(followers[0].adminUrl, 'POST', '/api/v1/rollout/start', { reason: 'fleet test' });
  t.equal(started.status, 200, 'a follower takes the start (run by the leader)');
  t.equal(started.body.canaryWeight, 10);
  t.comment(`start applied on all replicas after ${await converged(rs, 10)} ms`);

  const promoted = await api(followers[1].adminUrl, 'POST', '/api/v1/rollout/promote', {});
  t.equal(promoted.status, 200);
  t.equal(promoted.body.step, 1);
  t.comment(`promote applied on all replicas after ${await converged(rs, 50)} ms`);
  for (const r of rs)
    t.equal((await api(r.adminUrl, 'GET', '/api/v1/rollout')).body.phase, 'progressing', `${r.name} shows the fleet's phase`);

  // sticky users hashed onto the canary at 50 % (the same users on every replica: the hash is the same)
  const onCanary: string[] = [];
  for (let i = 0; i < 200 && onCanary.length < 10; i++) if ((await versionFor(rs[0], `u${i}`)) === 'canary') onCanary.push(`u${i}`);
  t.equal(onCanary.length, 10);
  for (const r of rs) t.equal(await versionFor(r, onCanary[0]), 'canary', `${r.name} pins ${onCanary[0]} to the canary`);

  const rb = await api(followers[1].adminUrl, 'POST', '/api/v1/rollout/rollback', { reason: 'from a follower' });
  t.equal(rb.status, 200);
  t.equal(rb.body.phase, 'rolledback');
  t.comment(`rollback applied on all replicas after ${await converged(rs, 0)} ms`);
  for (const r of rs) {
    const vs = await Promise.all(onCanary.map((u) => versionFor(r, u)));
    t.same(new Set(vs), new Set(['baseline']), `${r.name}: every pinned user is back on the baseline`);
    t.equal((await api(r.adminUrl, 'GET', '/api/v1/rollout')).body.phase, 'rolledback');
  }

  const audit = (await api(followers[0].adminUrl, 'GET', '/api/v1/fleet/audit?limit=100')).body.entries as Array<{
    type: string;
    action?: string;
    source?: string;
  }>;
  const decisions = audit.filter((e) => e.type === 'decision' && e.action !== 'CONTINUE').map((e) => e.action);
  t.same(
    decisions.reverse(),
    ['PROMOTE', 'PROMOTE', 'ROLLBACK'],
    'the fleet audit holds the start, the promotion and the rollback, in order',
  );
  t.ok(
    audit.some((e) => e.type === 'rollback'),
    'and the rollback record',
  );
  const again = (await api(followers[1].adminUrl, 'GET', '/api/v1/fleet/audit?limit=100')).body.entries;
  t.same(again, audit, 'every replica reads the same trail');

  const refused = await api(followers[0].adminUrl, 'POST', '/api/v1/rollout/promote', {});
  t.equal(refused.status, 409, "the leader's refusal reaches the follower's caller with its code");
  t.equal(refused.body.error, 'CANARYD_ERR_CONFLICT');
});
