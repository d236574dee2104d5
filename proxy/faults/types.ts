/**
 * The seam of fault injection: one interface for every fault kind, a shared envelope for every rule, and
 * the per-request context a kind acts through. Kinds are plain objects listed in an explicit registry
 * (registry.ts); nothing registers itself on import.
 *
 * A fault is one of two stages. A `before` fault acts and then lets the request continue towards the
 * upstream (delay, dependency): several may apply to one request, in rule order. An `outcome` fault decides
 * how the exchange ends (abort, reset, hang, throttle, truncate): at most one per request — the first rule
 * that matches and rolls wins, later outcome rules are not rolled, so every counted injection really happened.
 */
import type { IncomingMessage } from 'node:http';
import type { VersionName } from '../../core/index.js';
import type { Exchange } from '../exchange.js';
import type { ResponseTap } from '../stages.js';
import type { FaultParams, FaultTypeName } from './settings.js';

export type FaultStage = 'before' | 'outcome';
/** how metrics classify a kind: latencyInjections, errorInjections, or neither (a signal to the app) */
export type FaultCategory = 'latency' | 'error' | 'signal';

export interface FaultMatch {
  version?: VersionName;
  path?: string;
  method?: string | string[];
  header?: Record<string, string | string[]>;
}

/** A response tap the kill switch can lift: after release() it passes the rest of the response through. */
export interface ReleasableTap extends ResponseTap {
  release(ex: Exchange): void;
}

/** What a kind may do to the one exchange it acts on. One per faulted request; none on any other. */
export interface FaultRun {
  readonly ex: Exchange;
  /** name of the rule whose fault is acting now */
  readonly rule: string;
  /** true once the kill switch (or auto-disable, or shutdown) lifted this request's faults */
  readonly released: boolean;
  random(): number;
  /** monotonic ms */
  monotonic(): number;
  /**
   * Runs `fn` after `ms` (one timer per run, cleared when the client goes away). When the faults are lifted
   * first, the timer is cleared and `onRelease` runs instead (default: `fn`).
   */
  wait(ms: number, fn: () => void, onRelease?: () => void): void;
  /** installs a response tap on the exchange (lifted on release) */
  tap(t: ReleasableTap): void;
  /** closes the client connection once what was written is flushed: "rst" is a TCP reset, "fin" a close */
  cut(how: 'rst' | 'fin'): void;
}

/**
 * A kind's params bound once per rule change: what acts on a request. Its params are closed over, so a
 * request that a rule hits pays one call and no lookup.
 */
export interface FaultAction {
  /** Acts on one exchange. next() continues (the next fault, then the upstream); not calling it ends the exchange here. */
  apply(run: FaultRun, next: () => void): void;
}

/** One fault kind, typed by its name: `compile` takes exactly that kind's (schema-checked) params. */
export interface FaultKind<T extends FaultTypeName = FaultTypeName> {
  readonly type: T;
  readonly category: FaultCategory;
  /** outcome kinds end the exchange (at most one per request); before kinds act and continue */
  readonly stage: FaultStage;
  /** params -> the action; called once per rule change, never per request */
  compile(params: FaultParams[T]): FaultAction;
}

/** A rule compiled once per change: the match as predicates, the kind resolved, the metric child cached. */
export interface CompiledFault {
  readonly name: string;
  readonly type: string;
  readonly kind: FaultKind;
  readonly action: FaultAction;
  readonly stage: FaultStage;
  readonly probability: number;
  /** null: any version */
  readonly version: VersionName | null;
  /** null: no path/method/header condition */
  readonly test: ((req: IncomingMessage, path: string) => boolean) | null;
  /** counts this rule's injections (metrics + the rule's own counter) */
  count(): void;
}

/**
 * A live rule of a TCP kind (config's DEPENDENCY_FAULT_TYPES), as the engine hands it to the dependency
 * relay (proxy/tcp) whenever its rule set changes. The engine owns the rule (CRUD, expiry, safety
 * switches, audit); the relay only acts on connections.
 */
export interface DependencyRule {
  readonly name: string;
  readonly type: string;
  /** the kind's params, schema-checked */
  readonly params: unknown;
  readonly probability: number;
  readonly dependency: string;
  /** null: every listener of the dependency; else only that version's listener */
  readonly version: VersionName | null;
  /** changes whenever the rule is redefined or activated again: connections roll its probability afresh */
  readonly key: string;
  readonly expiresAt: number | null;
  /** counts one injection (one connection hit) */
  count(category: FaultCategory): void;
}

export interface DependencyRuleSink {
  /** the live dependency rules (empty while fault injection is off or halted); cut: faulted connections are reset, not just lifted (kill switch, auto-disable) */
  setRules(rules: readonly DependencyRule[], cut: boolean): void;
}
