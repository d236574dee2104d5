/** Anomaly detection: streaming detectors, the NAB scorer, and the rollout's anomaly monitor. */
export * from './nab-score.js';
export * from './nab-data.js';
export * from './detector.js';
export * from './seed-detectors.js';
export * from './ensemble.js';
export * from './novelty.js';
export * from './registry.js';
export * from './monitor.js';
export { countAbove } from './monitor-points.js';
