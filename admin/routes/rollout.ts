/**
 * The rollout routes: steer the controller (start, pause, resume, promote, rollback, retry), read the latest
 * analysis with every check, and the audit trail of decisions and rollbacks. Mutating routes get the bearer
 * token policy from server.ts; a command that does not fit the current phase answers 409 naming the phase.
 */
import type { FastifyInstance } from 'fastify';
import { CanarydError } from '../../core/index.js';

export interface RolloutRouteDeps {
  status(): Record<string, unknown>;
  start(reason?: string): Promise<Record<string, unknown>>;
  retry(): Promise<Record<string, unknown>>;
  // fleet mode: a follower forwards these to the leader, so they may answer asynchronously
  pause(reason?: string): Record<string, unknown> | Promise<Record<string, unknown>>;
  resume(): Record<string, unknown> | Promise<Record<string, unknown>>;
  promote(opts: { full?: boolean; reason?: string }): Record<string, unknown> | Promise<Record<string, unknown>>;
  rollback(reason?: string): Record<string, unknown> | Promise<Record<string, unknown>>;
  /** suspend (true) or re-enable (false) the rules and flags that send traffic to the canary */
  pins?(suspended: boolean): Record<string, unknown>;
  /** what the current traffic can show with the configured steps (analysis/rollout/forecast.ts) */
  plan?(given: { rate?: number; errorRate?: number; nonSuccessRate?: number }): unknown;
  analysis(): unknown | null;
  decisions(limit: number): unknown[];
  rollbacks(limit: number): unknown[];
}

const rolloutStatus = {
  type: 'object',
  additionalProperties: true,
  required: ['phase', 'step', 'canaryWeight'],
  properties: {
    phase: { type: 'string', enum: ['idle', 'progressing', 'paused', 'promoted', 'rolledback'] },
    id: { type: 'integer', description: 'number of the current (or last) rollout: 1, 2, ...' },
    step: { type: 'integer', description: '0-based index into steps (steps.length when promoted)' },
    steps: { type: 'array', items: { type: 'number' } },
    canaryWeight: { type: 'number' },
    lastDecision: { type: 'object', nullable: true, additionalProperties: true },
  },
} as const;

const reasonBody = {
  type: 'object',
  additionalProperties: false,
  properties: { reason: { type: 'string', maxLength: 500, description: 'recorded in the audit log' } },
} as const;

const limitQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 } },
} as const;

const list = (what: string) => ({ type: 'object', properties: { [what]: { type: 'array', items: { type: 'object', additionalProperties: true } } } }) as const;

export function rolloutRoutes(app: FastifyInstance, deps: RolloutRouteDeps): void {
  const ok = { 200: rolloutStatus };
  const optionalBody = (schema: object) => ({ ...schema, nullable: true });

  app.get('/api/v1/rollout', { schema: { summary: 'The rollout: phase, step, weight, last decision', response: ok } }, async () => deps.status());

  app.post('/api/v1/rollout/start', { schema: { summary: 'Start a rollout at the first step (after the pre-rollout gates approve)', body: optionalBody(reasonBody), response: ok } }, async (req) =>
    deps.start((req.body as { reason?: string } | null)?.reason),
  );
  app.post('/api/v1/rollout/retry', { schema: { summary: 'Start a rolled-back rollout again from the first step', response: ok } }, async () => deps.retry());
  app.post('/api/v1/rollout/pause', { schema: { summary: 'Stop promotions; analysis and automatic rollback go on', body: optionalBody(reasonBody), response: ok } }, async (req) =>
    deps.pause((req.body as { reason?: string } | null)?.reason),
  );
  app.post('/api/v1/rollout/resume', { schema: { summary: 'Resume a paused rollout at its step', response: ok } }, async () => deps.resume());
  app.post(
    '/api/v1/rollout/promote',
    {
      schema: {
        summary: 'Promote to the next step now, or to 100 % with {"full": true}',
        body: { type: 'object', nullable: true, additionalProperties: false, properties: { full: { type: 'boolean', default: false }, reason: { type: 'string', maxLength: 500 } } },
        response: ok,
      },
    },
    async (req) => deps.promote((req.body as { full?: boolean; reason?: string } | null) ?? {}),
  );
  app.post('/api/v1/rollout/rollback', { schema: { summary: 'Roll back now: canary weight 0 before the next request is routed', body: optionalBody(reasonBody), response: ok } }, async (req) =>
    deps.rollback((req.body as { reason?: string } | null)?.reason),
  );

  const pins = deps.pins;
  if (pins) {
    app.post(
      '/api/v1/rollout/pins',
      {
        schema: {
          summary: 'Suspend ({"suspended": true}) or re-enable ({"suspended": false}) the routing rules and flags that send traffic to the canary; a rollback suspends them unless routing.keepPinnedOnRollback',
          body: { type: 'object', additionalProperties: false, required: ['suspended'], properties: { suspended: { type: 'boolean' } } },
          response: ok,
        },
      },
      async (req) => pins((req.body as { suspended: boolean }).suspended),
    );
  }
  const plan = deps.plan;
  if (plan) {
    app.post(
      '/api/v1/rollout/plan',
      {
        schema: {
          summary: 'Before a start: for the current traffic (or the rates given) and the configured steps, when a good canary is expected to reach 100 % and the smallest 5xx regression each step can detect',
          body: {
            type: 'object',
            nullable: true,
            additionalProperties: false,
            properties: {
              rate: { type: 'number', exclusiveMinimum: 0, maximum: 10_000_000, description: 'requests per second (default: the last minute\'s)' },
              errorRate: { type: 'number', minimum: 0, maximum: 1, description: "the baseline's 5xx share (default: the last minute's)" },
              nonSuccessRate: { type: 'number', minimum: 0, maximum: 1 },
            },
          },
          response: { 200: { type: 'object', additionalProperties: true } },
        },
      },
      async (req) => plan((req.body as { rate?: number; errorRate?: number; nonSuccessRate?: number } | null) ?? {}),
    );
  }

  app.get('/api/v1/analysis', { schema: { summary: 'The latest analysis report with every check, its numbers and verdict', response: { 200: { type: 'object', additionalProperties: true } } } }, async () => {
    const r = deps.analysis();
    if (r === null) throw new CanarydError('CANARYD_ERR_NOT_FOUND', 'no analysis yet: start a rollout (POST /api/v1/rollout/start)');
    return r;
  });
  app.get('/api/v1/decisions', { schema: { summary: 'Recorded decisions, newest first (each with its report)', querystring: limitQuery, response: { 200: list('decisions') } } }, async (req) => ({
    decisions: deps.decisions((req.query as { limit: number }).limit),
  }));
  app.get('/api/v1/rollbacks', { schema: { summary: 'Rollbacks, newest first, with their reasons', querystring: limitQuery, response: { 200: list('rollbacks') } } }, async (req) => ({
    rollbacks: deps.rollbacks((req.query as { limit: number }).limit),
  }));
}
