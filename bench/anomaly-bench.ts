/**
 * `npm run bench:anomaly` — NAB-style scores of every anomaly detector and the ensemble, side by side, on
 * ../shared/nab (or any folder in the NAB layout), plus the anomaly monitor on simulated rollouts.
 *
 *   --data DIR              corpus to score (default ../shared/nab from the repo root)
 *   --only CAT,...          keep only these categories of --data
 *   --threshold-from DIR    fix each detector's threshold (θ* per profile) on DIR, report --data at it
 *   --threshold-only CAT,.. keep only these categories of the --threshold-from corpus
 *   --detectors A,B         a subset of the registry (default: all)
 *   --rollouts N            simulated rollouts per monitor scenario (default 100, 0 to skip)
 *   --no-write              do not update bench/RESULTS.md (it is updated on a default run only)
 *
 * Without --threshold-from, the split table fixes θ on artificial* + realAWSCloudwatch and scores
 * realKnownCause + realTraffic, and the other way round: the honest number for data not tuned on.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import {
  DETECTOR_NAMES,
  NoveltyShiftDetector,
  RangeNoveltyDetector,
  RollingIqrDetector,
  RollingZScoreDetector,
  createDetector,
  type AnomalyDetector,
} from '../analysis/index.js';
import { benchFamilies, crossValidate, paramsText } from './anomaly-cv.js';
import { NAB_PROFILES, optimizeThreshold } from './nab-score.js';
import { MONITOR_SCENARIOS, simulateMonitor } from './monitor-sim.js';
import { defaultNabDir, loadNabCorpus, loadReferenceScores, type NabCorpus } from './nab-corpus.js';
import { scoreRun, scoreTransfer, streamCorpus, subCorpus, type DetectorRun } from './nab-runner.js';
import { Rng } from './traffic-sim.js';

const SPLIT_A = ['artificialNoAnomaly', 'artificialWithAnomaly', 'realAWSCloudwatch'];
const SPLIT_B = ['realKnownCause', 'realTraffic'];
const REFERENCES = ['numenta', 'contextOSE', 'windowedGaussian'];
const PROFILE_LABEL = { standard: 'standard', reward_low_FP_rate: 'low FP', reward_low_FN_rate: 'low FN' } as const;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const list = (v: string | undefined): string[] | undefined =>
  v
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
const f1 = (x: number): string => x.toFixed(1);
const shown = (dir: string): string => relative(process.cwd(), dir) || '.';
const th = (x: number): string => (x > 1 ? 'never' : x.toFixed(3));

function runAll(corpus: NabCorpus, names: readonly string[]): DetectorRun[] {
  return names.map((n) => streamCorpus(corpus, n, () => createDetector(n)));
}

function mainTable(corpus: NabCorpus, runs: DetectorRun[]): string[] {
  const out = [
    `Corpus: ${shown(corpus.dir)} — ${corpus.files.length} files, ${corpus.windows} windows. Normalised NAB score (θ).`,
    '',
    '| detector | standard @θ* | low FP @θ* | low FN @θ* | standard @0.5 | low FP @0.5 | low FN @0.5 | µs/point |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const run of runs) {
    const s = scoreRun(corpus, run);
    const tuned = s.map((p) => `${f1(p.tuned.normalized)} (${th(p.tuned.threshold)})`);
    const fixed = s.map((p) => f1(p.fixed.normalized));
    out.push(`| ${run.name} | ${tuned.join(' | ')} | ${fixed.join(' | ')} | ${run.usPerPoint.toFixed(2)} |`);
  }
  return out;
}

/** The headline: leave-one-category-out cross-validated scores, next to the in-sample (NAB convention) ones. */
function cvTable(corpus: NabCorpus, names: readonly string[]): string[] {
  const families = benchFamilies(
    names,
    (n) => createDetector(n),
    (p) => new RangeNoveltyDetector(p),
    (p) => new NoveltyShiftDetector({ shift: { limit: p.h } }),
  );
  const out = [
    `Cross-validated (leave one category out: setting and θ chosen on the other ${categoryCount(corpus) - 1} categories, the held-out one scored at that θ; held-out raw scores summed over the folds and normalised once) against in-sample (setting and θ* chosen on all ${corpus.files.length} files):`,
    '',
    '| detector | standard CV / in-sample | low FP CV / in-sample | low FN CV / in-sample | settings chosen per fold (held-out category: setting) |',
    '|---|---|---|---|---|',
  ];
  for (const f of families) {
    const r = crossValidate(corpus, f);
    const cells = r.cv.map((cv, k) => `**${f1(cv)}** / ${f1(r.inSample[k])}`);
    const chosen =
      f.grid.length > 1
        ? r.folds.map((x) => `${x.heldOut}: ${paramsText(x.params)}`).join('; ') + `; all files: ${paramsText(r.inSampleParams)}`
        : 'defaults (θ only)';
    out.push(`| ${f.name} | ${cells.join(' | ')} | ${chosen} |`);
  }
  return out;
}

const categoryCount = (corpus: NabCorpus): number => new Set(corpus.series.map((s) => s.name.split('/')[0])).size;

function transferTable(
  title: string,
  source: NabCorpus,
  sourceRuns: DetectorRun[],
  target: NabCorpus,
  targetRuns: DetectorRun[],
): string[] {
  const out = [
    title,
    '',
    '| detector | ' + NAB_PROFILES.map((p) => `${PROFILE_LABEL[p.name]}: at fixed θ / at own θ*`).join(' | ') + ' |',
    '|---|---|---|---|',
  ];
  sourceRuns.forEach((run, i) => {
    const t = scoreTransfer(source, run, target, targetRuns[i]);
    out.push(
      `| ${run.name} | ${t.map((p) => `${f1(p.transferred.normalized)} (θ ${th(p.threshold)}) / ${f1(p.tuned.normalized)}`).join(' | ')} |`,
    );
  });
  return out;
}

function referenceTable(corpus: NabCorpus): string[] {
  const present = REFERENCES.filter((r) => existsSync(join(corpus.dir, 'reference', `${r}_anomaly_scores.json.gz`)));
  if (present.length === 0) return [];
  const out = [
    "Published detectors' stored scores through the same scorer (θ*, normalised) — checks the scorer:",
    '',
    '| detector | standard | low FP | low FN |',
    '|---|---|---|---|',
  ];
  for (const r of present) {
    const scores = loadReferenceScores(corpus, r);
    out.push(
      `| ${r} | ${NAB_PROFILES.map((p) => {
        const x = optimizeThreshold(corpus.files, scores, p);
        return `${f1(x.normalized)} (${th(x.threshold)})`;
      }).join(' | ')} |`,
    );
  }
  return out;
}

function monitorTable(names: readonly string[], rollouts: number): string[] {
  const o = { steps: [5, 10, 25, 50], stepSeconds: 90, windowSeconds: 10, rollouts, seed: 1 };
  const out = [
    `AnomalyMonitor on simulated rollouts (${rollouts} per scenario; steps ${o.steps.join('/')} % × ${o.stepSeconds} s, ${o.windowSeconds} s points, 100 req/s, log-normal latency with a 1 % 5× tail, 0.5 % errors, ±30 % rate drift). Cells: rollouts held by a canary-only anomaly before any regression; for regressions, detected and median seconds from onset.`,
    '',
    '| detector | ' + MONITOR_SCENARIOS.map((s) => s.name).join(' | ') + ' |',
    '|---|' + MONITOR_SCENARIOS.map(() => '---').join('|') + '|',
  ];
  const results = MONITOR_SCENARIOS.map((s) => simulateMonitor(s, names, o));
  names.forEach((n, i) => {
    const cells = results.map((r, k) => {
      const x = r[i];
      if (!MONITOR_SCENARIOS[k].regression) return `${x.falseHolds}/${x.rollouts} held`;
      return `${x.detected}/${x.rollouts} caught, median ${x.medianDelayS ?? '–'} s (${x.falseHolds} held before)`;
    });
    out.push(`| ${n} | ${cells.join(' | ')} |`);
  });
  return out;
}

/** µs per point against the window length: flat for O(1) methods, growing for the O(window) ones. */
function costTable(): string[] {
  const rng = new Rng(9);
  const values = Float64Array.from({ length: 40_000 }, () => 100 + 10 * rng.normal());
  const windows = [100, 1000, 10_000];
  const kinds: [string, (w: number) => AnomalyDetector][] = [
    ['zscore (O(1))', (w) => new RollingZScoreDetector({ window: w })],
    ['iqr (O(window))', (w) => new RollingIqrDetector({ window: w })],
    ['novelty (O(window))', (w) => new RangeNoveltyDetector({ memory: w })],
    ['novelty-shift (O(window))', (w) => new NoveltyShiftDetector({ memory: w })],
    ['blend at defaults (memory 5000)', () => createDetector('blend')],
  ];
  const out = [
    'Per-point cost against the window (40 000 Gaussian points, µs/point, best of 3 passes):',
    '',
    `| detector | ${windows.map((w) => `window ${w}`).join(' | ')} |`,
    `|---|${windows.map(() => '---').join('|')}|`,
  ];
  for (const [name, make] of kinds) {
    const cells = windows.map((w) => {
      let best = Infinity; // best of 3 passes, after a warm-up pass (JIT), to damp a shared machine's noise
      for (let pass = 0; pass < 4; pass++) {
        const d = make(w);
        const t0 = process.hrtime.bigint();
        for (const v of values) d.update(v);
        if (pass > 0) best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1000 / values.length);
      }
      return best.toFixed(2);
    });
    out.push(`| ${name} | ${cells.join(' | ')} |`);
  }
  return out;
}

function writeResults(lines: string[]): void {
  const path = resolve(process.cwd(), 'bench', 'RESULTS.md');
  const section = [
    '## Anomaly detection',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:anomaly\` (Node ${process.version}; µs/point is wall clock on a shared machine). Reproduce: \`npm run bench:anomaly\` from the repo root, with ../shared/nab beside it.`,
    '',
    ...lines,
    '',
  ].join('\n');
  const old = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmark results\n';
  const start = old.indexOf('## Anomaly detection');
  let next = start < 0 ? -1 : old.indexOf('\n## ', start + 1);
  if (next >= 0) next += 1;
  const updated =
    start < 0 ? `${old.trimEnd()}\n\n${section}` : `${old.slice(0, start)}${section}${next >= 0 ? '\n' + old.slice(next) : ''}`;
  writeFileSync(path, updated.trimEnd() + '\n');
  console.log(`\nupdated ${path}`);
}

function main(): void {
  const dataDir = resolve(arg('--data') ?? defaultNabDir());
  const names = list(arg('--detectors')) ?? [...DETECTOR_NAMES];
  for (const n of names) createDetector(n); // unknown names fail before any work
  const corpus = loadNabCorpus(dataDir, list(arg('--only')));
  const runs = runAll(corpus, names);
  const lines = [...(categoryCount(corpus) > 1 ? [...cvTable(corpus, names), ''] : []), ...mainTable(corpus, runs), ''];
  const fromDir = arg('--threshold-from');
  if (fromDir) {
    const source = loadNabCorpus(resolve(fromDir), list(arg('--threshold-only')));
    lines.push(
      ...transferTable(
        `Thresholds fixed on ${shown(source.dir)}, scores on ${shown(corpus.dir)}:`,
        source,
        runAll(source, names),
        corpus,
        runs,
      ),
      '',
    );
  } else {
    const a = subCorpus(corpus, SPLIT_A);
    const b = subCorpus(corpus, SPLIT_B);
    if (a.corpus.files.length > 0 && b.corpus.files.length > 0) {
      lines.push(
        ...transferTable(
          `θ fixed on ${SPLIT_A.join(' + ')} (${a.corpus.windows} windows), scored on ${SPLIT_B.join(' + ')} (${b.corpus.windows} windows):`,
          a.corpus,
          runs.map(a.pick),
          b.corpus,
          runs.map(b.pick),
        ),
        '',
      );
      lines.push(
        ...transferTable(
          `θ fixed on ${SPLIT_B.join(' + ')}, scored on ${SPLIT_A.join(' + ')}:`,
          b.corpus,
          runs.map(b.pick),
          a.corpus,
          runs.map(a.pick),
        ),
        '',
      );
    }
  }
  lines.push(...costTable(), '');
  const ref = referenceTable(corpus);
  if (ref.length) lines.push(...ref, '');
  const rollouts = Number(arg('--rollouts') ?? 100);
  if (rollouts > 0) lines.push(...monitorTable(names, rollouts), '');
  console.log(lines.join('\n'));
  const isDefault = !arg('--data') && !arg('--only') && !fromDir && !arg('--detectors');
  if (isDefault && !process.argv.includes('--no-write')) writeResults(lines);
}

main();
