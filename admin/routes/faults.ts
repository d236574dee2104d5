/**
 * /api/v1/faults and /api/v1/experiments: fault rules (CRUD), the kill switch (DELETE /api/v1/faults),
 * resume, injection metrics as JSON, and chaos experiments (start, list, report, stop). The plugin is given
 * the fault service by the composition root; auth, cross-site refusal and the error schema come from the
 * policy hook in server.ts. docs/faults.md describes every route.
 */
import type { FastifyInstance } from 'fastify';
import type { ExperimentSpec, FaultService, RuleBody, RulePatch } from '../../chaos/index.js';
import {
  experimentBody,
  experimentParams,
  killView,
  metricsView,
  reportView,
  ruleBody,
  ruleParams,
  rulePatch,
  ruleView,
  statusView,
} from './fault-schemas.js';

type NameParams = { name: string };
type IdParams = { id: string };
type ReasonQuery = { reason?: string };

const reasonQuery = { type: 'object', additionalProperties: false, properties: { reason: { type: 'string', maxLength: 500 } } } as const;

/** The admin plugin of fault injection (SidecarOptions.adminPlugins / AdminDeps.plugins). */
export function faultRoutes(faults: FaultService): (app: FastifyInstance) => void {
  return (app) => {
    app.get(
      '/api/v1/faults',
      { schema: { summary: 'Fault injection state and every rule, in the order they are tried', response: { 200: statusView } } },
      async () => faults.status(),
    );

    app.post<{ Body: RuleBody }>(
      '/api/v1/faults',
      {
        schema: {
          summary: 'Create a fault rule (409 CANARYD_ERR_FAULTS_REFUSED while fault injection is off, refused or halted)',
          body: ruleBody,
          response: { 201: ruleView },
        },
      },
      async (req, reply) => reply.status(201).send(faults.create(req.body)),
    );

    app.delete<{ Querystring: ReasonQuery }>(
      '/api/v1/faults',
      {
        schema: {
          summary:
            'Kill switch: every fault off at once, in-flight faults lifted, running experiment aborted; stays off until POST /api/v1/faults/resume',
          querystring: reasonQuery,
          response: { 200: killView },
        },
      },
      async (req) => faults.kill(req.query.reason ?? 'kill switch (DELETE /api/v1/faults)', `api ${req.ip}`),
    );

    app.post(
      '/api/v1/faults/resume',
      { schema: { summary: 'Re-arm fault injection after the kill switch or auto-disable', response: { 200: statusView } } },
      async (req) => faults.resume(`api ${req.ip}`),
    );

    app.get(
      '/api/v1/faults/metrics',
      {
        schema: {
          summary: 'Injection counts: totalRequests, chaosInjected, latencyInjections, errorInjections, chaosRate',
          response: { 200: metricsView },
        },
      },
      async () => faults.metrics(),
    );

    app.get<{ Params: NameParams }>(
      '/api/v1/faults/:name',
      { schema: { summary: 'One fault rule', params: ruleParams, response: { 200: ruleView } } },
      async (req) => faults.get(req.params.name),
    );

    app.patch<{ Params: NameParams; Body: RulePatch }>(
      '/api/v1/faults/:name',
      {
        schema: {
          summary: 'Update a fault rule (partial); config rules accept only enabled',
          params: ruleParams,
          body: rulePatch,
          response: { 200: ruleView },
        },
      },
      async (req) => faults.update(req.params.name, req.body),
    );

    app.delete<{ Params: NameParams }>(
      '/api/v1/faults/:name',
      {
        schema: {
          summary: 'Delete a runtime fault rule (config rules: disable them or edit the file)',
          params: ruleParams,
          response: { 200: ruleView },
        },
      },
      async (req) => faults.remove(req.params.name),
    );

    app.post<{ Body: ExperimentSpec }>(
      '/api/v1/experiments',
      { schema: { summary: 'Start a chaos experiment (one at a time)', body: experimentBody, response: { 201: reportView } } },
      async (req, reply) => reply.status(201).send(faults.experiments.start(req.body)),
    );

    app.get(
      '/api/v1/experiments',
      {
        schema: {
          summary: 'Experiments, newest first (the last 50, kept in state.dir)',
          response: {
            200: {
              type: 'object',
              properties: {
                running: { type: 'string', nullable: true },
                experiments: { type: 'array', items: { type: 'object', additionalProperties: true } },
              },
            },
          },
        },
      },
      async () => ({ running: faults.experiments.running?.id ?? null, experiments: faults.experiments.list() }),
    );

    app.get<{ Params: IdParams }>(
      '/api/v1/experiments/:id',
      {
        schema: {
          summary: 'An experiment report: per step availability, p50/p95/p99, criterion, health checks',
          params: experimentParams,
          response: { 200: reportView },
        },
      },
      async (req) => faults.experiments.get(req.params.id),
    );

    app.post<{ Params: IdParams; Querystring: ReasonQuery }>(
      '/api/v1/experiments/:id/stop',
      {
        schema: {
          summary: 'Stop the running experiment (its rules go off; the report is kept)',
          params: experimentParams,
          querystring: reasonQuery,
          response: { 200: reportView },
        },
      },
      async (req) => faults.experiments.stop(req.params.id, req.query.reason ?? `stopped by api ${req.ip}`),
    );
  };
}
