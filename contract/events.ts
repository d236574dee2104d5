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
  weights: Type.Optional(Open({ baseline: Type.Number(), canary: Type.Number() })),
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

/** GET /api/v1/history: the per-second snapshots the live stream sent, kept in a bounded ring (admin/events/history.ts). */
export const HISTORY_MAX_SECONDS = 900;
export const HistoryQuery = Type.Object(
  {
    seconds: Type.Optional(
      Type.Integer({ minimum: 1, maximum: HISTORY_MAX_SECONDS, default: 300, description: 'how far back, in seconds (default 300)' }),
    ),
  },
  { additionalProperties: false },
);
export type HistoryQuery = Static<typeof HistoryQuery>;
const HistoryVersion = Type.Object({
  rps: Type.Number({ description: 'requests per second over the snapshot span' }),
  errorRate: Nullable(Type.Number({ description: '5xx share, null without requests' })),
  p50Ms: Nullable(Type.Number()),
  p95Ms: Nullable(Type.Number()),
  p99Ms: Nullable(Type.Number()),
});
export const HistoryPoint = Type.Object({
  to: Type.Number({ description: 'end of the span, epoch ms: the `to` of the live snapshot event for the same second' }),
  canaryWeight: Type.Number({ description: 'the canary weight when the snapshot was taken' }),
  versions: Type.Object({ baseline: HistoryVersion, canary: HistoryVersion }),
});
export type HistoryPoint = Static<typeof HistoryPoint>;
export const HistoryView = Type.Object({
  spanMs: Type.Number({ description: 'each point summarises the complete windows of this span ending at `to`' }),
  capacity: Type.Integer({ description: 'points kept at most (one a second)' }),
  points: Type.Array(HistoryPoint, { description: 'oldest first, one a second while canaryd runs' }),
});
export type HistoryView = Static<typeof HistoryView>;
