/**
 * GET /api/v1/history: the ring of per-second snapshots is bounded and ordered, and over real sockets it
 * holds exactly what the live stream sent — the same `to` and the same numbers for each second a WebSocket
 * client saw — with the canary weight of each second, so a late client meets the live stream without a
 * gap or a disagreeing point. The query is validated (1..900 s).
 */
import t from 'tap';
import WebSocket from 'ws';
import { Agent, request } from 'undici';
import { SnapshotHistory, type Snapshot } from '../admin/index.js';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml } from './helpers/canaryd.js';
import { startAdminSidecar, until } from './helpers/admin.js';

function snap(to: number, canary: number, rps: number): Snapshot {
  const v = { rps, requests: rps * 5, errors: 0, errorRate: 0, p50Ms: 1, p95Ms: 2, p99Ms: 3, faultedRequests: 0 };
  return {
    type: 'snapshot',
    from: to - 5000,
    to,
    spanMs: 5000,
    weights: { baseline: 100 - canary, canary },
    versions: { baseline: v, canary: { ...v, errorRate: null } },
  };
}

t.test('the ring keeps the newest `capacity` points, oldest first, one per second', async (t) => {
  const h = new SnapshotHistory(3);
  for (let i = 1; i <= 5; i++) t.ok(h.add(snap(i * 1000, i * 10, i)), `point ${i} kept`);
  t.notOk(h.add(snap(5000, 99, 99)), 'a second snapshot for the same second is ignored');
  t.notOk(h.add(snap(4000, 99, 99)), 'an older one too');
  t.equal(h.size, 3, 'bounded by the capacity');
  t.same(
    h.since(0).map((p) => [p.to, p.canaryWeight, p.versions.baseline.rps]),
    [
      [3000, 30, 3],
      [4000, 40, 4],
      [5000, 50, 5],
    ],
  );
  t.same(
    h.since(4000).map((p) => p.to),
    [5000],
    'since is exclusive',
  );
  t.same(h.since(0)[0].versions.canary, { rps: 3, errorRate: null, p50Ms: 1, p95Ms: 2, p99Ms: 3 }, 'only the charted fields');
  t.throws(() => new SnapshotHistory(0), RangeError);
});

t.test('over real sockets: history holds what the live stream sent, with the weight of each second', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const s = await startAdminSidecar(configYaml(base.url, can.url, 'routing: { canaryWeight: 30 }'));
  const dispatcher = new Agent({ connections: 8 });
  t.teardown(async () => (await s.stop(), await dispatcher.close(), await base.close(), await can.close()));

  const ws = new WebSocket(`${s.adminUrl.replace('http', 'ws')}/api/v1/events`, ['canaryd.v1']);
  const live: any[] = [];
  ws.on('message', (d) => {
    const e = JSON.parse(String(d));
    if (e.type === 'snapshot') live.push(e);
  });
  t.teardown(() => ws.close());
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));

  // bounded traffic: at most 400 requests, until the stream has shown 4 snapshots with requests on both versions
  let sent = 0;
  const busy = () => live.filter((e) => e.versions.baseline.requests > 0 && e.versions.canary.requests > 0).length;
  while (sent < 400 && busy() < 4) {
    await Promise.all(Array.from({ length: 10 }, () => request(`${s.url}/h/${sent++}`, { dispatcher }).then((r) => r.body.dump())));
    await new Promise((r) => setTimeout(r, 50)); // pacing the load, not waiting for anything
  }
  await until('4 live snapshots with traffic on both versions', () => busy() >= 4, 20_000, 50);

  const moved = await request(`${s.adminUrl}/api/v1/weights`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ canary: 70, reason: 'history test' }),
  });
  t.equal(moved.statusCode, 200, 'weight set to 70');
  await moved.body.dump();
  await until('a live snapshot at weight 70', () => live.some((e) => e.weights.canary === 70), 20_000, 50);

  const get = async (q: string) => {
    const r = await request(`${s.adminUrl}/api/v1/history${q}`);
    return { status: r.statusCode, json: (await r.body.json()) as any };
  };
  const h = await get('?seconds=120');
  t.equal(h.status, 200);
  t.equal(h.json.spanMs, 5000);
  t.equal(h.json.capacity, 900);
  const pts: any[] = h.json.points;
  t.ok(pts.length >= 5, `${pts.length} points`);
  t.ok(
    pts.every((p, i) => i === 0 || (p.to > pts[i - 1].to && p.to % 1000 === 0)),
    'strictly increasing, on whole seconds',
  );
  const byTo = new Map(pts.map((p) => [p.to, p]));
  // every live snapshot in the history's range is in it (slack 1: the one sent at connect may be computed on demand)
  const ticked = live.filter((e) => e.to >= pts[0].to && e.to <= pts[pts.length - 1].to);
  const missing = ticked.filter((e) => !byTo.has(e.to));
  t.ok(ticked.length >= 4, `${ticked.length} live snapshots in the history's range`);
  t.ok(missing.length <= 1, `each second the stream sent is in the history (missing: ${missing.map((e) => e.to).join(',') || 'none'})`);
  let same = 0;
  for (const e of ticked) {
    const p = byTo.get(e.to);
    if (!p) continue;
    const pick = (v: any) => ({ rps: v.rps, errorRate: v.errorRate, p50Ms: v.p50Ms, p95Ms: v.p95Ms, p99Ms: v.p99Ms });
    if (
      p.canaryWeight === e.weights.canary &&
      JSON.stringify(p.versions) === JSON.stringify({ baseline: pick(e.versions.baseline), canary: pick(e.versions.canary) })
    )
      same++;
  }
  t.ok(same >= ticked.length - 1, `history and stream agree on ${same} of ${ticked.length} seconds`);
  t.ok(pts.some((p) => p.canaryWeight === 30) && pts.some((p) => p.canaryWeight === 70), 'the weight before and after the change');
  t.ok(
    pts.some((p) => p.versions.canary.rps > 0 && p.versions.baseline.p95Ms !== null),
    'points carry the traffic',
  );

  const short = await get('?seconds=2');
  t.ok(short.json.points.length <= 3 && short.json.points.length >= 1, `?seconds=2 gives the last seconds (${short.json.points.length})`);
  t.equal((await get('')).status, 200, 'seconds defaults (300)');
  for (const bad of ['?seconds=0', '?seconds=901', '?seconds=x', '?since=1']) t.equal((await get(bad)).status, 400, `${bad} is refused`);
});
