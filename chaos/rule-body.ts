/**
 * A fault rule as the admin API (and an experiment step) takes it: the YAML shape with `duration` as "10m"
 * or ms. Turned into the engine's FaultRuleSpec after the checks a JSON Schema cannot express (exactly one
 * fault kind, delay forms): the same `faultRuleProblems` the config file goes through.
 */
import { CanarydError } from '../core/index.js';
import {
  faultRuleProblems,
  parseDuration,
  type AnyFaultTypeName,
  type DependencyFaultParams,
  type FaultParams,
  type FaultTypeName,
} from '../config/index.js';
import { toSpec, type FaultRuleSpec } from '../proxy/index.js';

/** A rule as the API takes it: the YAML shape, `duration` as "10m" or ms (kind fields with defaults may be left out). */
export type RuleBody = Omit<FaultRuleSpec, 'durationMs' | 'enabled' | AnyFaultTypeName> & {
  enabled?: boolean;
  duration?: string | number;
} & { [K in FaultTypeName]?: Partial<FaultParams[K]> } & {
  [K in keyof DependencyFaultParams]?: Partial<DependencyFaultParams[K]>;
};
export type RulePatch = Partial<Omit<RuleBody, 'name'>>;

export function badRequest(problems: string[]): CanarydError {
  return new CanarydError('CANARYD_ERR_BAD_REQUEST', problems.join('; '), { details: problems });
}

/** Turns the API's `duration` into ms, or a 400 naming the field. */
export function durationOf(v: unknown, where: string): number | undefined {
  if (v === undefined) return undefined;
  const ms = parseDuration(v);
  if (ms === undefined || ms <= 0)
    throw badRequest([`${where}.duration: must be a positive duration like 30s, 10m or a number of ms, got ${JSON.stringify(v)}`]);
  return ms;
}

export function specOf(body: RuleBody, where: string): FaultRuleSpec {
  const { duration, ...rest } = body;
  const spec = toSpec({ ...rest, enabled: rest.enabled !== false } as FaultRuleSpec);
  const ms = durationOf(duration, where);
  if (ms !== undefined) spec.durationMs = ms;
  const problems = faultRuleProblems(spec, where);
  if (problems.length > 0) throw badRequest(problems);
  return spec;
}
