/**
 * Every fault kind over real sockets, through a real in-process canaryd: the client sees exactly that fault
 * (delay measured with tolerance; abort's status and body with the upstream never called; reset before and
 * after the headers as a TCP reset; hang until the client gives up, and bounded; throttle's rate over a
 * sized body; truncate mid-body; dependency's header at the upstream). Plus the contract every kind keeps
 * (probability 0 passes through untouched, probability 1 always fires, disposal is idempotent) and the
 * record: faulted requests land under `faulted`, not `clean`.
 */
import t from 'tap';
import { request } from 'undici';
import { builtinFaultKinds } from '../proxy/index.js';
import type { RuleBody } from '../chaos/index.js';
import { FAULT_TYPES } from '../config/index.js';
import { rawRequest, recorded, startFaultRig, type FaultRig } from './helpers/faults.js';
import { until } from './helpers/admin.js';

let rig: FaultRig;
t.before(async () => {
  rig = await startFaultRig('  enabled: true\n  maxErrorRate: 1\n');
});
t.teardown(() => rig.stop());

/** Installs one runtime rule for the duration of a subtest. */
function withRule(tt: Parameters<Parameters<typeof t.test>[0]>[0], body: RuleBody): void {
  rig.sidecar.faults.create(body);
  tt.teardown(() => {
    if (rig.sidecar.faults.engine.rules.get(body.name) !== undefined) rig.sidecar.faults.remove(body.name);
  });
}

const seen = () => rig.baseline.seen.length + rig.canary.seen.length;

t.test('the registry implements exactly the config kinds; unknown types throw', async (t) => {
  t.same([...builtinFaultKinds().keys()].sort(), [...FAULT_TYPES].sort());
  const { faultKind } = await import('../proxy/index.js');
  t.throws(() => faultKind(builtinFaultKinds(), 'explode'), { code: 'CANARYD_ERR_BAD_REQUEST', message: /unknown fault type "explode"/ });
});

t.test('delay: latency added before forwarding, within tolerance', async (t) => {
  const plain: number[] = [];
  for (let i = 0; i < 5; i++) {
    const s = performance.now();
    await (await request(`${rig.url}/plain`)).body.dump();
    plain.push(performance.now() - s);
  }
  const base = Math.min(...plain);
  withRule(t, { name: 'slow', probability: 1, delay: { ms: 150 } });
  for (let i = 0; i < 5; i++) {
    const s = performance.now();
    const r = await request(`${rig.url}/delayed`);
    t.equal(r.statusCode, 200);
    await r.body.dump();
    const took = performance.now() - s;
    t.ok(took >= 150 - 2, `at least the delay (${took.toFixed(1)} ms)`);
    t.ok(took <= 150 + base + 300, `not much more than the delay (${took.toFixed(1)} ms, plain ${base.toFixed(1)} ms)`);
  }
});

t.test('delay with jitter stays in ms ± jitterMs and varies; a range stays in min..max', async (t) => {
  withRule(t, { name: 'jitter', probability: 1, delay: { ms: 100, jitterMs: 60 } });
  const took: number[] = [];
  await Promise.all(
    Array.from({ length: 30 }, async () => {
      const s = performance.now();
      await (await request(`${rig.url}/j`)).body.dump();
      took.push(performance.now() - s);
    }),
  );
  t.ok(Math.min(...took) >= 40 - 2, `min ${Math.min(...took).toFixed(1)} >= 40`);
  t.ok(Math.max(...took) <= 160 + 500, `max ${Math.max(...took).toFixed(1)} bounded`);
  t.ok(Math.max(...took) - Math.min(...took) > 20, 'jitter varies the delay');
  rig.sidecar.faults.remove('jitter');
  withRule(t, { name: 'range', probability: 1, delay: { minMs: 50, maxMs: 80 } });
  for (let i = 0; i < 5; i++) {
    const s = performance.now();
    await (await request(`${rig.url}/r`)).body.dump();
    t.ok(performance.now() - s >= 50 - 2);
  }
});

t.test('abort: the status and body, and the upstream is never called', async (t) => {
  withRule(t, { name: 'boom', probability: 1, abort: { status: 503 } });
  const before = seen();
  const r = await request(`${rig.url}/api/x`);
  t.equal(r.statusCode, 503);
  t.equal(r.headers['x-canaryd-fault'], 'boom');
  t.equal(r.headers['x-canaryd-error'], 'CANARYD_ERR_FAULT_INJECTED');
  const body = (await r.body.json()) as any;
  t.match(body, { error: 'CANARYD_ERR_FAULT_INJECTED', rule: 'boom', version: 'baseline' });
  rig.sidecar.faults.update('boom', { abort: { status: 429, body: 'slow down', headers: { 'retry-after': '7' } } });
  const r2 = await request(`${rig.url}/api/y`, { method: 'POST', body: 'x'.repeat(10_000) });
  t.equal(r2.statusCode, 429);
  t.equal(r2.headers['retry-after'], '7');
  t.equal(await r2.body.text(), 'slow down');
  t.equal(seen(), before, 'upstream never called');
});

t.test('reset before the headers: the client sees a TCP reset and no byte; upstream never called', async (t) => {
  withRule(t, { name: 'rst', probability: 1, reset: {} });
  const before = seen();
  const r = await rawRequest(rig.port, '/x');
  t.equal(r.ended, 'reset');
  t.equal(r.bytes, 0);
  t.equal(seen(), before);
});

t.test('reset after the headers: the client sees the upstream status line and headers, then a reset', async (t) => {
  withRule(t, { name: 'rst-late', probability: 1, reset: { afterHeaders: true } });
  const before = seen();
  const r = await rawRequest(rig.port, '/download?size=200000');
  t.equal(r.ended, 'reset');
  t.equal(r.status, 200);
  t.match(r.text, /x-upstream: baseline/);
  t.ok(r.bodyBytes !== null && r.bodyBytes < 200_000, `body cut (${r.bodyBytes} bytes)`);
  t.equal(seen(), before + 1, 'the upstream was called');
});

t.test('hang: no answer until the client gives up; bounded by maxMs', async (t) => {
  withRule(t, { name: 'hang', probability: 1, hang: { maxMs: 60_000 } });
  const before = seen();
  const r = await rawRequest(rig.port, '/h', { timeoutMs: 300 });
  t.equal(r.ended, 'timeout', 'the client gave up');
  t.equal(r.bytes, 0);
  await until('the engine sees the client leave', () => rig.sidecar.faults.engine.inflight === 0);
  rig.sidecar.faults.update('hang', { hang: { maxMs: 250 } });
  const b = await rawRequest(rig.port, '/h', { timeoutMs: 10_000 });
  t.equal(b.ended, 'end', 'canaryd closed the connection at the bound');
  t.equal(b.bytes, 0, 'without an answer');
  t.ok(b.endMs >= 250 - 2 && b.endMs < 250 + 2000, `after about maxMs (${b.endMs.toFixed(0)} ms)`);
  t.equal(seen(), before, 'upstream never called');
});

t.test('throttle: the body arrives at the configured rate', async (t) => {
  const rate = 64 * 1024;
  const size = 96 * 1024;
  withRule(t, { name: 'thin', probability: 1, throttle: { bytesPerSecond: rate } });
  const r = await rawRequest(rig.port, `/download?size=${size}`, { timeoutMs: 20_000 });
  t.equal(r.status, 200);
  t.equal(r.ended, 'end');
  t.equal(r.bodyBytes! > size, true, 'whole body (chunked framing included)');
  const expected = (size / rate) * 1000;
  const took = r.endMs - r.headMs!;
  t.ok(took >= expected * 0.9, `not faster than the rate: ${took.toFixed(0)} ms for ${expected} ms expected`);
  t.ok(took <= expected * 1.6 + 200, `not much slower: ${took.toFixed(0)} ms for ${expected} ms expected`);
  const u = await request(`${rig.url}/download?size=${size}`);
  const sha = u.headers['x-body-sha256'];
  const { createHash } = await import('node:crypto');
  const h = createHash('sha256');
  for await (const c of u.body) h.update(c as Buffer);
  t.equal(h.digest('hex'), sha, 'the throttled body is intact');
});

t.test('truncate: the connection closes mid-body after afterBytes', async (t) => {
  withRule(t, { name: 'cut', probability: 1, truncate: { afterBytes: 10_000 } });
  const r = await rawRequest(rig.port, '/plain-json');
  t.equal(r.status, 200);
  t.equal(r.ended, 'end');
  const cl = Number(/content-length: (\d+)/i.exec(r.text)?.[1]);
  t.ok(cl > 0, 'the upstream sent a Content-Length');
  t.equal(r.bodyBytes, Math.floor(cl / 2), 'a body shorter than afterBytes is cut at half');
  const big = await rawRequest(rig.port, '/download?size=100000');
  t.equal(big.status, 200);
  t.ok(big.bodyBytes! >= 10_000 && big.bodyBytes! < 10_100, `chunked body cut at afterBytes (+ framing): ${big.bodyBytes}`);
  await t.rejects(async () => {
    const u = await request(`${rig.url}/download?size=100000`);
    await u.body.arrayBuffer();
  }, 'an HTTP client sees the truncation as an error');
});

t.test('dependency: the upstream gets the header, the client an ordinary answer', async (t) => {
  withRule(t, { name: 'db-down', probability: 1, dependency: { name: 'database', mode: 'timeout' } });
  const r = await request(`${rig.url}/orders`);
  t.equal(r.statusCode, 200);
  const body = (await r.body.json()) as any;
  t.equal(body.headers['x-canaryd-dependency-fault'], 'database=timeout');
});

t.test('contract of every kind: probability 0 is a pass-through, 1 always fires, disposal is idempotent', async (t) => {
  const params: Record<string, RuleBody> = {
    delay: { name: 'k', probability: 0, delay: { ms: 5 } },
    abort: { name: 'k', probability: 0, abort: { status: 500 } },
    reset: { name: 'k', probability: 0, reset: {} },
    hang: { name: 'k', probability: 0, hang: { maxMs: 50 } },
    throttle: { name: 'k', probability: 0, throttle: { bytesPerSecond: 1_000_000 } },
    truncate: { name: 'k', probability: 0, truncate: { afterBytes: 10 } },
    dependency: { name: 'k', probability: 0, dependency: { name: 'cache' } },
  };
  for (const type of FAULT_TYPES) {
    const f = rig.sidecar.faults;
    f.create(params[type]);
    const before = recorded(rig.sidecar, 'baseline');
    const seenBefore = seen();
    for (let i = 0; i < 20; i++) {
      const r = await request(`${rig.url}/echo`);
      t.equal(r.statusCode, 200);
      const b = (await r.body.json()) as any;
      if (b.headers['x-canaryd-dependency-fault'] !== undefined) t.fail(`${type} p=0 changed the request`);
    }
    t.equal(seen(), seenBefore + 20, `${type} p=0: every request reached the upstream`);
    t.equal(recorded(rig.sidecar, 'baseline').faulted, before.faulted, `${type} p=0: nothing faulted`);
    f.update('k', { probability: 1 });
    const injected0 = f.get('k').injected;
    for (let i = 0; i < 5; i++) await rawRequest(rig.port, '/echo', { timeoutMs: 2000 });
    t.equal(f.get('k').injected, injected0 + 5, `${type} p=1: fired on every request`);
    await until(`${type}: runs ended`, () => f.engine.inflight === 0);
    f.remove('k');
  }
  // disposal: a run released twice, and after it ended, does nothing more
  const f = rig.sidecar.faults;
  f.create({ name: 'held', probability: 1, delay: { ms: 30_000 } });
  const pending = request(`${rig.url}/held`);
  await until('delay in flight', () => f.engine.inflight === 1);
  f.engine.stop();
  f.engine.stop();
  const r = await pending;
  t.equal(r.statusCode, 200, 'a lifted delay forwards at once');
  await r.body.dump();
  f.remove('held');
});

t.test('faulted requests are counted apart: Observation faulted: true, record under `faulted`', async (t) => {
  const seenObs: boolean[] = [];
  rig.sidecar.onObservation((o) => seenObs.push(o.faulted));
  const before = recorded(rig.sidecar, 'baseline');
  withRule(t, { name: 'half', probability: 1, match: { path: '/faulty/*' }, abort: { status: 500 } });
  for (let i = 0; i < 10; i++) await (await request(`${rig.url}/faulty/${i}`)).body.dump();
  for (let i = 0; i < 7; i++) await (await request(`${rig.url}/fine/${i}`)).body.dump();
  const after = recorded(rig.sidecar, 'baseline');
  t.equal(after.faulted - before.faulted, 10, 'faulted window counts');
  t.equal(after.clean - before.clean, 7, 'clean window counts');
  t.equal(after.faulted5xx - before.faulted5xx, 10, 'the injected 500s are in the faulted 5xx');
  t.equal(seenObs.filter((x) => x).length, 10);
  t.equal(seenObs.filter((x) => !x).length, 7);
});
