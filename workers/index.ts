/** Data-plane workers inside one replica (docs/fleet.md "Workers"): the primary's pool, a worker's link, the IPC messages. */
export { WorkerPool, type WorkerPoolOptions, type WorkerView, type WorkerState } from './pool.js';
export { PrimaryLink, type WorkerPlane } from './link.js';
export { mergedMetricsText, registerWorkerMetrics } from './metrics.js';
export {
  WORKER_SLOT_ENV,
  type TrafficPush,
  type NoticeKind,
  type WorkerTotals,
  type WorkerMemory,
  type ToWorker,
  type FromWorker,
} from './protocol.js';
