/**
 * The fault rules as the control plane changes them (the admin API, experiments, drift revert). Every
 * change goes through a method here, and every method recompiles the engine, logs and publishes the
 * `fault` event, so nobody has to remember to: there is no "mutate, then call changed()" protocol.
 */
import type { FaultLog } from './switches.js';
import type { ChaosMetrics } from './metrics.js';
import { RuleSet, viewOf, type RuleEntry, type RuleSpec, type RuleView } from './rules.js';
import { refused } from './switches.js';

export const MAX_RULES = 256;

export interface RuleBookHost {
  now(): number;
  /** the engine is armed (views say whether a rule can fire now) */
  armed(): boolean;
  /** brings lazy expiry up to date */
  expire(): void;
  /** recompiles the request path and the dependency relay */
  refresh(): void;
  publish(action: string, fields: Record<string, unknown>): void;
  log: FaultLog;
  metrics: ChaosMetrics;
}

export class RuleBook {
  /** the rule set itself: read by the engine's refresh, changed only by this class (and config reloads) */
  readonly set = new RuleSet();
  #host: RuleBookHost;

  constructor(host: RuleBookHost) {
    this.#host = host;
  }

  /** Views of every rule in the order they are tried (expiry brought up to date). */
  list(): RuleView[] {
    this.#host.expire();
    const armed = this.#host.armed();
    return this.set.ordered().map((e) => viewOf(e, armed));
  }

  /** Every rule as stored, in the order they are tried; read-only. */
  entries(): ReadonlyArray<Readonly<RuleEntry>> {
    this.#host.expire();
    return this.set.ordered();
  }

  /** One rule as stored (expiry brought up to date); read-only: change it through the methods below. */
  get(name: string): Readonly<RuleEntry> | undefined {
    this.#host.expire();
    return this.set.get(name);
  }

  view(name: string): RuleView | undefined {
    const e = this.get(name);
    return e === undefined ? undefined : viewOf(e, this.#host.armed());
  }

  #room(n: number): void {
    if (this.set.size + n > MAX_RULES) throw refused(`at most ${MAX_RULES} fault rules`);
  }

  /** A runtime rule from the API (event `created`). */
  add(spec: RuleSpec): RuleView {
    this.#room(1);
    return this.#changed('created', this.set.add(spec, 'api', this.#host.now()));
  }

  /** Redefines a runtime rule (event `updated`); `reason` goes into the event. */
  replace(name: string, spec: RuleSpec, reason?: string): RuleView {
    return this.#changed('updated', this.set.replace(name, spec, this.#host.now()), reason === undefined ? {} : { reason });
  }

  /** Switches a config rule on or off at runtime (kept across reloads while the file's rule is unchanged). */
  setConfigRuleEnabled(name: string, enabled: boolean): RuleView {
    return this.#changed('updated', this.set.override(name, enabled, this.#host.now()));
  }

  /** Drops a config rule's runtime switch: the file's `enabled` applies again. */
  clearConfigRuleOverride(name: string, reason: string): void {
    const e = this.set.clearOverride(name, this.#host.now());
    if (e !== undefined) this.#changed('updated', e, { reason });
  }

  /** Deletes a rule and its metric series (event `deleted`). */
  remove(name: string): RuleView | undefined {
    const e = this.set.delete(name);
    if (e === undefined) return undefined;
    this.#host.metrics.forget(e.type, e.spec.name);
    return { ...this.#changed('deleted', e), active: false };
  }

  /** Installs the rules of one experiment step, all at once (one event). */
  addExperimentRules(experiment: string, specs: readonly RuleSpec[], fields: Record<string, unknown>): void {
    this.#room(specs.length);
    const now = this.#host.now();
    for (const spec of specs) this.set.add(spec, 'experiment', now, experiment);
    this.#refresh('experiment-step', { experiment, ...fields });
  }

  /** Removes every rule of an experiment and their metric series (one event). */
  removeExperimentRules(experiment: string, fields: Record<string, unknown>): void {
    for (const e of this.set.deleteExperiment(experiment)) this.#host.metrics.forget(e.type, e.spec.name);
    this.#refresh('experiment-step-ended', { experiment, ...fields });
  }

  #changed(action: string, e: RuleEntry, extra: Record<string, unknown> = {}): RuleView {
    this.#host.refresh();
    const view = viewOf(e, this.#host.armed());
    this.#host.log.info({ event: 'fault_rule', action, rule: e.spec.name, source: e.source }, `fault rule ${e.spec.name} ${action}`);
    this.#host.publish(action, { rule: view, ...extra });
    return view;
  }

  #refresh(action: string, fields: Record<string, unknown>): void {
    this.#host.refresh();
    this.#host.publish(action, fields);
  }
}
