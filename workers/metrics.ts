/**
 * `/metrics` with workers: the primary's registry merged with every worker's (prom-client's
 * AggregatorRegistry.aggregate over getMetricsAsJSON). Counters and histograms are summed (the requests,
 * latency buckets, rejections, CPU seconds of every process); a gauge the primary has (the traffic
 * weight, the process' memory and event loop, the fault engine's state) is the primary's own value, since
 * the primary owns that state; a gauge only workers have is kept per worker with a `worker` label. Memory
 * per worker is its own gauge, `canaryd_worker_memory_bytes{worker,kind}`, from the workers' reports.
 */
import { AggregatorRegistry, Counter, Gauge, type Registry } from 'prom-client';
import type { WorkerView } from './pool.js';

interface MetricJson {
  name: string;
  type: string;
  values: Array<{ labels: Record<string, string | number>; [k: string]: unknown }>;
  [k: string]: unknown;
}

export async function mergedMetricsText(primary: Registry, workers: Array<{ worker: number; metrics: unknown[] }>): Promise<string> {
  const own = (await primary.getMetricsAsJSON()) as unknown as MetricJson[];
  const ownGauges = new Set(own.filter((m) => m.type === 'gauge').map((m) => m.name));
  const lists: MetricJson[][] = [own];
  for (const w of workers) {
    const list: MetricJson[] = [];
    for (const m of w.metrics as MetricJson[]) {
      if (m.type !== 'gauge') list.push(m);
      else if (!ownGauges.has(m.name))
        list.push({ ...m, values: m.values.map((v) => ({ ...v, labels: { ...v.labels, worker: String(w.worker) } })) });
    }
    lists.push(list);
  }
  return AggregatorRegistry.aggregate(lists).metrics();
}

/** The workers' own series in the primary's registry; returns the counter of lost workers. */
export function registerWorkerMetrics(registry: Registry, views: () => WorkerView[]): { lost(worker: number, reason: string): void } {
  const registers = [registry];
  new Gauge({
    name: 'canaryd_worker_memory_bytes',
    help: 'Memory of each data-plane worker as it last reported it (every second): rss, heap_used',
    labelNames: ['worker', 'kind'],
    registers,
    collect() {
      this.reset();
      for (const w of views()) {
        if (!w.memory) continue;
        this.labels(String(w.worker), 'rss').set(w.memory.rss);
        this.labels(String(w.worker), 'heap_used').set(w.memory.heapUsed);
      }
    },
  });
  new Gauge({
    name: 'canaryd_worker_up',
    help: '1 while the data-plane worker serves, 0 while it starts or restarts',
    labelNames: ['worker'],
    registers,
    collect() {
      for (const w of views()) this.labels(String(w.worker)).set(w.state === 'up' ? 1 : 0);
    },
  });
  const exits = new Counter({
    name: 'canaryd_worker_exits_total',
    help: 'Data-plane workers lost while canaryd was not stopping (each is restarted with a backoff), by reason: exit, signal',
    labelNames: ['worker', 'reason'],
    registers,
  });
  return { lost: (worker, reason) => exits.labels(String(worker), reason).inc() };
}
