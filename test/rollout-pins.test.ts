/**
 * Rollback means baseline for everyone: after a rollback (manual or automatic), routing rules and runtime
 * flags that send traffic to the canary are suspended before the next request is routed, until a retry, a
 * new start, or an operator re-enables them (`POST /api/v1/rollout/pins`); `routing.keepPinnedOnRollback:
 * true` opts out. Over real sockets: 0 of 1,000 pinned requests reach the canary after a rollback.
 */
import t from 'tap';
import { Agent, request } from 'undici';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml, tempDir } from './helpers/canaryd.js';
import { call, startAdminSidecar, type TapTest } from './helpers/admin.js';
import { judge } from '../analysis/index.js';

const dispatcher = new Agent({ connections: 32 });
t.teardown(() => dispatcher.close());

const ROUTING = (keep: boolean) => `routing:
  canaryWeight: 0
  sticky: { header: x-user-id }
  keepPinnedOnRollback: ${keep}
  rules:
    - name: beta-testers
      match: { header: { x-beta: "1" } }
      to: canary
    - name: ops-on-baseline
      match: { header: { x-ops: "1" } }
      to: baseline
rollout:
  steps: [10, 50, 100]
`;

async function setup(t: TapTest, keep = false) {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const s = await startAdminSidecar(configYaml(base.url, can.url, ROUTING(keep), tempDir()));
  t.teardown(async () => (await s.stop(), await base.close(), await can.close()));
  t.equal(
    (await call(s.app, 'POST', '/api/v1/flags', { body: { key: 'vip', kind: 'userList', users: ['vip-1', 'vip-2'], enabled: true } }))
      .status,
    201,
  );
  return s;
}

/** n pinned requests, half by the rule's header and half by the flagged users; counts answers by version. */
async function pinned(url: string, n: number): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  for (let i = 0; i < n; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, async (_, j) => {
        const k = i + j;
        const headers: Record<string, string> =
          k % 2 === 0 ? { 'x-beta': '1', 'x-user-id': `plain-${k}` } : { 'x-user-id': k % 4 === 1 ? 'vip-1' : 'vip-2' };
        const r = await request(`${url}/p/${k}`, { headers, dispatcher });
        await r.body.dump();
        const v = String(r.headers['x-canaryd-version']);
        seen[v] = (seen[v] ?? 0) + 1;
      }),
    );
  }
  return seen;
}

t.test('after a rollback, 0 of 1,000 requests pinned by a rule or a flag reach the canary; re-enable and retry restore them', async (t) => {
  const s = await setup(t);
  t.same(await pinned(s.url, 100), { canary: 100 }, 'before: the rule and the flag pin to the canary');
  t.equal((await call(s.app, 'POST', '/api/v1/rollout/start')).status, 200);
  const rb = await call(s.app, 'POST', '/api/v1/rollout/rollback', { body: { reason: 'test' } });
  t.equal(rb.status, 200);
  t.equal(rb.json.canaryWeight, 0);
  t.equal(rb.json.pinsSuspended, true, 'the rollback answer already says the pins are suspended');
  t.same([...rb.json.suspendedPins].sort(), ['beta-testers', 'flag:vip'], 'status lists what is suspended');
  t.same(await pinned(s.url, 1000), { baseline: 1000 }, '0 of 1,000 pinned requests reach the canary');
  const logged = s.lines.find((l) => l.event === 'pins_suspended');
  t.ok(logged, 'the suspension is logged');
  t.same([...(logged!.pins as string[])].sort(), ['beta-testers', 'flag:vip']);

  const resumed = await call(s.app, 'POST', '/api/v1/rollout/pins', { body: { suspended: false } });
  t.equal(resumed.status, 200);
  t.equal(resumed.json.pinsSuspended, false);
  t.same(await pinned(s.url, 100), { canary: 100 }, 'an operator re-enabled them');
  t.equal((await call(s.app, 'POST', '/api/v1/rollout/pins', { body: { suspended: 'no' } })).status, 400, 'bad input is a 400');

  await call(s.app, 'POST', '/api/v1/rollout/pins', { body: { suspended: true } });
  t.same(await pinned(s.url, 50), { baseline: 50 });
  t.equal((await call(s.app, 'POST', '/api/v1/rollout/retry')).status, 200);
  t.same(await pinned(s.url, 50), { canary: 50 }, 'a retry re-enables them');
});

t.test('routing.keepPinnedOnRollback: true keeps them pinned after a rollback', async (t) => {
  const s = await setup(t, true);
  await call(s.app, 'POST', '/api/v1/rollout/start');
  const rb = await call(s.app, 'POST', '/api/v1/rollout/rollback');
  t.equal(rb.json.pinsSuspended, false);
  t.same(await pinned(s.url, 100), { canary: 100 });
});

t.test('an automatic rollback suspends the pins too, and the suspension survives a restart', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const yaml = configYaml(base.url, can.url, ROUTING(false), tempDir());
  // the real judge, its report turned into a hard breach: the engine's own rollback path
  const breach = (input: Parameters<typeof judge>[0], settings: Parameters<typeof judge>[1]) => ({
    ...judge(input, settings),
    verdict: 'fail' as const,
    hardBreach: true,
  });
  const s = await startAdminSidecar(yaml, { judge: breach });
  t.teardown(async () => (await s.stop(), await base.close(), await can.close()));
  await call(s.app, 'POST', '/api/v1/flags', { body: { key: 'vip', kind: 'userList', users: ['vip-1', 'vip-2'], enabled: true } });
  await call(s.app, 'POST', '/api/v1/rollout/start');
  // the analysis timer (every second) rolls it back on its first tick
  while (s.sidecar.rollout.status().phase === 'progressing') await new Promise((r) => setTimeout(r, 50));
  const d = s.sidecar.rollout.audit.rollbacks(1)[0] as { source: string };
  t.equal(d.source, 'analysis', 'rolled back by the engine');
  t.same(await pinned(s.url, 1000), { baseline: 1000 }, '0 of 1,000 pinned requests reach the canary after the automatic rollback');
  await s.stop();
  const again = await startAdminSidecar(yaml);
  t.teardown(() => again.stop());
  t.equal(again.sidecar.rollout.status().pinsSuspended, true, 'restored from state.dir');
  t.same(await pinned(again.url, 100), { baseline: 100 }, 'still suspended after a restart');
});
