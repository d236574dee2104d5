/**
 * Metrics of the upstreams' health and circuit breakers: whether each upstream is ejected now (read from the
 * detector at scrape time), its ejections by the error kind that caused them, and requests refused by the
 * pending limit (Envoy's upstream_rq_pending_overflow).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { VersionName } from '../../core/index.js';
import { OUTLIER_ERROR_KINDS, type OutlierDetector, type OutlierErrorKind } from './detector.js';

export class UpstreamHealthMetrics {
  readonly ejections: Counter<'version' | 'reason'>;
  readonly overflow: Counter<'version'>;

  constructor(registry: Registry, detector: () => OutlierDetector) {
    const registers = [registry];
    new Gauge({
      name: 'canaryd_upstream_ejected',
      help: 'Upstream ejected by outlier detection now (1), else 0 (probing or healthy)',
      labelNames: ['version'],
      registers,
      collect() {
        const d = detector();
        for (const v of ['baseline', 'canary'] as const) this.labels(v).set(d.ejected(v) ? 1 : 0);
      },
    });
    this.ejections = new Counter({
      name: 'canaryd_upstream_ejections_total',
      help: 'Ejections by outlier detection, by version and the error kind that caused them (connect, reset, timeout, 5xx)',
      labelNames: ['version', 'reason'],
      registers,
    });
    this.overflow = new Counter({
      name: 'canaryd_upstream_pending_overflow_total',
      help: 'Requests answered 503 because the upstream had maxPending requests waiting already (circuit breaker)',
      labelNames: ['version'],
      registers,
    });
    for (const v of ['baseline', 'canary'] as const) {
      this.overflow.labels(v);
      for (const k of OUTLIER_ERROR_KINDS) this.ejections.labels(v, k);
    }
  }

  ejected(version: VersionName, kind: OutlierErrorKind): void {
    this.ejections.labels(version, kind).inc();
  }
}
