/**
 * Prometheus metrics of fault injection, on a registry passed in:
 *   chaos_experiments_total{type,rule}  faults injected, by kind and rule (rule="header" for header-controlled)
 *   chaos_rate                          share of requests evaluated while faults were on that a fault hit (0..1)
 *   chaos_active_faults                 rules that can fire now
 *   chaos_inflight_requests             faulted requests in flight (the number faults.maxActive caps)
 *   chaos_capped_total                  faults that would have fired but passed through at faults.maxActive
 * Gauges are computed when scraped (collect), so the request path only increments cached counter children.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ErrorRateWindow } from './safety.js';

export interface ChaosGaugeSource {
  chaosRate(): number;
  activeFaults(): number;
  inflight(): number;
}

export class ChaosMetrics {
  readonly injected: Counter<'type' | 'rule'>;
  readonly capped: Counter;
  #children = new Map<string, { inc(): void }>();

  constructor(registry: Registry, source: ChaosGaugeSource) {
    const registers = [registry];
    this.injected = new Counter({
      name: 'chaos_experiments_total',
      help: 'Faults injected, by fault type and rule',
      labelNames: ['type', 'rule'],
      registers,
    });
    this.capped = new Counter({
      name: 'chaos_capped_total',
      help: 'Faults that would have fired but passed through because faults.maxActive requests were already faulted',
      registers,
    });
    new Gauge({
      name: 'chaos_rate',
      help: 'Share of requests evaluated while fault injection was on that a fault hit (0..1)',
      registers,
      collect() {
        this.set(source.chaosRate());
      },
    });
    new Gauge({
      name: 'chaos_active_faults',
      help: 'Fault rules that can fire now (enabled, not expired, fault injection armed)',
      registers,
      collect() {
        this.set(source.activeFaults());
      },
    });
    new Gauge({
      name: 'chaos_inflight_requests',
      help: 'Faulted requests in flight (capped by faults.maxActive)',
      registers,
      collect() {
        this.set(source.inflight());
      },
    });
  }

  /** The cached counter child of (type, rule): looked up once per rule change, incremented per injection. */
  child(type: string, rule: string): { inc(): void } {
    const key = `${type}\u0000${rule}`;
    let c = this.#children.get(key);
    if (c === undefined) {
      c = this.injected.labels(type, rule);
      this.#children.set(key, c);
    }
    return c;
  }

  /** Drops a deleted rule's series, so runtime rules do not pile up label sets. */
  forget(type: string, rule: string): void {
    if (this.#children.delete(`${type}\u0000${rule}`)) this.injected.remove(type, rule);
  }
}

/** What the engine counts per request (plain fields: the request path increments them directly). */
export class FaultCounters {
  /** requests the engine evaluated */
  seen = 0;
  /** requests a fault hit */
  faulted = 0;
  capped = 0;
  byCategory = { latency: 0, error: 0, signal: 0 };
  byType = new Map<string, number>();

  count(type: string, category: 'latency' | 'error' | 'signal'): void {
    this.byCategory[category]++;
    this.byType.set(type, (this.byType.get(type) ?? 0) + 1);
  }

  get chaosRate(): number {
    return this.seen === 0 ? 0 : this.faulted / this.seen;
  }

  /** GET /api/v1/faults/metrics: these counters with the engine's live figures. */
  snapshot(live: {
    inflight: number;
    activeFaults: number;
    state: string;
    window: ErrorRateWindow;
    now: number;
    minRequests: number;
    maxErrorRate: number;
  }): FaultMetricsSnapshot {
    const w = live.window;
    return {
      totalRequests: this.seen,
      chaosInjected: this.faulted,
      latencyInjections: this.byCategory.latency,
      errorInjections: this.byCategory.error,
      signalInjections: this.byCategory.signal,
      chaosRate: this.chaosRate,
      capped: this.capped,
      inflight: live.inflight,
      activeFaults: live.activeFaults,
      byType: Object.fromEntries(this.byType),
      state: live.state,
      window: { ...w.at(live.now), windowMs: w.windowMs, minRequests: live.minRequests, maxErrorRate: live.maxErrorRate },
    };
  }
}

/** GET /api/v1/faults/metrics. */
export interface FaultMetricsSnapshot {
  totalRequests: number;
  chaosInjected: number;
  latencyInjections: number;
  errorInjections: number;
  signalInjections: number;
  chaosRate: number;
  capped: number;
  inflight: number;
  activeFaults: number;
  byType: Record<string, number>;
  state: string;
  window: { requests: number; errors: number; errorRate: number | null; windowMs: number; minRequests: number; maxErrorRate: number };
}
