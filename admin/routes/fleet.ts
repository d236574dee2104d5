/**
 * Fleet mode's read routes: who is in the fleet (each replica's last heartbeat, weight, phase), who leads
 * with which fencing token, and the fleet's audit trail (the Redis stream, the same on every replica).
 * Writes need no routes of their own: the rollout and weight routes forward to the leader (sidecar.ts).
 */
import type { FastifyPluginAsync } from 'fastify';
import { FleetAudit, FleetAuditQuery, FleetStatus } from '../../contract/index.js';

export interface FleetRouteDeps {
  status(): FleetStatus;
  audit(limit: number): Promise<unknown[]>;
}

export const fleetRoutes: FastifyPluginAsync<FleetRouteDeps> = async (app, deps) => {
  app.get(
    '/api/v1/fleet',
    {
      schema: {
        summary: 'Fleet mode: replicas with their last heartbeat, the leader and its fencing token',
        response: { 200: FleetStatus },
      },
    },
    async () => deps.status(),
  );
  app.get<{ Querystring: FleetAuditQuery }>(
    '/api/v1/fleet/audit',
    {
      schema: {
        summary: "Fleet mode: the fleet's audit trail (decisions, weights, operator actions), newest first",
        querystring: FleetAuditQuery,
        response: { 200: FleetAudit },
      },
    },
    async (req) => ({ entries: await deps.audit(req.query.limit) }),
  );
};
