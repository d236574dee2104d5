/** Fleet mode's read routes: the replicas with their heartbeats and the leader; the fleet audit trail. */
import { AnyRecord, Open, Type, type Static } from './common.js';

export const FleetStatus = Open({
  leading: Type.Optional(Type.Boolean()),
  connected: Type.Optional(Type.Boolean()),
  token: Type.Optional(Type.Number({ description: 'fencing token of the leader' })),
});
export type FleetStatus = Static<typeof FleetStatus>;
export const FleetAuditQuery = Type.Object(
  { limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }) },
  { additionalProperties: false },
);
export type FleetAuditQuery = Static<typeof FleetAuditQuery>;
export const FleetAudit = Type.Object({ entries: Type.Array(AnyRecord) });
