/**
 * Prometheus metrics of the dependency relay, on a registry passed in, all read when scraped (collect) from
 * the relay's plain counters, so relaying a chunk only adds to a number:
 *   canaryd_dependency_connections_total{dependency,version}  connections accepted (version "any": the shared listener)
 *   canaryd_dependency_active_connections{dependency}         live relayed connections
 *   canaryd_dependency_faulted_connections{dependency}        live connections a fault acts on
 *   canaryd_dependency_bytes_total{dependency,direction}      bytes relayed (upstream: app -> dependency)
 *   canaryd_dependency_rejected_total{dependency,reason}      connections reset at once: fault (refuse), capacity, connect_error, plaintext
 * Injections are counted with the HTTP ones, in chaos_experiments_total{type,rule}.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface DependencyStats {
  name: string;
  accepted: { any: number; baseline: number; canary: number };
  live: number;
  faulted: number;
  bytes: { upstream: number; downstream: number };
  rejected: { fault: number; capacity: number; connect_error: number; plaintext: number };
}

export function registerDependencyMetrics(registry: Registry, stats: () => DependencyStats[]): void {
  const registers = [registry];
  new Counter({
    name: 'canaryd_dependency_connections_total',
    help: 'Connections accepted by a dependency listener (version "any": the shared listener)',
    labelNames: ['dependency', 'version'],
    registers,
    collect() {
      this.reset();
      for (const s of stats()) for (const [v, n] of Object.entries(s.accepted)) this.inc({ dependency: s.name, version: v }, n);
    },
  });
  new Gauge({
    name: 'canaryd_dependency_active_connections',
    help: 'Live connections relayed to a dependency',
    labelNames: ['dependency'],
    registers,
    collect() {
      this.reset();
      for (const s of stats()) this.set({ dependency: s.name }, s.live);
    },
  });
  new Gauge({
    name: 'canaryd_dependency_faulted_connections',
    help: 'Live dependency connections a fault acts on',
    labelNames: ['dependency'],
    registers,
    collect() {
      this.reset();
      for (const s of stats()) this.set({ dependency: s.name }, s.faulted);
    },
  });
  new Counter({
    name: 'canaryd_dependency_bytes_total',
    help: 'Bytes relayed to (upstream) and from (downstream) a dependency',
    labelNames: ['dependency', 'direction'],
    registers,
    collect() {
      this.reset();
      for (const s of stats()) {
        this.inc({ dependency: s.name, direction: 'upstream' }, s.bytes.upstream);
        this.inc({ dependency: s.name, direction: 'downstream' }, s.bytes.downstream);
      }
    },
  });
  new Counter({
    name: 'canaryd_dependency_rejected_total',
    help: 'Dependency connections reset as soon as accepted: fault (a refuse rule), capacity (maxConnections), connect_error (the dependency could not be reached), plaintext (tls: passthrough)',
    labelNames: ['dependency', 'reason'],
    registers,
    collect() {
      this.reset();
      for (const s of stats()) for (const [reason, n] of Object.entries(s.rejected)) this.inc({ dependency: s.name, reason }, n);
    },
  });
}
