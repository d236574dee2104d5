/**
 * Rules -> what the request path and the dependency relay read: compiled once per change to the rule set,
 * never per request. Each compiled rule carries its kind's action (params bound) and its cached counter.
 */
import { CanarydError } from '../../core/index.js';
import type { Exchange } from '../exchange.js';
import { pathOf } from '../match.js';
import { headerFaults, type HeaderFaultContext } from './headers.js';
import { compileFaultMatch } from './match.js';
import type { ChaosMetrics, FaultCounters } from './metrics.js';
import { faultKind, type FaultKindRegistry } from './registry.js';
import { expiresAt, type RuleEntry, type RuleSpec } from './rules.js';
import { isDependencyFaultType, type FaultTypeName } from './settings.js';
import type { CompiledFault, DependencyRule, FaultKind } from './types.js';

export interface CompileContext {
  kinds: FaultKindRegistry;
  metrics: ChaosMetrics;
  counters: FaultCounters;
}

/** Counts one injection of a rule: its metric child and, for a rule of the set, its own counter. */
export function injectionCounter(metrics: ChaosMetrics, type: string, rule: string, entry: RuleEntry | null): () => void {
  const child = metrics.child(type, rule);
  if (entry === null) return () => child.inc();
  return () => {
    child.inc();
    entry.injected++;
  };
}

function compileHttp<T extends FaultTypeName>(ctx: CompileContext, e: RuleEntry, type: T): CompiledFault {
  const kind: FaultKind = faultKind(ctx.kinds, type);
  const m = compileFaultMatch(e.spec.match);
  // e.type is the one kind block faultKindsOf found in the spec, so it is present
  return {
    name: e.spec.name,
    type,
    kind,
    action: kind.compile(e.spec[type]!),
    stage: kind.stage,
    probability: e.spec.probability,
    version: m.version,
    test: m.test,
    count: injectionCounter(ctx.metrics, type, e.spec.name, e),
  };
}

export function compileRule(ctx: CompileContext, e: RuleEntry): CompiledFault {
  const type = e.type;
  if (isDependencyFaultType(type))
    throw new CanarydError('CANARYD_ERR_INTERNAL', `fault rule ${e.spec.name}: ${type} acts in the dependency relay, not on requests`);
  return compileHttp(ctx, e, type);
}

/** A rule of a TCP kind as the dependency relay (proxy/tcp) takes it. */
export function dependencyRuleOf(ctx: CompileContext, e: RuleEntry): DependencyRule {
  const type = e.type;
  const child = ctx.metrics.child(type, e.spec.name);
  const n = ctx.counters;
  return {
    name: e.spec.name,
    type,
    params: e.spec[type],
    probability: e.spec.probability,
    dependency: e.spec.match?.dependency ?? '',
    version: e.spec.match?.version ?? null,
    key: `${e.spec.name}\u0000${e.activatedAt}\u0000${e.updatedAt}\u0000${JSON.stringify(e.spec)}`,
    expiresAt: expiresAt(e),
    count: (category) => {
      child.inc();
      e.injected++;
      n.count(type, category);
    },
  };
}

/** Splits the live rules: HTTP kinds are compiled for the request path, TCP kinds go to the relay. */
export function splitLive(live: readonly RuleEntry[]): { http: RuleEntry[]; dependency: RuleEntry[] } {
  const http: RuleEntry[] = [];
  const dependency: RuleEntry[] = [];
  for (const e of live) (isDependencyFaultType(e.type) ? dependency : http).push(e);
  return { http, dependency };
}

/**
 * The faults that hit one request, in the order they act (before faults, then the outcome), or null: the
 * compiled rules in order (version, predicate, probability roll), then header-controlled faults. At most one
 * outcome: later outcome rules are not rolled, so every counted injection really happened. Allocates only
 * for a request some fault hits.
 */
export function pickFaults(
  rules: readonly CompiledFault[],
  ex: Exchange,
  random: () => number,
  headerCtx: HeaderFaultContext,
): CompiledFault[] | null {
  const req = ex.req;
  let before: CompiledFault[] | null = null;
  let outcome: CompiledFault | null = null;
  let path: string | null = null;
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i];
    if (r.stage === 'outcome' && outcome !== null) continue;
    if (r.version !== null && r.version !== ex.version) continue;
    if (r.test !== null) {
      if (path === null) path = pathOf(req.url ?? '/');
      if (!r.test(req, path)) continue;
    }
    if (!(random() < r.probability)) continue; // a missed roll is exactly a pass-through
    if (r.stage === 'outcome') outcome = r;
    else (before ??= []).push(r);
  }
  if (ex.faultHeaders) {
    const h = headerFaults(req, headerCtx, outcome !== null);
    if (h.before !== null) before = before === null ? h.before : before.concat(h.before);
    if (h.outcome !== null) outcome = h.outcome;
  }
  if (before === null) return outcome === null ? null : [outcome];
  if (outcome !== null) before.push(outcome);
  return before;
}

/** A rule of a TCP kind must name a configured dependency (400 naming the field otherwise). */
export function checkDependencyName(spec: RuleSpec, names: readonly string[], where: string): void {
  const dep = spec.match?.dependency;
  if (dep === undefined || names.includes(dep)) return;
  const problem = `${where}.match.dependency: no dependency named ${JSON.stringify(dep)}`;
  throw new CanarydError('CANARYD_ERR_BAD_REQUEST', `${problem} (dependencies: ${names.join(', ') || 'none'})`, { details: [problem] });
}
