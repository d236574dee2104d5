/**
 * Feature flags: targeting rules managed at runtime through the admin API, by name. Four kinds:
 *   boolean     on -> every request (matching `match`, if given) goes to the flag's version
 *   percentage  on -> that share of users (hashed on flag key + user id, so stable per user) goes there
 *   userList    on -> the listed user ids go there
 *   ipList      on -> client IPs in the listed IPs/CIDRs go there
 * A user id is the request's sticky key (routing.sticky) or, when routing is not sticky, its `x-user-id`
 * header; percentage and user-list flags never match a request without one. Enabled, unarchived flags are
 * compiled once per change into the TrafficSplitter's runtime rules (proxy/router.ts), in creation order,
 * checked after the config file's rules and before weights.
 */
import { CanarydError, type VersionName } from '../../core/index.js';
import { validCidr } from '../../config/index.js';
import type { RuleMatch, RuleSpec } from '../../proxy/index.js';

export const FLAG_KINDS = ['boolean', 'percentage', 'userList', 'ipList'] as const;
export type FlagKind = (typeof FLAG_KINDS)[number];

export interface FlagMatch {
  /** path prefix or glob, as in routing rules */
  path?: string;
  method?: string[];
  /** header name -> accepted values ("*" = present) */
  header?: Record<string, string[]>;
}

export interface Flag {
  key: string;
  description: string;
  kind: FlagKind;
  enabled: boolean;
  /** where matching requests go */
  version: VersionName;
  percentage?: number;
  users?: string[];
  ips?: string[];
  match?: FlagMatch;
  archived: boolean;
  createdAt: number;
  updatedAt: number;
  archivedAt?: number;
  /** why the flag last changed state when not by an operator (e.g. "reconcile") */
  note?: string;
  /** "file": declared in the config file's `flags:` (the file is its source of truth); else made through the API */
  source?: 'file' | 'api';
}

export const FLAG_KEY_PATTERN = '^[a-z0-9][a-z0-9._-]{0,63}$';
export const RULE_PREFIX = 'flag:';

const matchSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  description: 'narrows the flag to matching requests (all given conditions must hold)',
  properties: {
    path: { type: 'string', minLength: 1, maxLength: 512, description: 'path prefix ("/api/") or glob ("/api/*/items")' },
    method: { type: 'array', minItems: 1, maxItems: 16, items: { type: 'string', pattern: '^[A-Za-z]{1,16}$' } },
    header: {
      type: 'object',
      maxProperties: 16,
      additionalProperties: { type: 'array', minItems: 1, maxItems: 64, items: { type: 'string', maxLength: 256 } },
    },
  },
} as const;

const fields = {
  description: { type: 'string', maxLength: 500 },
  kind: { type: 'string', enum: FLAG_KINDS },
  enabled: { type: 'boolean' },
  version: { type: 'string', enum: ['baseline', 'canary'] },
  percentage: { type: 'number', minimum: 0, maximum: 100 },
  users: { type: 'array', minItems: 1, maxItems: 10_000, items: { type: 'string', minLength: 1, maxLength: 256 } },
  ips: { type: 'array', minItems: 1, maxItems: 1_000, items: { type: 'string', minLength: 2, maxLength: 64 } },
  match: matchSchema,
} as const;

export const flagSchema = {
  type: 'object',
  required: ['key', 'description', 'kind', 'enabled', 'version', 'archived', 'createdAt', 'updatedAt'],
  properties: {
    key: { type: 'string' },
    ...fields,
    archived: { type: 'boolean' },
    createdAt: { type: 'integer', description: 'epoch ms' },
    updatedAt: { type: 'integer', description: 'epoch ms' },
    archivedAt: { type: 'integer', description: 'epoch ms' },
    note: { type: 'string' },
    source: { type: 'string', enum: ['file', 'api'], description: 'file: declared in the config file; api: made at runtime' },
  },
} as const;

export const createFlagBody = {
  type: 'object',
  required: ['key', 'kind'],
  additionalProperties: false,
  properties: { key: { type: 'string', pattern: FLAG_KEY_PATTERN, description: 'lowercase name, e.g. "beta-users"' }, ...fields },
} as const;

export const updateFlagBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: fields,
} as const;

export type FlagInput = Partial<Pick<Flag, 'description' | 'kind' | 'enabled' | 'version' | 'percentage' | 'users' | 'ips' | 'match'>> & { key?: string };

const KIND_FIELD: Record<FlagKind, 'percentage' | 'users' | 'ips' | null> = { boolean: null, percentage: 'percentage', userList: 'users', ipList: 'ips' };

/** Checks the schema cannot express (kind-specific fields, IP syntax). Throws CANARYD_ERR_BAD_REQUEST naming each field. */
export function assertFlagValid(f: Flag, where = 'body'): void {
  const problems: string[] = [];
  const needed = KIND_FIELD[f.kind];
  for (const field of ['percentage', 'users', 'ips'] as const) {
    if (field === needed && f[field] === undefined) problems.push(`${where}.${field}: is required for kind "${f.kind}"`);
    if (field !== needed && f[field] !== undefined) problems.push(`${where}.${field}: only applies to kind "${Object.keys(KIND_FIELD).find((k) => KIND_FIELD[k as FlagKind] === field)}", not "${f.kind}"`);
  }
  f.ips?.forEach((ip, i) => {
    if (!validCidr(ip)) problems.push(`${where}.ips[${i}]: must be an IP or CIDR, got ${JSON.stringify(ip)}`);
  });
  if (problems.length > 0) throw new CanarydError('CANARYD_ERR_BAD_REQUEST', problems.join('; '), { details: problems });
}

/**
 * A flag as a targeting rule for the router's compiler (proxy/rules.ts), without `enabled`/`archived`: the
 * flag's `match` narrows it, its kind adds the user or IP condition. The check endpoint compiles the same.
 */
export function flagRule(f: Flag): RuleSpec {
  const match: RuleMatch = { path: f.match?.path, method: f.match?.method, header: f.match?.header };
  switch (f.kind) {
    case 'boolean':
      break;
    case 'percentage':
      match.userShare = { salt: `${f.key}/`, percent: f.percentage ?? 0 };
      break;
    case 'userList':
      match.users = f.users ?? [];
      break;
    case 'ipList':
      match.ip = f.ips ?? [];
      break;
    default: {
      const never: never = f.kind;
      throw new Error(`unknown flag kind ${String(never)}`);
    }
  }
  return { name: RULE_PREFIX + f.key, to: f.version, match };
}

/** Enabled, unarchived flags -> runtime rules for TrafficSplitter.setRuntimeRules, in the order given. */
export function flagRules(flags: readonly Flag[]): RuleSpec[] {
  return flags.filter((f) => f.enabled && !f.archived).map(flagRule);
}
