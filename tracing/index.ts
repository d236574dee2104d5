/**
 * OpenTelemetry tracing (docs/observability.md "Tracing"): the stage that records spans on the request path
 * and the bounded OTLP/HTTP exporter they leave by. The composition root builds one Tracing and configures
 * it with every applied config; `tracing` absent leaves the stage out of the chain.
 *
 * A lean exporter of our own, not the OpenTelemetry JS SDK: no dependency, no context manager or
 * attribute maps per request, and nothing at all allocated for an unsampled request (bench/RESULTS.md).
 */
import type { Registry } from 'prom-client';
import type { Config } from '../config/index.js';
import { SpanExporter, type ExportSettings } from './exporter.js';
import { TracingMetrics } from './metrics.js';
import { TracingStage } from './stage.js';

export { TracingStage } from './stage.js';
export { encodeExport, unixNano } from './otlp.js';
export { tracesEndpoint } from './exporter.js';

export interface TracingOptions {
  registry: Registry;
  /** canaryd's version (service.version) */
  serviceVersion: string;
  /** a failed export, for a log line (the metrics count every one) */
  onExportFailure: (reason: string, detail: string) => void;
}

export class Tracing {
  readonly stage = new TracingStage();
  readonly #metrics: TracingMetrics;
  readonly #opts: TracingOptions;
  #exporter: SpanExporter | null = null;

  constructor(opts: TracingOptions) {
    this.#opts = opts;
    this.#metrics = new TracingMetrics(opts.registry, () => this.#exporter?.queued ?? 0);
  }

  configure(c: Config): void {
    const t = c.tracing;
    const releases = { baseline: c.upstreams.baseline.version, canary: c.upstreams.canary.version };
    if (t === undefined) {
      const old = this.#exporter;
      this.#exporter = null;
      this.stage.configure(null, 0, releases);
      void old?.shutdown(old === null ? 0 : 5_000); // what was queued still leaves, within bounds
      return;
    }
    const settings: ExportSettings = {
      url: t.otlp.url,
      headers: t.otlp.headers,
      timeoutMs: t.otlp.timeout,
      maxQueueSize: t.batch.maxQueueSize,
      maxBatchSize: t.batch.maxBatchSize,
      intervalMs: t.batch.interval,
      resource: { serviceName: t.serviceName, serviceVersion: this.#opts.serviceVersion },
    };
    if (this.#exporter === null) this.#exporter = new SpanExporter(settings, this.#metrics, this.#opts.onExportFailure);
    else this.#exporter.configure(settings);
    this.stage.configure(this.#exporter, t.sampleRatio, releases);
  }

  /** After the proxy drained: the spans of the last requests are exported, within `deadlineMs`. */
  async stop(deadlineMs: number): Promise<void> {
    const e = this.#exporter;
    this.#exporter = null;
    await e?.shutdown(deadlineMs);
  }
}
