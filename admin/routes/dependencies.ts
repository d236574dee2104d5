/**
 * /api/v1/dependencies: the app's TCP dependencies relayed by canaryd, their listeners, live connections
 * and the faults acting on them. Rules of the TCP kinds are created, changed and killed through the fault
 * routes (/api/v1/faults, with match.dependency): one rule model, one kill switch. The plugin is given the
 * relay by the composition root; auth and the error schema come from the policy hook in server.ts.
 */
import type { FastifyInstance } from 'fastify';
import type { DependencyView } from '../../proxy/index.js';

/** What the routes read: the relay's public face. */
export interface DependencySource {
  list(): DependencyView[];
  get(name: string): DependencyView;
}

const counts = { type: 'object', additionalProperties: { type: 'integer' } } as const;

export const dependencyView = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    upstream: { type: 'string', description: 'host:port of the real dependency' },
    tls: { type: 'string', enum: ['none', 'passthrough'] },
    listeners: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          version: { type: 'string', enum: ['any', 'baseline', 'canary'] },
          address: { type: 'string' },
          bound: { type: 'string', nullable: true },
        },
      },
    },
    connections: {
      type: 'object',
      properties: {
        live: { type: 'integer' },
        faulted: { type: 'integer', description: 'live connections a fault acts on' },
        accepted: counts,
        rejected: counts,
      },
    },
    bytes: { type: 'object', properties: { upstream: { type: 'integer' }, downstream: { type: 'integer' } } },
    faults: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          rule: { type: 'string' },
          type: { type: 'string' },
          version: { type: 'string', nullable: true },
          probability: { type: 'number' },
          connections: { type: 'integer', description: 'live connections it acts on' },
        },
      },
    },
    live: {
      type: 'array',
      description: 'the newest live connections (at most 100)',
      items: {
        type: 'object',
        properties: {
          id: { type: 'integer' },
          version: { type: 'string' },
          openedAt: { type: 'number' },
          bytes: { type: 'object', additionalProperties: { type: 'integer' } },
          faults: { type: 'array', items: { type: 'string' } },
        },
      },
    },
  },
} as const;

const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' } },
} as const;

export function dependencyRoutes(relay: DependencySource): (app: FastifyInstance) => void {
  return (app) => {
    app.get(
      '/api/v1/dependencies',
      {
        schema: {
          summary: 'TCP dependencies relayed by canaryd: listeners, live connections, bytes, active faults',
          response: { 200: { type: 'object', properties: { dependencies: { type: 'array', items: dependencyView } } } },
        },
      },
      async () => ({ dependencies: relay.list() }),
    );
    app.get<{ Params: { name: string } }>(
      '/api/v1/dependencies/:name',
      { schema: { summary: 'One dependency', params: nameParams, response: { 200: dependencyView } } },
      async (req) => relay.get(req.params.name),
    );
  };
}
