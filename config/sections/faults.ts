/**
 * Config section of fault injection (docs/faults.md), owned by the faults work. The schema pieces of a rule
 * (match, one block per fault kind) are exported so the admin API validates runtime rules with the same
 * pieces; `faultRuleProblems` holds the checks a schema cannot express (exactly one kind per rule, delay
 * forms), shared by config validation and the admin API, so a rule means the same wherever it comes from.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Duration, GrpcCode, Section, StrictObject, VersionNameSchema } from './types.js';
import {
  DEPENDENCY_FAULT_TYPES,
  DEPENDENCY_NAME_PATTERN,
  dependencyFaultFields,
  isDependencyFaultType,
  type DependencyFaultTypeName,
} from './dependencies.js';

/** Every fault kind, in the order docs and errors list them. The proxy's registry implements exactly these. */
export const FAULT_TYPES = ['delay', 'abort', 'reset', 'hang', 'throttle', 'truncate', 'dependency'] as const;
export type FaultTypeName = (typeof FAULT_TYPES)[number];
/** HTTP kinds and the TCP kinds of dependencies (dependencies.ts): every key a rule may carry. */
export const ALL_FAULT_TYPES = [...FAULT_TYPES, ...DEPENDENCY_FAULT_TYPES] as const;
export type AnyFaultTypeName = FaultTypeName | DependencyFaultTypeName;

const StringOrList = Type.Union([
  Type.String({ maxLength: 256 }),
  Type.Array(Type.String({ maxLength: 256 }), { minItems: 1, maxItems: 64 }),
]);
const MAX_MS = 600_000;

export const FaultMatchSchema = Type.Object(
  {
    version: Type.Optional({ ...VersionNameSchema, description: 'only requests routed to this version' }),
    dependency: Type.Optional(
      Type.String({
        pattern: DEPENDENCY_NAME_PATTERN,
        description: 'TCP kinds only: the dependency (dependencies[].name) whose connections the rule hits',
      }),
    ),
    path: Type.Optional(
      Type.String({ pattern: '^/', maxLength: 512, description: 'path prefix ("/api/") or glob ("/api/*", "**" crosses "/")' }),
    ),
    method: Type.Optional({ ...StringOrList, description: 'HTTP method(s)' }),
    header: Type.Optional(
      Type.Record(Type.String({ pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$" }), StringOrList, {
        maxProperties: 16,
        description: 'header name -> exact value(s); "*" matches presence',
      }),
    ),
  },
  { additionalProperties: false, description: 'which requests the rule applies to (all given conditions must hold); empty: every request' },
);

export const FaultParamSchemas = {
  delay: Type.Object(
    {
      ms: Type.Optional(Type.Number({ minimum: 0, maximum: MAX_MS, description: 'fixed latency in ms' })),
      jitterMs: Type.Optional(Type.Number({ minimum: 0, maximum: MAX_MS, description: 'uniform jitter: ms ± jitterMs (never below 0)' })),
      minMs: Type.Optional(Type.Number({ minimum: 0, maximum: MAX_MS, description: 'uniform range, with maxMs' })),
      maxMs: Type.Optional(Type.Number({ minimum: 0, maximum: MAX_MS, description: 'uniform range, with minMs' })),
    },
    { additionalProperties: false, description: 'latency before forwarding: ms (± jitterMs) or a range minMs..maxMs' },
  ),
  abort: Type.Object(
    {
      status: Type.Integer({ minimum: 200, maximum: 599, description: 'HTTP status to answer with' }),
      body: Type.Optional(Type.String({ maxLength: 65_536, description: 'response body (default: a JSON error body)' })),
      headers: Type.Optional(
        Type.Record(Type.String({ pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$" }), Type.String({ maxLength: 1024 }), {
          maxProperties: 32,
          description: 'response headers to add (at most 32)',
        }),
      ),
      grpcStatus: Type.Optional(
        GrpcCode(
          'on a gRPC request (content-type application/grpc*): the grpc-status of the trailers-only answer (HTTP 200); status and body are for other requests (default UNAVAILABLE)',
        ),
      ),
      grpcMessage: Type.Optional(
        Type.String({ maxLength: 1024, description: 'grpc-message of the gRPC answer (default: names the rule)' }),
      ),
    },
    { additionalProperties: false, description: 'answer without calling the upstream' },
  ),
  reset: Type.Object(
    {
      afterHeaders: Type.Boolean({
        default: false,
        description: 'false: reset before any response; true: send the upstream response headers, then reset',
      }),
    },
    { additionalProperties: false, description: 'TCP reset (RST) of the client connection' },
  ),
  hang: Type.Object(
    {
      maxMs: Type.Number({ minimum: 1, maximum: MAX_MS, default: 30_000, description: 'bound: the connection is closed after this long' }),
    },
    { additionalProperties: false, description: 'no answer until the client gives up (bounded)' },
  ),
  throttle: Type.Object(
    { bytesPerSecond: Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'response body bandwidth, bytes per second' }) },
    { additionalProperties: false, description: 'limit the response body bandwidth' },
  ),
  truncate: Type.Object(
    {
      afterBytes: Type.Integer({
        minimum: 0,
        default: 1024,
        description: 'body bytes sent before the connection is closed (at most half of a shorter Content-Length)',
      }),
    },
    { additionalProperties: false, description: 'close the connection mid-body' },
  ),
  dependency: Type.Object(
    {
      name: Type.String({
        pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
        description: 'the dependency the app should fail, e.g. database, cache, payments',
      }),
      mode: Type.Union([Type.Literal('error'), Type.Literal('timeout'), Type.Literal('slow')], {
        default: 'error',
        description: 'how the app should fail the dependency: error, timeout or slow',
      }),
      header: Type.String({
        pattern: '^[A-Za-z0-9-]{1,64}$',
        default: 'x-canaryd-dependency-fault',
        description: 'request header carrying "<name>=<mode>"',
      }),
    },
    { additionalProperties: false, description: 'add a request header telling the app to simulate a failing dependency' },
  ),
} satisfies Record<FaultTypeName, TSchema>;

export type FaultParams = { [K in FaultTypeName]: Static<(typeof FaultParamSchemas)[K]> };

export const FAULT_RULE_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';

/** The fields of a rule, without `duration` (its encoding differs between YAML and the API). */
export const faultRuleFields = {
  name: Type.String({ pattern: FAULT_RULE_NAME_PATTERN, description: 'unique rule name' }),
  description: Type.Optional(Type.String({ maxLength: 500, description: 'free text shown in the admin API and the dashboard' })),
  match: Type.Optional(FaultMatchSchema),
  probability: Type.Number({ minimum: 0, maximum: 1, description: 'share of matching requests the fault hits (0..1)' }),
  enabled: Type.Boolean({ default: true, description: 'false: the rule is kept but does not fire' }),
  delay: Type.Optional(FaultParamSchemas.delay),
  abort: Type.Optional(FaultParamSchemas.abort),
  reset: Type.Optional(FaultParamSchemas.reset),
  hang: Type.Optional(FaultParamSchemas.hang),
  throttle: Type.Optional(FaultParamSchemas.throttle),
  truncate: Type.Optional(FaultParamSchemas.truncate),
  dependency: Type.Optional(FaultParamSchemas.dependency),
  ...dependencyFaultFields,
};

export const FaultRuleConfigSchema = Type.Object(
  {
    ...faultRuleFields,
    duration: Type.Optional(
      Type.Unsafe<number>({
        type: ['string', 'number'],
        duration: true,
        description: 'the rule expires this long after it became active (e.g. 10m)',
      }),
    ),
  },
  { additionalProperties: false },
);

export type FaultRuleConfig = Static<typeof FaultRuleConfigSchema>;

export const faultSections = {
  faults: Section('Fault injection for chaos experiments, with its safety switches', {
    enabled: Type.Boolean({ default: false, description: 'Master switch: no fault fires while false' }),
    allowInProduction: Type.Boolean({
      default: false,
      description: 'Allow faults.enabled when environment is production (or NODE_ENV=production)',
    }),
    allowHeaderControl: Type.Boolean({
      default: false,
      description: 'Honour x-canaryd-fault-* request headers (stripped before forwarding)',
    }),
    maxHeaderDelay: Duration('10s', 'Bound on x-canaryd-fault-delay-request'),
    maxErrorRate: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.05,
      description: 'Auto-disable: every fault turns off when the error rate clients see over autoDisable.window exceeds this',
    }),
    autoDisable: Section('Faults switch themselves off when the client-seen error rate passes a bound', {
      window: Duration('30s', 'Sliding window of the client-seen error rate'),
      minRequests: Type.Integer({ minimum: 1, default: 20, description: 'Requests needed in the window before it may trip' }),
    }),
    maxActive: Type.Integer({
      minimum: 1,
      maximum: 1_000_000,
      default: 1000,
      description: 'Cap on concurrently faulted requests; beyond it a fault that would fire passes through (counted as capped)',
    }),
    rules: Type.Array(FaultRuleConfigSchema, {
      default: [],
      maxItems: 256,
      description: 'fault rules from the file (at most 256); more can be added over the admin API',
    }),
  }),
};

export type FaultsConfig = Static<(typeof faultSections)['faults']>;

/** Kinds set on a rule-shaped object. */
export function faultKindsOf(rule: Partial<Record<AnyFaultTypeName, unknown>>): AnyFaultTypeName[] {
  return ALL_FAULT_TYPES.filter((k) => rule[k] !== undefined);
}

/** Checks a schema cannot express, one line per problem, each naming its path under `where`. */
export function faultRuleProblems(rule: Partial<FaultRuleConfig>, where: string): string[] {
  const out: string[] = [];
  const kinds = faultKindsOf(rule);
  if (kinds.length !== 1) {
    out.push(
      `${where}: set exactly one fault kind (${FAULT_TYPES.join(', ')}), got ${kinds.length === 0 ? 'none' : kinds.join(' and ')} (on a dependency's TCP connections: ${DEPENDENCY_FAULT_TYPES.join(', ')})`,
    );
  }
  const m = rule.match ?? {};
  if (kinds.length === 1 && isDependencyFaultType(kinds[0])) {
    if (m.dependency === undefined)
      out.push(`${where}.match.dependency: a ${kinds[0]} fault acts on a dependency's TCP connections; name the dependency`);
    for (const k of ['path', 'method', 'header'] as const)
      if (m[k] !== undefined)
        out.push(`${where}.match.${k}: a ${kinds[0]} fault sees TCP bytes, not HTTP requests; match only dependency and version`);
  } else if (kinds.length === 1 && m.dependency !== undefined) {
    out.push(
      `${where}.match.dependency: only the TCP kinds (${DEPENDENCY_FAULT_TYPES.join(', ')}) act on dependencies; ${kinds[0]} acts on HTTP requests`,
    );
  }
  const d = rule.delay;
  if (d) {
    const fixed = d.ms !== undefined;
    const range = d.minMs !== undefined || d.maxMs !== undefined;
    if (fixed === range) out.push(`${where}.delay: set either ms (with optional jitterMs) or minMs and maxMs`);
    else if (range && (d.minMs === undefined || d.maxMs === undefined)) out.push(`${where}.delay: minMs and maxMs go together`);
    else if (range && d.minMs! > d.maxMs!) out.push(`${where}.delay.minMs: must be <= maxMs (${d.maxMs}), got ${d.minMs}`);
    if (d.jitterMs !== undefined && !fixed) out.push(`${where}.delay.jitterMs: only applies with ms`);
  }
  return out;
}

/** Production as the faults safety switch sees it: the config says so, or NODE_ENV does. */
export function isProduction(environment: string, env: NodeJS.ProcessEnv): boolean {
  return environment === 'production' || env.NODE_ENV === 'production';
}

export function productionRefusal(environment: string, env: NodeJS.ProcessEnv): string {
  const why = environment === 'production' ? 'environment: production' : 'NODE_ENV=production';
  return `fault injection is refused in production (${why}); set faults.allowInProduction: true to allow it`;
}

/** Semantic problems of the faults section (called by config/semantics.ts). */
export function faultsProblems(c: { environment: string; faults: FaultsConfig }, env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  const f = c.faults;
  if (f.enabled && !f.allowInProduction && isProduction(c.environment, env))
    out.push(`faults.enabled: ${productionRefusal(c.environment, env)}`);
  const names = new Set<string>();
  f.rules.forEach((r, i) => {
    if (names.has(r.name)) out.push(`faults.rules[${i}].name: duplicate rule name ${JSON.stringify(r.name)}`);
    names.add(r.name);
    out.push(...faultRuleProblems(r, `faults.rules[${i}]`));
  });
  return out;
}
