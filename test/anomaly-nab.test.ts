import t, { type Test } from 'tap';
import {
  NAB_PROFILES,
  SIGMOID_MAX,
  normalizeScore,
  optimizeThreshold,
  probationRows,
  rowWeights,
  scoreCorpusAt,
  scoreFile,
  type NabLabelledFile,
} from '../bench/nab-score.js';
import { labelSeries, parseNabCsv, parseNabTimestamp } from '../bench/nab-data.js';
import { defaultNabDir, loadNabCorpus, loadReferenceScores } from '../bench/nab-corpus.js';

const [STANDARD, LOW_FP, LOW_FN] = NAB_PROFILES;
const FILE_A: NabLabelledFile = { name: 'A', rows: 100, windows: [[40, 49]] };
const FILE_B: NabLabelledFile = { name: 'B', rows: 100, windows: [] };

/** |actual − printed| within half a unit of the printed last digit (plus float noise) */
function printed(t: Test, actual: number, expected: number, decimals: number, what: string): void {
  t.ok(Math.abs(actual - expected) <= 0.5 * 10 ** -decimals + 1e-9, `${what}: ${actual} ≈ ${expected}`);
}

function detections(rows: number[], n = 100): Float64Array {
  const a = new Float64Array(n);
  for (const r of rows) a[r] = 1;
  return a;
}

t.test('README test vectors: one file, window rows 40–49, file scores per detection set', async (t) => {
  t.equal(probationRows(100), 15);
  t.equal(probationRows(10_000), 750, 'probation is capped at 750 rows');
  printed(t, SIGMOID_MAX, 0.986614, 6, 'S(−1)');
  const cases: [number[], number, number, number][] = [
    [[], -1.0, -1.0, -2.0],
    [[40], 1.0, 1.0, 1.0],
    [[45], 0.859793, 0.859793, 0.859793],
    [[49], 0.248242, 0.248242, 0.248242],
    [[40, 45, 49], 1.0, 1.0, 1.0],
    [[20], -1.11, -1.22, -2.11],
    [[50], -1.029793, -1.059586, -2.029793],
    [[60], -1.109513, -1.219026, -2.109513],
    [[80], -1.11, -1.22, -2.11],
    [[10], -1.0, -1.0, -2.0],
    [[20, 45, 50], 0.719999, 0.580206, 0.719999],
  ];
  for (const [rows, ...expected] of cases) {
    NAB_PROFILES.forEach((p, i) => printed(t, scoreFile(FILE_A, detections(rows), 0.5, p).raw, expected[i], 6, `rows [${rows}] ${p.name}`));
  }
  const r = scoreFile(FILE_A, detections([20, 45, 50]), 0.5, STANDARD);
  t.same([r.truePositives, r.falseNegatives, r.falsePositives], [1, 0, 2], 'counts: one window hit, two false alarms');
});

t.test('README test vectors: standard weights of rows 39–51', async (t) => {
  const expected = [
    -0.11, 1.0, 0.991295, 0.977107, 0.954147, 0.917429, 0.859793, 0.771927, 0.643766, 0.468387, 0.248242, -0.029793, -0.055514,
  ];
  const { weight, window } = rowWeights(FILE_A, STANDARD);
  expected.forEach((w, k) => printed(t, weight[39 + k], w, 6, `w[${39 + k}]`));
  t.equal(window[39], -1);
  t.equal(window[40], 0);
  t.equal(window[49], 0);
  t.equal(window[50], -1);
  t.ok(weight[55] < 0 && weight[55] > -0.11, 'false alarms soon after a window cost less than A_FP');
  t.equal(weight[99], -0.11, 'and the full A_FP far from it');
});

t.test('README test vectors: two-file corpus sweep, tie rule and normalisation', async (t) => {
  const a = new Float64Array(100);
  a[45] = 0.9;
  a[20] = 0.7;
  a[50] = 0.6;
  const b = new Float64Array(100);
  b[30] = 0.8;
  b[70] = 0.65;
  const files = [FILE_A, FILE_B];
  const byThreshold: [number, number][] = [
    [1.1, -1.0],
    [0.9, 0.859793],
    [0.8, 0.749793],
    [0.7, 0.639793],
    [0.65, 0.529793],
    [0.6, 0.499999],
  ];
  for (const [theta, raw] of byThreshold)
    printed(t, scoreCorpusAt(files, [a, b], theta, STANDARD).raw, raw, 6, `standard raw at θ ${theta}`);
  const std = optimizeThreshold(files, [a, b], STANDARD);
  t.equal(std.threshold, 0.9);
  printed(t, std.normalized, 92.9896, 4, 'standard normalised');
  const lowFp = optimizeThreshold(files, [a, b], LOW_FP);
  t.equal(lowFp.threshold, 0.9);
  printed(t, lowFp.normalized, 92.9896, 4, 'low-FP normalised');
  const lowFn = optimizeThreshold(files, [a, b], LOW_FN);
  t.equal(lowFn.threshold, 0.9);
  printed(t, lowFn.normalized, 95.3264, 4, 'low-FN normalised');
  t.equal(normalizeScore(-2 * 3, 3, LOW_FN), 0, 'null detector scores 0');
  t.equal(normalizeScore(3, 3, LOW_FN), 100, 'perfect detector scores 100');
});

t.test('ties go to the higher threshold; the sweep agrees with brute force', async (t) => {
  // A detection at 0.4 inside an already-detected window changes nothing: θ* stays at the higher value.
  const a = new Float64Array(100);
  a[40] = 0.8;
  a[45] = 0.4;
  t.equal(optimizeThreshold([FILE_A], [a], STANDARD).threshold, 0.8);
  // brute force over every candidate on seeded random corpora
  let seed = 7;
  const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
  for (let trial = 0; trial < 30; trial++) {
    const files: NabLabelledFile[] = [
      {
        name: 'x',
        rows: 120,
        windows: [
          [30, 41],
          [80, 95],
        ],
      },
      { name: 'y', rows: 60, windows: [] },
      { name: 'z', rows: 90, windows: [[20, 20]] },
    ];
    const scores = files.map((f) => Float64Array.from({ length: f.rows }, () => Math.round(rnd() * 20) / 20));
    for (const p of NAB_PROFILES) {
      const best = optimizeThreshold(files, scores, p);
      const candidates = [1.1, ...new Set(scores.flatMap((s, i) => Array.from(s).slice(probationRows(files[i].rows))))].sort(
        (x, y) => y - x,
      );
      let bruteRaw = -Infinity;
      let bruteTheta = 1.1;
      for (const c of candidates) {
        const raw = scoreCorpusAt(files, scores, c, p).raw;
        if (raw > bruteRaw + 1e-12) [bruteRaw, bruteTheta] = [raw, c];
      }
      if (best.threshold !== bruteTheta || Math.abs(best.raw - bruteRaw) > 1e-9)
        t.fail(`trial ${trial} ${p.name}: sweep ${best.threshold}/${best.raw} vs brute ${bruteTheta}/${bruteRaw}`);
    }
  }
  t.pass('30 random corpora × 3 profiles agree');
});

t.test('windows map to the first row with the timestamp, even when time repeats or steps back', async (t) => {
  t.equal(parseNabTimestamp('2014-04-10 07:15:00.000000'), Date.UTC(2014, 3, 10, 7, 15));
  t.equal(parseNabTimestamp('2014-04-10 07:15:00'), Date.UTC(2014, 3, 10, 7, 15));
  const s = parseNabCsv(
    'f.csv',
    'timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,2\n2014-01-01 00:00:00,3\n2014-01-01 00:10:00,4\n',
  );
  t.same(labelSeries(s, [['2014-01-01 00:00:00.000000', '2014-01-01 00:10:00.000000']]).windows, [[0, 3]]);
  t.throws(() => parseNabCsv('g.csv', 'timestamp,value\n2014-01-01 00:00:00,abc\n'), { code: 'NAB_DATA_INVALID' });
});

t.test('corner case: a window wholly inside the probation is not scored, but counts in the perfect score', async (t) => {
  // n = 100, P = 15. Window 0 = rows 5–9 (all < P), window 1 = rows 40–49.
  const file: NabLabelledFile = {
    name: 'p',
    rows: 100,
    windows: [
      [5, 9],
      [40, 49],
    ],
  };
  // Nothing detected: only window 1 is charged −A_FN (sweeper.py names no scorable row after window 0).
  t.equal(scoreFile(file, detections([]), 0.5, STANDARD).raw, -1);
  t.equal(scoreFile(file, detections([]), 0.5, LOW_FN).raw, -2);
  // Row 40 detected: raw = +1. Perfect = A_TP · 2 labelled windows = 2, null = −A_FN · 1 scorable = −1,
  // normalised = 100 · (1 − (−1)) / (2 − (−1)) = 200/3. (Charging window 0 as missed would give 0 / 50.)
  const hit = scoreCorpusAt([file], [detections([40])], 0.5, STANDARD);
  printed(t, hit.raw, 1, 9, 'raw with row 40');
  printed(t, hit.normalized, 200 / 3, 9, 'normalised 66.667');
  t.equal(scoreCorpusAt([file], [detections([])], 0.5, STANDARD).normalized, 0, 'the null detector still scores 0');
  t.same([hit.windows, hit.scorable], [2, 1]);
  // Row 20 lies after window 0 (r_p = 9, W_p = 5): y = 11/4 = 2.75, S = 2/(1 + e^13.75) − 1 = −0.99999786459,
  // w = 0.11 · S = −0.10999976510. With rows 20 and 40: raw = 1 − 0.10999976510 = 0.89000023490.
  printed(t, scoreFile(file, detections([20, 40]), 0.5, STANDARD).raw, 0.8900002349, 9, 'false alarm weighed against the probation window');
  // the sweep uses the same counts: θ* = 1 (only row 40 fires), normalised 200/3
  const a = detections([40]);
  const swept = optimizeThreshold([file], [a], STANDARD);
  t.equal(swept.threshold, 1);
  printed(t, swept.normalized, 200 / 3, 9, 'sweep normalised');
});

t.test('corner case: a one-row window', async (t) => {
  const file: NabLabelledFile = { name: 'one', rows: 100, windows: [[40, 40]] };
  // W = 1: row 40 has y = −(40 − 40 + 1)/1 = −1, weight A_TP · S(−1)/S_max = 1.
  t.equal(rowWeights(file, STANDARD).weight[40], 1);
  t.equal(scoreFile(file, detections([40]), 0.5, STANDARD).raw, 1);
  // Row 41: y = (41 − 40)/(W − 1) = 1/0 = +∞ > 3 → S = −1, weight −A_FP; the window is missed: −1 − 0.11.
  printed(t, scoreFile(file, detections([41]), 0.5, STANDARD).raw, -1.11, 12, 'row 41');
  printed(t, scoreFile(file, detections([41]), 0.5, LOW_FP).raw, -1.22, 12, 'row 41, low FP');
  // Row 39 (before any window): −A_FP. Rows 40 + 41: 1 − 0.11 = 0.89.
  printed(t, scoreFile(file, detections([39]), 0.5, LOW_FN).raw, -2.11, 12, 'row 39, low FN');
  printed(t, scoreFile(file, detections([40, 41]), 0.5, STANDARD).raw, 0.89, 12, 'rows 40, 41');
});

t.test('corner case: a window timestamp missing from the data does not throw', async (t) => {
  // 100 rows, one every 5 minutes from 00:00 (row i at minute 5i).
  const stamp = (min: number): string =>
    `2014-01-01 ${String(Math.floor(min / 60)).padStart(2, '0')}:${String(min % 60).padStart(2, '0')}:00`;
  const csv = ['timestamp,value', ...Array.from({ length: 100 }, (_, i) => `${stamp(5 * i)},${i}`)].join('\n');
  const s = parseNabCsv('m.csv', csv);
  // [03:21, 04:07]: neither end is a row; rows inside are minute 205 (row 41) … minute 245 (row 49).
  // [06:01, 06:04]: no row inside (06:00 and 06:05 are rows 72, 73): unmapped, perfect score only.
  const f = labelSeries(s, [
    ['2014-01-01 03:21:00', '2014-01-01 04:07:00'],
    ['2014-01-01 06:01:00', '2014-01-01 06:04:00'],
  ]);
  t.same(f.windows, [[41, 49]]);
  t.equal(f.unmapped, 1);
  t.same(f.skipped, ['[2014-01-01 06:01:00, 2014-01-01 06:04:00]']);
  // One exact end, one missing: [03:20 = row 40, 04:07 → last row inside = 49].
  t.same(labelSeries(s, [['2014-01-01 03:20:00', '2014-01-01 04:07:00']]).windows, [[40, 49]]);
  // Scoring: perfect = 2 (both labelled), null = −1 (one scorable). Row 41 detected (first row): raw 1,
  // normalised 100 · (1 + 1)/(2 + 1) = 66.667; nothing detected: raw −1, normalised 0.
  printed(t, scoreCorpusAt([f], [detections([41])], 0.5, STANDARD).normalized, 200 / 3, 9, 'normalised');
  t.equal(scoreCorpusAt([f], [detections([])], 0.5, STANDARD).normalized, 0);
});

t.test('end to end on ../shared/nab: the three reference detectors reproduce the README table', async (t) => {
  const corpus = loadNabCorpus(defaultNabDir());
  t.equal(corpus.files.length, 27);
  t.equal(corpus.windows, 49);
  const table: Record<string, [number, number, number][]> = {
    numenta: [
      [0.555458997389, 18.66799, 69.049],
      [0.602095149663, 14.046782, 64.3335],
      [0.484751543379, 9.088136, 72.8491],
    ],
    contextOSE: [
      [0.705128205128, 15.765014, 66.0867],
      [0.766433566434, 11.358596, 61.5904],
      [0.705128205128, 4.765014, 69.9082],
    ],
    windowedGaussian: [
      [0.999999999445, -17.931193, 31.7029],
      [1.0, -25.488615, 23.9912],
      [0.999999934206, -42.6296, 37.6669],
    ],
  };
  for (const [detector, rows] of Object.entries(table)) {
    const scores = loadReferenceScores(corpus, detector);
    NAB_PROFILES.forEach((p, i) => {
      const r = optimizeThreshold(corpus.files, scores, p);
      const [theta, raw, normalized] = rows[i];
      printed(t, r.threshold, theta, 12, `${detector} ${p.name} θ*`);
      printed(t, r.raw, raw, 6, `${detector} ${p.name} raw`);
      printed(t, r.normalized, normalized, 4, `${detector} ${p.name} normalised`);
    });
  }
});
