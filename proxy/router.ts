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
import { ownHeader, type HeaderBag, type TrafficControl, type VersionName, type Weights } from '../core/index.js';
import { cookieValue, pathOf } from './match.js';
import {
  compileRule,
  stickyBucket,
  stickyThreshold,
  STICKY_BUCKETS,
  type CompiledRule,
  type RequestAttributes,
  type RuleSpec,
} from './rules.js';

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

/**
 * Flags target a user by the request's sticky key, or by its `x-user-id` header when routing is not sticky.
 */
export const USER_ID_HEADER = 'x-user-id';

const NO_HEADERS: HeaderBag = Object.freeze(Object.create(null));

export type WeightListener = (weights: Weights, previous: Weights, reason: string) => void;

export class TrafficSplitter implements TrafficControl {
  #rules: CompiledRule[] = [];
  #runtimeRules: readonly CompiledRule[] = [];
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
    this.#rules = routing.rules.filter((r) => r.enabled !== false).map((r) => compileRule(r));
    this.#stickyHeader = routing.sticky?.header?.toLowerCase() ?? null;
    this.#stickyCookie = routing.sticky?.cookie ?? null;
    if (opts.applyWeight) this.setWeights({ canary: routing.canaryWeight }, 'config');
  }

  get hasRules(): boolean {
    return this.#rules.length > 0;
  }

  /**
   * Replace the runtime rules (admin flags), compiled here by the same compiler as the config's rules.
   * Checked after config rules, before weights; first match wins.
   */
  setRuntimeRules(rules: readonly RuleSpec[]): void {
    this.#runtimeRules = rules.filter((r) => r.enabled !== false).map((r) => compileRule(r));
  }

  /** Routing is sticky: a request's sticky key (header or cookie) decides its side of the weight. */
  get sticky(): boolean {
    return this.#stickyHeader !== null || this.#stickyCookie !== null;
  }

  /** The id flags target a user by: the sticky key, else the x-user-id header. */
  userOf(headers: HeaderBag): string | undefined {
    return this.stickyKey(headers) ?? (ownHeader(headers, USER_ID_HEADER) || undefined);
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
    this.#threshold = stickyThreshold(w);
    if (previous.canary !== w) for (const l of this.#listeners) l({ canary: w }, previous, reason);
  }

  onWeightChange(listener: WeightListener): () => void {
    this.#listeners.push(listener);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  /** The sticky key a request carries, if routing is sticky. */
  stickyKey(headers: HeaderBag): string | undefined {
    if (this.#stickyHeader !== null) return ownHeader(headers, this.#stickyHeader) || undefined;
    if (this.#stickyCookie !== null) return cookieValue(ownHeader(headers, 'cookie'), this.#stickyCookie) || undefined;
    return undefined;
  }

  /**
   * Where a request goes: pick(req, clientIp) on the hot path, or pick({ headers, ip, path, method, userKey })
   * for a request described by its attributes (the flag check). Both run the same compiled rules.
   */
  pick(req: IncomingMessage, clientIp: string): RouteChoice;
  pick(attrs: RequestAttributes): RouteChoice;
  pick(req: IncomingMessage | RequestAttributes, clientIp?: string): RouteChoice {
    if (clientIp !== undefined) {
      const live = req as IncomingMessage;
      return this.#choose(live.headers, clientIp, live.url, live.method ?? '', undefined);
    }
    const a = req as RequestAttributes;
    return this.#choose(a.headers ?? NO_HEADERS, a.ip ?? '', a.path ?? '/', (a.method ?? 'GET').toUpperCase(), a.userKey);
  }

  /** `url` may carry a query (a live request's target); `userKey` overrides the id read from the headers. */
  #choose(headers: HeaderBag, clientIp: string, url: string | undefined, method: string, userKey: string | undefined): RouteChoice {
    const rules = this.#rules;
    const runtime = this.#runtimeRules;
    if (rules.length > 0 || runtime.length > 0) {
      const path = pathOf(url ?? '/');
      const skipCanary = this.#pinsSuspended;
      for (let i = 0; i < rules.length; i++) {
        if (skipCanary && rules[i].to === 'canary') continue;
        if (rules[i].test(headers, clientIp, path, method, undefined)) return { version: rules[i].to, rule: rules[i].name };
      }
      if (runtime.length > 0) {
        const user = userKey ?? this.userOf(headers);
        for (let i = 0; i < runtime.length; i++) {
          if (skipCanary && runtime[i].to === 'canary') continue;
          if (runtime[i].test(headers, clientIp, path, method, user)) return { version: runtime[i].to, rule: runtime[i].name };
        }
      }
    }
    const sticky = userKey !== undefined && this.sticky ? userKey : this.stickyKey(headers);
    return { version: this.pickByWeight(sticky), rule: null };
  }

  pickByWeight(stickyKey: string | undefined): VersionName {
    if (this.#threshold <= 0) return 'baseline';
    if (this.#threshold >= STICKY_BUCKETS) return 'canary';
    const bucket = stickyKey !== undefined ? stickyBucket(stickyKey) : Math.floor(this.#random() * STICKY_BUCKETS);
    return bucket < this.#threshold ? 'canary' : 'baseline';
  }
}
