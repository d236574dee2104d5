/**
 * The fault rules as the admin API manages them: list, get, create, update, delete, the kill switch and
 * resume. Input has passed the route's JSON Schema; here go the checks a schema cannot express (exactly one
 * fault kind, delay forms — the same `faultRuleProblems` the config file goes through) and the ownership
 * rules: config rules belong to the file (only `enabled` may change at runtime), experiment rules to their
 * experiment. Turning a fault on is refused (409 CANARYD_ERR_FAULTS_REFUSED) while fault injection is off,
 * refused in production, or halted; turning faults off is always allowed.
 */
import { CanarydError } from '../../core/index.js';
import { ALL_FAULT_TYPES, faultKindsOf, faultRuleProblems, parseDuration, type AnyFaultTypeName, type DependencyFaultParams, type FaultParams, type FaultTypeName } from '../../config/index.js';
import type { FaultEngine, FaultMetricsSnapshot, Halt } from './engine.js';
import type { ExperimentRunner } from './experiments.js';
import { toSpec, type RuleEntry, type RuleSpec, type RuleView } from './rules.js';

/** A rule as the API takes it: the YAML shape, `duration` as "10m" or ms (kind fields with defaults may be left out). */
export type RuleBody = Omit<RuleSpec, 'durationMs' | 'enabled' | AnyFaultTypeName> & { enabled?: boolean; duration?: string | number } & { [K in FaultTypeName]?: Partial<FaultParams[K]> } & {
  [K in keyof DependencyFaultParams]?: Partial<DependencyFaultParams[K]>;
};
export type RulePatch = Partial<Omit<RuleBody, 'name'>>;

export interface FaultsStatus {
  enabled: boolean;
  state: string;
  halted: Halt | null;
  refusal: string | null;
  allowHeaderControl: boolean;
  maxErrorRate: number;
  maxActive: number;
  inflight: number;
  rules: RuleView[];
}

function bad(problems: string[]): CanarydError {
  return new CanarydError('CANARYD_ERR_BAD_REQUEST', problems.join('; '), { details: problems });
}

/** Turns the API's `duration` into ms, or a 400 naming the field. */
export function durationOf(v: unknown, where: string): number | undefined {
  if (v === undefined) return undefined;
  const ms = parseDuration(v);
  if (ms === undefined || ms <= 0) throw bad([`${where}.duration: must be a positive duration like 30s, 10m or a number of ms, got ${JSON.stringify(v)}`]);
  return ms;
}

export function specOf(body: RuleBody, where: string): RuleSpec {
  const { duration, ...rest } = body;
  const spec = toSpec({ ...rest, enabled: rest.enabled !== false } as RuleSpec);
  const ms = durationOf(duration, where);
  if (ms !== undefined) spec.durationMs = ms;
  const problems = faultRuleProblems(spec, where);
  if (problems.length > 0) throw bad(problems);
  return spec;
}

export class FaultService {
  readonly engine: FaultEngine;
  readonly experiments: ExperimentRunner;

  constructor(engine: FaultEngine, experiments: ExperimentRunner) {
    this.engine = engine;
    this.experiments = experiments;
  }

  status(): FaultsStatus {
    const e = this.engine;
    const c = e.config;
    const rules = e.list();
    return { enabled: c.enabled, state: e.state, halted: e.halted, refusal: e.refusal(), allowHeaderControl: c.allowHeaderControl, maxErrorRate: c.maxErrorRate, maxActive: c.maxActive, inflight: e.inflight, rules };
  }

  #find(name: string): RuleEntry {
    this.engine.activeFaults; // lazy expiry
    const r = this.engine.rules.get(name);
    if (!r) throw new CanarydError('CANARYD_ERR_NOT_FOUND', `no fault rule named ${JSON.stringify(name)}`);
    return r;
  }

  get(name: string): RuleView {
    return this.engine.view(this.#find(name));
  }

  create(body: RuleBody): RuleView {
    const spec = specOf(body, 'body');
    this.engine.checkDependency(spec, 'body');
    if (spec.enabled) this.engine.assertArmable();
    if (this.engine.rules.has(spec.name)) throw new CanarydError('CANARYD_ERR_CONFLICT', `fault rule ${JSON.stringify(spec.name)} already exists`);
    const e = this.engine.addRule(spec, 'api');
    this.engine.changed('created', e);
    return this.engine.view(e);
  }

  update(name: string, patch: RulePatch): RuleView {
    const cur = this.#find(name);
    if (cur.source === 'experiment') throw new CanarydError('CANARYD_ERR_CONFLICT', `fault rule ${JSON.stringify(name)} belongs to experiment ${cur.experiment}; stop the experiment instead`);
    const rules = this.engine.rules;
    if (cur.source === 'config') {
      const other = Object.keys(patch).filter((k) => k !== 'enabled');
      if (other.length > 0) throw new CanarydError('CANARYD_ERR_CONFLICT', `fault rule ${JSON.stringify(name)} comes from the config file (faults.rules); only enabled can change at runtime — edit the file to change ${other.join(', ')}`);
      if (patch.enabled === true) this.engine.assertArmable();
      const e = rules.override(name, patch.enabled !== false, this.engine.now());
      this.engine.changed('updated', e);
      return this.engine.view(e);
    }
    const base: Record<string, unknown> = { ...structuredClone(cur.spec) };
    // a patch that names a fault kind replaces the rule's kind
    if (ALL_FAULT_TYPES.some((k) => (patch as Record<string, unknown>)[k] !== undefined)) for (const k of faultKindsOf(cur.spec)) delete base[k];
    const { duration, ...fields } = patch;
    const merged = { ...base, ...structuredClone(fields), name } as RuleSpec;
    const ms = durationOf(duration, 'body');
    if (ms !== undefined) merged.durationMs = ms;
    const problems = faultRuleProblems(merged, 'body');
    if (problems.length > 0) throw bad(problems);
    this.engine.checkDependency(merged, 'body');
    if (merged.enabled !== false) this.engine.assertArmable();
    const e = rules.replace(name, merged, this.engine.now());
    this.engine.changed('updated', e);
    return this.engine.view(e);
  }

  remove(name: string): RuleView {
    const cur = this.#find(name);
    if (cur.source === 'config') throw new CanarydError('CANARYD_ERR_CONFLICT', `fault rule ${JSON.stringify(name)} comes from the config file (faults.rules); disable it (PATCH enabled: false) or edit the file`);
    if (cur.source === 'experiment') throw new CanarydError('CANARYD_ERR_CONFLICT', `fault rule ${JSON.stringify(name)} belongs to experiment ${cur.experiment}; stop the experiment instead`);
    const view = this.engine.view(cur);
    this.engine.rules.delete(name);
    this.engine.forgetMetrics(cur);
    this.engine.changed('deleted', cur);
    return { ...view, active: false };
  }

  /** The kill switch (DELETE /api/v1/faults). */
  kill(reason: string, by: string): { halted: Halt; released: number; experimentsStopped: number; state: string } {
    const running = this.experiments.running !== null ? 1 : 0;
    const r = this.engine.kill(reason, by);
    return { ...r, experimentsStopped: running, state: this.engine.state };
  }

  resume(by: string): FaultsStatus {
    this.engine.resume(by);
    return this.status();
  }

  metrics(): FaultMetricsSnapshot {
    return this.engine.snapshot();
  }
}
