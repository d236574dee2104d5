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
  { additionalProperties: false, description: 'One upstream: where it is and how canaryd connects to it' },
);

const StringOrList = Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })]);

const RuleMatch = Type.Object(
  {
    header: Type.Optional(Type.Record(Type.String(), StringOrList, { description: 'header name -> exact value(s); "*" matches presence' })),
    cookie: Type.Optional(Type.Record(Type.String(), StringOrList, { description: 'cookie name -> exact value(s); "*" matches presence' })),
    ip: Type.Optional(Type.Array(Type.String(), { minItems: 1, description: 'client IPs or CIDRs (v4 or v6)' })),
    path: Type.Optional(Type.String({ description: 'path prefix ("/api/") or glob ("/api/*/items", "**" crosses "/")' })),
    method: Type.Optional({ ...StringOrList, description: 'HTTP method(s), e.g. GET or [GET, HEAD]' }),
  },
  { additionalProperties: false, minProperties: 1, description: 'What a request must carry to match (all given fields must match)' },
);

export const RoutingRule = Type.Object(
  {
    name: Type.String({ minLength: 1, description: 'Rule name, shown in metrics, logs and the admin API' }),
    match: RuleMatch,
    to: { ...VersionNameSchema, description: 'The version a matching request goes to' },
    enabled: Type.Boolean({ default: true, description: 'false: the rule is kept but not applied' }),
  },
  { additionalProperties: false },
);

export const proxySections = {
  listen: ListenSchema,
  environment: Type.String({ default: 'development', description: '"production" enables extra safety switches' }),
  upstreams: Type.Object(
    {
      baseline: { ...Upstream, description: 'The running version' },
      canary: { ...Upstream, description: 'The new version under test' },
    },
    { additionalProperties: false, description: 'The two upstreams canaryd sits in front of' },
  ),
  routing: StrictObject(
    {
      canaryWeight: Type.Number({ minimum: 0, maximum: 100, default: 0, description: 'Percent of traffic to canary (fractions allowed)' }),
      sticky: Type.Optional(
        Type.Object(
          {
            header: Type.Optional(Type.String({ minLength: 1, description: 'Header whose value keys the user (e.g. x-user-id)' })),
            cookie: Type.Optional(
              Type.String({ minLength: 1, description: 'Cookie whose value keys the user, when the header is absent' }),
            ),
          },
          {
            additionalProperties: false,
            description: 'Sticky routing: the same user key always lands on the same version at a given weight (else the client IP)',
          },
        ),
      ),
      rules: Type.Array(RoutingRule, { default: [], maxItems: 256, description: 'targeting rules, first match wins (at most 256)' }),
      keepPinnedOnRollback: Type.Boolean({
        default: false,
        description:
          'false: after a rollback, rules and flags that send traffic to the canary are suspended until a retry, a new start or `ctl pins resume`; true: they keep pinning their users to the canary',
      }),
      mirror: StrictObject(
        {
          percent: Type.Number({ minimum: 0, maximum: 100, default: 0, description: 'Percent of baseline requests shadowed to canary' }),
          maxBodyBytes: Type.Integer({ minimum: 0, default: 1_048_576, description: 'Bodies larger than this are not mirrored' }),
        },
        { description: 'Shadow traffic: copies of baseline requests sent to the canary, answers discarded' },
      ),
    },
    { description: 'How requests are split between baseline and canary' },
  ),
  timeouts: StrictObject(
    {
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
    },
    { description: 'Deadlines towards the upstreams and the clients' },
  ),
  proxy: StrictObject(
    {
      versionHeader: Type.Boolean({ default: true, description: 'Add x-canaryd-version to responses' }),
      retries: Type.Integer({ minimum: 0, maximum: 5, default: 1, description: 'Retries of idempotent requests on connect failure' }),
      trustProxy: Type.Array(Type.String(), {
        default: [],
        description: 'Peers (IPs/CIDRs) whose X-Forwarded-For is trusted for the client IP',
      }),
      maxHeaderBytes: Type.Integer({
        minimum: 1024,
        default: 16_384,
        description: 'Largest request head accepted (request line + headers): else 431',
      }),
      upgrades: Type.Array(Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }), {
        default: ['websocket'],
        description:
          'Protocols an HTTP/1.1 Upgrade may switch to; other upgrades are served as ordinary requests without Upgrade. h2c is never forwarded.',
      }),
    },
    { description: 'Request handling: headers, retries, trusted proxies, upgrades' },
  ),
  log: StrictObject(
    {
      level: Type.Union(
        ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
        { default: 'info', description: 'Log level of the JSON logs on stdout' },
      ),
      accessLogSampleRate: Type.Number({
        minimum: 0,
        maximum: 1,
        default: 0.01,
        description: 'Fraction of requests logged (errors always)',
      }),
    },
    { description: 'Logging' },
  ),
  shutdown: StrictObject(
    {
      drainTimeout: Duration('30s', 'How long SIGTERM waits for in-flight requests (and tunnels) before cutting them'),
      settle: Duration(
        '2s',
        'After SIGTERM the listener keeps accepting (answering with Connection: close) this long, so load balancers see /readyz fail first',
      ),
      idleGrace: Duration(
        '1s',
        'While draining, a keep-alive connection is closed once idle this long; before that its next request is served with Connection: close',
      ),
    },
    { description: 'Graceful shutdown on SIGTERM' },
  ),
};
