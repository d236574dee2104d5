/**
 * The traffic splitter: pick(request) -> version, and the canary weight behind it. Targeting rules are
 * checked first (first match wins: the config file's rules, then runtime rules from admin flags), then
 * sticky hashing when a sticky key is present, then a weighted coin.
 *
 * Sticky assignment hashes the key into 10,000 buckets; bucket < weight*100 goes to canary. A key therefore
 * always lands on the same version at a given weight, and raising the weight only moves keys from baseline to
 * canary (a key's bucket never changes, the threshold only rises) — the property Flagger/Argo users expect.
 */
import type { IncomingMessage } from 'node:http';
import { ownHeader, type TrafficControl, type VersionName, type Weights } from '../core/index.js';
import { CidrSet, compilePathMatcher, cookieValue, pathOf } from './match.js';

export const STICKY_BUCKETS = 10_000;

export interface RoutingRuleInput {
  name: string;
  match: {
    header?: Record<string, string | string[]>;
    cookie?: Record<string, string | string[]>;
    ip?: string[];
    path?: string;
    method?: string | string[];
  };
  to: VersionName;
  enabled?: boolean;
}

export interface RoutingInput {
  canaryWeight: number;
  sticky?: { header?: string; cookie?: string };
  rules: readonly RoutingRuleInput[];
}

export interface RouteChoice {
  version: VersionName;
  /** name of the targeting rule that pinned the request, or null when weights decided */
  rule: string | null;
}

type Predicate = (req: IncomingMessage, clientIp: string, path: string) => boolean;

// --- runtime rules (admin flags) ---
/**
 * A targeting rule set at runtime (admin feature flags), compiled by its owner once per change. Checked after
 * the config file's rules and before weights. `user` is the request's sticky key, or its `x-user-id` header
 * when routing is not sticky.
 */
export interface RuntimeRule {
  name: string;
  to: VersionName;
  test(req: IncomingMessage, clientIp: string, path: string, user: string | undefined): boolean;
}

export const USER_ID_HEADER = 'x-user-id';
// --- end runtime rules ---

interface CompiledRule {
  name: string;
  to: VersionName;
  test: Predicate;
}

const list = (v: string | string[]): string[] => (Array.isArray(v) ? v : [v]);

/** Only a header the request really carries: never one inherited from Object.prototype (core/headers.ts). */
function headerValues(req: IncomingMessage, name: string): string | undefined {
  return ownHeader(req.headers, name);
}

function valuePredicate(expected: string[]): (actual: string | undefined) => boolean {
  if (expected.includes('*')) return (a) => a !== undefined;
  const set = new Set(expected);
  return (a) => a !== undefined && set.has(a);
}

export function compileRule(rule: RoutingRuleInput): CompiledRule {
  const tests: Predicate[] = [];
  const m = rule.match;
  for (const [name, values] of Object.entries(m.header ?? {})) {
    const lower = name.toLowerCase();
    const ok = valuePredicate(list(values));
    tests.push((req) => ok(headerValues(req, lower)));
  }
  for (const [name, values] of Object.entries(m.cookie ?? {})) {
    const ok = valuePredicate(list(values));
    tests.push((req) => ok(cookieValue(headerValues(req, 'cookie'), name)));
  }
  if (m.ip) {
    const cidrs = new CidrSet(m.ip);
    tests.push((_req, ip) => cidrs.has(ip));
  }
  if (m.path !== undefined) {
    const matchPath = compilePathMatcher(m.path);
    tests.push((_req, _ip, path) => matchPath(path));
  }
  if (m.method !== undefined) {
    const methods = new Set(list(m.method).map((x) => x.toUpperCase()));
    tests.push((req) => methods.has(req.method ?? ''));
  }
  const test: Predicate =
    tests.length === 1
      ? tests[0]
      : (req, ip, path) => {
          for (let i = 0; i < tests.length; i++) if (!tests[i](req, ip, path)) return false;
          return true;
        };
  return { name: rule.name, to: rule.to, test };
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

export type WeightListener = (weights: Weights, previous: Weights, reason: string) => void;

export class TrafficSplitter implements TrafficControl {
  #rules: CompiledRule[] = [];
  #runtimeRules: readonly RuntimeRule[] = [];
  #weight = 0;
  #threshold = 0; // in sticky buckets
  #stickyHeader: string | null = null;
  #stickyCookie: string | null = null;
  #listeners: WeightListener[] = [];
  #random: () => number;
  /** after a rollback: rules and flags that send traffic to the canary are skipped (TrafficControl.setCanaryPinsSuspended) */
  #pinsSuspended = false;

  constructor(routing: RoutingInput, random: () => number = Math.random) {
    this.#random = random;
    this.configure(routing, { applyWeight: true });
  }

  /** Recompile rules and sticky settings. The weight is applied only when asked (runtime weight wins otherwise). */
  configure(routing: RoutingInput, opts: { applyWeight: boolean }): void {
    this.#rules = routing.rules.filter((r) => r.enabled !== false).map(compileRule);
    this.#stickyHeader = routing.sticky?.header?.toLowerCase() ?? null;
    this.#stickyCookie = routing.sticky?.cookie ?? null;
    if (opts.applyWeight) this.setWeights({ canary: routing.canaryWeight }, 'config');
  }

  get hasRules(): boolean {
    return this.#rules.length > 0;
  }

  /** Replace the runtime rules (admin flags). Checked after config rules, before weights; first match wins. */
  setRuntimeRules(rules: readonly RuntimeRule[]): void {
    this.#runtimeRules = [...rules];
  }

  /** The id flags target a user by: the sticky key, else the x-user-id header. */
  userOf(req: IncomingMessage): string | undefined {
    return this.stickyKey(req) ?? (headerValues(req, USER_ID_HEADER) || undefined);
  }

  getWeights(): Weights {
    return { canary: this.#weight };
  }

  setCanaryPinsSuspended(suspended: boolean, _reason: string): void {
    this.#pinsSuspended = suspended;
  }

  get canaryPinsSuspended(): boolean {
    return this.#pinsSuspended;
  }

  canaryPins(): string[] {
    return [...this.#rules, ...this.#runtimeRules].filter((r) => r.to === 'canary').map((r) => r.name);
  }

  setWeights(weights: Weights, reason: string): void {
    const w = weights.canary;
    if (!(w >= 0 && w <= 100)) throw new RangeError(`canary weight must be within 0..100, got ${w}`);
    const previous = { canary: this.#weight };
    this.#weight = w;
    this.#threshold = Math.round(w * (STICKY_BUCKETS / 100));
    if (previous.canary !== w) for (const l of this.#listeners) l({ canary: w }, previous, reason);
  }

  onWeightChange(listener: WeightListener): () => void {
    this.#listeners.push(listener);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  /** The sticky key of a request, if routing is sticky and the request carries one. */
  stickyKey(req: IncomingMessage): string | undefined {
    if (this.#stickyHeader !== null) return headerValues(req, this.#stickyHeader) || undefined;
    if (this.#stickyCookie !== null) return cookieValue(headerValues(req, 'cookie'), this.#stickyCookie) || undefined;
    return undefined;
  }

  pick(req: IncomingMessage, clientIp: string): RouteChoice {
    const rules = this.#rules;
    const runtime = this.#runtimeRules;
    if (rules.length > 0 || runtime.length > 0) {
      const path = pathOf(req.url ?? '/');
      const skipCanary = this.#pinsSuspended;
      for (let i = 0; i < rules.length; i++) {
        if (skipCanary && rules[i].to === 'canary') continue;
        if (rules[i].test(req, clientIp, path)) return { version: rules[i].to, rule: rules[i].name };
      }
      if (runtime.length > 0) {
        const user = this.userOf(req);
        for (let i = 0; i < runtime.length; i++) {
          if (skipCanary && runtime[i].to === 'canary') continue;
          if (runtime[i].test(req, clientIp, path, user)) return { version: runtime[i].to, rule: runtime[i].name };
        }
      }
    }
    return { version: this.pickByWeight(this.stickyKey(req)), rule: null };
  }

  pickByWeight(stickyKey: string | undefined): VersionName {
    if (this.#threshold <= 0) return 'baseline';
    if (this.#threshold >= STICKY_BUCKETS) return 'canary';
    const bucket = stickyKey !== undefined ? stickyBucket(stickyKey) : Math.floor(this.#random() * STICKY_BUCKETS);
    return bucket < this.#threshold ? 'canary' : 'baseline';
  }
}
