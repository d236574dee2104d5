/**
 * /api/v1/flags: runtime targeting rules managed by name (see admin/flags/model.ts for the kinds and the
 * order they are checked in). Create / update / archive, list, get, and a check endpoint that answers
 * whether a flag is on for given attributes and which version such a request would reach.
 */
import type { FastifyInstance } from 'fastify';
import { CanarydError } from '../../core/index.js';
import { checkFlag, type RouteProbe } from '../flags/check.js';
import { createFlagBody, FLAG_KEY_PATTERN, flagSchema, updateFlagBody, type Flag, type FlagInput } from '../flags/model.js';
import type { FlagService } from '../flags/service.js';

export interface FlagRouteDeps {
  service: FlagService;
  probe: RouteProbe;
  /** routing.sticky of the running config (the check puts the user id where the proxy looks for it) */
  sticky(): { header?: string; cookie?: string } | undefined;
}

const keyParams = {
  type: 'object',
  required: ['key'],
  properties: { key: { type: 'string', pattern: FLAG_KEY_PATTERN } },
} as const;

const checkResult = {
  type: 'object',
  properties: {
    key: { type: 'string' },
    kind: { type: 'string' },
    flagVersion: { type: 'string' },
    active: { type: 'boolean' },
    matches: { type: 'boolean' },
    enabled: { type: 'boolean', description: 'the flag is on for these attributes' },
    reason: { type: 'string' },
    route: {
      type: 'object',
      properties: {
        version: { type: 'string', nullable: true, description: 'version a request with these attributes reaches; null when a weighted coin decides' },
        decidedBy: { type: 'string', enum: ['rule', 'flag', 'weights'] },
        rule: { type: 'string', nullable: true },
        canaryChance: { type: 'number' },
      },
    },
  },
} as const;

export function flagRoutes(app: FastifyInstance, deps: FlagRouteDeps): void {
  const svc = deps.service;
  const find = (key: string): Flag => {
    const f = svc.get(key);
    if (!f) throw new CanarydError('CANARYD_ERR_NOT_FOUND', `no flag named ${JSON.stringify(key)}`);
    return f;
  };

  app.get(
    '/api/v1/flags',
    {
      schema: {
        summary: 'Flags in routing order (first match wins)',
        querystring: { type: 'object', additionalProperties: false, properties: { archived: { type: 'boolean', description: 'include archived flags' } } },
        response: { 200: { type: 'object', properties: { flags: { type: 'array', items: flagSchema } } } },
      },
    },
    async (req) => ({ flags: svc.list({ archived: (req.query as { archived?: boolean }).archived === true }) }),
  );

  app.post(
    '/api/v1/flags',
    { schema: { summary: 'Create a flag (off unless enabled: true)', body: createFlagBody, response: { 201: flagSchema } } },
    async (req, reply) => reply.status(201).send(svc.create(req.body as FlagInput & { key: string; kind: Flag['kind'] })),
  );

  app.get('/api/v1/flags/:key', { schema: { summary: 'One flag', params: keyParams, response: { 200: flagSchema } } }, async (req) => find((req.params as { key: string }).key));

  app.patch(
    '/api/v1/flags/:key',
    { schema: { summary: 'Update a flag (partial); archived flags cannot change (409)', params: keyParams, body: updateFlagBody, response: { 200: flagSchema } } },
    async (req) => svc.update((req.params as { key: string }).key, req.body as FlagInput),
  );

  app.post(
    '/api/v1/flags/:key/archive',
    { schema: { summary: 'Archive a flag: off for good, kept for the record; its key is not reused', params: keyParams, response: { 200: flagSchema } } },
    async (req) => {
      const key = (req.params as { key: string }).key;
      find(key);
      return svc.archive(key);
    },
  );

  app.get(
    '/api/v1/flags/:key/check',
    {
      schema: {
        summary: 'Is the flag on for these attributes, and which version would such a request reach?',
        params: keyParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            userId: { type: 'string', minLength: 1, maxLength: 256 },
            ip: { type: 'string', minLength: 2, maxLength: 64, description: 'client IPv4 or IPv6 address' },
            path: { type: 'string', pattern: '^/', maxLength: 2048, description: 'request path (for flags with match.path); default /' },
            method: { type: 'string', pattern: '^[A-Za-z]{1,16}$' },
          },
        },
        response: { 200: checkResult },
      },
    },
    async (req) => checkFlag(find((req.params as { key: string }).key), req.query as { userId?: string; ip?: string; path?: string; method?: string }, deps.probe, deps.sticky()),
  );
}
