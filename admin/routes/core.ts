/**
 * Core admin routes: probes, Prometheus metrics, status, weights and the OpenAPI document. Auth and the
 * error schema are applied by the policy hook in server.ts; shapes come from the contract (contract/).
 */
import type { FastifyPluginAsync } from 'fastify';
import { CanarydError } from '../../core/index.js';
import { AnyRecord, ProbeAnswer, SetWeightBody, SetWeightResult, StatusView, WeightsView } from '../../contract/index.js';
import { openapiDocument } from '../openapi.js';

export interface CoreRouteOptions {
  ready(): boolean;
  /** why /readyz answers 503 (draining, baseline upstream ejected...), when ready() is false */
  notReadyReason?(): string | null;
  metricsText(): Promise<string>;
  metricsContentType: string;
  status(): StatusView;
  /** the new weight, or in fleet mode the leader's answer */
  setCanaryWeight(weight: number, reason: string): SetWeightResult | AnyRecord | Promise<SetWeightResult | AnyRecord>;
  /** who set the running weight ("file", "api", "rollout"), shown by GET /api/v1/weights */
  weightOwner?(): string;
  /** a reason the weight may not be set by hand now (e.g. a rollout is progressing) -> 409, or null */
  weightsLocked?(): string | null;
}

export const coreRoutes: FastifyPluginAsync<CoreRouteOptions> = async (app, deps) => {
  app.get('/healthz', { schema: { summary: 'Liveness', tags: ['probes'], response: { 200: ProbeAnswer } } }, async () => ({
    status: 'ok',
  }));
  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: the proxy listens, is not draining, and its baseline upstream is not ejected',
        tags: ['probes'],
        response: { '2xx': ProbeAnswer, 503: ProbeAnswer },
      },
    },
    async (_req, reply) => {
      if (!deps.ready()) {
        const reason = deps.notReadyReason?.() ?? null;
        return reply.status(503).send(reason === null ? { status: 'not ready' } : { status: 'not ready', reason });
      }
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
        response: { 200: StatusView },
      },
    },
    async () => deps.status(),
  );

  app.get('/api/v1/weights', { schema: { summary: 'The running canary weight', response: { 200: WeightsView } } }, async () => {
    const w = deps.status().weights.canary;
    return { baseline: 100 - w, canary: w, owner: deps.weightOwner?.() ?? 'file' };
  });

  app.put<{ Body: SetWeightBody }>(
    '/api/v1/weights',
    {
      schema: {
        summary: 'Set the canary weight by hand (reported as drift from the file; reverted under admin.reconcile.policy revert)',
        body: SetWeightBody,
        response: { 200: SetWeightResult },
      },
    },
    async (req) => {
      const locked = deps.weightsLocked?.() ?? null;
      if (locked) throw new CanarydError('CANARYD_ERR_CONFLICT', locked);
      return deps.setCanaryWeight(req.body.canary, req.body.reason ? `admin api: ${req.body.reason}` : 'admin api');
    },
  );

  app.get('/api/v1/openapi.json', { schema: { summary: 'This OpenAPI 3.0 document', response: { 200: AnyRecord } } }, async () =>
    openapiDocument(app),
  );
};
