/**
 * JSON Schemas of the faults and experiments routes, built from the config section's pieces
 * (config/sections/faults.ts) so a rule is validated the same way from YAML and from the API. `duration`
 * is "10m"-style or ms here (the config's duration keyword is a config-loader extension); the service turns
 * it into ms and runs the checks a schema cannot express.
 */
import { DependencyFaultParamSchemas, FaultMatchSchema, FaultParamSchemas, faultRuleFields } from '../../config/index.js';

/** any JSON value here; the service checks it and names the field ("body.duration: must be a positive duration ...") */
const durationField = { description: 'a duration: "30s", "10m", "1m30s", or a number of ms' } as const;

/** The config's literal unions as enums here, so a bad value reads "must be one of ..." on the API. */
const matchSchema = {
  ...FaultMatchSchema,
  properties: { ...FaultMatchSchema.properties, version: { type: 'string', enum: ['baseline', 'canary'] } },
};
const dependencySchema = {
  ...FaultParamSchemas.dependency,
  properties: {
    ...FaultParamSchemas.dependency.properties,
    mode: { type: 'string', enum: ['error', 'timeout', 'slow'], default: 'error' },
  },
};

const kindFields = {
  delay: FaultParamSchemas.delay,
  abort: FaultParamSchemas.abort,
  reset: FaultParamSchemas.reset,
  hang: FaultParamSchemas.hang,
  throttle: FaultParamSchemas.throttle,
  truncate: FaultParamSchemas.truncate,
  dependency: dependencySchema,
  ...tcpKindFields(),
};

/** The TCP kinds (dependencies), their direction unions as enums so a bad value reads "must be one of ...". */
function tcpKindFields(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, schema] of Object.entries(DependencyFaultParamSchemas)) {
    const props: Record<string, unknown> = { ...(schema.properties as Record<string, unknown>) };
    const dir = props.direction as { default?: string } | undefined;
    if (dir) props.direction = { type: 'string', enum: ['upstream', 'downstream', 'both'], default: dir.default };
    out[k] = { ...schema, properties: props };
  }
  return out;
}

export const ruleBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'probability'],
  description: 'one fault rule: name, match, probability, optional duration, enabled, and exactly one fault kind',
  properties: {
    name: faultRuleFields.name,
    description: { type: 'string', maxLength: 500 },
    match: matchSchema,
    probability: faultRuleFields.probability,
    enabled: { type: 'boolean', default: true },
    duration: durationField,
    ...kindFields,
  },
} as const;

export const rulePatch = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  description: "partial update; a fault kind given replaces the rule's kind. Config rules accept only enabled.",
  properties: {
    description: { type: 'string', maxLength: 500 },
    match: matchSchema,
    probability: faultRuleFields.probability,
    enabled: { type: 'boolean' },
    duration: durationField,
    ...kindFields,
  },
} as const;

/** Rule names as the API addresses them (experiment rules are "<experiment>.<step>.<rule>", longer). */
export const ruleParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$' } },
} as const;

export const ruleView = {
  type: 'object',
  additionalProperties: true,
  properties: {
    name: { type: 'string' },
    type: { type: 'string', enum: Object.keys(kindFields) },
    source: { type: 'string', enum: ['config', 'api', 'experiment'] },
    experiment: { type: 'string' },
    description: { type: 'string' },
    enabled: { type: 'boolean' },
    active: { type: 'boolean', description: 'can fire now: enabled, not expired, fault injection armed' },
    expired: { type: 'boolean' },
    probability: { type: 'number' },
    match: { type: 'object', additionalProperties: true },
    duration: { type: 'number', nullable: true, description: 'ms after activation, or null' },
    expiresAt: { type: 'number', nullable: true },
    createdAt: { type: 'number' },
    updatedAt: { type: 'number' },
    injected: { type: 'integer', description: 'faults this rule injected' },
  },
} as const;

const halt = {
  type: 'object',
  nullable: true,
  properties: {
    at: { type: 'number' },
    reason: { type: 'string' },
    by: { type: 'string' },
    kind: { type: 'string', enum: ['kill', 'auto-disable'] },
  },
} as const;

export const statusView = {
  type: 'object',
  properties: {
    enabled: { type: 'boolean', description: 'faults.enabled (the master switch, from the config file)' },
    state: { type: 'string', enum: ['refused', 'disabled', 'halted', 'armed', 'idle'] },
    halted: halt,
    refusal: { type: 'string', nullable: true, description: 'why a fault may not be switched on now' },
    allowHeaderControl: { type: 'boolean' },
    maxErrorRate: { type: 'number' },
    maxActive: { type: 'integer' },
    inflight: { type: 'integer' },
    rules: { type: 'array', items: ruleView },
  },
} as const;

export const killView = {
  type: 'object',
  properties: {
    halted: halt,
    released: { type: 'integer', description: 'in-flight faulted requests lifted' },
    experimentsStopped: { type: 'integer' },
    state: { type: 'string' },
  },
} as const;

export const metricsView = {
  type: 'object',
  properties: {
    totalRequests: { type: 'integer', description: 'requests the fault engine evaluated (while armed)' },
    chaosInjected: { type: 'integer', description: 'requests a fault hit' },
    latencyInjections: { type: 'integer', description: 'delay and throttle faults' },
    errorInjections: { type: 'integer', description: 'abort, reset, hang and truncate faults' },
    signalInjections: { type: 'integer', description: 'dependency faults' },
    chaosRate: { type: 'number', description: 'chaosInjected / totalRequests' },
    capped: { type: 'integer', description: 'faults that passed through at faults.maxActive' },
    inflight: { type: 'integer' },
    activeFaults: { type: 'integer' },
    byType: { type: 'object', additionalProperties: { type: 'integer' } },
    state: { type: 'string' },
    window: { type: 'object', additionalProperties: true },
  },
} as const;

const stepRule = { ...ruleBody, required: ['probability'], description: 'a fault rule of the step (name optional)' } as const;

export const experimentBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'steps'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 100 },
    description: { type: 'string', maxLength: 500 },
    target: {
      type: 'string',
      enum: ['all', 'baseline', 'canary'],
      default: 'all',
      description: 'traffic the measurements and the criterion look at',
    },
    steps: {
      type: 'array',
      minItems: 1,
      maxItems: 20,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'duration', 'rules'],
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 64 },
          duration: durationField,
          rules: { type: 'array', maxItems: 16, items: stepRule },
        },
      },
    },
    healthCheck: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      description: 'checked before the first step and after each: a failure aborts the experiment',
      properties: {
        url: { type: 'string', pattern: '^https?://', maxLength: 2048, description: 'GET must answer 2xx (or expectStatus)' },
        timeout: durationField,
        expectStatus: { type: 'integer', minimum: 100, maximum: 599 },
        maxErrorRate: {
          type: 'number',
          minimum: 0,
          maximum: 1,
          description: "the step's client-seen error rate must stay at or under this",
        },
      },
    },
    successCriterion: {
      type: 'object',
      additionalProperties: false,
      properties: {
        minSuccessRate: { type: 'number', minimum: 0, maximum: 1, default: 0.95 },
        maxP95Ms: { type: 'number', exclusiveMinimum: 0 },
        maxP99Ms: { type: 'number', exclusiveMinimum: 0 },
        minRequests: { type: 'integer', minimum: 1, default: 10, description: 'fewer requests in a step: inconclusive' },
      },
    },
  },
} as const;

export const experimentParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^exp-[a-z0-9]{1,16}-[0-9a-f]{4}$' } },
} as const;
export const reportView = { type: 'object', additionalProperties: true } as const;
