/**
 * The fleet's gauges, read at scrape time from the coordinator (nothing is updated on a timer): whether this
 * replica leads, whether it reaches Redis, and how many replicas it saw beating recently.
 */
import { Gauge, type Registry } from 'prom-client';

export interface FleetGaugeSource {
  readonly leading: boolean;
  readonly connected: boolean;
  status(): Record<string, unknown>;
}

export function registerFleetGauges(registry: Registry, fleet: FleetGaugeSource, heartbeatMs: number): void {
  const registers = [registry];
  new Gauge({
    name: 'canaryd_fleet_leader',
    help: '1 while this replica holds the fleet lease (fleet mode)',
    registers,
    collect() {
      this.set(fleet.leading ? 1 : 0);
    },
  });
  new Gauge({
    name: 'canaryd_fleet_redis_up',
    help: '1 while this replica reaches Redis (fleet mode)',
    registers,
    collect() {
      this.set(fleet.connected ? 1 : 0);
    },
  });
  new Gauge({
    name: 'canaryd_fleet_replicas',
    help: 'replicas whose last heartbeat is younger than 3 heartbeats, as this replica last read them (fleet mode)',
    registers,
    collect() {
      const rs = fleet.status().replicas as Array<{ ageMs: number }>;
      this.set(rs.filter((r) => r.ageMs < 3 * heartbeatMs).length);
    },
  });
}
