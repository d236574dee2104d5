/**
 * The fault rules as the admin API manages them: list, get, create, update, delete, the kill switch and
 * resume. Input has passed the route's JSON Schema; here go the checks a schema cannot express (exactly one
 * fault kind, delay forms — the same `faultRuleProblems` the config file goes through) and the ownership
 * rules: config rules belong to the file (only `enabled` may change at runtime), experiment rules to their
 * experiment. Turning a fault on is refused (409 CANARYD_ERR_FAULTS_REFUSED) while fault injection is off,
 * refused in production, or halted; turning faults off is always allowed, and so is lowering a rule's
 * probability while halted.
 */
import { CanarydError } from '../core/index.js';
import { ALL_FAULT_TYPES, faultKindsOf, faultRuleProblems } from '../config/index.js';
import type { FaultEngine, FaultMetricsSnapshot, Halt, FaultRuleEntry, FaultRuleSpec, FaultRuleView } from '../proxy/index.js';
import type { ExperimentRunner } from './experiments.js';
import { badRequest, durationOf, specOf, type RuleBody, type RulePatch } from './rule-body.js';

export interface FaultsStatus {
  enabled: boolean;
  state: string;
  halted: Halt | null;
  refusal: string | null;
  allowHeaderControl: boolean;
  maxErrorRate: number;
  maxActive: number;
  inflight: number;
  rules: FaultRuleView[];
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
    const rules = e.rules.list();
    return {
      enabled: c.enabled,
      state: e.state,
      halted: e.halted,
      refusal: e.refusal(),
      allowHeaderControl: c.allowHeaderControl,
      maxErrorRate: c.maxErrorRate,
      maxActive: c.maxActive,
      inflight: e.inflight,
      rules,
    };
  }

  #find(name: string): Readonly<FaultRuleEntry> {
    const r = this.engine.rules.get(name);
    if (!r) throw new CanarydError('CANARYD_ERR_NOT_FOUND', `no fault rule named ${JSON.stringify(name)}`);
    return r;
  }

  get(name: string): FaultRuleView {
    return this.engine.rules.view(this.#find(name).spec.name)!;
  }

  create(body: RuleBody): FaultRuleView {
    const spec = specOf(body, 'body');
    this.engine.checkDependency(spec, 'body');
    if (spec.enabled) this.engine.assertArmable();
    if (this.engine.rules.get(spec.name) !== undefined)
      throw new CanarydError('CANARYD_ERR_CONFLICT', `fault rule ${JSON.stringify(spec.name)} already exists`);
    return this.engine.rules.add(spec);
  }

  update(name: string, patch: RulePatch): FaultRuleView {
    const cur = this.#find(name);
    if (cur.source === 'experiment')
      throw new CanarydError(
        'CANARYD_ERR_CONFLICT',
        `fault rule ${JSON.stringify(name)} belongs to experiment ${cur.experiment}; stop the experiment instead`,
      );
    const rules = this.engine.rules;
    if (cur.source === 'config') {
      const other = Object.keys(patch).filter((k) => k !== 'enabled');
      if (other.length > 0)
        throw new CanarydError(
          'CANARYD_ERR_CONFLICT',
          `fault rule ${JSON.stringify(name)} comes from the config file (faults.rules); only enabled can change at runtime — edit the file to change ${other.join(', ')}`,
        );
      if (patch.enabled === true) this.engine.assertArmable();
      return rules.setConfigRuleEnabled(name, patch.enabled !== false);
    }
    const base: Record<string, unknown> = { ...structuredClone(cur.spec) };
    // a patch that names a fault kind replaces the rule's kind
    if (ALL_FAULT_TYPES.some((k) => (patch as Record<string, unknown>)[k] !== undefined))
      for (const k of faultKindsOf(cur.spec)) delete base[k];
    const { duration, ...fields } = patch;
    const merged = { ...base, ...structuredClone(fields), name } as FaultRuleSpec;
    const ms = durationOf(duration, 'body');
    if (ms !== undefined) merged.durationMs = ms;
    const problems = faultRuleProblems(merged, 'body');
    if (problems.length > 0) throw badRequest(problems);
    this.engine.checkDependency(merged, 'body');
    // While halted nothing fires, so a patch that only lowers the probability (or edits the description)
    // arms nothing: allowed, so an operator can tame the rule that tripped the switch before resuming.
    const tames =
      Object.keys(patch).every((k) => k === 'probability' || k === 'description') &&
      (patch.probability === undefined || patch.probability <= cur.spec.probability);
    if (merged.enabled !== false && !(tames && this.engine.state === 'halted')) this.engine.assertArmable();
    return rules.replace(name, merged);
  }

  remove(name: string): FaultRuleView {
    const cur = this.#find(name);
    if (cur.source === 'config')
      throw new CanarydError(
        'CANARYD_ERR_CONFLICT',
        `fault rule ${JSON.stringify(name)} comes from the config file (faults.rules); disable it (PATCH enabled: false) or edit the file`,
      );
    if (cur.source === 'experiment')
      throw new CanarydError(
        'CANARYD_ERR_CONFLICT',
        `fault rule ${JSON.stringify(name)} belongs to experiment ${cur.experiment}; stop the experiment instead`,
      );
    return this.engine.rules.remove(cur.spec.name)!;
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
