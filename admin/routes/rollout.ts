/**
 * The rollout routes: steer the controller (start, pause, resume, promote, rollback, retry), read the latest
 * analysis with every check, and the audit trail of decisions and rollbacks. Mutating routes get the bearer
 * token policy from server.ts; a command that does not fit the current phase answers 409 naming the phase.
 */
import type { FastifyPluginAsync } from 'fastify';
import { CanarydError } from '../../core/index.js';
import {
  AnalysisReport,
  DecisionsList,
  LimitQuery,
  Nullable,
  PinsBody,
  PlanBody,
  PlanResult,
  PromoteBody,
  ReasonBody,
  RollbacksList,
  RolloutStatus,
  type AnyRecord,
  type AuditRecord,
} from '../../contract/index.js';

/** What a command answers: the rollout status (or, forwarded in fleet mode, the leader's answer). */
type CommandResult = RolloutStatus | AnyRecord;

export interface RolloutRouteDeps {
  status(): RolloutStatus;
  start(reason?: string): Promise<CommandResult>;
  retry(): Promise<CommandResult>;
  // fleet mode: a follower forwards these to the leader, so they may answer asynchronously
  pause(reason?: string): CommandResult | Promise<CommandResult>;
  resume(): CommandResult | Promise<CommandResult>;
  promote(opts: { full?: boolean; reason?: string }): CommandResult | Promise<CommandResult>;
  rollback(reason?: string): CommandResult | Promise<CommandResult>;
  /** suspend (true) or re-enable (false) the rules and flags that send traffic to the canary */
  pins?(suspended: boolean): CommandResult;
  /** what the current traffic can show with the configured steps (analysis/rollout/forecast.ts) */
  plan?(given: { rate?: number; errorRate?: number; nonSuccessRate?: number }): PlanResult;
  analysis(): AnalysisReport | null;
  decisions(limit: number): AuditRecord[];
  rollbacks(limit: number): AuditRecord[];
}

const ReasonOrNothing = Nullable(ReasonBody);
type ReasonOrNothing = ReasonBody | null;
const limit = LimitQuery(500);

export const rolloutRoutes: FastifyPluginAsync<RolloutRouteDeps> = async (app, deps) => {
  const ok = { 200: RolloutStatus };

  app.get('/api/v1/rollout', { schema: { summary: 'The rollout: phase, step, weight, last decision', response: ok } }, async () =>
    deps.status(),
  );

  app.post<{ Body: ReasonOrNothing }>(
    '/api/v1/rollout/start',
    { schema: { summary: 'Start a rollout at the first step (after the pre-rollout gates approve)', body: ReasonOrNothing, response: ok } },
    async (req) => deps.start(req.body?.reason),
  );
  app.post(
    '/api/v1/rollout/retry',
    { schema: { summary: 'Start a rolled-back rollout again from the first step', response: ok } },
    async () => deps.retry(),
  );
  app.post<{ Body: ReasonOrNothing }>(
    '/api/v1/rollout/pause',
    { schema: { summary: 'Stop promotions; analysis and automatic rollback go on', body: ReasonOrNothing, response: ok } },
    async (req) => deps.pause(req.body?.reason),
  );
  app.post('/api/v1/rollout/resume', { schema: { summary: 'Resume a paused rollout at its step', response: ok } }, async () =>
    deps.resume(),
  );
  app.post<{ Body: PromoteBody }>(
    '/api/v1/rollout/promote',
    { schema: { summary: 'Promote to the next step now, or to 100 % with {"full": true}', body: PromoteBody, response: ok } },
    async (req) => deps.promote(req.body ?? {}),
  );
  app.post<{ Body: ReasonOrNothing }>(
    '/api/v1/rollout/rollback',
    { schema: { summary: 'Roll back now: canary weight 0 before the next request is routed', body: ReasonOrNothing, response: ok } },
    async (req) => deps.rollback(req.body?.reason),
  );

  const pins = deps.pins;
  if (pins) {
    app.post<{ Body: PinsBody }>(
      '/api/v1/rollout/pins',
      {
        schema: {
          summary:
            'Suspend ({"suspended": true}) or re-enable ({"suspended": false}) the routing rules and flags that send traffic to the canary; a rollback suspends them unless routing.keepPinnedOnRollback',
          body: PinsBody,
          response: ok,
        },
      },
      async (req) => pins(req.body.suspended),
    );
  }
  const plan = deps.plan;
  if (plan) {
    app.post<{ Body: PlanBody }>(
      '/api/v1/rollout/plan',
      {
        schema: {
          summary:
            'Before a start: for the current traffic (or the rates given) and the configured steps, when a good canary is expected to reach 100 % and the smallest 5xx regression each step can detect',
          body: PlanBody,
          response: { 200: PlanResult },
        },
      },
      async (req) => plan(req.body ?? {}),
    );
  }

  app.get(
    '/api/v1/analysis',
    { schema: { summary: 'The latest analysis report with every check, its numbers and verdict', response: { 200: AnalysisReport } } },
    async () => {
      const r = deps.analysis();
      if (r === null) throw new CanarydError('CANARYD_ERR_NOT_FOUND', 'no analysis yet: start a rollout (POST /api/v1/rollout/start)');
      return r;
    },
  );
  app.get<{ Querystring: LimitQuery }>(
    '/api/v1/decisions',
    {
      schema: { summary: 'Recorded decisions, newest first (each with its report)', querystring: limit, response: { 200: DecisionsList } },
    },
    async (req) => ({
      decisions: deps.decisions(req.query.limit),
    }),
  );
  app.get<{ Querystring: LimitQuery }>(
    '/api/v1/rollbacks',
    { schema: { summary: 'Rollbacks, newest first, with their reasons', querystring: limit, response: { 200: RollbacksList } } },
    async (req) => ({
      rollbacks: deps.rollbacks(req.query.limit),
    }),
  );
};
