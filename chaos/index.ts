/**
 * Chaos control: the control plane of fault injection. The admin API's rule CRUD and kill switch
 * (FaultService), chaos experiments with their step timers, health probes and persisted reports
 * (ExperimentRunner). It drives the data-plane engine in proxy/faults through its public methods only;
 * proxy/ never imports this room.
 */
export { FaultService, type FaultsStatus } from './service.js';
export { specOf, durationOf, type RuleBody, type RulePatch } from './rule-body.js';
export { ExperimentRunner, EXPERIMENTS_FILE, httpProbe, type ExperimentSpec, type HealthProbe } from './experiments.js';
export {
  judgeStep,
  verdictOf,
  StepMeter,
  type ExperimentReport,
  type StepReport,
  type SuccessCriterion,
  type Measured,
  type Target,
} from './report.js';

import { FaultEngine, type FaultEngineOptions } from '../proxy/index.js';
import { ExperimentRunner, type HealthProbe } from './experiments.js';
import { FaultService } from './service.js';

/** Builds the data-plane engine, its experiment runner and the service the admin API is given. */
export function createFaults(o: FaultEngineOptions & { probe?: HealthProbe }): FaultService {
  const engine = new FaultEngine(o);
  const experiments = new ExperimentRunner({ engine, store: o.store, log: o.log, events: o.events, probe: o.probe });
  return new FaultService(engine, experiments);
}
