/**
 * The traffic state (traffic/): the one owner of the canary weight, its owner, the runtime routes, the
 * mirror and the pin suspension. Built over the real router, state store, event bus and audit trail in a
 * temp dir; each test reads back what the one owner wrote (weights.json, audit.jsonl, events, the gauge).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock, type CanarydError } from '../core/index.js';
import { parseConfigText, type Config } from '../config/index.js';
import { Mirror, TrafficSplitter, type RuleSpec } from '../proxy/index.js';
import { EventBus, type CanarydEvent } from '../admin/index.js';
import { AuditTrail, StateStore } from '../state/index.js';
import { TrafficState, type TrafficChange } from '../traffic/index.js';
import { tempDir } from './helpers/canaryd.js';

interface Logged {
  level: string;
  obj: Record<string, unknown>;
  msg: string;
}

function routing(canaryWeight: number, extra = ''): Config['routing'] {
  const yaml = `upstreams:\n  baseline: { url: http://127.0.0.1:1, version: v1 }\n  canary: { url: http://127.0.0.1:2, version: v2 }\nrouting:\n  canaryWeight: ${canaryWeight}\n${extra}`;
  return parseConfigText(yaml).routing;
}

function build(dir: string, r: Config['routing'], phase: { now: string | null } = { now: null }) {
  const clock = new ManualClock(1_000);
  const store = new StateStore(dir);
  const lines: Logged[] = [];
  const log = {
    info: (obj: object, msg: string) => lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
    warn: (obj: object, msg: string) => lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
    error: (obj: object, msg: string) => lines.push({ level: 'error', obj: obj as Record<string, unknown>, msg }),
  };
  const events: CanarydEvent[] = [];
  const bus = new EventBus({ now: () => clock.now() });
  bus.subscribe((e) => events.push(e));
  const gauge: number[] = [];
  const router = new TrafficSplitter(r);
  const mirror = new Mirror({
    percent: r.mirror.percent,
    maxBodyBytes: r.mirror.maxBodyBytes,
    target: () => {
      throw new Error('not mirrored here');
    },
    count: () => {},
  });
  const traffic = new TrafficState<RuleSpec, Config['routing']>({
    routing: r,
    router,
    mirror,
    store,
    audit: new AuditTrail(store, () => clock.now(), log),
    events: bus,
    log,
    clock,
    gauge: (c) => gauge.push(c),
    rolloutPhase: () => phase.now,
  });
  const audit = () =>
    readFileSync(join(dir, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { traffic, router, mirror, store, lines, events, gauge, clock, audit };
}

t.test('setWeight: the owner is the argument; router, gauge, log, weights.json, audit and event agree', async (t) => {
  const dir = tempDir();
  const s = build(dir, routing(5));
  t.same(s.traffic.weight(), { canary: 5, owner: 'file' }, 'the file weight, owned by the file');
  t.same(s.gauge, [5], 'the gauge is set at start');
  const changes: TrafficChange[] = [];
  s.traffic.onChange((c) => changes.push(c));
  s.clock.advance(500);
  s.traffic.setWeight('rollout', 25, 'config'); // a reason that once meant "file" no longer decides anything
  t.same(s.traffic.weight(), { canary: 25, owner: 'rollout' }, 'owner from the argument, not from the reason string');
  t.equal(s.router.getWeights().canary, 25, 'the router routes at the new weight');
  t.ok(s.traffic.verifyWeight(25), 'verifyWeight agrees');
  t.notOk(s.traffic.verifyWeight(5));
  t.same(s.gauge, [5, 25]);
  t.same(
    s.lines.filter((l) => l.obj.event === 'weights').map((l) => l.obj),
    [{ event: 'weights', canary: 25, previous: 5, reason: 'config', owner: 'rollout' }],
  );
  t.same(
    s.events.filter((e) => e.type === 'weights').map(({ seq: _s, at: _a, ...e }) => e),
    [{ type: 'weights', canary: 25, baseline: 75, previous: 5, reason: 'config', owner: 'rollout' }],
  );
  t.same(changes, [{ kind: 'weight', canary: 25, previous: 5, owner: 'rollout', reason: 'config' }]);
  await s.store.flush();
  t.same(JSON.parse(readFileSync(join(dir, 'weights.json'), 'utf8')), {
    canary: 25,
    fileWeight: 5,
    reason: 'config',
    at: 1_500,
    owner: 'rollout',
  });
  t.same(s.audit(), [{ at: 1_500, type: 'weights', reason: 'config', canary: 25, previous: 5, owner: 'rollout' }]);

  s.traffic.setWeight('api', 25, 'same weight');
  t.equal(s.traffic.weight().owner, 'rollout', 'an unchanged weight changes nothing, not even the owner');
  t.equal(s.audit().length, 1, 'and writes no audit line');
  t.throws(() => s.traffic.setWeight('api', 101, 'too much'), RangeError);
  t.same(s.traffic.weight(), { canary: 25, owner: 'rollout' }, 'a refused weight changes nothing');
});

t.test('the lock: an operator weight is refused while a rollout owns the weight; the file waits', async (t) => {
  const phase = { now: 'progressing' as string | null };
  const s = build(tempDir(), routing(5), phase);
  t.match(s.traffic.lockedReason(), /a rollout is progressing: it owns the weight/);
  const err = t.throws(() => s.traffic.setWeight('api', 40, 'by hand')) as CanarydError;
  t.equal(err.code, 'CANARYD_ERR_CONFLICT');
  s.traffic.setWeight('rollout', 10, 'PROMOTE: step 2');
  t.same(s.traffic.weight(), { canary: 10, owner: 'rollout' }, 'the rollout itself may');
  s.traffic.configure(routing(30));
  t.equal(s.traffic.weight().canary, 10, 'a changed file weight waits while the rollout owns the weight');
  t.ok(
    s.lines.some((l) => l.obj.event === 'config_weight_ignored' && l.obj.canaryWeight === 30),
    'and says so',
  );
  t.equal(s.traffic.snapshot().fileWeight, 30, 'the file weight is remembered');
  phase.now = null;
  t.equal(s.traffic.lockedReason(), null);
  s.traffic.configure(routing(40));
  t.same(s.traffic.weight(), { canary: 40, owner: 'file' }, 'a file weight applies as the file');
  s.traffic.setWeight('api', 45, 'admin api');
  t.same(s.traffic.weight(), { canary: 45, owner: 'api' });
  s.traffic.configure(routing(40, '  mirror: { percent: 7 }\n'));
  t.equal(s.traffic.weight().canary, 45, 'an unchanged file weight leaves the runtime weight alone');
  t.same(s.traffic.snapshot().mirror, { percent: 7, maxBodyBytes: s.mirror.maxBodyBytes }, 'the mirror follows the file');
  t.equal(s.mirror.percent, 7, 'on the live mirror');
});

t.test('restart: weights.json is restored with its owner while the file weight is the one it was set against', async (t) => {
  const dir = tempDir();
  const first = build(dir, routing(5));
  first.traffic.setWeight('api', 33, 'admin api');
  await first.store.flush();
  const again = build(dir, routing(5));
  t.same(again.traffic.weight(), { canary: 33, owner: 'api' }, 'restored, owner included');
  t.same(again.gauge, [33], 'the gauge starts at the restored weight');
  t.equal(again.events.length, 0, 'a restore is not a change: nothing published');
  const changedFile = build(dir, routing(8));
  t.same(changedFile.traffic.weight(), { canary: 8, owner: 'file' }, 'a changed file weight wins over the saved one');
});

t.test("fleet adoption: the leader recorded weight and owner become this replica's", async (t) => {
  const s = build(tempDir(), routing(5));
  s.traffic.adopt({ canary: 50, fileWeight: 5, reason: 'PROMOTE: step 3', at: 1, owner: 'rollout' }, 'fleet (seq 4)');
  t.same(s.traffic.weight(), { canary: 50, owner: 'rollout' });
  t.equal(s.audit()[0].reason, 'fleet (seq 4): PROMOTE: step 3');
  s.traffic.adopt({ canary: 50, fileWeight: 5, reason: 'again', at: 2, owner: 'api' }, 'fleet (seq 5)');
  t.equal(s.traffic.weight().owner, 'rollout', 'the same weight adopts nothing');
  s.traffic.adopt({ canary: 20, fileWeight: 5, reason: 'old file', at: 3 }, 'fleet (seq 6)');
  t.same(s.traffic.weight(), { canary: 20, owner: 'rollout' }, "a document written before owners reads as the rollout's");
});

t.test('pins: suspension reaches the router, the audit and the bus; a restore is silent', async (t) => {
  const s = build(tempDir(), routing(5, '  rules:\n    - { name: beta, match: { header: { x-beta: "1" } }, to: canary }\n'));
  t.same(s.traffic.canaryPins(), ['beta']);
  s.traffic.setPinsSuspended(true, 'rolled back');
  t.equal(s.traffic.snapshot().pinsSuspended, true);
  t.same(
    s.audit().map(({ at: _a, ...r }) => r),
    [{ type: 'pins', reason: 'canary pins suspended after a rollback: beta', suspended: true, pins: ['beta'], why: 'rolled back' }],
  );
  t.same(
    s.events.filter((e) => e.type === 'rollout').map((e) => [e.action, e.pins]),
    [['pins-suspended', ['beta']]],
  );
  s.traffic.setPinsSuspended(false, 'operator');
  t.equal(s.traffic.snapshot().pinsSuspended, false);
  t.match(s.audit()[1], { type: 'pins', suspended: false, reason: 'canary pins re-enabled: beta' });
  s.traffic.setPinsSuspended(true, 'restored from state.dir', { restored: true });
  t.equal(s.traffic.snapshot().pinsSuspended, true, 'restored on the router');
  t.equal(s.audit().length, 2, 'without a second audit line');
});

t.test('runtime routes (flags) go to the router through setHeaderRoute', async (t) => {
  const s = build(tempDir(), routing(0));
  const changes: TrafficChange[] = [];
  s.traffic.onChange((c) => changes.push(c));
  const rule: RuleSpec = { name: 'flag:new-ui', to: 'canary', match: { header: { 'x-beta': ['1'] } } };
  s.traffic.setHeaderRoute([rule]);
  t.same(s.traffic.canaryPins(), ['flag:new-ui'], 'the router knows the runtime route');
  t.same(s.router.pick({ headers: { 'x-beta': '1' } }), { version: 'canary', rule: 'flag:new-ui' }, 'and routes by it at weight 0');
  t.same(s.router.pick({ headers: {} }).version, 'baseline');
  t.same(changes, [{ kind: 'routes', count: 1 }]);
  s.traffic.setPinsSuspended(true, 'rolled back');
  t.equal(s.router.pick({ headers: { 'x-beta': '1' } }).version, 'baseline', 'a suspended pin routes by weight');
  s.traffic.setHeaderRoute([]);
  t.same(s.traffic.canaryPins(), []);
});
