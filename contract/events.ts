/**
 * The live events (GET /api/v1/events, /api/v1/events/recent), as one union discriminated by `type`. The bus
 * stamps `seq` and `at`; each publisher adds the fields named here (and may add more: they pass through).
 */
import { AnyRecord, Nullable, Open, Type, type Static, type TSchema } from './common.js';
import { DecisionSummary, RolloutPhase } from './rollout.js';
import { FlagView } from './flags.js';

const stamp = { seq: Type.Integer({ description: 'monotonic per process, from 1' }), at: Type.Number({ description: 'epoch ms' }) };
const event = <T extends string, P extends Record<string, TSchema>>(type: T, fields: P) =>
  Open({ type: Type.Literal(type), ...stamp, ...fields });

export const WeightsEvent = event('weights', {
  canary: Type.Number(),
  baseline: Type.Optional(Type.Number()),
  previous: Type.Optional(Type.Number()),
  reason: Type.Optional(Type.String()),
  owner: Type.Optional(Type.String()),
});
export const DecisionEvent = event('decision', {
  decision: Type.Optional(Nullable(DecisionSummary)),
  rolloutId: Type.Optional(Type.Integer()),
  phase: Type.Optional(RolloutPhase),
});
export const RolloutEvent = event('rollout', {
  action: Type.Optional(Type.String({ description: 'gate-refused, pins-suspended, pins-resumed; absent on a phase change' })),
  phase: Type.Optional(RolloutPhase),
  rolloutId: Type.Optional(Type.Integer()),
  step: Type.Optional(Type.Integer()),
  canaryWeight: Type.Optional(Type.Number()),
  reason: Type.Optional(Nullable(Type.String())),
  gate: Type.Optional(Type.String({ description: 'with action gate-refused: pre-rollout or confirm-promotion' })),
});
export const FlagEvent = event('flag', { action: Type.String(), flag: FlagView });
export const ConfigEvent = event('config', {
  action: Type.String({ description: 'applied or rejected' }),
  source: Type.Optional(Type.String()),
  problems: Type.Optional(Type.Array(Type.String())),
});
export const DriftEvent = event('drift', {
  action: Type.String({ description: 'detected or reverted' }),
  items: Type.Array(Open({ path: Type.String() })),
});
export const FaultEvent = event('fault', { action: Type.String(), reason: Type.Optional(Type.String()) });
export const ExperimentEvent = event('experiment', {
  action: Type.String(),
  id: Type.String(),
  name: Type.Optional(Type.String()),
  state: Type.Optional(Type.String()),
  reason: Type.Optional(Nullable(Type.String())),
});
export const UpstreamEvent = event('upstream', {
  action: Type.String({ description: 'ejected, probing or readmitted (outlier detection)' }),
  version: Type.String({ description: 'baseline or canary' }),
  reason: Type.String(),
  kind: Type.Optional(Type.String({ description: 'with ejected: the error kind that caused it (connect, reset, timeout, 5xx)' })),
  until: Type.Optional(Type.Number({ description: 'with ejected: epoch ms the ejection ends' })),
  ejections: Type.Optional(Type.Integer({ description: 'recent ejections of this upstream (the backoff multiplier)' })),
});
export const SnapshotVersion = Open({
  rps: Nullable(Type.Number()),
  errorRate: Nullable(Type.Number()),
  p50Ms: Nullable(Type.Number()),
  p95Ms: Nullable(Type.Number()),
  p99Ms: Nullable(Type.Number()),
});
export const SnapshotEvent = event('snapshot', {
  to: Type.Optional(Type.Number({ description: 'end of the span, epoch ms' })),
  versions: Type.Object({ baseline: SnapshotVersion, canary: SnapshotVersion }, { additionalProperties: true }),
});

export const CanarydEvent = Type.Union([
  WeightsEvent,
  DecisionEvent,
  RolloutEvent,
  FlagEvent,
  ConfigEvent,
  DriftEvent,
  FaultEvent,
  ExperimentEvent,
  UpstreamEvent,
  SnapshotEvent,
]);
export type CanarydEvent = Static<typeof CanarydEvent>;
export type EventType = CanarydEvent['type'];
export type SnapshotEvent = Static<typeof SnapshotEvent>;
/** The stream's first message (not kept, not replayed). */
export type HelloMessage = { type: 'hello' } & Record<string, unknown>;

export const RecentQuery = Type.Object(
  { since: Type.Optional(Type.Integer({ minimum: 0 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })) },
  { additionalProperties: false },
);
export type RecentQuery = Static<typeof RecentQuery>;
export const RecentEvents = Type.Object({ seq: Type.Integer(), events: Type.Array(AnyRecord) });
