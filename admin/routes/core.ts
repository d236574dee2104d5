/**
 * Core admin routes: probes, Prometheus metrics, status, weights and the OpenAPI document. Auth and the
 * error schema are applied by the policy hook in server.ts.
 */
import type { FastifyInstance } from 'fastify';
import { CanarydError } from '../../core/index.js';
import type { AdminDeps } from '../server.js';

const weightsSchema = {
  type: 'object',
  additionalProperties: true,
  required: ['baseline', 'canary'],
  properties: {
    baseline: { type: 'number', description: 'percent of traffic to baseline' },
    canary: { type: 'number', description: 'percent of traffic to canary' },
    owner: { type: 'string', description: 'who set the running weight: file, api or rollout' },
  },
} as const;

export function coreRoutes(app: FastifyInstance, deps: AdminDeps): void {
  app.get('/healthz', { schema: { summary: 'Liveness', tags: ['probes'], response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } } }, async () => ({ status: 'ok' }));
  app.get(
    '/readyz',
    { schema: { summary: 'Readiness: the proxy listens and is not draining', tags: ['probes'], response: { '2xx': { type: 'object', properties: { status: { type: 'string' } } }, 503: { type: 'object', properties: { status: { type: 'string' } } } } } },
    async (_req, reply) => {
      if (!deps.ready()) return reply.status(503).send({ status: 'not ready' });
      return { status: 'ready' };
    },
  );
  app.get('/metrics', { schema: { summary: 'Prometheus metrics (text exposition format)', tags: ['probes'] } }, async (_req, reply) => {
    const text = await deps.metricsText();
    return reply.header('content-type', deps.metricsContentType).send(text);
  });

  app.get(
    '/api/v1/status',
    {
      schema: {
        summary: 'Versions, weights, request totals, uptime; `rollout` when the rollout controller runs',
        response: {
          200: {
            type: 'object',
            additionalProperties: true,
            properties: { weights: weightsSchema, uptimeSeconds: { type: 'number' }, inflight: { type: 'number' } },
          },
        },
      },
    },
    async () => deps.status(),
  );

  app.get('/api/v1/weights', { schema: { summary: 'The running canary weight', response: { 200: weightsSchema } } }, async () => {
    const w = (deps.status().weights as { canary: number }).canary;
    return { baseline: 100 - w, canary: w, owner: deps.weightOwner?.() ?? 'file' };
  });

  app.put(
    '/api/v1/weights',
    {
      schema: {
        summary: 'Set the canary weight by hand (reported as drift from the file; reverted under admin.reconcile.policy revert)',
        body: {
          type: 'object',
          required: ['canary'],
          additionalProperties: false,
          properties: { canary: { type: 'number', minimum: 0, maximum: 100, description: 'percent, fractions allowed' }, reason: { type: 'string', maxLength: 500 } },
        },
        response: { 200: { type: 'object', additionalProperties: true, properties: { canaryWeight: { type: 'number' } } } },
      },
    },
    async (req) => {
      const body = req.body as { canary: number; reason?: string };
      const locked = deps.weightsLocked?.() ?? null;
      if (locked) throw new CanarydError('CANARYD_ERR_CONFLICT', locked);
      return deps.setCanaryWeight(body.canary, body.reason ? `admin api: ${body.reason}` : 'admin api');
    },
  );

  app.get(
    '/api/v1/openapi.json',
    { schema: { summary: 'This OpenAPI 3 document', response: { 200: { type: 'object', additionalProperties: true } } } },
    async () => app.swagger(),
  );
}
