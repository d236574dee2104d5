/**
 * The request path as a chain of stages (proxy/stages.ts), against a real canaryd over real sockets: the
 * chain holds only the stages that are on, follows the fault engine arming and disarming and the mirror
 * percent going to and from 0, and every stage still acts in its direction (mirror shadows, a fault rule
 * answers, observation records, an observer stage sees each exchange once).
 */
import t from 'tap';
import { request } from 'undici';
import { call, until } from './helpers/admin.js';
import { startFaultRig } from './helpers/faults.js';

const get = async (url: string) => {
  const r = await request(url);
  await r.body.dump();
  return r.statusCode;
};

t.test('the chain holds the stages that are on, and follows run-time changes', async (t) => {
  const rig = await startFaultRig('  enabled: true\n  maxErrorRate: 1\n  allowHeaderControl: false\n', {
    extra: 'routing: { canaryWeight: 0 }',
  });
  t.teardown(() => rig.stop());
  const s = rig.sidecar;
  t.same(s.proxy.stages, ['observation', 'access-log'], 'no rule, no mirror: only observation and the access log');

  const seen: number[] = [];
  s.onObservation((o) => seen.push(o.status));
  t.same(s.proxy.stages, ['observation', 'access-log', 'observer'], 'an observer joins at the end');
  t.equal(await get(`${rig.url}/a`), 200);
  await until('the observer saw the exchange', () => seen.length === 1);
  t.equal(s.recorder.totals('baseline').requests, 1, 'the observation stage recorded it');

  // the fault engine arms with its first rule: it joins the chain, and acts
  const created = await call(s.admin!, 'POST', '/api/v1/faults', {
    body: { name: 'teapot', probability: 1, match: { path: '/tea' }, abort: { status: 418 } },
  });
  t.equal(created.status, 201);
  t.same(s.proxy.stages, ['observation', 'access-log', 'faults', 'observer'], 'armed: the fault stage is in the chain');
  t.equal(await get(`${rig.url}/tea`), 418, 'the fault stage answered');
  t.equal(await get(`${rig.url}/coffee`), 200, 'a request no rule matches passes through');
  await until('both observed', () => seen.length === 3);
  t.same(seen, [200, 418, 200], 'each exchange observed once, in both cases');

  // the mirror joins while its percent is above 0
  s.applyConfig({ ...s.config, routing: { ...s.config.routing, mirror: { ...s.config.routing.mirror, percent: 100 } } }, 'test');
  t.same(s.proxy.stages, ['observation', 'mirror', 'access-log', 'faults', 'observer']);
  const before = rig.canary.seen.length;
  t.equal(await get(`${rig.url}/m`), 200);
  await until('the shadow reached canary', () => rig.canary.seen.length === before + 1);
  t.equal(rig.canary.seen.at(-1)!.headers['x-canaryd-mirror'], '1', 'the mirror stage shadowed the baseline request');

  // the last rule goes: the engine disarms and leaves the chain; the mirror leaves at percent 0
  t.equal((await call(s.admin!, 'DELETE', '/api/v1/faults/teapot')).status, 200);
  s.applyConfig({ ...s.config, routing: { ...s.config.routing, mirror: { ...s.config.routing.mirror, percent: 0 } } }, 'test');
  t.same(s.proxy.stages, ['observation', 'access-log', 'observer'], 'both off: out of the chain');
  t.equal(await get(`${rig.url}/tea`), 200, 'no fault once the stage is out');
  const shadows = rig.canary.seen.length;
  t.equal(await get(`${rig.url}/m`), 200);
  await until('observed', () => seen.length === 6);
  t.equal(rig.canary.seen.length, shadows, 'no shadow once the mirror is out');
});
