export * from './types.js';
export * from './clock.js';
export * from './errors.js';
export * from './latency.js';
export * from './headers.js';
export * from './query-template.js';
export * from './ports.js';
export * from './evidence.js';
