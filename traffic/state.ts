/**
 * The traffic state's one owner: the canary weight and who set it, the runtime routes (flags), the mirror,
 * and the suspension of canary pins after a rollback. After Argo Rollouts' traffic-routing interface
 * (SetWeight / SetHeaderRoute / SetMirrorRoute / VerifyWeight): the config reload, the admin API, the rollout
 * controller, the drift reconciler and the fleet sync all change traffic through this class, naming
 * themselves as the owner; nobody else touches the router's table. Each change is applied synchronously
 * (the next request routed sees it) and then, in one place: the gauge, the log line, weights.json, the
 * audit line and the event.
 */
import {
  CanarydError,
  type AuditSink,
  type Clock,
  type EventSink,
  type JsonStore,
  type Log,
  type OwnedWeight,
  type TrafficControl,
  type TrafficRouting,
  type WeightOwner,
} from '../core/index.js';
import { readPersistedWeights, WEIGHTS_FILE, type PersistedWeights } from './persist.js';

/** The router's side the traffic state drives (proxy/'s TrafficSplitter). */
export interface RouteTable<Route, R extends RoutingSettings> extends TrafficControl {
  configure(routing: R, opts: { applyWeight: boolean }): void;
  setRuntimeRules(rules: readonly Route[]): void;
  setCanaryPinsSuspended(suspended: boolean, reason: string): void;
  readonly canaryPinsSuspended: boolean;
  canaryPins(): string[];
}

/** The mirror's tunables (proxy/'s Mirror). */
export interface MirrorRoute {
  percent: number;
  maxBodyBytes: number;
}

/** What the traffic state reads of the config file's `routing:` (the router reads the rest itself). */
export interface RoutingSettings {
  canaryWeight: number;
  mirror: MirrorRoute;
}

export interface TrafficSnapshot extends OwnedWeight {
  baseline: number;
  /** routing.canaryWeight of the config file last applied */
  fileWeight: number;
  pinsSuspended: boolean;
  mirror: MirrorRoute;
}

/** A change, after it was applied, persisted, audited and published. */
export type TrafficChange =
  | { kind: 'weight'; canary: number; previous: number; owner: WeightOwner; reason: string }
  | { kind: 'pins'; suspended: boolean; pins: string[] }
  | { kind: 'routes'; count: number }
  | { kind: 'mirror'; mirror: MirrorRoute };

export interface TrafficStateOptions<Route, R extends RoutingSettings> {
  routing: R;
  router: RouteTable<Route, R>;
  mirror: MirrorRoute;
  store: JsonStore;
  audit: AuditSink;
  events: EventSink;
  log: Log;
  clock: Clock;
  /** the weight gauge (canaryd_traffic_percent) */
  gauge(canary: number): void;
  /** the phase of a rollout that owns the weight now, or null: an operator's weight is refused while one does */
  rolloutPhase(): string | null;
}

export class TrafficState<Route = unknown, R extends RoutingSettings = RoutingSettings> implements TrafficRouting {
  readonly #o: TrafficStateOptions<Route, R>;
  #owner: WeightOwner = 'file';
  #fileWeight: number;
  #listeners: Array<(change: TrafficChange) => void> = [];
  /** the runtime routes last set (the router keeps only their compiled form) */
  #routes: readonly Route[] = [];

  constructor(o: TrafficStateOptions<Route, R>) {
    this.#o = o;
    this.#fileWeight = o.routing.canaryWeight;
    this.#restore();
    o.gauge(this.#canary());
  }

  weight(): OwnedWeight {
    return { canary: this.#canary(), owner: this.#owner };
  }

  snapshot(): TrafficSnapshot {
    const canary = this.#canary();
    const m = this.#o.mirror;
    return {
      canary,
      baseline: 100 - canary,
      owner: this.#owner,
      fileWeight: this.#fileWeight,
      pinsSuspended: this.#o.router.canaryPinsSuspended,
      mirror: { percent: m.percent, maxBodyBytes: m.maxBodyBytes },
    };
  }

  /** Why an operator may not set the weight now (a rollout owns it), or null. */
  lockedReason(): string | null {
    const phase = this.#o.rolloutPhase();
    return phase === null ? null : `a rollout is ${phase}: it owns the weight; use POST /api/v1/rollout/{promote,rollback}`;
  }

  /**
   * Sets the canary weight on behalf of `owner`. An unchanged weight changes nothing (not even the owner).
   * An operator's weight ('api') is refused with CANARYD_ERR_CONFLICT while a rollout owns the weight.
   */
  setWeight(owner: WeightOwner, canary: number, reason: string): void {
    if (owner === 'api') {
      const locked = this.lockedReason();
      if (locked) throw new CanarydError('CANARYD_ERR_CONFLICT', locked);
    }
    const previous = this.#canary();
    this.#o.router.setWeights({ canary }, reason); // throws RangeError outside 0..100, before anything changed
    if (previous === canary) return;
    this.#owner = owner;
    const o = this.#o;
    o.gauge(canary);
    o.log.info({ event: 'weights', canary, previous, reason, owner }, 'canary weight changed');
    this.#persist(reason);
    o.audit.record('weights', reason, { canary, previous, owner });
    o.events.publish({ type: 'weights', canary, baseline: 100 - canary, previous, reason, owner });
    this.#emit({ kind: 'weight', canary, previous, owner, reason });
  }

  /** VerifyWeight: true when the router routes at the weight this state owns (it always should). */
  verifyWeight(canary = this.#canary()): boolean {
    return this.#o.router.getWeights().canary === canary;
  }

  /** SetHeaderRoute: the runtime routes (the admin flags), checked after the file's rules, before the weight. */
  setHeaderRoute(routes: readonly Route[]): void {
    this.#o.router.setRuntimeRules(routes);
    this.#routes = routes;
    this.#emit({ kind: 'routes', count: routes.length });
  }

  /** SetMirrorRoute: the share of requests shadowed to the canary, and the largest body copied. */
  setMirrorRoute(mirror: MirrorRoute): void {
    const m = this.#o.mirror;
    if (m.percent === mirror.percent && m.maxBodyBytes === mirror.maxBodyBytes) return;
    m.percent = mirror.percent;
    m.maxBodyBytes = mirror.maxBodyBytes;
    this.#emit({ kind: 'mirror', mirror: { ...mirror } });
  }

  setPinsSuspended(suspended: boolean, why: string, opts: { restored?: boolean } = {}): void {
    const o = this.#o;
    o.router.setCanaryPinsSuspended(suspended, why);
    if (opts.restored) return;
    const pins = o.router.canaryPins();
    const list = pins.length ? pins.join(', ') : 'none configured';
    const reason = suspended ? `canary pins suspended after a rollback: ${list}` : `canary pins re-enabled: ${list}`;
    o.audit.record('pins', reason, { suspended, pins, why });
    o.events.publish({ type: 'rollout', action: suspended ? 'pins-suspended' : 'pins-resumed', pins });
    o.log.info({ event: suspended ? 'pins_suspended' : 'pins_resumed', pins }, reason);
    this.#emit({ kind: 'pins', suspended, pins });
  }

  canaryPins(): string[] {
    return this.#o.router.canaryPins();
  }

  /** The runtime routes (flags) as last set: what a data-plane worker's router is given. */
  routes(): readonly Route[] {
    return this.#routes;
  }

  /**
   * A new config file: the router recompiles its rules, the mirror follows the file, and a changed file
   * weight applies ('file' owner) unless a running rollout owns the weight; then it waits until that ends.
   */
  configure(routing: R): void {
    const o = this.#o;
    const changed = routing.canaryWeight !== this.#fileWeight;
    const locked = changed && o.rolloutPhase() !== null;
    if (locked)
      o.log.warn(
        { event: 'config_weight_ignored', canaryWeight: routing.canaryWeight },
        'routing.canaryWeight changed in the file but a rollout owns the weight; not applied',
      );
    o.router.configure(routing, { applyWeight: false });
    this.#fileWeight = routing.canaryWeight;
    if (changed && !locked) this.setWeight('file', routing.canaryWeight, 'config');
    this.setMirrorRoute(routing.mirror);
  }

  /** The fleet's weights.json became this replica's: its weight and owner, as the leader recorded them. */
  adopt(doc: PersistedWeights, why: string): void {
    if (doc.canary !== this.#canary()) this.setWeight(doc.owner ?? 'rollout', doc.canary, `${why}: ${doc.reason}`);
  }

  /** Called after every change (after it is persisted, audited and published); returns the unsubscribe. */
  onChange(listener: (change: TrafficChange) => void): () => void {
    this.#listeners.push(listener);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  #canary(): number {
    return this.#o.router.getWeights().canary;
  }

  #emit(change: TrafficChange): void {
    for (const l of this.#listeners) {
      try {
        l(change);
      } catch (err) {
        this.#o.log.error({ err, change: change.kind }, 'traffic change listener failed');
      }
    }
  }

  /** A runtime weight survives a restart while the file's weight is the one it was set against. */
  #restore(): void {
    const saved = readPersistedWeights(this.#o.store);
    if (saved && saved.fileWeight === this.#fileWeight && saved.canary !== this.#fileWeight) {
      this.#o.router.setWeights({ canary: saved.canary }, 'restored');
      this.#owner = saved.owner ?? 'api';
      this.#o.log.info(
        { event: 'weights_restored', canary: saved.canary, reason: saved.reason },
        'restored runtime canary weight from state.dir',
      );
    }
  }

  /** Off the event loop and coalesced (a burst of weight changes is one or two writes); flushed on stop. */
  #persist(reason: string): void {
    const doc: PersistedWeights = {
      canary: this.#canary(),
      fileWeight: this.#fileWeight,
      reason,
      at: this.#o.clock.now(),
      owner: this.#owner,
    };
    const store = this.#o.store;
    try {
      if (store.writeJsonLater) void store.writeJsonLater(WEIGHTS_FILE, doc);
      else store.writeJson(WEIGHTS_FILE, doc);
    } catch (e) {
      this.#o.log.error({ err: e }, 'cannot persist weights');
    }
  }
}
