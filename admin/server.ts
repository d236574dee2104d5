/**
 * The admin API (fastify): health, readiness, Prometheus /metrics, status and weights. It receives the live
 * objects it needs (AdminDeps) from the composition root and never reaches into module globals. Mutating
 * routes need `Authorization: Bearer <admin.token>`; with no token configured (allowed on loopback only)
 * they are open.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { CanarydError, isCanarydError } from '../core/index.js';
import { bearerOf, FailureLimiter, tokenMatches } from './auth.js';

export interface AdminDeps {
  token(): string;
  authReads(): boolean;
  ready(): boolean;
  metricsText(): Promise<string>;
  metricsContentType: string;
  status(): Record<string, unknown>;
  setCanaryWeight(weight: number, reason: string): Record<string, unknown>;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  /** more routes (rollout, faults, flags, config, events, dashboard) register here */
  plugins?: Array<(app: FastifyInstance, guard: AuthGuard) => void | Promise<void>>;
}

export type AuthGuard = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

export async function buildAdmin(deps: AdminDeps): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 1_048_576, ajv: { customOptions: { allErrors: true, removeAdditional: false } } });
  const limiter = new FailureLimiter();

  const requireToken: AuthGuard = async (req, reply) => {
    const expected = deps.token();
    if (!expected) return;
    const ip = req.ip;
    if (limiter.blocked(ip)) {
      deps.log.warn({ ip, route: req.url }, 'admin auth rate-limited');
      throw new CanarydError('CANARYD_ERR_RATE_LIMITED', 'too many failed authentication attempts; try again later');
    }
    if (!tokenMatches(expected, bearerOf(req.headers.authorization))) {
      const n = limiter.fail(ip);
      deps.log.warn({ ip, route: req.url, failures: n }, 'admin auth failed');
      reply.header('www-authenticate', 'Bearer realm="canaryd"');
      throw new CanarydError('CANARYD_ERR_UNAUTHORIZED', 'missing or invalid bearer token');
    }
  };
  const readGuard: AuthGuard = async (req, reply) => {
    if (deps.authReads()) await requireToken(req, reply);
  };

  app.setErrorHandler((err: unknown, _req, reply) => {
    if (isCanarydError(err)) {
      void reply.status(err.status).send(err.toJSON());
      return;
    }
    const e = err as { validation?: unknown; statusCode?: number; message?: string; code?: string };
    if (e.validation) {
      void reply.status(400).send({ error: 'CANARYD_ERR_BAD_REQUEST', message: e.message });
      return;
    }
    const status = e.statusCode && e.statusCode >= 400 && e.statusCode < 500 ? e.statusCode : 500;
    void reply.status(status).send({ error: status === 500 ? 'CANARYD_ERR_INTERNAL' : 'CANARYD_ERR_BAD_REQUEST', message: e.message ?? String(err) });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ error: 'CANARYD_ERR_NOT_FOUND', message: `no route ${req.method} ${req.url}` });
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (!deps.ready()) return reply.status(503).send({ status: 'not ready' });
    return { status: 'ready' };
  });
  app.get('/metrics', async (_req, reply) => {
    const text = await deps.metricsText();
    return reply.header('content-type', deps.metricsContentType).send(text);
  });
  app.get('/api/v1/status', { preHandler: readGuard }, async () => deps.status());
  app.put(
    '/api/v1/weights',
    {
      preHandler: requireToken,
      schema: {
        body: {
          type: 'object',
          required: ['canary'],
          additionalProperties: false,
          properties: { canary: { type: 'number', minimum: 0, maximum: 100 }, reason: { type: 'string', maxLength: 500 } },
        },
      },
    },
    async (req) => {
      const body = req.body as { canary: number; reason?: string };
      return deps.setCanaryWeight(body.canary, body.reason ?? 'admin api');
    },
  );
  for (const plugin of deps.plugins ?? []) await plugin(app, requireToken);
  return app;
}
