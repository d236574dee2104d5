/**
 * TrafficSplitter's sticky property, as a unit: the same key always lands on the same arm, the canary share
 * over many keys is the weight (within binomial bounds), and raising the weight only moves keys from
 * baseline to canary (lowering it only moves them back). Sticky picks never consult the random source.
 */
import t from 'tap';
import { TrafficSplitter, type RoutingInput } from '../proxy/index.js';

const KEYS = Array.from({ length: 20_000 }, (_, i) => `user-${i}`);
const neverRandom = () => {
  throw new Error('a sticky pick must not roll the dice');
};
const byHeader = (w: number): RoutingInput => ({ canaryWeight: w, sticky: { header: 'x-user-id' }, rules: [] });
const canaryKeys = (s: TrafficSplitter, keys = KEYS) =>
  new Set(keys.filter((k) => s.pick({ headers: { 'x-user-id': k } }).version === 'canary'));

t.test('the same key gets the same arm, on every pick and from every splitter with the same weight', async (t) => {
  for (const w of [0.5, 10, 33.3, 50, 90]) {
    const a = new TrafficSplitter(byHeader(w), neverRandom);
    const b = new TrafficSplitter(byHeader(w), neverRandom);
    const first = KEYS.slice(0, 2000).map((k) => a.pick({ headers: { 'x-user-id': k } }).version);
    const again = KEYS.slice(0, 2000).map((k) => a.pick({ headers: { 'x-user-id': k } }).version);
    const other = KEYS.slice(0, 2000).map((k) => b.pick({ headers: { 'x-user-id': k } }).version);
    t.same(again, first, `${w} %: a second pick agrees`);
    t.same(other, first, `${w} %: another splitter agrees`);
  }
});

t.test('a sticky cookie behaves as the sticky header does', async (t) => {
  const header = new TrafficSplitter(byHeader(30), neverRandom);
  const cookie = new TrafficSplitter({ canaryWeight: 30, sticky: { cookie: 'uid' }, rules: [] }, neverRandom);
  const keys = KEYS.slice(0, 2000);
  t.same(
    keys.map((k) => cookie.pick({ headers: { cookie: `a=1; uid=${k}; b=2` } }).version),
    keys.map((k) => header.pick({ headers: { 'x-user-id': k } }).version),
    'the key decides, whichever field carries it',
  );
});

t.test('the canary share over 20,000 keys is the weight, within 5 binomial standard deviations', async (t) => {
  for (const w of [1, 5, 10, 25, 50, 75, 99]) {
    const p = w / 100;
    const share = canaryKeys(new TrafficSplitter(byHeader(w), neverRandom)).size / KEYS.length;
    const sd = Math.sqrt((p * (1 - p)) / KEYS.length);
    t.ok(Math.abs(share - p) <= 5 * sd, `${w} %: share ${share.toFixed(4)} within ±${(5 * sd).toFixed(4)}`);
  }
  t.equal(canaryKeys(new TrafficSplitter(byHeader(0), neverRandom)).size, 0, '0 %: no key on canary');
  t.equal(canaryKeys(new TrafficSplitter(byHeader(100), neverRandom)).size, KEYS.length, '100 %: every key on canary');
});

t.test('raising the weight only moves keys baseline → canary; lowering only moves them back', async (t) => {
  const s = new TrafficSplitter(byHeader(0), neverRandom);
  let previous = canaryKeys(s);
  for (const w of [1, 5, 10, 30, 50, 80, 100]) {
    s.setWeights({ canary: w }, 'test');
    const now = canaryKeys(s);
    const left = [...previous].filter((k) => !now.has(k));
    t.equal(left.length, 0, `0..${w} %: no canary key went back to baseline`);
    t.ok(now.size > previous.size, `${w} %: more keys on canary (${previous.size} → ${now.size})`);
    previous = now;
  }
  for (const w of [60, 20, 2, 0]) {
    s.setWeights({ canary: w }, 'test');
    const now = canaryKeys(s);
    t.equal([...now].filter((k) => !previous.has(k)).length, 0, `down to ${w} %: no baseline key moved to canary`);
    previous = now;
  }
});

t.test('without a sticky key the random source decides, and the weight is its threshold', async (t) => {
  let roll = 0;
  const s = new TrafficSplitter({ canaryWeight: 25, rules: [] }, () => roll);
  roll = 0.2499;
  t.equal(
    s.pick({ headers: { 'x-user-id': 'anyone' } }).version,
    'canary',
    'a roll under the weight: canary (x-user-id is no sticky key here)',
  );
  roll = 0.25;
  t.equal(s.pick({}).version, 'baseline', 'a roll at the weight: baseline');
});
