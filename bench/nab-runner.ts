/**
 * Streams every file of a NAB-layout corpus through a detector (one fresh detector per file, points in file
 * order, each scored before the next is seen) and scores the result with the NAB method: θ* per profile
 * (the NAB convention), the detector's own threshold (0.5), and a threshold carried over from another
 * corpus. Also times the streaming pass, for the µs/point column.
 */
import { ANOMALY_THRESHOLD, type AnomalyDetector } from '../analysis/index.js';
import { NAB_PROFILES, optimizeThreshold, scoreCorpusAt, type NabCorpusResult, type NabProfile, labelledWindows } from './nab-score.js';
import type { NabCorpus } from './nab-corpus.js';

export interface DetectorRun {
  name: string;
  scores: Float64Array[];
  /** wall-clock µs per point of the streaming pass (noisy on a shared machine; a complexity indicator) */
  usPerPoint: number;
}

export function streamCorpus(corpus: NabCorpus, name: string, make: () => AnomalyDetector): DetectorRun {
  let points = 0;
  const t0 = process.hrtime.bigint();
  const scores = corpus.series.map((s) => {
    const d = make();
    const out = new Float64Array(s.values.length);
    for (let i = 0; i < s.values.length; i++) out[i] = d.update(s.values[i], s.timestamps[i]);
    points += s.values.length;
    return out;
  });
  const us = Number(process.hrtime.bigint() - t0) / 1000;
  return { name, scores, usPerPoint: us / Math.max(1, points) };
}

export interface ProfileScores {
  profile: NabProfile['name'];
  /** NAB convention: the threshold tuned on the scored corpus */
  tuned: NabCorpusResult;
  /** at the detector's own threshold, fixed in advance */
  fixed: NabCorpusResult;
}

export function scoreRun(corpus: NabCorpus, run: DetectorRun): ProfileScores[] {
  return NAB_PROFILES.map((p) => ({
    profile: p.name,
    tuned: optimizeThreshold(corpus.files, run.scores, p),
    fixed: scoreCorpusAt(corpus.files, run.scores, ANOMALY_THRESHOLD, p),
  }));
}

/** Score `target` at the θ* found on `source`, per profile (and θ* of the target, to compare). */
export function scoreTransfer(
  source: NabCorpus,
  sourceRun: DetectorRun,
  target: NabCorpus,
  targetRun: DetectorRun,
): { profile: NabProfile['name']; threshold: number; transferred: NabCorpusResult; tuned: NabCorpusResult }[] {
  return NAB_PROFILES.map((p) => {
    const threshold = optimizeThreshold(source.files, sourceRun.scores, p).threshold;
    return {
      profile: p.name,
      threshold,
      transferred: scoreCorpusAt(target.files, targetRun.scores, threshold, p),
      tuned: optimizeThreshold(target.files, targetRun.scores, p),
    };
  });
}

/** A sub-corpus of the files whose category (first path segment) is listed, without re-reading files. */
export function subCorpus(
  corpus: NabCorpus,
  categories: readonly string[],
): { corpus: NabCorpus; pick: (run: DetectorRun) => DetectorRun } {
  const idx = corpus.series
    .map((s, i) => [s.name.split('/')[0], i] as const)
    .filter(([c]) => categories.includes(c))
    .map(([, i]) => i);
  const files = idx.map((i) => corpus.files[i]);
  return {
    corpus: {
      dir: `${corpus.dir} [${categories.join(', ')}]`,
      series: idx.map((i) => corpus.series[i]),
      files,
      windows: files.reduce((n, f) => n + labelledWindows(f), 0),
    },
    pick: (run) => ({ ...run, scores: idx.map((i) => run.scores[i]) }),
  };
}
