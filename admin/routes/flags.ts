/**
 * /api/v1/flags: runtime targeting rules managed by name (see admin/flags/model.ts for the kinds and the
 * order they are checked in). Create / update / archive, list, get, and a check endpoint that answers
 * whether a flag is on for given attributes and which version such a request would reach.
 */
import type { FastifyPluginAsync } from 'fastify';
import { CanarydError } from '../../core/index.js';
import {
  CreateFlagBody,
  FlagCheckQuery,
  FlagCheckResult,
  FlagKeyParams,
  FlagList,
  FlagListQuery,
  FlagView,
  UpdateFlagBody,
  type Flag,
} from '../../contract/index.js';
import { checkFlag, type RouteProbe } from '../flags/check.js';
import type { FlagService } from '../flags/service.js';

export interface FlagRouteDeps {
  service: FlagService;
  probe: RouteProbe;
  /** routing.sticky of the running config (the check puts the user id where the proxy looks for it) */
  sticky(): { header?: string; cookie?: string } | undefined;
}

export const flagRoutes: FastifyPluginAsync<FlagRouteDeps> = async (app, deps) => {
  const svc = deps.service;
  const find = (key: string): Flag => {
    const f = svc.get(key);
    if (!f) throw new CanarydError('CANARYD_ERR_NOT_FOUND', `no flag named ${JSON.stringify(key)}`);
    return f;
  };

  app.get<{ Querystring: FlagListQuery }>(
    '/api/v1/flags',
    { schema: { summary: 'Flags in routing order (first match wins)', querystring: FlagListQuery, response: { 200: FlagList } } },
    async (req) => ({ flags: svc.list({ archived: req.query.archived === true }) }),
  );

  app.post<{ Body: CreateFlagBody }>(
    '/api/v1/flags',
    { schema: { summary: 'Create a flag (off unless enabled: true)', body: CreateFlagBody, response: { 201: FlagView } } },
    async (req, reply) => reply.status(201).send(svc.create(req.body)),
  );

  app.get<{ Params: FlagKeyParams }>(
    '/api/v1/flags/:key',
    { schema: { summary: 'One flag', params: FlagKeyParams, response: { 200: FlagView } } },
    async (req) => find(req.params.key),
  );

  app.patch<{ Params: FlagKeyParams; Body: UpdateFlagBody }>(
    '/api/v1/flags/:key',
    {
      schema: {
        summary: 'Update a flag (partial); archived flags cannot change (409)',
        params: FlagKeyParams,
        body: UpdateFlagBody,
        response: { 200: FlagView },
      },
    },
    async (req) => svc.update(req.params.key, req.body),
  );

  app.post<{ Params: FlagKeyParams }>(
    '/api/v1/flags/:key/archive',
    {
      schema: {
        summary: 'Archive a flag: off for good, kept for the record; its key is not reused',
        params: FlagKeyParams,
        response: { 200: FlagView },
      },
    },
    async (req) => {
      find(req.params.key);
      return svc.archive(req.params.key);
    },
  );

  app.get<{ Params: FlagKeyParams; Querystring: FlagCheckQuery }>(
    '/api/v1/flags/:key/check',
    {
      schema: {
        summary: 'Is the flag on for these attributes, and which version would such a request reach?',
        params: FlagKeyParams,
        querystring: FlagCheckQuery,
        response: { 200: FlagCheckResult },
      },
    },
    async (req) => checkFlag(find(req.params.key), req.query, deps.probe, deps.sticky()),
  );
};
