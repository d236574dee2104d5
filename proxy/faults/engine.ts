/**
 * The fault engine: the proxy's fault stage (proxy/stages.ts), and its safety switches.
 *
 * Per request (only while armed — otherwise the proxy does not call it at all): one lazy expiry check, then
 * the compiled rules in order (version, predicate, probability roll), then header-controlled faults when
 * allowed. A request no fault hits is a pure pass-through: nothing allocated, nothing changed. A hit
 * request is marked faulted (its Observation is counted apart) and handed to a FaultRunImpl.
 *
 * Safety (switches.ts): the master switch, production refusal, and the latch set by the kill switch or by
 * auto-disable — the error rate clients see over faults.autoDisable.window (injected errors included)
 * above faults.maxErrorRate, once the window holds autoDisable.minRequests — and cleared only by resume().
 * faults.maxActive caps concurrently faulted requests. Rules from the API are runtime only: a restart clears
 * them (durable chaos belongs in the reviewed config file).
 */
import { systemClock, type Clock, type Observation } from '../../core/index.js';
import type { Exchange } from '../exchange.js';
import type { ProxyStage } from '../stages.js';
import { stripFaultHeaders, type HeaderFaultContext } from './headers.js';
import {
  checkDependencyName,
  compileRule,
  dependencyRuleOf,
  injectionCounter,
  pickFaults,
  splitLive,
  type CompileContext,
} from './compile.js';
import { ChaosMetrics, FaultCounters, type FaultMetricsSnapshot } from './metrics.js';
import { builtinFaultKinds } from './registry.js';
import { RuleBook } from './rule-book.js';
import { viewOf, type RuleEntry, type RuleSet, type RuleSpec } from './rules.js';
import { FaultRunImpl, type RunHost } from './run.js';
import { clientSeen, ErrorRateWindow, SEEN_ERROR, SEEN_SKIP } from './safety.js';
import { refused, SafetySwitches, type EngineState, type FaultEventSink, type FaultLog, type Halt } from './switches.js';
import type { FaultEngineOptions } from './options.js';
import type { FaultSettings } from './settings.js';
import type { CompiledFault, DependencyRuleSink } from './types.js';

/** What a data-plane worker's engine takes from the primary's (docs/fleet.md "Workers"): every rule as stored, and the latch. */
export interface FaultMirror {
  rules: RuleEntry[];
  halted: Halt | null;
}

export { type EngineState, type FaultEventSink, type FaultLog, type FaultStore, type Halt } from './switches.js';
export type { FaultMetricsSnapshot } from './metrics.js';
export type { FaultEngineOptions } from './options.js';

export class FaultEngine implements ProxyStage {
  readonly name = 'faults';
  // ---- read per request ----
  #compiled: CompiledFault[] = [];
  /** live rules of the TCP kinds (they act in the dependency relay, not per request) */
  #dependencyRules = 0;
  #armed = false;
  #observing = false;
  #headerControl = false;
  #nextExpiry = Infinity;
  #inflight = 0;
  #window: ErrorRateWindow;
  #random: () => number;
  #headerCtx: HeaderFaultContext;
  #n = new FaultCounters();
  // ---- control ----
  #sw: SafetySwitches;
  #set: RuleSet;
  #runs = new Set<FaultRunImpl>();
  #runHost: RunHost;
  #compileCtx: CompileContext;
  #clock: Clock;
  #log: FaultLog;
  #events: FaultEventSink | undefined;
  #chainChanged: () => void = () => undefined;
  #dependencies: (DependencyRuleSink & { names(): string[] }) | undefined;
  #onHalt: Array<(reason: string) => void> = [];
  #tap: (o: Observation) => void = () => {};
  readonly metrics: ChaosMetrics;
  /** the rules: every change through its methods recompiles, logs and publishes */
  readonly rules: RuleBook;

  constructor(o: FaultEngineOptions) {
    const kinds = o.kinds ?? builtinFaultKinds();
    this.#clock = o.clock ?? systemClock;
    this.#random = o.random ?? Math.random;
    this.#log = o.log;
    this.#events = o.events;
    this.#dependencies = o.dependencies;
    this.#sw = new SafetySwitches({
      config: o.config,
      environment: o.environment,
      env: o.env ?? process.env,
      store: o.store,
      log: o.log,
      now: () => this.#clock.now(),
    });
    this.#runHost = { random: this.#random, monotonic: o.monotonic ?? (() => performance.now()), ended: (run) => this.#ended(run) };
    this.metrics = new ChaosMetrics(o.registry, {
      chaosRate: () => this.#n.chaosRate,
      activeFaults: () => this.activeFaults,
      inflight: () => this.#inflight,
    });
    this.#compileCtx = { kinds, metrics: this.metrics, counters: this.#n };
    this.#headerCtx = {
      kinds,
      maxDelayMs: 0,
      random: this.#random,
      counter: (type) => injectionCounter(this.metrics, type, 'header', null),
    };
    this.#window = new ErrorRateWindow(o.config.autoDisable.window);
    this.rules = new RuleBook({
      now: () => this.#clock.now(),
      armed: () => this.#armed,
      expire: () => void this.activeFaults,
      refresh: () => this.#refresh(),
      publish: (action, fields) => this.#publish(action, fields),
      log: this.#log,
      metrics: this.metrics,
    });
    this.#set = this.rules.set;
    this.configure(o.config, o.environment);
  }

  // =============================== the request path ===============================

  /** Takes the x-canaryd-fault-* headers off the request before its upstream headers are built (header control only). */
  prepare(ex: Exchange): void {
    if (this.#headerControl) ex.faultHeaders = stripFaultHeaders(ex.req);
  }

  /**
   * The stage is in the proxy's chain only while armed or while an experiment step measures (a step with no
   * HTTP rule — a steady step, or TCP rules only — must still see every request): otherwise it costs nothing.
   */
  get active(): boolean {
    return this.#armed || this.#observing;
  }

  /** An experiment step starts (true) or ends (false) measuring: the stage joins or leaves the chain. */
  setObserving(on: boolean): void {
    if (on === this.#observing) return;
    this.#observing = on;
    this.#chainChanged();
  }

  bind(changed: () => void): void {
    this.#chainChanged = changed;
  }

  route(ex: Exchange): boolean {
    if (!this.#armed) return false; // in the chain only to observe (an experiment's steady step)
    this.#n.seen++;
    if (this.#nextExpiry !== Infinity && this.#clock.now() >= this.#nextExpiry) this.#expire();
    const steps = pickFaults(this.#compiled, ex, this.#random, this.#headerCtx);
    if (steps === null) return false;
    if (this.#inflight >= this.#sw.config.maxActive) {
      this.#n.capped++;
      this.metrics.capped.inc();
      return false;
    }
    ex.faulted = true;
    ex.faultKinds = steps.length === 1 ? steps[0].type : steps.map((s) => s.type).join(',');
    this.#n.faulted++;
    for (let i = 0; i < steps.length; i++) {
      steps[i].count();
      this.#n.count(steps[i].type, steps[i].kind.category);
    }
    const run = new FaultRunImpl(this.#runHost, ex, steps);
    this.#inflight++;
    this.#runs.add(run);
    run.start();
    return true;
  }

  #ended(run: FaultRunImpl): void {
    if (this.#runs.delete(run)) this.#inflight--;
  }

  /** Response direction, every finished request while armed: feeds a running experiment and the auto-disable window. */
  observe(o: Observation): void {
    this.#tap(o);
    if (!this.#armed) return;
    const seen = clientSeen(o);
    if (seen === SEEN_SKIP) return;
    const w = this.#window;
    w.add(this.#clock.now(), seen === SEEN_ERROR);
    if (w.requests >= this.#sw.config.autoDisable.minRequests && w.errors > this.#sw.config.maxErrorRate * w.requests) this.#autoDisable();
  }

  /** The experiment runner's view of every observation. */
  setObservationTap(fn: (o: Observation) => void): void {
    this.#tap = fn;
  }

  // =============================== compile and arm ===============================

  /**
   * Recompiles the live rules and arms or disarms the engine. Once per change, never per request. Rules of
   * the TCP kinds go to the dependency relay (with `cut`, the relay resets the connections they leave).
   */
  #refresh(cut = false): void {
    const live = this.#set.live();
    const allowed = this.#sw.refusal() === null;
    const { http, dependency } = splitLive(live);
    this.#compiled = http.map((e) => compileRule(this.#compileCtx, e));
    this.#dependencyRules = allowed ? dependency.length : 0;
    this.#dependencies?.setRules(allowed ? dependency.map((e) => dependencyRuleOf(this.#compileCtx, e)) : [], cut);
    this.#nextExpiry = this.#set.nextExpiry();
    // dependency rules arm the engine too: the app's HTTP errors they cause feed auto-disable
    const armed = allowed && (this.#compiled.length > 0 || this.#dependencyRules > 0 || this.#sw.config.allowHeaderControl);
    this.#headerControl = armed && this.#sw.config.allowHeaderControl;
    if (armed !== this.#armed) {
      this.#armed = armed;
      this.#chainChanged();
    }
  }

  #expire(): void {
    const gone = this.#set.expireDue(this.#clock.now());
    this.#refresh();
    for (const e of gone) {
      this.#log.info({ event: 'fault_expired', rule: e.spec.name }, `fault rule ${e.spec.name} expired`);
      this.#publish('expired', { rule: viewOf(e, this.#armed) });
    }
  }

  /** Applies a (re)loaded config: rules from the file, limits, switches. */
  configure(config: FaultSettings, environment: string): void {
    const wasRefused = this.#sw.refusal();
    this.#sw.config = config;
    this.#sw.environment = environment;
    this.#headerCtx.maxDelayMs = config.maxHeaderDelay;
    if (this.#window.windowMs !== new ErrorRateWindow(config.autoDisable.window).windowMs)
      this.#window = new ErrorRateWindow(config.autoDisable.window);
    for (const name of this.#set.setConfigRules(config.rules, this.#clock.now())) {
      this.#log.warn(
        { event: 'fault_rule_replaced', rule: name },
        `the config file now defines fault rule ${name}; it replaces the runtime rule of that name`,
      );
    }
    this.#refresh();
    const why = this.#sw.refusal();
    if (why !== null && wasRefused === null) this.#lift(`fault injection turned off: ${why}`);
  }

  /** null when faults may fire; else why not (the message of a 409). */
  refusal(): string | null {
    return this.#sw.refusal();
  }

  /** Throws 409 CANARYD_ERR_FAULTS_REFUSED unless a fault may be switched on now. */
  assertArmable(): void {
    const why = this.#sw.refusal();
    if (why !== null) throw refused(why);
  }

  get state(): EngineState {
    return this.#sw.state(this.#armed);
  }

  get halted(): Halt | null {
    return this.#sw.halted;
  }

  get config(): FaultSettings {
    return this.#sw.config;
  }

  get inflight(): number {
    return this.#inflight;
  }

  /** Rules that can fire now (runs the lazy expiry first). */
  get activeFaults(): number {
    if (this.#nextExpiry !== Infinity && this.#clock.now() >= this.#nextExpiry) this.#expire();
    return this.#armed ? this.#compiled.length + this.#dependencyRules : 0;
  }

  /** A rule of a TCP kind must name a configured dependency (400 naming the field otherwise). */
  checkDependency(spec: RuleSpec, where: string): void {
    checkDependencyName(spec, this.#dependencies?.names() ?? [], where);
  }

  now(): number {
    return this.#clock.now();
  }

  // =============================== kill switch, auto-disable, resume ===============================

  /** Called with a reason whenever every fault goes off (kill, auto-disable, config): experiments abort. */
  onHalt(fn: (reason: string) => void): void {
    this.#onHalt.push(fn);
  }

  /** The kill switch: every fault off at once, in-flight faults lifted; stays off until resume(). */
  kill(reason: string, by: string): { halted: Halt; released: number } {
    const released = this.#halt({ at: this.#clock.now(), reason, by, kind: 'kill' }, false);
    this.#log.warn({ event: 'faults_killed', reason, by, released }, `fault kill switch: every fault off (${reason})`);
    this.#sw.audit({ type: 'faults-killed', reason, by, released });
    this.#publish('killed', { halted: this.#sw.halted, released });
    return { halted: this.#sw.halted!, released };
  }

  #autoDisable(): void {
    const { details, reason } = this.#window.tripped(this.#sw.config.maxErrorRate);
    // called from the request path: in-flight faults are lifted once the current exchange is done
    this.#halt({ at: this.#clock.now(), reason, by: 'auto-disable', kind: 'auto-disable' }, true);
    this.#log.error({ event: 'faults_auto_disabled', ...details }, `fault injection auto-disabled: ${reason}`);
    this.#sw.audit({ type: 'faults-auto-disabled', reason, ...details });
    this.#publish('auto-disabled', { halted: this.#sw.halted, ...details });
  }

  #halt(h: Halt, deferRelease: boolean): number {
    this.#sw.halt(h);
    this.#refresh(true);
    const n = this.#runs.size;
    if (deferRelease) queueMicrotask(() => this.#releaseAll());
    else this.#releaseAll();
    for (const l of this.#onHalt) l(h.kind === 'kill' ? `kill switch: ${h.reason}` : `faults auto-disabled: ${h.reason}`);
    return n;
  }

  #lift(reason: string): void {
    this.#releaseAll();
    for (const l of this.#onHalt) l(reason);
  }

  #releaseAll(): void {
    for (const run of [...this.#runs]) run.release();
  }

  /** Clears the latch (kill switch or auto-disable); the error-rate window starts empty. */
  resume(by: string): void {
    const prev = this.#sw.clear();
    if (prev === null) return;
    this.#window.reset();
    this.#refresh();
    this.#log.warn({ event: 'faults_resumed', by, previous: prev }, 'fault injection re-armed');
    this.#sw.audit({ type: 'faults-resumed', reason: `re-armed by ${by} after: ${prev.reason}`, by, previous: prev });
    this.#publish('resumed', { previous: prev });
  }

  /**
   * A worker's engine auto-disabled itself (its own error-rate window): the primary takes the latch, so every
   * worker follows it and resume() clears it everywhere. Ignored while already halted.
   */
  adoptHalt(h: Halt, by: string): void {
    if (this.#sw.halted !== null) return;
    this.#halt({ ...h, by }, false);
    this.#log.error({ event: 'faults_auto_disabled', by, reason: h.reason }, `fault injection auto-disabled (${by}): ${h.reason}`);
    this.#sw.audit({ type: 'faults-auto-disabled', reason: h.reason, by });
    this.#publish('auto-disabled', { halted: this.#sw.halted, by });
  }

  /** The primary's rules and latch, for a worker's engine (its own API is never called in a worker). */
  mirror(): FaultMirror {
    return { rules: this.#set.ordered().map((e) => ({ ...e })), halted: this.#sw.halted };
  }

  /**
   * A worker follows its primary: the rules and the latch become the primary's, then the chain recompiles.
   * A new latch lifts the faults in flight here, as the kill switch does on the primary.
   */
  follow(m: FaultMirror): void {
    const wasHalted = this.#sw.halted !== null;
    this.#set.load(m.rules);
    this.#sw.follow(m.halted);
    if (m.halted === null && wasHalted) this.#window.reset();
    this.#refresh(m.halted !== null && !wasHalted);
    if (m.halted !== null && !wasHalted) this.#releaseAll();
  }

  /** Shutdown: lift every in-flight fault so the drain is not held up by a hang or a delay. Idempotent. */
  stop(): void {
    this.#releaseAll();
  }

  #publish(action: string, fields: Record<string, unknown>): void {
    this.#events?.publish({ type: 'fault', action, ...fields });
  }

  snapshot(): FaultMetricsSnapshot {
    const c = this.#sw.config;
    return this.#n.snapshot({
      inflight: this.#inflight,
      activeFaults: this.activeFaults,
      state: this.state,
      window: this.#window,
      now: this.#clock.now(),
      minRequests: c.autoDisable.minRequests,
      maxErrorRate: c.maxErrorRate,
    });
  }
}
