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
import type { IncomingMessage } from 'node:http';
import { CanarydError, ownHeader, type VersionName } from '../../core/index.js';
import { validCidr } from '../../config/index.js';
import { CidrSet, compilePathMatcher, stickyBucket, STICKY_BUCKETS, type RuntimeRule } from '../../proxy/index.js';

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

type Test = (req: IncomingMessage, ip: string, path: string, user: string | undefined) => boolean;

function matchTest(m: FlagMatch | undefined): Test | null {
  if (!m) return null;
  const tests: Test[] = [];
  if (m.path !== undefined) {
    const p = compilePathMatcher(m.path);
    tests.push((_r, _i, path) => p(path));
  }
  if (m.method) {
    const methods = new Set(m.method.map((x) => x.toUpperCase()));
    tests.push((req) => methods.has(req.method ?? ''));
  }
  for (const [name, values] of Object.entries(m.header ?? {})) {
    const lower = name.toLowerCase();
    const any = values.includes('*');
    const set = new Set(values);
    tests.push((req) => {
      const v = ownHeader(req.headers, lower);
      return v !== undefined && (any || set.has(v));
    });
  }
  return (req, ip, path, user) => tests.every((t) => t(req, ip, path, user));
}

/** The flag's own condition, without `enabled`/`archived` (used by the check endpoint too). */
export function flagTest(f: Flag): Test {
  const m = matchTest(f.match);
  let core: Test;
  switch (f.kind) {
    case 'boolean':
      core = () => true;
      break;
    case 'percentage': {
      const threshold = Math.round((f.percentage ?? 0) * (STICKY_BUCKETS / 100));
      const salt = `${f.key}/`;
      core = (_r, _i, _p, user) => user !== undefined && stickyBucket(salt + user) < threshold;
      break;
    }
    case 'userList': {
      const users = new Set(f.users ?? []);
      core = (_r, _i, _p, user) => user !== undefined && users.has(user);
      break;
    }
    case 'ipList': {
      const cidrs = new CidrSet(f.ips ?? []);
      core = (_r, ip) => cidrs.has(ip);
      break;
    }
    default: {
      const never: never = f.kind;
      throw new Error(`unknown flag kind ${String(never)}`);
    }
  }
  return m === null ? core : (req, ip, path, user) => core(req, ip, path, user) && m(req, ip, path, user);
}

/** Enabled, unarchived flags -> runtime rules, in the order given. */
export function compileFlags(flags: readonly Flag[]): RuntimeRule[] {
  return flags.filter((f) => f.enabled && !f.archived).map((f) => ({ name: RULE_PREFIX + f.key, to: f.version, test: flagTest(f) }));
}
