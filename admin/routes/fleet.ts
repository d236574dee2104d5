/**
 * Fleet mode's read routes: who is in the fleet (each replica's last heartbeat, weight, phase), who leads
 * with which fencing token, and the fleet's audit trail (the Redis stream, the same on every replica).
 * Writes need no routes of their own: the rollout and weight routes forward to the leader (sidecar.ts).
 */
import type { FastifyInstance } from 'fastify';

export interface FleetRouteDeps {
  status(): Record<string, unknown>;
  audit(limit: number): Promise<unknown[]>;
}

export function fleetRoutes(app: FastifyInstance, deps: FleetRouteDeps): void {
  app.get('/api/v1/fleet', { schema: { summary: 'Fleet mode: replicas with their last heartbeat, the leader and its fencing token', response: { 200: { type: 'object', additionalProperties: true } } } }, async () => deps.status());
  app.get(
    '/api/v1/fleet/audit',
    {
      schema: {
        summary: "Fleet mode: the fleet's audit trail (decisions, weights, operator actions), newest first",
        querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } } },
        response: { 200: { type: 'object', properties: { entries: { type: 'array', items: { type: 'object', additionalProperties: true } } } } },
      },
    },
    async (req) => ({ entries: await deps.audit((req.query as { limit: number }).limit) }),
  );
}
