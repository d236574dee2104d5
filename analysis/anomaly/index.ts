/**
 * Anomaly detection's public face: streaming detectors and their registry, the NAB scorer and data parsing,
 * and the rollout's AnomalyMonitor. Building blocks (rolling windows, histogram tail counts) stay inside.
 */
export * from './nab-score.js';
export * from './nab-data.js';
export { ANOMALY_THRESHOLD, type AnomalyDetector, type ScaleFloor } from './detector.js';
export * from './seed-detectors.js';
export * from './ensemble.js';
export * from './novelty.js';
export * from './registry.js';
export * from './monitor.js';
