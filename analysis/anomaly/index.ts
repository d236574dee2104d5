/**
 * Anomaly detection's public face: streaming detectors and their registry, and the rollout's AnomalyMonitor.
 * (The NAB scorer and data reader are benchmark code: bench/nab-*.ts.) Building blocks (rolling windows, histogram tail counts) stay inside.
 */
export { ANOMALY_THRESHOLD, type AnomalyDetector, type ScaleFloor } from './detector.js';
export * from './seed-detectors.js';
export * from './ensemble.js';
export * from './novelty.js';
export * from './level-shift.js';
export * from './registry.js';
export * from './monitor.js';
