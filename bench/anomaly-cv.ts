/**
 * Cross-validated NAB scores: the honest protocol of issue 17. A detector family comes with a small grid of
 * parameter settings; the setting and the threshold are chosen on the training files only, then the held-out
 * files are scored at that threshold. Two fold plans:
 *  - leave one category out (5 folds on ../shared/nab: train on four categories, score the fifth);
 *  - rolling origin is not used: NAB files are short and their windows sit late, so a series' first part
 *    rarely holds a window to tune on.
 * The held-out raw scores of all folds are summed and normalised once over the whole corpus (every file is
 * held out exactly once), so the CV score is on the same scale as the in-sample one. In-sample = the best
 * setting and θ* chosen on all files at once (the NAB convention), reported next to it.
 */
import type { AnomalyDetector } from '../analysis/index.js';
import type { NabCorpus } from './nab-corpus.js';
import { streamCorpus, subCorpus, type DetectorRun } from './nab-runner.js';
import {
  NAB_PROFILES,
  normalizeScore,
  optimizeThreshold,
  scoreCorpusAt,
  labelledWindows,
  scorableWindows,
  type NabProfile,
} from './nab-score.js';

export type Params = Readonly<Record<string, number>>;

export interface DetectorFamily {
  name: string;
  grid: readonly Params[];
  make: (p: Params) => AnomalyDetector;
}

export interface FoldChoice {
  heldOut: string;
  params: Params;
  /** θ per profile, chosen on the training categories */
  thresholds: number[];
}

export interface CvResult {
  family: string;
  /** per profile: cross-validated normalised score */
  cv: number[];
  /** per profile: in-sample (setting and θ* chosen on all files) */
  inSample: number[];
  inSampleParams: Params;
  folds: FoldChoice[];
  usPerPoint: number;
}

export const categoriesOf = (corpus: NabCorpus): string[] => [...new Set(corpus.series.map((s) => s.name.split('/')[0]))];

export const paramsText = (p: Params): string =>
  Object.entries(p)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || 'defaults';

/** Every setting is streamed once over the whole corpus; folds only re-score subsets of those scores. */
export function crossValidate(corpus: NabCorpus, family: DetectorFamily): CvResult {
  const runs: DetectorRun[] = family.grid.map((p) => streamCorpus(corpus, `${family.name} ${paramsText(p)}`, () => family.make(p)));
  const cats = categoriesOf(corpus);
  const rawByProfile = NAB_PROFILES.map(() => 0);
  const folds: FoldChoice[] = [];
  for (const held of cats) {
    const train = subCorpus(
      corpus,
      cats.filter((c) => c !== held),
    );
    const test = subCorpus(corpus, [held]);
    const best = pickSetting(train.corpus, runs.map(train.pick));
    const thresholds = NAB_PROFILES.map((p) => optimizeThreshold(train.corpus.files, train.pick(runs[best]).scores, p).threshold);
    NAB_PROFILES.forEach(
      (p, k) => (rawByProfile[k] += scoreCorpusAt(test.corpus.files, test.pick(runs[best]).scores, thresholds[k], p).raw),
    );
    folds.push({ heldOut: held, params: family.grid[best], thresholds });
  }
  const windows = corpus.files.reduce((s, f) => s + labelledWindows(f), 0);
  const scorable = corpus.files.reduce((s, f) => s + scorableWindows(f), 0);
  const all = pickSetting(corpus, runs);
  return {
    family: family.name,
    cv: NAB_PROFILES.map((p, k) => normalizeScore(rawByProfile[k], windows, p, scorable)),
    inSample: NAB_PROFILES.map((p) => optimizeThreshold(corpus.files, runs[all].scores, p).normalized),
    inSampleParams: family.grid[all],
    folds,
    usPerPoint: Math.min(...runs.map((r) => r.usPerPoint)),
  };
}

/** the setting with the best standard-profile score at its own θ* on these files (ties: the earlier) */
function pickSetting(corpus: NabCorpus, runs: readonly DetectorRun[]): number {
  const standard: NabProfile = NAB_PROFILES[0];
  let best = 0;
  let bestScore = -Infinity;
  runs.forEach((r, i) => {
    const s = optimizeThreshold(corpus.files, r.scores, standard).normalized;
    if (s > bestScore + 1e-9) [best, bestScore] = [i, s];
  });
  return best;
}

/**
 * The families the bench cross-validates: every registered detector at its defaults (only θ is chosen per
 * fold), and the two long-memory detectors with the grids their parameters were picked from.
 */
export function benchFamilies(
  names: readonly string[],
  create: (name: string) => AnomalyDetector,
  novelty: (p: Params) => AnomalyDetector,
  noveltyShift: (p: Params) => AnomalyDetector,
): DetectorFamily[] {
  const out: DetectorFamily[] = names.map((n) => ({ name: n, grid: [{}], make: () => create(n) }));
  if (names.includes('novelty')) {
    const grid: Params[] = [];
    for (const memory of [1000, 2500, 5000, 8000]) for (const rest of [30, 60, 120]) grid.push({ memory, rest });
    out.push({ name: 'novelty, grid memory × rest', grid, make: novelty });
  }
  if (names.includes('novelty-shift'))
    out.push({ name: 'novelty-shift, grid h', grid: [10, 30, 100, 300].map((h) => ({ h })), make: noveltyShift });
  return out;
}
