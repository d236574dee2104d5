/**
 * /api/v1/config: reload the YAML file (the same path as SIGHUP: a valid file applies, an invalid one is
 * refused with every problem listed and the running config kept), and drift between the running state and
 * the file, with an on-demand reconcile.
 */
import type { FastifyPluginAsync } from 'fastify';
import { CanarydError } from '../../core/index.js';
import type { DriftReconciler } from '../drift.js';
import { DriftReport, ReconcileAnswer, ReloadAnswer } from '../../contract/index.js';

export interface ConfigRouteDeps {
  /** the config file path, if canaryd was started from one */
  file(): string | undefined;
  reload(source: string): { ok: true } | { ok: false; error: CanarydError };
  drift: DriftReconciler;
}

export const configRoutes: FastifyPluginAsync<ConfigRouteDeps> = async (app, deps) => {
  app.post(
    '/api/v1/config/reload',
    {
      schema: {
        summary: 'Re-read and apply the config file; an invalid file is refused (400, every problem listed) and the running config kept',
        response: { 200: ReloadAnswer },
      },
    },
    async () => {
      const file = deps.file();
      if (!file) throw new CanarydError('CANARYD_ERR_CONFLICT', 'canaryd was started without a config file: there is nothing to reload');
      const r = deps.reload('admin api');
      if (r.ok) return { applied: true, file };
      const e = r.error;
      // a YAML syntax error is an invalid file (400) too; an unreadable file stays a server-side 500
      if (e.code === 'CANARYD_ERR_CONFIG_READ' && e.details !== undefined)
        throw new CanarydError('CANARYD_ERR_CONFIG_INVALID', e.message, { details: e.details });
      throw e;
    },
  );

  app.get(
    '/api/v1/config/drift',
    { schema: { summary: 'What the running state has that the config file does not', response: { 200: DriftReport } } },
    async () => deps.drift.report(),
  );

  app.post(
    '/api/v1/config/reconcile',
    {
      schema: {
        summary: 'Revert every revertible drift item to the file now, whatever admin.reconcile.policy says',
        response: { 200: ReconcileAnswer },
      },
    },
    async () => deps.drift.reconcile('api'),
  );
};
