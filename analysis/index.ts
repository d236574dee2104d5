/** The analysis engine's public face: pure functions over window data, and the rollout state machine. */
export * from './report.js';
export * from './anomaly/index.js';
