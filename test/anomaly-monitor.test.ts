import t from 'tap';
import {
  ANOMALY_THRESHOLD,
  AnomalyMonitor,
  DETECTOR_NAMES,
  MajorityVoteDetector,
  NoveltyShiftDetector,
  PageHinkleyTest,
  RangeNoveltyDetector,
  createDetector,
  type AnomalyMonitorSettings,
  type AnomalyTick,
  type CheckResult,
} from '../analysis/index.js';
import { RollingQuantiles, RollingStats } from '../analysis/anomaly/detector.js';
import { countAbove } from '../analysis/anomaly/monitor-points.js';
import { ConfigSchema, parseConfigText } from '../config/index.js';
import { emptyHistogram, histogramQuantile, latencyBucket } from '../core/index.js';
import { Rng, trafficSecond, type TrafficEvent, type TrafficProfile } from '../bench/traffic-sim.js';

// ---- the detectors' contract suite: every registered detector -------------------------------------------

function noisy(seed: number, n: number, level = 100, sd = 5): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => level + sd * rng.normal());
}

for (const name of DETECTOR_NAMES) {
  t.test(`detector contract: ${name}`, async (t) => {
    const series = noisy(1, 400);
    series[300] = 400; // a large spike
    const d = createDetector(name);
    const scores = series.map((x) => d.update(x));
    t.ok(
      scores.every((s) => s >= 0 && s <= 1 && !Number.isNaN(s)),
      'scores in [0, 1]',
    );
    t.ok(scores[300] >= ANOMALY_THRESHOLD, `the spike is flagged (${scores[300].toFixed(3)})`);

    const flat = createDetector(name);
    const flatScores = Array.from({ length: 200 }, () => flat.update(42));
    t.same(
      flatScores.filter((s) => s >= ANOMALY_THRESHOLD),
      [],
      'a constant series gives no anomalies',
    );
    const step = createDetector(name);
    const stepScores = [...Array.from({ length: 100 }, () => 10), ...Array.from({ length: 5 }, () => 50)].map((x) => step.update(x));
    t.ok(stepScores[100] >= ANOMALY_THRESHOLD, 'a large step out of a flat series is flagged');

    const again = createDetector(name);
    t.same(
      series.map((x) => again.update(x)),
      scores,
      'deterministic: same inputs, same scores',
    );
    d.reset();
    t.same(
      series.map((x) => d.update(x)),
      scores,
      'reset() restores the initial state',
    );

    const gaps = createDetector(name);
    const withGaps = series.flatMap((x, i) => (i % 7 === 3 ? [NaN, x] : [x])).map((x) => gaps.update(x));
    t.same(
      withGaps.filter((_, i) => !Number.isNaN(series.flatMap((x, k) => (k % 7 === 3 ? [NaN, x] : [x]))[i])),
      scores,
      'a NaN is a gap: scores 0, changes nothing',
    );
    t.equal(gaps.update(Infinity), 0);
  });
}

t.test('the ensemble is a majority vote at every threshold', async (t) => {
  const fixed = (s: number) => ({ update: () => s, reset: () => undefined });
  t.equal(new MajorityVoteDetector([fixed(0.9), fixed(0.8), fixed(0.2), fixed(0.1)]).update(1), 0.2, '3 of 4 must agree: the 3rd largest');
  t.equal(new MajorityVoteDetector([fixed(0.9), fixed(0.8), fixed(0.7), fixed(0.1)]).update(1), 0.7);
  t.equal(new MajorityVoteDetector([fixed(0.9), fixed(0.2), fixed(0.6)]).update(1), 0.6, '2 of 3');
});

t.test('rolling helpers: sums, quantiles, nearest distance; novelty reports an episode once', async (t) => {
  const s = new RollingStats(3);
  for (const x of [1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4]) s.push(x);
  t.equal(s.mean(), 1e9 + 3, 'keeps the last 3, no precision lost at 1e9');
  t.ok(Math.abs(s.variance() - 2 / 3) < 1e-6);
  const q = new RollingQuantiles(5);
  for (const x of [5, 1, 4, 2, 3, 9]) q.push(x);
  t.same([q.min(), q.quantile(0.5), q.max(), q.nearestDistance(6), q.nearestDistance(10)], [1, 3, 9, 2, 1], 'evicts the oldest (5)');
  const n = new RangeNoveltyDetector({ warmup: 5, rest: 10 });
  const scores = [1, 2, 3, 2, 1, 2, 3, 50, 51, 52, 2].map((x) => n.update(x));
  t.ok(scores[7] >= ANOMALY_THRESHOLD, 'a value far from every remembered one is novel');
  t.same(scores.slice(8), [0, 0, 0], 'the rest of the episode is not reported again');
});

t.test('novelty-shift: a CUSUM level-shift test beside novelty, one report per episode', async (t) => {
  // 400 points of noise around 100 (sd 5), then the level moves up by 3 sd for good.
  const series = noisy(2, 700, 100, 5);
  for (let i = 400; i < 700; i++) series[i] += 15;
  const test = new PageHinkleyTest();
  const ratios = series.map((x) => test.ratio(x));
  const fired = ratios.findIndex((r, i) => i >= 400 && r >= 1);
  t.ok(fired > 400 && fired <= 440, `the CUSUM reaches h ${fired - 400} points after the shift`);
  t.notOk(
    ratios.slice(30, 400).some((r) => r >= 1),
    'and never before it',
  );
  t.ok(
    ratios.slice(fired + 1, fired + 11).every((r) => r < 0.5),
    'it restarts at the new level instead of firing on',
  );
  const shift = new NoveltyShiftDetector();
  const s = series.map((x) => shift.update(x));
  t.equal(s.slice(100, 400).filter((x) => x >= ANOMALY_THRESHOLD).length, 0, 'no alarm on the stationary stretch');
  t.equal(s.slice(400, 460).filter((x) => x >= ANOMALY_THRESHOLD).length, 1, 'one alarm for the episode');
  const flat = new PageHinkleyTest({ limit: 10 });
  t.same(
    Array.from({ length: 60 }, () => flat.ratio(7)).filter((r) => r > 0),
    [],
    'a flat series accumulates nothing',
  );
});

t.test('the registry rejects unknown names, and config lists exactly its names', async (t) => {
  t.throws(() => createDetector('nope'), { code: 'CANARYD_ERR_CONFIG_INVALID' });
  const anomaly = (ConfigSchema as any).properties.rollout.properties.anomaly.properties;
  t.same(anomaly.detector.anyOf.map((x: { const: string }) => x.const).sort(), [...DETECTOR_NAMES].sort());
  t.equal(anomaly.detector.default, 'blend');
});

t.test('the monitor is built straight from the config section', async (t) => {
  const c = parseConfigText(`upstreams:
  baseline: { url: http://127.0.0.1:3000, version: v1 }
  canary: { url: http://127.0.0.1:3001, version: v2 }
rollout:
  anomaly: { policy: fail, detector: novelty, holdFor: 30s, metrics: [p95, errorRate] }
`);
  t.equal(c.rollout.anomaly.holdFor, 30_000);
  const m = new AnomalyMonitor({ ...c.rollout.anomaly, margin: c.rollout.baseline.maxDegradation, countFaulted: c.rollout.countFaulted });
  t.same(
    m.checks(0).map((x) => x.name),
    ['anomaly.canary.p95', 'anomaly.canary.errorRate'],
  );
  const bad = () =>
    parseConfigText(`upstreams:
  baseline: { url: http://127.0.0.1:3000, version: v1 }
  canary: { url: http://127.0.0.1:3001, version: v2 }
rollout: { anomaly: { detector: magic } }
`);
  t.throws(bad, { code: 'CANARYD_ERR_CONFIG_INVALID' }, 'an unknown detector name is a config error');
});

t.test('countAbove reads the tail of a latency histogram', async (t) => {
  const h = emptyHistogram();
  for (let i = 1; i <= 100; i++) h[latencyBucket(i)]++;
  t.ok(Math.abs(countAbove(h, histogramQuantile(h, 0.95)) - 5) < 0.01, '5 % of requests above the p95');
  t.equal(countAbove(h, 1000), 0);
  t.equal(countAbove(h, 0.05), 100);
});

// ---- the monitor, replayed on simulated traffic ---------------------------------------------------------

const T0 = Date.UTC(2024, 0, 1);
const PROFILE: TrafficProfile = { rps: 200, medianMs: 50, sigma: 0.4, tail: 0.01, errorRate: 0.005 };
const SETTINGS: AnomalyMonitorSettings = { policy: 'hold', windowSeconds: 10, detector: 'blend' };

interface Replay {
  checks: CheckResult[][];
  monitor: AnomalyMonitor;
  maxScore: Record<'baseline' | 'canary', number>;
}

/** one tick per second; `weightAt(s)` the canary weight; `window: 'new'` passes only the new second */
function replay(
  seconds: number,
  weightAt: (s: number) => number,
  events: TrafficEvent[],
  o: { settings?: Partial<AnomalyMonitorSettings>; seed?: number; window?: 'new' | 'all' } = {},
): Replay {
  const monitor = new AnomalyMonitor({ ...SETTINGS, ...o.settings });
  const rng = new Rng(o.seed ?? 3);
  const all: { baseline: AnomalyTick['baseline'][number][]; canary: AnomalyTick['canary'][number][] } = { baseline: [], canary: [] };
  const checks: CheckResult[][] = [];
  const maxScore = { baseline: 0, canary: 0 };
  for (let s = 0; s < seconds; s++) {
    const w = trafficSecond(rng, T0 + s * 1000, s, weightAt(s), PROFILE, events);
    all.baseline.push(w.baseline);
    all.canary.push(w.canary);
    const tick = o.window === 'all' ? { baseline: all.baseline, canary: all.canary } : { baseline: [w.baseline], canary: [w.canary] };
    checks.push(monitor.observe({ at: T0 + (s + 1) * 1000, canaryWeight: weightAt(s), ...tick }));
    for (const x of monitor.scores())
      if (x.metric === 'p95' && x.method === (o.settings?.detector ?? SETTINGS.detector))
        maxScore[x.version] = Math.max(maxScore[x.version], x.score);
  }
  return { checks, monitor, maxScore };
}

const status = (checks: CheckResult[], name: string) => checks.find((c) => c.name === name)?.status;
const ever = (r: Replay, name: string, st: string) => r.checks.some((cs) => status(cs, name) === st);

t.test('a canary latency spike the baseline does not have is flagged on the canary only', async (t) => {
  const spike: TrafficEvent = { from: 240, to: 270, versions: ['canary'], latencyFactor: 3 };
  const r = replay(330, () => 50, [spike]);
  t.ok(ever(r, 'anomaly.canary.p95', 'marginal'), 'policy hold: the p95 check holds the step');
  t.notOk(
    r.checks.slice(0, 240).some((cs) => cs.some((c) => c.status === 'marginal' || c.status === 'fail')),
    'nothing before the spike',
  );
  t.ok(
    r.maxScore.canary >= ANOMALY_THRESHOLD && r.maxScore.baseline < ANOMALY_THRESHOLD,
    `canary score ${r.maxScore.canary.toFixed(2)}, baseline ${r.maxScore.baseline.toFixed(2)}`,
  );
  const held = r.checks.flat().find((c) => c.name === 'anomaly.canary.p95' && c.status === 'marginal')!;
  t.match(held.message, /canary-only anomaly .* canary [\d.]+ ms vs baseline [\d.]+ ms/);
  t.equal(held.kind, 'anomaly');
  t.equal(status(r.checks[r.checks.length - 1], 'anomaly.canary.p95'), 'pass', 'released once holdFor (1m) has passed');
  const failing = replay(330, () => 50, [spike], { settings: { policy: 'fail' } });
  t.ok(ever(failing, 'anomaly.canary.p95', 'fail'), 'policy fail: the check fails');
  t.ok(replay(330, () => 50, [spike], { settings: { detector: 'novelty' } }).checks.length > 0, 'the novelty detector is selectable');
});

t.test('the baseline is the reference: a canary regression that starts during a shared slowdown is still caught', async (t) => {
  // Both versions 3× slower for 30 s from 240 s, and the canary alone 2× slower from 240 s on. The canary's
  // own series changes together with the baseline's (shared), but the contrast log(canary p95 / baseline p95)
  // steps up by log 2 and stays there.
  const events: TrafficEvent[] = [
    { from: 240, to: 270, versions: ['baseline', 'canary'], latencyFactor: 3 },
    { from: 240, to: 400, versions: ['canary'], latencyFactor: 2 },
  ];
  for (const detector of ['blend', 'novelty-shift'] as const) {
    const r = replay(400, () => 50, events, { settings: { detector } });
    t.notOk(
      r.checks.slice(0, 240).some((cs) => cs.some((c) => c.status === 'marginal')),
      `${detector}: nothing before 240 s`,
    );
    t.ok(ever(r, 'anomaly.canary.p95', 'marginal'), `${detector}: the p95 check holds the step`);
  }
});

t.test('a spike both versions share is not counted against the canary', async (t) => {
  const r = replay(330, () => 50, [{ from: 240, to: 270, versions: ['baseline', 'canary'], latencyFactor: 3 }]);
  t.notOk(
    r.checks.some((cs) => cs.some((c) => c.status === 'marginal' || c.status === 'fail')),
    'no hold, no fail',
  );
  t.ok(
    r.checks.some((cs) => cs.some((c) => c.name === 'anomaly.canary.p95' && /shared with the baseline/.test(c.message))),
    'the pass says it was shared',
  );
});

t.test('weight steps do not trigger the request-rate check', async (t) => {
  const steps = [5, 10, 25, 50, 75];
  const r = replay(600, (s) => steps[Math.floor(s / 120)], [], { seed: 11 });
  const rate = r.checks.map((cs) => status(cs, 'anomaly.canary.requestRate'));
  t.notOk(rate.includes('marginal') || rate.includes('fail'), 'no request-rate hold across four weight steps');
  t.equal(rate[rate.length - 1], 'pass');
  t.notOk(
    r.checks.some((cs) => cs.some((c) => c.status === 'marginal')),
    'nor any other hold on normal traffic',
  );
});

t.test('too little data is nodata; reset() starts over; replays are deterministic', async (t) => {
  const r = replay(60, () => 50, []);
  t.same(
    r.checks[59].map((c) => c.status),
    ['nodata', 'nodata', 'nodata'],
    '6 points < the 10 needed',
  );
  const a = replay(200, () => 50, [], { seed: 5 });
  const b = replay(200, () => 50, [], { seed: 5, window: 'all' });
  t.same(a.checks, b.checks, 'passing every window since the start on each tick = passing the new ones');
  t.same(a.monitor.scores(), b.monitor.scores());
  t.equal(a.checks[199][0].status, 'pass');
  a.monitor.reset();
  t.same(
    a.monitor.checks(T0 + 200_000).map((c) => c.status),
    ['nodata', 'nodata', 'nodata'],
    'reset forgets the series',
  );
  const scores = b.monitor.scores();
  t.equal(scores.length, 2 * 3 * DETECTOR_NAMES.length, 'a score per (version, metric, method)');
  t.ok(scores.every((x) => x.score >= 0 && x.score <= 1));
  t.same(
    new AnomalyMonitor({ ...SETTINGS, enabled: false }).observe({ at: T0, baseline: [], canary: [], canaryWeight: 5 }),
    [],
    'disabled: no checks',
  );
  t.throws(() => new AnomalyMonitor({ ...SETTINGS, detector: 'bogus' }), { code: 'CANARYD_ERR_CONFIG_INVALID' });
});
