/**
 * Config section of dependency faults (docs/faults.md "Dependencies"): the app's TCP dependencies (Redis, a
 * database...) that canaryd relays byte for byte, and the schema pieces of the eight TCP fault kinds. The
 * kinds are ordinary fault rules (faults.rules, the admin API, experiments): the same envelope (name, match,
 * probability, duration, enabled) with `match.dependency` naming the dependency and one of these kind keys.
 * Their names follow Toxiproxy's toxics and never clash with the HTTP kinds (faults.ts).
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Duration, ListenAddress, VersionNameSchema } from './types.js';

/** Every TCP fault kind, in the order docs list them. proxy/tcp's registry implements exactly these. */
export const DEPENDENCY_FAULT_TYPES = [
  'latency',
  'bandwidth',
  'slowClose',
  'timeout',
  'resetPeer',
  'refuse',
  'slicer',
  'limitData',
] as const;
export type DependencyFaultTypeName = (typeof DEPENDENCY_FAULT_TYPES)[number];

const MAX_MS = 600_000;
export const DEPENDENCY_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';

/** upstream: bytes the app sends to the dependency (commands, queries); downstream: its replies. */
const Direction = (dflt: 'upstream' | 'downstream' | 'both') =>
  Type.Union([Type.Literal('upstream'), Type.Literal('downstream'), Type.Literal('both')], {
    default: dflt,
    description: 'upstream: app -> dependency; downstream: dependency -> app; both',
  });

export const DependencyFaultParamSchemas = {
  latency: Type.Object(
    {
      ms: Type.Number({ minimum: 0, maximum: MAX_MS, description: 'added to every chunk relayed in the direction' }),
      jitterMs: Type.Number({
        minimum: 0,
        maximum: MAX_MS,
        default: 0,
        description: 'uniform jitter: ms ± jitterMs (never below 0; order kept)',
      }),
      direction: Direction('downstream'),
    },
    { additionalProperties: false, description: 'delay the bytes of a direction (downstream by default: a round trip rises by ms)' },
  ),
  bandwidth: Type.Object(
    {
      bytesPerSecond: Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'bytes per second in that direction' }),
      direction: Direction('downstream'),
    },
    { additionalProperties: false, description: 'limit the bytes per second of a direction' },
  ),
  slowClose: Type.Object(
    {
      delayMs: Type.Number({
        minimum: 0,
        maximum: MAX_MS,
        description: 'a close (FIN) from either side reaches the other this much later',
      }),
    },
    { additionalProperties: false, description: 'delay the close of the connection' },
  ),
  timeout: Type.Object(
    {
      closeAfterMs: Type.Number({
        minimum: 0,
        maximum: MAX_MS,
        default: 0,
        description: '0: hold the connection open until the fault is lifted; > 0: close it after this long',
      }),
      direction: Direction('both'),
    },
    {
      additionalProperties: false,
      description: 'stop forwarding (the bytes wait, the connection stays open): the client meets its own timeout',
    },
  ),
  resetPeer: Type.Object(
    {
      afterBytes: Type.Integer({
        minimum: 0,
        default: 0,
        description: 'bytes relayed (in direction, since the fault applied) before the RST; 0: at once',
      }),
      direction: Direction('both'),
    },
    { additionalProperties: false, description: 'TCP reset (RST) of both sides of the connection' },
  ),
  refuse: Type.Object(
    {},
    { additionalProperties: false, description: 'new connections are reset as soon as accepted, before canaryd dials the dependency' },
  ),
  slicer: Type.Object(
    {
      averageSize: Type.Integer({ minimum: 1, maximum: 65_536, default: 16, description: 'bytes per slice' }),
      sizeVariation: Type.Integer({ minimum: 0, maximum: 65_536, default: 0, description: 'uniform ± on the slice size' }),
      delayUs: Type.Integer({
        minimum: 0,
        maximum: 1_000_000,
        default: 0,
        description: 'pause between slices in µs (0: separate writes at once)',
      }),
      direction: Direction('downstream'),
    },
    { additionalProperties: false, description: 'split the bytes into small writes: finds framing bugs in clients' },
  ),
  limitData: Type.Object(
    {
      bytes: Type.Integer({
        minimum: 0,
        description: 'bytes relayed (in direction, since the fault applied) before the connection is closed',
      }),
      direction: Direction('both'),
    },
    { additionalProperties: false, description: 'close the connection (FIN) after N bytes' },
  ),
} satisfies Record<DependencyFaultTypeName, TSchema>;

export type DependencyFaultParams = { [K in DependencyFaultTypeName]: Static<(typeof DependencyFaultParamSchemas)[K]> };

/** The kind keys a rule may carry, for faults.ts's rule fields. */
export const dependencyFaultFields = {
  latency: Type.Optional(DependencyFaultParamSchemas.latency),
  bandwidth: Type.Optional(DependencyFaultParamSchemas.bandwidth),
  slowClose: Type.Optional(DependencyFaultParamSchemas.slowClose),
  timeout: Type.Optional(DependencyFaultParamSchemas.timeout),
  resetPeer: Type.Optional(DependencyFaultParamSchemas.resetPeer),
  refuse: Type.Optional(DependencyFaultParamSchemas.refuse),
  slicer: Type.Optional(DependencyFaultParamSchemas.slicer),
  limitData: Type.Optional(DependencyFaultParamSchemas.limitData),
};

export const DependencySchema = Type.Object(
  {
    name: Type.String({ pattern: DEPENDENCY_NAME_PATTERN, description: 'what rules name in match.dependency, e.g. redis' }),
    upstream: Type.String({ pattern: '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):\\d{1,5}$', description: 'host:port of the real dependency' }),
    listen: Type.Optional(
      ListenAddress('127.0.0.1:0', 'shared listener: the app points its client here (a version-scoped rule never hits it)'),
    ),
    listeners: Type.Optional(
      Type.Object(
        {
          baseline: Type.Optional(ListenAddress('127.0.0.1:0', 'the listener the baseline build connects to')),
          canary: Type.Optional(ListenAddress('127.0.0.1:0', 'the listener the canary build connects to')),
        },
        {
          additionalProperties: false,
          minProperties: 1,
          description: 'one listener per app version: point the baseline build at one, the canary build at the other',
        },
      ),
    ),
    tls: Type.Union([Type.Literal('none'), Type.Literal('passthrough')], {
      default: 'none',
      description:
        'passthrough: the dependency speaks TLS; bytes pass untouched (canaryd never terminates it) and a plaintext first byte is refused',
    }),
    connectTimeout: Duration('5s', 'dialling the dependency; a client whose dial fails or times out is reset'),
    maxConnections: Type.Integer({
      minimum: 1,
      maximum: 100_000,
      default: 1024,
      description: 'live connections per dependency; beyond it new ones are reset',
    }),
  },
  { additionalProperties: false },
);

export type DependencyConfig = Static<typeof DependencySchema>;

export const dependencySections = {
  dependencies: Type.Array(DependencySchema, {
    default: [],
    maxItems: 64,
    description: 'TCP dependencies of the app relayed by canaryd (docs/faults.md "Dependencies")',
  }),
};

export function isDependencyFaultType(t: string): t is DependencyFaultTypeName {
  return (DEPENDENCY_FAULT_TYPES as readonly string[]).includes(t);
}

/** Checks a schema cannot express, one line per problem, each naming its path. */
export function dependenciesProblems(c: {
  dependencies: DependencyConfig[];
  faults: { rules: Array<{ match?: { dependency?: string } }> };
}): string[] {
  const out: string[] = [];
  const names = new Set<string>();
  const addrs = new Map<string, string>();
  c.dependencies.forEach((d, i) => {
    const where = `dependencies[${i}]`;
    if (names.has(d.name)) out.push(`${where}.name: duplicate dependency name ${JSON.stringify(d.name)}`);
    names.add(d.name);
    if (d.listen === undefined && d.listeners === undefined) out.push(`${where}: set listen, listeners, or both`);
    const own: Array<[string, string | undefined]> = [
      ['listen', d.listen],
      ['listeners.baseline', d.listeners?.baseline],
      ['listeners.canary', d.listeners?.canary],
    ];
    for (const [k, a] of own) {
      if (a === undefined) continue;
      const port = Number(a.slice(a.lastIndexOf(':') + 1));
      if (port > 65535) out.push(`${where}.${k}: port must be <= 65535, got ${port}`);
      if (port === 0) continue; // port 0: each its own free port
      const prev = addrs.get(a);
      if (prev !== undefined) out.push(`${where}.${k}: ${a} is already used by ${prev}`);
      addrs.set(a, `${where}.${k}`);
    }
    const up = Number(d.upstream.slice(d.upstream.lastIndexOf(':') + 1));
    if (up < 1 || up > 65535) out.push(`${where}.upstream: port must be 1..65535, got ${up}`);
  });
  c.faults.rules.forEach((r, i) => {
    const dep = r.match?.dependency;
    if (dep !== undefined && !names.has(dep))
      out.push(
        `faults.rules[${i}].match.dependency: no dependency named ${JSON.stringify(dep)} (dependencies: ${[...names].join(', ') || 'none'})`,
      );
  });
  return out;
}
