/** Config sections of the data plane: listen, upstreams, routing, timeouts, proxy behaviour, logs, state. */
import { Type } from '@sinclair/typebox';
import { Duration, StrictObject, VersionNameSchema } from './types.js';
import { ListenSchema, UpstreamTls } from './tls.js';

const Upstream = Type.Object(
  {
    url: Type.String({ pattern: '^https?://', description: 'Base URL of the upstream, e.g. http://127.0.0.1:3000' }),
    version: Type.String({ default: 'unknown', description: 'Release label shown in status and metrics' }),
    connections: Type.Integer({ minimum: 1, maximum: 10_000, default: 128, description: 'Max keep-alive connections in the pool' }),
    http2: Type.Boolean({
      default: false,
      description: 'Speak HTTP/2 to this upstream (h2c for http://, ALPN h2 for https://); required for gRPC',
    }),
    tls: UpstreamTls,
    maxPending: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1_000_000,
        description:
          'Circuit breaker: requests that may wait for a connection of this upstream once all its connections are busy; more get 503 CANARYD_ERR_QUEUE_FULL (default limits.queue.size)',
      }),
    ),
  },
  { additionalProperties: false },
);

const StringOrList = Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })]);

const RuleMatch = Type.Object(
  {
    header: Type.Optional(Type.Record(Type.String(), StringOrList, { description: 'header name -> exact value(s); "*" matches presence' })),
    cookie: Type.Optional(Type.Record(Type.String(), StringOrList, { description: 'cookie name -> exact value(s); "*" matches presence' })),
    ip: Type.Optional(Type.Array(Type.String(), { minItems: 1, description: 'client IPs or CIDRs (v4 or v6)' })),
    path: Type.Optional(Type.String({ description: 'path prefix ("/api/") or glob ("/api/*/items", "**" crosses "/")' })),
    method: Type.Optional(StringOrList),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const RoutingRule = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    match: RuleMatch,
    to: VersionNameSchema,
    enabled: Type.Boolean({ default: true }),
  },
  { additionalProperties: false },
);

export const proxySections = {
  listen: ListenSchema,
  environment: Type.String({ default: 'development', description: '"production" enables extra safety switches' }),
  upstreams: Type.Object({ baseline: Upstream, canary: Upstream }, { additionalProperties: false }),
  routing: StrictObject({
    canaryWeight: Type.Number({ minimum: 0, maximum: 100, default: 0, description: 'Percent of traffic to canary (fractions allowed)' }),
    sticky: Type.Optional(
      Type.Object(
        {
          header: Type.Optional(Type.String({ minLength: 1 })),
          cookie: Type.Optional(Type.String({ minLength: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    rules: Type.Array(RoutingRule, { default: [], maxItems: 256, description: 'targeting rules, first match wins (at most 256)' }),
    keepPinnedOnRollback: Type.Boolean({
      default: false,
      description:
        'false: after a rollback, rules and flags that send traffic to the canary are suspended until a retry, a new start or `ctl pins resume`; true: they keep pinning their users to the canary',
    }),
    mirror: StrictObject({
      percent: Type.Number({ minimum: 0, maximum: 100, default: 0, description: 'Percent of baseline requests shadowed to canary' }),
      maxBodyBytes: Type.Integer({ minimum: 0, default: 1_048_576, description: 'Bodies larger than this are not mirrored' }),
    }),
  }),
  timeouts: StrictObject({
    connect: Duration('2s', 'TCP connect to an upstream'),
    headers: Duration('30s', 'From request sent to response headers'),
    body: Duration('60s', 'Max idle time between body chunks'),
    request: Duration(
      '60s',
      'Total time for a request, counted from its arrival (time queued for an upstream connection included): past it, 504',
    ),
    clientHeaders: Duration(
      '10s',
      'A new connection must send its first request head within this; a later request head within this of its first byte: else 408 and close',
    ),
    clientBody: Duration('10s', 'Max idle time between request-body bytes from the client (see limits.minBodyRate): else 408'),
  }),
  proxy: StrictObject({
    versionHeader: Type.Boolean({ default: true, description: 'Add x-canaryd-version to responses' }),
    retries: Type.Integer({ minimum: 0, maximum: 5, default: 1, description: 'Retries of idempotent requests on connect failure' }),
    trustProxy: Type.Array(Type.String(), {
      default: [],
      description: 'Peers (IPs/CIDRs) whose X-Forwarded-For is trusted for the client IP',
    }),
    maxHeaderBytes: Type.Integer({ minimum: 1024, default: 16_384 }),
    upgrades: Type.Array(Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }), {
      default: ['websocket'],
      description:
        'Protocols an HTTP/1.1 Upgrade may switch to; other upgrades are served as ordinary requests without Upgrade. h2c is never forwarded.',
    }),
  }),
  log: StrictObject({
    level: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
      { default: 'info' },
    ),
    accessLogSampleRate: Type.Number({ minimum: 0, maximum: 1, default: 0.01, description: 'Fraction of requests logged (errors always)' }),
  }),
  shutdown: StrictObject({
    drainTimeout: Duration('30s', 'How long SIGTERM waits for in-flight requests (and tunnels) before cutting them'),
    settle: Duration(
      '2s',
      'After SIGTERM the listener keeps accepting (answering with Connection: close) this long, so load balancers see /readyz fail first',
    ),
    idleGrace: Duration(
      '1s',
      'While draining, a keep-alive connection is closed once idle this long; before that its next request is served with Connection: close',
    ),
  }),
};
