/**
 * The ports every room shares, declared once: a structured log, the event sink, a JSON document store, the
 * audit trail, and who owns the running canary weight. Rooms take these as constructor arguments (pino's
 * Logger, admin's EventBus, state's StateStore and AuditTrail fit them structurally), so no room imports
 * another only to name the shape of a dependency.
 */

/** A structured log (pino's shape): a fields object, then the message. */
export interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  debug?(obj: object, msg: string): void;
}

/** An event as published: a `type` and its fields (the bus stamps `seq` and `at`). */
export interface EventInput {
  type: string;
  [field: string]: unknown;
}

/** Where events go (admin's EventBus): publishing never throws into the publisher. */
export interface EventSink {
  publish(event: EventInput): unknown;
}

/** Named JSON documents under state.dir (state/store.ts): atomic writes, a torn file reads as undefined. */
export interface JsonStore {
  readJson<T>(name: string): T | undefined;
  writeJson(name: string, value: unknown): void;
  /** an atomic write off the event loop, coalesced (state/store.ts); writeJson is used without it */
  writeJsonLater?(name: string, value: unknown): Promise<void>;
}

/**
 * The one audit trail (state.dir/audit.jsonl). Every line has the same envelope,
 * `{ at, type, reason, ...details }`: `at` is stamped by the writer, `type` says what happened, `reason` why.
 * A failed append is logged by the writer, never thrown into the caller (an audit line never blocks a change).
 */
export interface AuditSink {
  record(type: string, reason: string, details?: Record<string, unknown>): void;
}

/** Who set the running canary weight: the config file, an operator through the admin API, or the rollout. */
export type WeightOwner = 'file' | 'api' | 'rollout';

/** The running canary weight and who set it. */
export interface OwnedWeight {
  canary: number;
  owner: WeightOwner;
}

/**
 * The traffic state's face to the rollout controller (traffic/ implements it), after Argo Rollouts'
 * traffic-routing interface: the owner is an explicit argument, and every change is applied synchronously
 * (the next request routed sees it), persisted, audited and published by the implementation.
 */
export interface TrafficRouting {
  weight(): OwnedWeight;
  setWeight(owner: WeightOwner, canary: number, reason: string): void;
  /**
   * Suspend (or re-enable) every routing rule and flag that sends traffic to the canary, so that after a
   * rollback no request reaches it. `restored`: re-applied from state.dir at start (not audited again).
   */
  setPinsSuspended(suspended: boolean, why: string, opts?: { restored?: boolean }): void;
  /** names of the rules and flags that send traffic to the canary (those a suspension affects) */
  canaryPins(): string[];
}
