/** Fault injection's data plane: the engine (the proxy's fault stage), its rule book, kinds and registry. */
export {
  FaultEngine,
  type FaultEngineOptions,
  type FaultLog,
  type FaultEventSink,
  type FaultStore,
  type Halt,
  type FaultMetricsSnapshot,
  type FaultMirror,
} from './engine.js';
export { builtinFaultKinds, faultKind, type FaultKindRegistry } from './registry.js';
export { clientSeen, SEEN_ERROR, SEEN_SKIP } from './safety.js';
export { toSpec, type RuleView as FaultRuleView, type RuleEntry as FaultRuleEntry, type RuleSpec as FaultRuleSpec } from './rules.js';
export type { FaultKind, FaultAction, FaultRun, FaultCategory } from './types.js';
