/**
 * The NAB scoring method (Lavin & Ahmad, "Evaluating real-time anomaly detection algorithms — the Numenta
 * Anomaly Benchmark", ICMLA 2015; Ahmad et al., Neurocomputing 2017), exactly as ../shared/nab/README.md
 * specifies it: anomaly windows mapped to rows, a probationary period that is not scored, a scaled sigmoid
 * that pays early detections more and forgives false alarms right after a window, three cost profiles, one
 * corpus-wide threshold per profile (ties to the higher one), and a normalisation where the null detector
 * scores 0 and a perfect one 100.
 *
 * Pure: rows, windows and scores in, numbers out. Reading the CSV/JSON files is nab-corpus.ts's job; parsing
 * their text lives in nab-data.ts. Benchmark code, not product: the rollout never scores against labels.
 *
 * Corner cases, as the official scorer (NAB's sweeper.py + runner.normalize) treats them:
 *  - a window lying wholly inside the probationary period has no scorable row, so it is neither charged
 *    −A_FN in the raw score nor in the null detector's score, but it still counts in the perfect score
 *    (runner.normalize counts every labelled window);
 *  - a one-row window has W = 1: its row is worth A_TP, and a row after it has y = d/(W − 1) = +∞ → −A_FP;
 *  - a window that maps to no row (nab-data.ts) is like the first case: not in raw or null, in perfect.
 */

export interface NabProfile {
  readonly name: 'standard' | 'reward_low_FP_rate' | 'reward_low_FN_rate';
  /** weight of a true positive (A_TP), of a false positive (A_FP), of a missed window (A_FN) */
  readonly tp: number;
  readonly fp: number;
  readonly fn: number;
}

export const NAB_PROFILES: readonly NabProfile[] = Object.freeze([
  { name: 'standard', tp: 1, fp: 0.11, fn: 1 },
  { name: 'reward_low_FP_rate', tp: 1, fp: 0.22, fn: 1 },
  { name: 'reward_low_FN_rate', tp: 1, fp: 0.11, fn: 2 },
] as const);

/** One labelled file: its length and its windows as inclusive row ranges [l, r] (oldest first). */
export interface NabLabelledFile {
  readonly name: string;
  readonly rows: number;
  readonly windows: readonly (readonly [number, number])[];
  /** labelled windows that map to no row of the file: counted in the perfect score only */
  readonly unmapped?: number;
}

/** A window is scored (charged −A_FN when missed) only if it has a row at or after the probation. */
export function scorableWindows(file: NabLabelledFile): number {
  const p = probationRows(file.rows);
  return file.windows.filter((w) => w[1] >= p).length;
}

/** Every labelled window of a file, scorable or not: what the perfect score counts. */
export function labelledWindows(file: NabLabelledFile): number {
  return file.windows.length + (file.unmapped ?? 0);
}

/** Rows before this index are not scored: min(floor(0.15 n), 750). */
export function probationRows(n: number): number {
  return Math.min(Math.floor(0.15 * n), 750);
}

/** S(y) = 2/(1 + e^(5y)) − 1 for y ≤ 3, −1 beyond. */
export function scaledSigmoid(y: number): number {
  return y > 3 ? -1 : 2 / (1 + Math.exp(5 * y)) - 1;
}

/** S(−1): the weight of a window's first row before scaling to A_TP. */
export const SIGMOID_MAX = scaledSigmoid(-1);

/**
 * Weight of every row under a profile, and which window (index) it is in, −1 outside all windows.
 * Inside window [l, r] of width W: A_TP·S(−(r − i + 1)/W)/S_max. Outside, after window p ended at r_p:
 * A_FP·S((i − r_p)/(W_p − 1)). Before any window: −A_FP.
 */
export function rowWeights(file: NabLabelledFile, profile: NabProfile): { weight: Float64Array; window: Int32Array } {
  const weight = new Float64Array(file.rows);
  const window = new Int32Array(file.rows).fill(-1);
  let next = 0; // index of the next window not yet entered
  let last = -1; // index of the most recent window that ended before the current row
  for (let i = 0; i < file.rows; i++) {
    while (next < file.windows.length && file.windows[next][1] < i) last = next++;
    const w = next < file.windows.length ? file.windows[next] : undefined;
    if (w && w[0] <= i) {
      const width = w[1] - w[0] + 1;
      weight[i] = (profile.tp * scaledSigmoid(-(w[1] - i + 1) / width)) / SIGMOID_MAX;
      window[i] = next;
    } else if (last >= 0) {
      const [l, r] = file.windows[last];
      // A one-row window has W − 1 = 0: every later row is "far" (y = +∞ → −A_FP), as NAB's division gives.
      const y = r - l === 0 ? Infinity : (i - r) / (r - l);
      weight[i] = profile.fp * scaledSigmoid(y);
    } else {
      weight[i] = -profile.fp;
    }
  }
  return { weight, window };
}

export interface NabFileResult {
  name: string;
  raw: number;
  truePositives: number;
  falseNegatives: number;
  falsePositives: number;
}

/** Raw score of one file at threshold θ: a row detects when i ≥ P and score ≥ θ. */
export function scoreFile(file: NabLabelledFile, scores: ArrayLike<number>, threshold: number, profile: NabProfile): NabFileResult {
  checkLength(file, scores);
  const { weight, window } = rowWeights(file, profile);
  const best = new Float64Array(file.windows.length).fill(-Infinity);
  let fpSum = 0;
  let falsePositives = 0;
  for (let i = probationRows(file.rows); i < file.rows; i++) {
    if (!(scores[i] >= threshold)) continue;
    const k = window[i];
    if (k < 0) {
      fpSum += weight[i];
      falsePositives++;
    } else if (weight[i] > best[k]) best[k] = weight[i];
  }
  let raw = fpSum;
  let truePositives = 0;
  const probation = probationRows(file.rows);
  for (let k = 0; k < best.length; k++) {
    const b = best[k];
    if (file.windows[k][1] < probation) continue; // wholly in probation: not scored (sweeper.py)
    if (b === -Infinity) raw -= profile.fn;
    else {
      raw += b;
      truePositives++;
    }
  }
  return { name: file.name, raw, truePositives, falseNegatives: scorableWindows(file) - truePositives, falsePositives };
}

export interface NabCorpusResult {
  profile: NabProfile['name'];
  threshold: number;
  raw: number;
  /** 100·(raw − null)/(perfect − null) */
  normalized: number;
  /** labelled windows (the perfect score's count) */
  windows: number;
  /** windows with a scorable row (the null score's count) */
  scorable: number;
  files: NabFileResult[];
}

/**
 * Normalise a corpus raw score: null detector 0, perfect 100. Perfect counts every labelled window, null only
 * the scorable ones (`scorable` defaults to `windows`: the two differ only for windows in the probation).
 */
export function normalizeScore(raw: number, windows: number, profile: NabProfile, scorable = windows): number {
  const perfect = profile.tp * windows;
  const nul = -profile.fn * scorable;
  return perfect === nul ? 0 : (100 * (raw - nul)) / (perfect - nul);
}

/** Score a corpus at a threshold fixed in advance. */
export function scoreCorpusAt(
  files: readonly NabLabelledFile[],
  scores: readonly ArrayLike<number>[],
  threshold: number,
  profile: NabProfile,
): NabCorpusResult {
  const results = files.map((f, i) => scoreFile(f, scores[i], threshold, profile));
  const windows = files.reduce((s, f) => s + labelledWindows(f), 0);
  const scorable = files.reduce((s, f) => s + scorableWindows(f), 0);
  const raw = results.reduce((s, r) => s + r.raw, 0);
  return {
    profile: profile.name,
    threshold,
    raw,
    normalized: normalizeScore(raw, windows, profile, scorable),
    windows,
    scorable,
    files: results,
  };
}

/**
 * The NAB convention: the threshold that maximises the corpus raw score, over 1.1 (never fires) and every
 * distinct score among scorable rows, ties to the higher threshold. One sort of all scorable rows, then a
 * sweep that adds detections as the threshold falls, keeping each window's best (earliest) detection.
 */
export function optimizeThreshold(
  files: readonly NabLabelledFile[],
  scores: readonly ArrayLike<number>[],
  profile: NabProfile,
): NabCorpusResult {
  const weights: Float64Array[] = [];
  const windowOf: Int32Array[] = [];
  const windowBase: number[] = [];
  let total = 0;
  let scorable = 0;
  for (let f = 0; f < files.length; f++) {
    checkLength(files[f], scores[f]);
    const rw = rowWeights(files[f], profile);
    weights.push(rw.weight);
    windowOf.push(rw.window);
    windowBase.push(total);
    total += files[f].windows.length;
    scorable += Math.max(0, files[f].rows - probationRows(files[f].rows));
  }
  // Scorable rows as (score, file, row), sorted by score descending.
  const rowFile = new Int32Array(scorable);
  const rowIndex = new Int32Array(scorable);
  const rowScore = new Float64Array(scorable);
  let k = 0;
  for (let f = 0; f < files.length; f++) {
    for (let i = probationRows(files[f].rows); i < files[f].rows; i++) {
      rowFile[k] = f;
      rowIndex[k] = i;
      rowScore[k] = Number(scores[f][i]);
      k++;
    }
  }
  const order = Array.from({ length: scorable }, (_, j) => j).sort((a, b) => rowScore[b] - rowScore[a]);
  const best = new Float64Array(total).fill(-Infinity);
  let raw = -profile.fn * files.reduce((s, f) => s + scorableWindows(f), 0);
  let bestRaw = -Infinity;
  let bestThreshold = 1.1;
  let j = 0;
  const consider = (threshold: number): void => {
    while (j < scorable && rowScore[order[j]] >= threshold) {
      const o = order[j++];
      const f = rowFile[o];
      const i = rowIndex[o];
      const w = windowOf[f][i];
      if (w < 0) raw += weights[f][i];
      else {
        const g = windowBase[f] + w;
        const prev = best[g] === -Infinity ? -profile.fn : best[g];
        if (weights[f][i] > prev || best[g] === -Infinity) {
          raw += weights[f][i] - prev;
          best[g] = weights[f][i];
        }
      }
    }
    if (raw > bestRaw) {
      bestRaw = raw;
      bestThreshold = threshold;
    }
  };
  consider(1.1);
  while (j < scorable) consider(rowScore[order[j]]);
  // Re-score at the chosen threshold file by file: exact sums and the per-file breakdown.
  return scoreCorpusAt(files, scores, bestThreshold, profile);
}

function checkLength(file: NabLabelledFile, scores: ArrayLike<number>): void {
  if (scores.length !== file.rows) throw new RangeError(`${file.name}: ${scores.length} scores for ${file.rows} rows`);
  for (let i = 0; i < scores.length; i++) {
    if (Number.isNaN(Number(scores[i]))) throw new RangeError(`${file.name}: score of row ${i} is not a number`);
  }
}
