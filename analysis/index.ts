/** The analysis engine's public face: pure functions over window data, and the rollout state machine. */
export * from './report.js';
export { RolloutMachine, initialRolloutState, type RolloutPhase, type RolloutSettings, type RolloutState, type Transition, type GateStatus } from './rollout/machine.js';
export { judge } from './judge/index.js';
