/**
 * The admin API (fastify): health, readiness, Prometheus /metrics, and under /api/v1 status, weights,
 * flags, config reload/drift, the live event stream, the OpenAPI document and the dashboard. It receives the
 * live objects it needs (AdminDeps) from the composition root and never reaches into module globals.
 *
 * One policy for every /api/v1 route, applied by an onRoute hook so routes added by other plugins get it
 * too: mutating methods need `Authorization: Bearer <admin.token>` (reads too with `admin.authReads`) and are
 * refused (403) when a browser sends them cross-site; every route gets the shared error schema and an OpenAPI
 * tag. @fastify/swagger is registered before any route, so /api/v1/openapi.json lists all of them.
 */
import type { TlsOptions } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type RouteOptions } from 'fastify';
import swagger from '@fastify/swagger';
import { CanarydError } from '../core/index.js';
import { AdminAuth, bearerOf, isCrossSite } from './auth.js';
import { adminErrorHandler, errorBodySchema } from './errors.js';
import { strictBodies } from './body.js';
import { operationIdOf } from './openapi.js';
import type { AdminLog } from './log.js';
import { coreRoutes, type CoreRouteOptions } from './routes/core.js';
import { flagRoutes, type FlagRouteDeps } from './routes/flags.js';
import { configRoutes, type ConfigRouteDeps } from './routes/config.js';
import { eventRoutes, type EventRouteDeps } from './routes/events.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { historyRoutes } from './routes/history.js';
import { rolloutRoutes, type RolloutRouteDeps } from './routes/rollout.js';
import { fleetRoutes, type FleetRouteDeps } from './routes/fleet.js';

export type { AdminLog } from './log.js';

export interface AdminDeps extends CoreRouteOptions {
  token(): string;
  authReads(): boolean;
  /** admin.allowUnauthenticated: mutations allowed with no token configured (loopback only) */
  allowUnauthenticated?(): boolean;
  /** admin.listen and admin.allowedHosts for the Host allowlist (admin/hosts.ts); none: no Host check */
  hosts?(): { listen: string; allowed: readonly string[] };
  log: AdminLog;
  /** live events: GET /api/v1/events (WebSocket), GET /api/v1/snapshot and GET /api/v1/history */
  events?: EventRouteDeps;
  /** runtime flags: /api/v1/flags */
  flags?: FlagRouteDeps;
  /** /api/v1/config/{reload,drift,reconcile} */
  config?: ConfigRouteDeps;
  /** /api/v1/rollout/*, /api/v1/analysis, /api/v1/decisions, /api/v1/rollbacks */
  rollout?: RolloutRouteDeps;
  /** serve the dashboard at / (default true); `dir` overrides where its built assets are */
  dashboard?: false | { dir?: string };
  /** fleet mode: GET /api/v1/fleet (replicas, heartbeats, leader) and /api/v1/fleet/audit */
  fleet?: FleetRouteDeps;
  /** admin.tls: serve HTTPS with these options (the composition root loads them and reloads the certificate) */
  https?: TlsOptions | null;
  /** more routes (rollout, faults...) register here, after the policy hook and swagger */
  plugins?: Array<(app: FastifyInstance, guard: AuthGuard) => void | Promise<void>>;
}

/** The fleet routes of a canaryd without fleet mode: 404, as a route that does not exist answers. */
const FLEET_OFF: FleetRouteDeps = {
  status: () => {
    throw new CanarydError('CANARYD_ERR_NOT_FOUND', 'no route GET /api/v1/fleet: fleet mode is off (the config has no fleet: section)');
  },
  audit: async () => {
    throw new CanarydError(
      'CANARYD_ERR_NOT_FOUND',
      'no route GET /api/v1/fleet/audit: fleet mode is off (the config has no fleet: section)',
    );
  },
};

export type AuthGuard = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const API = '/api/v1/';

/** Routes as registered, for tests that compare them with the OpenAPI document. */
const registered = new WeakMap<FastifyInstance, RouteOptions[]>();
export function registeredRoutes(app: FastifyInstance): RouteOptions[] {
  return registered.get(app) ?? [];
}

function asArray<T>(v: T | T[] | undefined): T[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

export async function buildAdmin(deps: AdminDeps): Promise<FastifyInstance> {
  const options = { logger: false, bodyLimit: 1_048_576, ajv: { customOptions: { allErrors: true, removeAdditional: false } } } as const;
  // over TLS fastify's server is an https.Server; the routes and hooks are the same
  const app = (deps.https ? Fastify({ ...options, https: deps.https }) : Fastify(options)) as unknown as FastifyInstance;
  strictBodies(app);
  const auth = new AdminAuth({
    token: deps.token,
    authReads: deps.authReads,
    allowUnauthenticated: () => deps.allowUnauthenticated?.() ?? false,
    hosts: deps.hosts,
    log: deps.log,
  });
  // before anything else, on every route (probes included: IP literals pass, so kubelets and scrapers do)
  app.addHook('onRequest', async (req) => auth.checkHost(req.headers.host, req.ip, req.url));

  const requireToken: AuthGuard = async (req, reply) => {
    try {
      auth.check(req.ip, bearerOf(req.headers.authorization), req.url);
    } catch (e) {
      if (e instanceof CanarydError && e.code === 'CANARYD_ERR_UNAUTHORIZED') reply.header('www-authenticate', 'Bearer realm="canaryd"');
      throw e;
    }
  };
  const readGuard: AuthGuard = async (req, reply) => {
    if (!auth.readsNeedToken()) return;
    try {
      auth.check(req.ip, bearerOf(req.headers.authorization), req.url, false);
    } catch (e) {
      if (e instanceof CanarydError && e.code === 'CANARYD_ERR_UNAUTHORIZED') reply.header('www-authenticate', 'Bearer realm="canaryd"');
      throw e;
    }
  };
  const sameSite: AuthGuard = async (req) => {
    if (isCrossSite(req.headers)) {
      deps.log.warn({ ip: req.ip, route: req.url, origin: req.headers.origin }, 'cross-site admin request refused');
      throw new CanarydError(
        'CANARYD_ERR_FORBIDDEN',
        `cross-site request refused: origin ${String(req.headers.origin ?? req.headers['sec-fetch-site'])} may not ${req.method} ${req.url}`,
      );
    }
  };

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'canaryd admin API',
        version: '1',
        description:
          'Status, weights, flags, config drift, live events; rollout and faults routes when those engines are present. Errors are {error, message} with codes from docs/errors.md.',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'admin.token' } } },
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  app.addSchema({ $id: 'ErrorBody', ...errorBodySchema });

  const routes: RouteOptions[] = [];
  registered.set(app, routes);
  app.addHook('onRoute', (r) => {
    routes.push(r);
    const schema = (r.schema ??= {}) as Record<string, any>;
    // one id per operation; fastify's automatic HEAD twin of a GET shares its schema object, so it is not named
    if (!asArray(r.method).includes('HEAD')) schema.operationId ??= operationIdOf(asArray(r.method)[0], r.url);
    if (!r.url.startsWith(API)) return;
    const mutating = asArray(r.method).some((m) => MUTATING.has(m));
    r.onRequest = [
      ...(mutating ? [sameSite, requireToken] : [readGuard]),
      ...asArray(r.onRequest as AuthGuard | AuthGuard[] | undefined),
    ] as RouteOptions['onRequest'];
    schema.tags ??= [r.url.slice(API.length).split(/[/?]/)[0] || 'api'];
    if (mutating || deps.token() !== '') schema.security ??= [{ bearerAuth: [] }];
    schema.response ??= {};
    schema.response['4xx'] ??= { $ref: 'ErrorBody#' };
    schema.response['5xx'] ??= { $ref: 'ErrorBody#' };
  });

  app.setErrorHandler(adminErrorHandler(deps.log));
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ error: 'CANARYD_ERR_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` });
  });

  // each route group is a fastify plugin given its own options; the policy hook above sees all their routes
  await app.register(coreRoutes, deps);
  if (deps.events) await app.register(eventRoutes, { ...deps.events, auth, log: deps.log });
  if (deps.events?.history) await app.register(historyRoutes, { history: deps.events.history });
  if (deps.flags) await app.register(flagRoutes, deps.flags);
  if (deps.config) await app.register(configRoutes, deps.config);
  if (deps.rollout) await app.register(rolloutRoutes, deps.rollout);
  // always routed, so one OpenAPI document (docs/openapi.json) covers every mode; without fleet mode they answer 404
  await app.register(fleetRoutes, deps.fleet ?? FLEET_OFF);
  if (deps.dashboard !== false) await app.register(dashboardRoutes, { dir: deps.dashboard?.dir });
  for (const plugin of deps.plugins ?? []) await app.register(async (scope) => plugin(scope, requireToken));
  return app;
}
