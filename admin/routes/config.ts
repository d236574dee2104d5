/**
 * /api/v1/config: reload the YAML file (the same path as SIGHUP: a valid file applies, an invalid one is
 * refused with every problem listed and the running config kept), and drift between the running state and
 * the file, with an on-demand reconcile.
 */
import type { FastifyPluginAsync } from 'fastify';
import { CanarydError } from '../../core/index.js';
import type { DriftReconciler } from '../drift.js';

export interface ConfigRouteDeps {
  /** the config file path, if canaryd was started from one */
  file(): string | undefined;
  reload(source: string): { ok: true } | { ok: false; error: CanarydError };
  drift: DriftReconciler;
}

const driftItem = {
  type: 'object',
  properties: {
    path: { type: 'string' },
    file: { description: 'the value in the file (null: absent from the file)', nullable: true },
    runtime: { description: 'the running value', nullable: true },
    owner: { type: 'string', description: 'who made the runtime state: api, rollout, file (not applied)...' },
    revertible: { type: 'boolean' },
    note: { type: 'string' },
  },
} as const;

const driftReport = {
  type: 'object',
  properties: {
    file: { type: 'string', nullable: true },
    checkedAt: { type: 'integer' },
    policy: { type: 'string', enum: ['report', 'revert'] },
    intervalMs: { type: 'number' },
    inSync: { type: 'boolean' },
    items: { type: 'array', items: driftItem },
    runtimeOnly: {
      type: 'array',
      description: 'runtime state the file does not manage (API-made flags): not drift, never reverted',
      items: { type: 'object', properties: { path: { type: 'string' }, runtime: { nullable: true }, owner: { type: 'string' }, note: { type: 'string' } } },
    },
    fileError: { type: 'object', additionalProperties: true },
    lastReconcile: { type: 'object', nullable: true, additionalProperties: true },
  },
} as const;

export const configRoutes: FastifyPluginAsync<ConfigRouteDeps> = async (app, deps) => {
  app.post(
    '/api/v1/config/reload',
    {
      schema: {
        summary: 'Re-read and apply the config file; an invalid file is refused (400, every problem listed) and the running config kept',
        response: { 200: { type: 'object', properties: { applied: { type: 'boolean' }, file: { type: 'string' } } } },
      },
    },
    async () => {
      const file = deps.file();
      if (!file) throw new CanarydError('CANARYD_ERR_CONFLICT', 'canaryd was started without a config file: there is nothing to reload');
      const r = deps.reload('admin api');
      if (r.ok) return { applied: true, file };
      const e = r.error;
      // a YAML syntax error is an invalid file (400) too; an unreadable file stays a server-side 500
      if (e.code === 'CANARYD_ERR_CONFIG_READ' && e.details !== undefined) throw new CanarydError('CANARYD_ERR_CONFIG_INVALID', e.message, { details: e.details });
      throw e;
    },
  );

  app.get('/api/v1/config/drift', { schema: { summary: 'What the running state has that the config file does not', response: { 200: driftReport } } }, async () => deps.drift.report());

  app.post(
    '/api/v1/config/reconcile',
    {
      schema: {
        summary: 'Revert every revertible drift item to the file now, whatever admin.reconcile.policy says',
        response: { 200: { type: 'object', properties: { reverted: { type: 'array', items: driftItem }, report: driftReport } } },
      },
    },
    async () => deps.drift.reconcile('api'),
  );
};
