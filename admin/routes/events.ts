/**
 * The live event stream: a WebSocket at /api/v1/events (the `ws` package on the admin server's upgrade
 * event), authenticated like reads. A client gets a `hello`, a replay of recent events (all kept events
 * after `?since=SEQ`, else the last 100), the latest snapshot, then every event as it is published, one JSON
 * object per message. Browsers, which cannot set headers on a WebSocket, offer the token as a subprotocol
 * `bearer.<base64url(token)>` next to `canaryd.v1`. Slow clients skip snapshots rather than buffer without
 * bound, and are dropped past 8 MiB buffered; dead peers are found by ping every 30 s.
 *
 * A plain GET answers 426 (documented in the OpenAPI document); /api/v1/events/recent and /api/v1/snapshot
 * give the same data over plain HTTP.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyPluginAsync } from 'fastify';
import { WebSocketServer, type WebSocket } from 'ws';
import { CanarydError, isCanarydError } from '../../core/index.js';
import { bearerOf, isCrossSite, tokenFromProtocols, WS_PROTOCOL, type AdminAuth } from '../auth.js';
import type { CanarydEvent, EventBus } from '../events/bus.js';
import type { Snapshot } from '../events/snapshot.js';
import type { AdminLog } from '../log.js';
import type { HistoryRouteDeps } from './history.js';
import { RecentEvents, RecentQuery } from '../../contract/index.js';

export interface EventRouteDeps {
  bus: EventBus;
  /** the current snapshot (computed on demand) */
  snapshot(): Snapshot;
  /** GET /api/v1/history (admin/routes/history.ts): the kept snapshots of the last `seconds` */
  history?: HistoryRouteDeps['history'];
}

export interface EventRouteOptions extends EventRouteDeps {
  /** the WebSocket upgrade is checked here, outside fastify's routing, as the policy hook checks reads */
  auth: AdminAuth;
  log: AdminLog;
}

const PATH = '/api/v1/events';
const SKIP_SNAPSHOTS_ABOVE = 256 * 1024;
const DROP_ABOVE = 8 * 1024 * 1024;
const PING_MS = 30_000;

function refuse(socket: Duplex, err: CanarydError): void {
  const body = JSON.stringify(err.toJSON());
  const reason =
    err.status === 401
      ? 'Unauthorized'
      : err.status === 403
        ? 'Forbidden'
        : err.status === 429
          ? 'Too Many Requests'
          : err.status === 421
            ? 'Misdirected Request'
            : err.status === 404
              ? 'Not Found'
              : 'Bad Request';
  const extra = err.status === 401 ? 'WWW-Authenticate: Bearer realm="canaryd"\r\n' : '';
  socket.end(
    `HTTP/1.1 ${err.status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`,
  );
}

export const eventRoutes: FastifyPluginAsync<EventRouteOptions> = async (app, opts) => {
  const { auth, log } = opts;
  const deps: EventRouteDeps = opts;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: 4096,
    handleProtocols: (offered) => (offered.has(WS_PROTOCOL) ? WS_PROTOCOL : false),
  });
  const clients = new Set<WebSocket>();

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    try {
      auth.checkHost(req.headers.host, req.socket.remoteAddress ?? '', PATH);
      if (url.pathname !== PATH) throw new CanarydError('CANARYD_ERR_NOT_FOUND', `no WebSocket endpoint at ${url.pathname}; use ${PATH}`);
      if (isCrossSite(req.headers)) {
        log.warn({ ip: req.socket.remoteAddress, route: PATH, origin: req.headers.origin }, 'cross-site admin request refused');
        throw new CanarydError('CANARYD_ERR_FORBIDDEN', `cross-site WebSocket refused (origin ${String(req.headers.origin)})`);
      }
      if (auth.readsNeedToken()) {
        const presented = bearerOf(req.headers.authorization) ?? tokenFromProtocols(req.headers['sec-websocket-protocol']);
        auth.check(req.socket.remoteAddress ?? '', presented, PATH, false);
      }
    } catch (e) {
      refuse(socket, isCanarydError(e) ? e : new CanarydError('CANARYD_ERR_BAD_REQUEST', String(e)));
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => connected(ws, url));
  };
  app.server.on('upgrade', onUpgrade);

  const connected = (ws: WebSocket, url: URL) => {
    clients.add(ws);
    let alive = true;
    const send = (e: CanarydEvent | Record<string, unknown>) => {
      if (ws.readyState !== ws.OPEN) return;
      if (ws.bufferedAmount > DROP_ABOVE) {
        ws.terminate();
        return;
      }
      if (e.type === 'snapshot' && ws.bufferedAmount > SKIP_SNAPSHOTS_ABOVE) return;
      ws.send(JSON.stringify(e));
    };
    const since = Number(url.searchParams.get('since') ?? NaN);
    send({ type: 'hello', seq: deps.bus.seq, at: Date.now(), protocol: WS_PROTOCOL });
    for (const e of Number.isFinite(since) ? deps.bus.recent(since) : deps.bus.recent(0, 100)) send(e);
    send(deps.bus.latest('snapshot') ?? { ...deps.snapshot(), seq: deps.bus.seq, at: Date.now() });
    const unsubscribe = deps.bus.subscribe(send);
    const ping = setInterval(() => {
      if (!alive) return ws.terminate();
      alive = false;
      ws.ping();
    }, PING_MS);
    ping.unref();
    ws.on('pong', () => (alive = true));
    ws.on('message', () => {}); // the stream is one-way; client messages are ignored
    ws.on('error', () => ws.terminate());
    ws.on('close', () => {
      clearInterval(ping);
      unsubscribe();
      clients.delete(ws);
    });
  };

  app.addHook('onClose', async () => {
    app.server.off('upgrade', onUpgrade);
    for (const ws of clients) ws.terminate();
    wss.close();
  });

  app.get(
    PATH,
    {
      schema: {
        summary:
          'Live events over WebSocket (upgrade required): hello, replay, then snapshot / weights / decision / fault / config / flag / drift events',
        description: `Connect with a WebSocket, subprotocol "${WS_PROTOCOL}" (browsers add "bearer.<base64url(token)>" when reads need the token). Query since=SEQ replays kept events after SEQ. A plain GET answers 426.`,
        querystring: { type: 'object', properties: { since: { type: 'integer', minimum: 0 } } },
      },
    },
    async (_req, reply) => {
      void reply
        .status(426)
        .header('upgrade', 'websocket')
        .send({
          error: 'CANARYD_ERR_BAD_REQUEST',
          message: `${PATH} is a WebSocket: connect with Upgrade: websocket (see /api/v1/events/recent for plain HTTP)`,
        });
    },
  );

  app.get<{ Querystring: RecentQuery }>(
    `${PATH}/recent`,
    {
      schema: {
        summary: 'Kept events (no snapshots) after `since`, oldest first',
        querystring: RecentQuery,
        response: { 200: RecentEvents },
      },
    },
    async (req) => {
      const q = req.query;
      return { seq: deps.bus.seq, events: deps.bus.recent(q.since ?? 0, q.limit ?? 100) };
    },
  );

  app.get(
    '/api/v1/snapshot',
    {
      schema: {
        summary: 'Per-version rate, error rate and p50/p95/p99 over the last few seconds (what the live stream sends every second)',
        response: { 200: { type: 'object', additionalProperties: true } },
      },
    },
    async () => deps.snapshot(),
  );
};
