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
import { CanarydError } from '../../core/index.js';
import type { Flag, FlagKind } from '../../contract/index.js';
import { validCidr } from '../../config/index.js';
import type { RuleMatch, RuleSpec } from '../../proxy/index.js';

export { FLAG_KINDS, FLAG_KEY_PATTERN, type Flag, type FlagKind, type FlagMatch } from '../../contract/index.js';

export const RULE_PREFIX = 'flag:';

export type FlagInput = Partial<Pick<Flag, 'description' | 'kind' | 'enabled' | 'version' | 'percentage' | 'users' | 'ips' | 'match'>> & {
  key?: string;
};

const KIND_FIELD: Record<FlagKind, 'percentage' | 'users' | 'ips' | null> = {
  boolean: null,
  percentage: 'percentage',
  userList: 'users',
  ipList: 'ips',
};

/** Checks the schema cannot express (kind-specific fields, IP syntax). Throws CANARYD_ERR_BAD_REQUEST naming each field. */
export function assertFlagValid(f: Flag, where = 'body'): void {
  const problems: string[] = [];
  const needed = KIND_FIELD[f.kind];
  for (const field of ['percentage', 'users', 'ips'] as const) {
    if (field === needed && f[field] === undefined) problems.push(`${where}.${field}: is required for kind "${f.kind}"`);
    if (field !== needed && f[field] !== undefined)
      problems.push(
        `${where}.${field}: only applies to kind "${Object.keys(KIND_FIELD).find((k) => KIND_FIELD[k as FlagKind] === field)}", not "${f.kind}"`,
      );
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
