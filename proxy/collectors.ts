/**
 * The two per-request Prometheus metrics, counted in typed arrays and turned into samples only when scraped.
 * prom-client's label children re-hash and re-validate their labels on every inc()/observe(), which made
 * the metrics ~3 % of the proxy's hot path (bench/RESULTS.md); here a request costs two array increments and
 * a short bucket scan. Each object has the shape prom-client's Registry reads from any metric — name, help,
 * type, aggregator, get(), reset() — so proxy/metrics.ts registers them beside prom-client's own metrics and
 * the exposition text is the same: `version` label values "baseline"/"canary", `status` the numeric code,
 * histogram buckets cumulative with `le` and the `_sum`/`_count` series (test/metrics.test.ts compares the
 * two). One difference, on purpose: both versions' histograms are exposed at zero from the start, so the
 * first scrape already has a sample and rate() does not lose the requests before the second.
 */
import type { VersionName } from '../core/index.js';

/** Index of a version in the arrays below. */
export type VersionIndex = 0 | 1;
export const VERSION_OF_INDEX: readonly VersionName[] = ['baseline', 'canary'];

interface Sample {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

export interface MetricSnapshot {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  values: Sample[];
  aggregator: 'sum';
}

/** Status codes are 3 digits (RFC 9110 §15); anything else is counted under 0 rather than lost. */
const STATUS_SLOTS = 1000;

/** grpc-status codes 0..16 (core/grpc.ts) */
const GRPC_SLOTS = 17;

/**
 * `http_requests_total{version, status}`: a series appears once a status has been seen for a version.
 * gRPC calls are counted apart with a third label, `grpc_status` (0..16): bounded (2 × 17 codes × the
 * statuses seen, in practice 200), and absent from every request that is not gRPC.
 */
export class StatusCounter {
  name: string;
  readonly help: string;
  readonly type = 'counter' as const;
  readonly aggregator = 'sum' as const;
  #counts: [Float64Array, Float64Array] = [new Float64Array(STATUS_SLOTS), new Float64Array(STATUS_SLOTS)];
  /** gRPC calls: per version, [status * GRPC_SLOTS + grpcStatus]; allocated with the first gRPC call */
  #grpc: [Float64Array, Float64Array] | null = null;

  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }

  /** `grpcStatus` -1: not a gRPC call */
  inc(version: VersionIndex, status: number, grpcStatus = -1): void {
    const s = status >= 0 && status < STATUS_SLOTS ? status : 0;
    if (grpcStatus < 0) this.#counts[version][s]++;
    else {
      this.#grpc ??= [new Float64Array(STATUS_SLOTS * GRPC_SLOTS), new Float64Array(STATUS_SLOTS * GRPC_SLOTS)];
      this.#grpc[version][s * GRPC_SLOTS + (grpcStatus < GRPC_SLOTS ? grpcStatus : 2)]++;
    }
  }

  get(): Promise<MetricSnapshot> {
    const values: Sample[] = [];
    for (let v = 0; v < 2; v++) {
      const counts = this.#counts[v];
      for (let s = 0; s < STATUS_SLOTS; s++)
        if (counts[s] > 0) values.push({ value: counts[s], labels: { version: VERSION_OF_INDEX[v], status: String(s) } });
      const grpc = this.#grpc?.[v];
      if (grpc === undefined) continue;
      for (let i = 0; i < grpc.length; i++)
        if (grpc[i] > 0)
          values.push({
            value: grpc[i],
            labels: { version: VERSION_OF_INDEX[v], status: String(Math.floor(i / GRPC_SLOTS)), grpc_status: String(i % GRPC_SLOTS) },
          });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  reset(): void {
    for (const c of this.#counts) c.fill(0);
    this.#grpc = null;
  }
}

/** `http_request_duration_seconds{version}`: a histogram per version, both exposed from the start. */
export class VersionHistogram {
  name: string;
  readonly help: string;
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  readonly upperBounds: readonly number[];
  /** per version: counts per bucket (not cumulative), the last slot is +Inf */
  #buckets: [Float64Array, Float64Array];
  #sum = new Float64Array(2);
  #count = new Float64Array(2);

  constructor(name: string, help: string, upperBounds: readonly number[]) {
    this.name = name;
    this.help = help;
    this.upperBounds = upperBounds;
    this.#buckets = [new Float64Array(upperBounds.length + 1), new Float64Array(upperBounds.length + 1)];
  }

  observe(version: VersionIndex, value: number): void {
    if (!Number.isFinite(value)) return;
    const bounds = this.upperBounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++; // le: a value equal to a bound belongs to it
    this.#buckets[version][i]++;
    this.#sum[version] += value;
    this.#count[version]++;
  }

  get(): Promise<MetricSnapshot> {
    const values: Sample[] = [];
    const bucket = `${this.name}_bucket`;
    for (let v = 0; v < 2; v++) {
      const version = VERSION_OF_INDEX[v];
      let acc = 0;
      for (let i = 0; i < this.upperBounds.length; i++) {
        acc += this.#buckets[v][i];
        values.push({ value: acc, labels: { le: this.upperBounds[i], version }, metricName: bucket });
      }
      values.push({ value: this.#count[v], labels: { le: '+Inf', version }, metricName: bucket });
      values.push({ value: this.#sum[v], labels: { version }, metricName: `${this.name}_sum` });
      values.push({ value: this.#count[v], labels: { version }, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  reset(): void {
    for (const b of this.#buckets) b.fill(0);
    this.#sum.fill(0);
    this.#count.fill(0);
  }
}
