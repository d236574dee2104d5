/** Fault injection: the engine (the proxy's interceptor), its rules service, experiments, kinds and registry. */
export { FaultEngine, FAULTS_FILE, MAX_RULES, type FaultEngineOptions, type FaultLog, type FaultEventSink, type FaultStore, type Halt, type EngineState, type FaultMetricsSnapshot } from './engine.js';
export { SafetySwitches } from './switches.js';
export { ChaosMetrics, FaultCounters } from './metrics.js';
export { FaultService, specOf, durationOf, type RuleBody, type RulePatch, type FaultsStatus } from './service.js';
export { ExperimentRunner, EXPERIMENTS_FILE, httpProbe, type ExperimentSpec, type HealthProbe } from './experiments.js';
export { judge, verdictOf, StepMeter, type ExperimentReport, type StepReport, type SuccessCriterion, type Measured, type Target } from './experiment-report.js';
export { builtinFaultKinds, faultKind, type FaultKindRegistry } from './registry.js';
export { FAULT_HEADERS, FAULT_HEADER_PREFIX, HEADER_RULE, stripFaultHeaders } from './headers.js';
export { clientSeen, ErrorRateWindow, SEEN_OK, SEEN_ERROR, SEEN_SKIP } from './safety.js';
export { RuleSet, viewOf, type RuleView, type RuleEntry, type RuleSpec, type RuleSource } from './rules.js';
export type { FaultKind, FaultRun, FaultMatch, FaultStage, FaultCategory, CompiledFault, ReleasableTap, DependencyRule, DependencyRuleSink } from './types.js';
export { FaultRunImpl, type RunHost } from './run.js';

import { FaultEngine, type FaultEngineOptions, type FaultLog, type FaultEventSink, type FaultStore } from './engine.js';
import { ExperimentRunner, type HealthProbe } from './experiments.js';
import { FaultService } from './service.js';

/** Builds the engine, its experiment runner and the service the admin API is given. */
export function createFaults(o: FaultEngineOptions & { probe?: HealthProbe }): FaultService {
  const engine = new FaultEngine(o);
  const experiments = new ExperimentRunner({ engine, store: o.store as FaultStore, log: o.log as FaultLog, events: o.events as FaultEventSink | undefined, probe: o.probe });
  return new FaultService(engine, experiments);
}
