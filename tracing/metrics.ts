/** Prometheus series of the span export (docs/observability.md "Tracing"), on the registry passed in. */
import { Counter, Gauge, type Registry } from 'prom-client';

export type DropReason = 'queue_full' | 'export_failed';

export class TracingMetrics {
  readonly exported: Counter;
  readonly dropped: Counter<'reason'>;
  readonly exportFailures: Counter<'reason'>;
  readonly queued: Gauge;

  constructor(registry: Registry, queued: () => number) {
    const registers = [registry];
    this.exported = new Counter({
      name: 'canaryd_tracing_spans_exported_total',
      help: 'Spans the OTLP receiver accepted',
      registers,
    });
    this.dropped = new Counter({
      name: 'canaryd_tracing_spans_dropped_total',
      help: 'Spans lost: the export queue was full (queue_full) or their export failed (export_failed; exports are not retried)',
      labelNames: ['reason'],
      registers,
    });
    this.exportFailures = new Counter({
      name: 'canaryd_tracing_export_failures_total',
      help: 'Export requests that failed: status (a non-2xx answer), timeout, network',
      labelNames: ['reason'],
      registers,
    });
    this.queued = new Gauge({
      name: 'canaryd_tracing_queue_spans',
      help: 'Finished spans waiting for export (at most tracing.batch.maxQueueSize)',
      registers,
      collect() {
        this.set(queued());
      },
    });
    for (const r of ['queue_full', 'export_failed']) this.dropped.labels(r);
    for (const r of ['status', 'timeout', 'network']) this.exportFailures.labels(r);
  }
}
