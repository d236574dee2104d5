/**
 * Registry from detector name (config `rollout.anomaly.detector`, the `method` label of
 * anomaly_detection_score) to a factory. An explicit table, no import side effects; an unknown name throws.
 * The names are also listed in config/sections/rollout.ts (config may not import analysis/); a test keeps
 * the two lists equal.
 */
import { CanarydError } from '../../core/index.js';
import type { AnomalyDetector, ScaleFloor } from './detector.js';
import { MajorityVoteDetector } from './ensemble.js';
import { NoveltyShiftDetector } from './level-shift.js';
import { RangeNoveltyDetector } from './novelty.js';
import {
  ExponentialSmoothingDetector,
  MovingAverageDeviationDetector,
  RollingIqrDetector,
  RollingZScoreDetector,
} from './seed-detectors.js';

/** What a caller may tune without knowing the method: the smallest spread believed in (see ScaleFloor). */
export type DetectorTuning = ScaleFloor;

export interface DetectorEntry {
  readonly create: (tuning?: DetectorTuning) => AnomalyDetector;
  readonly summary: string;
}

/** The methods the users asked for, voted on by `ensemble`. */
export const SEED_DETECTOR_NAMES = ['zscore', 'moving-average', 'iqr', 'exp-smoothing'] as const;

const seed = (t: DetectorTuning = {}): AnomalyDetector[] => [
  new RollingZScoreDetector(floorOf(t)),
  new MovingAverageDeviationDetector(floorOf(t)),
  new RollingIqrDetector(floorOf(t)),
  new ExponentialSmoothingDetector(floorOf(t)),
];

/** Unanimity of two (a vote of 2 needs both): the smaller of the ensemble's and novelty-shift's scores. */
const blendOf = (t: DetectorTuning = {}): AnomalyDetector =>
  new MajorityVoteDetector([new MajorityVoteDetector(seed(t)), new NoveltyShiftDetector(floorOf(t))]);

const floorOf = (t?: DetectorTuning): ScaleFloor => ({ minScale: t?.minScale, minRelativeScale: t?.minRelativeScale });

export const DETECTORS = Object.freeze({
  zscore: { create: (t) => new RollingZScoreDetector(floorOf(t)), summary: 'rolling z-score, 30 points, fires at 3σ' },
  'moving-average': {
    create: (t) => new MovingAverageDeviationDetector(floorOf(t)),
    summary: 'deviation from the 10-point moving average, fires at 30 %',
  },
  iqr: { create: (t) => new RollingIqrDetector(floorOf(t)), summary: 'outside the 1.5×IQR fences of the last 30 points' },
  'exp-smoothing': {
    create: (t) => new ExponentialSmoothingDetector(floorOf(t)),
    summary: 'exponential smoothing α 0.3, fires at 3σ of its one-step errors',
  },
  ensemble: { create: (t) => new MajorityVoteDetector(seed(t)), summary: 'majority vote (3 of 4) of the four methods above' },
  novelty: {
    create: (t) => new RangeNoveltyDetector(floorOf(t)),
    summary: 'nearest-neighbour novelty of the value against the last 5000 points, relative to their range',
  },
  'novelty-shift': {
    create: (t) => new NoveltyShiftDetector(floorOf(t)),
    summary: 'novelty, or a CUSUM level shift (δ 1σ, h 30) when the value stays inside the range',
  },
  blend: {
    create: (t) => blendOf(t),
    summary: 'both must agree: the ensemble (a change against the last minutes) and novelty-shift (new against the long history)',
  },
} satisfies Record<string, DetectorEntry>);

export type DetectorName = keyof typeof DETECTORS;
export const DETECTOR_NAMES = Object.freeze(Object.keys(DETECTORS)) as readonly DetectorName[];

export function isDetectorName(name: string): name is DetectorName {
  return Object.prototype.hasOwnProperty.call(DETECTORS, name);
}

export function createDetector(name: string, tuning?: DetectorTuning): AnomalyDetector {
  if (!isDetectorName(name)) {
    throw new CanarydError(
      'CANARYD_ERR_CONFIG_INVALID',
      `rollout.anomaly.detector: unknown detector "${name}", use one of ${DETECTOR_NAMES.join(', ')}`,
    );
  }
  return DETECTORS[name].create(tuning);
}
