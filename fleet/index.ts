/** Fleet mode: N replicas coordinated through Redis (docs/fleet.md). Its public face. */
export { FleetCoordinator, type FleetSettings, type FleetHost, type FleetCommand, type FleetLog, type ReplicaView } from './coordinator.js';
export { FleetMetricSource, RemoteEvidence, mergeWindows, toWire, fromWire, type WireWindow } from './evidence.js';
export { fleetKeys, type FleetConnection } from './redis.js';
export { registerFleetGauges, type FleetGaugeSource } from './metrics.js';
