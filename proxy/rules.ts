/**
 * The one compiler for targeting rules: the config file's `routing.rules` and the admin flags both become a
 * RuleSpec, and both are compiled here, once per change, into a predicate over request attributes (headers,
 * client IP, path, method, user id). A flag and a rule with the same conditions therefore decide alike, and
 * the flag check endpoint asks the same predicates the proxy does.
 *
 * Sticky shares (the canary weight over sticky keys, a percentage flag over user ids) use one bucket space:
 * a key hashes into STICKY_BUCKETS buckets and is in a share of p % when its bucket < stickyThreshold(p).
 */
import { ownHeader, type HeaderBag, type VersionName } from '../core/index.js';
import { CidrSet, compilePathMatcher, cookieValue } from './match.js';

export const STICKY_BUCKETS = 10_000;

/** What a rule may look at. pick() on a live request reads these from it; the flag check passes them in. */
export interface RequestAttributes {
  /** lower-case names, as node gives them; only own keys count (core/headers.ts) */
  headers?: HeaderBag;
  ip?: string;
  /** the path without the query; default "/" */
  path?: string;
  /** default GET */
  method?: string;
  /** the user id flags target; default: the sticky key, else the x-user-id header */
  userKey?: string;
}

export interface RuleMatch {
  /** header name -> accepted values ("*" = present) */
  header?: Record<string, string | string[]>;
  cookie?: Record<string, string | string[]>;
  /** client IPs or CIDRs */
  ip?: readonly string[];
  /** path prefix, or glob with * / ** / ? */
  path?: string;
  method?: string | readonly string[];
  /** the user id is one of these */
  users?: readonly string[];
  /** the user id hashes (salted) into the first `percent` % of the sticky buckets */
  userShare?: { salt: string; percent: number };
}

export interface RuleSpec {
  name: string;
  to: VersionName;
  match: RuleMatch;
  enabled?: boolean;
}

/** Positional, so the hot path passes what the request has without building an object. */
export type RuleTest = (headers: HeaderBag, ip: string, path: string, method: string, user: string | undefined) => boolean;

export interface CompiledRule {
  name: string;
  to: VersionName;
  test: RuleTest;
}

/** FNV-1a over UTF-16 code units, then murmur3's finaliser for avalanche. Stable across processes. */
export function stickyBucket(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % STICKY_BUCKETS;
}

/** The buckets a share of `percent` % takes: those below this number. */
export function stickyThreshold(percent: number): number {
  return Math.round(percent * (STICKY_BUCKETS / 100));
}

const list = (v: string | readonly string[]): readonly string[] => (typeof v === 'string' ? [v] : v);

function valuePredicate(expected: readonly string[]): (actual: string | undefined) => boolean {
  if (expected.includes('*')) return (a) => a !== undefined;
  const set = new Set(expected);
  return (a) => a !== undefined && set.has(a);
}

export function compileRule(rule: RuleSpec): CompiledRule {
  const tests: RuleTest[] = [];
  const m = rule.match;
  for (const [name, values] of Object.entries(m.header ?? {})) {
    const lower = name.toLowerCase();
    const ok = valuePredicate(list(values));
    tests.push((h) => ok(ownHeader(h, lower)));
  }
  for (const [name, values] of Object.entries(m.cookie ?? {})) {
    const ok = valuePredicate(list(values));
    tests.push((h) => ok(cookieValue(ownHeader(h, 'cookie'), name)));
  }
  if (m.ip) {
    const cidrs = new CidrSet(m.ip);
    tests.push((_h, ip) => cidrs.has(ip));
  }
  if (m.path !== undefined) {
    const matchPath = compilePathMatcher(m.path);
    tests.push((_h, _ip, path) => matchPath(path));
  }
  if (m.method !== undefined) {
    const methods = new Set(list(m.method).map((x) => x.toUpperCase()));
    tests.push((_h, _ip, _path, method) => methods.has(method));
  }
  if (m.users) {
    const users = new Set(m.users);
    tests.push((_h, _ip, _path, _method, user) => user !== undefined && users.has(user));
  }
  if (m.userShare) {
    const threshold = stickyThreshold(m.userShare.percent);
    const salt = m.userShare.salt;
    tests.push((_h, _ip, _path, _method, user) => user !== undefined && stickyBucket(salt + user) < threshold);
  }
  const test: RuleTest =
    tests.length === 0
      ? () => true
      : tests.length === 1
        ? tests[0]
        : (h, ip, path, method, user) => {
            for (let i = 0; i < tests.length; i++) if (!tests[i](h, ip, path, method, user)) return false;
            return true;
          };
  return { name: rule.name, to: rule.to, test };
}
