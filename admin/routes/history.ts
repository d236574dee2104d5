/**
 * GET /api/v1/history?seconds=300: the per-second snapshots of the last minutes, from the bounded ring the
 * snapshot tick fills (admin/events/history.ts), so a dashboard opened mid-rollout draws what happened
 * before it opened and then continues from the live stream (points are keyed by `to`, as live snapshots).
 * Authenticated like every read.
 */
import type { FastifyPluginAsync } from 'fastify';
import { HistoryQuery, HistoryView } from '../../contract/index.js';

export interface HistoryRouteDeps {
  /** the points of the last `seconds`, oldest first */
  history(seconds: number): HistoryView;
}

export const historyRoutes: FastifyPluginAsync<HistoryRouteDeps> = async (app, deps) => {
  app.get<{ Querystring: HistoryQuery }>(
    '/api/v1/history',
    {
      schema: {
        summary:
          'Per-second snapshots of the last minutes (per version rps, error rate, p50/p95/p99, and the canary weight): what the live stream sent, for a client that connects late',
        querystring: HistoryQuery,
        response: { 200: HistoryView },
      },
    },
    async (req) => deps.history(req.query.seconds ?? 300),
  );
};
