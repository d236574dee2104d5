/**
 * Fleet mode with redis-server stopped mid-rollout (real Redis, three real canaryd processes): no proxied
 * request fails while it is down, promotions stop (the lease lapses: no leader; a promote answers 503),
 * a rollback is applied locally at once; Redis back: a leader again, the rollout resumes, and the local
 * rollback is applied fleet-wide.
 */
import t from 'tap';
import { request } from 'undici';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { startRedis } from './helpers/redis.js';
import { until, type TapTest } from './helpers/admin.js';
import { api, converged, fleetYaml, leaderOf, startFleet, stopFleet, weights, type Replica } from './helpers/fleet.js';

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

async function loadUntil(rs: Replica[], stop: { done: boolean }): Promise<{ ok: number; failed: string[] }> {
  const out = { ok: 0, failed: [] as string[] };
  for (let i = 0; i < 20_000 && !stop.done; i++) {
    const r = rs[i % rs.length];
    try {
      const res = await request(r.url + '/', { headers: { 'x-user-id': `u${i % 50}` } });
      await res.body.dump();
      if (res.statusCode === 200) out.ok++;
      else out.failed.push(`${r.name}: ${res.statusCode}`);
    } catch (e) {
      out.failed.push(`${r.name}: ${(e as Error).message}`);
    }
  }
  return out;
}

t.test('redis-server stopped mid-rollout: zero failed requests, promotions stop, rollback local then fleet-wide', async (t) => {
  const { redis, rs } = await rig(t, 'down', { keep: true });
  const leader = (await leaderOf(rs))!;
  await api(leader.adminUrl, 'POST', '/api/v1/rollout/start', {});
  await converged(rs, 10);
  const stop = { done: false };
  const load = loadUntil(rs, stop);

  await redis.stop();
  await until(
    'no replica leads',
    async () => (await Promise.all(rs.map(async (r) => (await api(r.adminUrl, 'GET', '/api/v1/fleet')).body.leading))).every((l) => !l),
    60_000,
  );
  t.pass('the lease lapsed everywhere: nobody judges, promotions stop');
  const p = await api(rs[1].adminUrl, 'POST', '/api/v1/rollout/promote', {});
  t.equal(p.status, 503, 'a promote while Redis is down is refused');
  t.equal(p.body.error, 'CANARYD_ERR_FLEET_UNAVAILABLE');
  t.same(await weights(rs), [10, 10, 10], 'every replica serves with its last weight');

  await redis.restart();
  const back = await until('a leader once Redis is back', () => leaderOf(rs), 60_000);
  t.match((await api(back.adminUrl, 'GET', '/api/v1/rollout')).body, { phase: 'progressing', step: 0 }, 'the rollout resumes where it was');
  await until(
    'every replica reaches Redis again',
    async () => (await Promise.all(rs.map(async (r) => (await api(r.adminUrl, 'GET', '/api/v1/fleet')).body.connected))).every(Boolean),
    60_000,
  );
  const p2 = await api(rs[2].adminUrl, 'POST', '/api/v1/rollout/promote', {});
  t.equal(p2.status, 200, `promotions work again: ${JSON.stringify(p2.body)}`);
  await converged(rs, 50);

  // The rollback goes to the leader itself, the moment it sees Redis gone: it still believes its lease for
  // ~1.5 s, so it applies the rollback as leader, a write it cannot send. That rollback used to be lost
  // when the fleet's older state was adopted on reconnect; it must be replayed like a follower's.
  const lead = (await leaderOf(rs))!;
  await redis.stop();
  await until('Redis is seen down', async () => (await api(lead.adminUrl, 'GET', '/api/v1/fleet')).body.connected === false, 60_000);
  const rb = await api(lead.adminUrl, 'POST', '/api/v1/rollout/rollback', { reason: 'while Redis is down' });
  t.equal(rb.status, 200, 'a rollback is never refused');
  t.equal(rb.body.canaryWeight, 0, 'and applied on that replica at once');
  await redis.restart();
  await converged(rs, 0, 60_000);
  t.pass('the local rollback reached every replica once Redis was back');
  for (const r of rs) t.equal((await api(r.adminUrl, 'GET', '/api/v1/rollout')).body.phase, 'rolledback');

  stop.done = true;
  const res = await load;
  t.ok(res.ok > 0, `${res.ok} requests proxied across the outages`);
  t.same(res.failed, [], 'zero failed proxied requests');
});
