/** GET /api/v1/status and /api/v1/weights: what runs, where traffic goes, who set the weight. */
import { Nullable, Open, Type, type Static } from './common.js';
import { RolloutStatus } from './rollout.js';
import { FleetStatus } from './fleet.js';

export const WeightOwner = Type.Union([Type.Literal('file'), Type.Literal('api'), Type.Literal('rollout')], {
  description: 'who set the running weight: file, api or rollout',
});
export type WeightOwner = Static<typeof WeightOwner>;

export const WeightsView = Type.Object(
  {
    baseline: Type.Number({ description: 'percent of traffic to baseline' }),
    canary: Type.Number({ description: 'percent of traffic to canary' }),
    owner: Type.Optional(Type.String({ description: 'who set the running weight: file, api or rollout' })),
  },
  { additionalProperties: true },
);
export type WeightsView = Static<typeof WeightsView>;

export const SetWeightBody = Type.Object(
  {
    canary: Type.Number({ minimum: 0, maximum: 100, description: 'percent, fractions allowed' }),
    reason: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);
export type SetWeightBody = Static<typeof SetWeightBody>;

/** What a weight change answers: the new weight (in fleet mode, what the leader answered). */
export const SetWeightResult = Open({ canaryWeight: Type.Optional(Type.Number()) });
export type SetWeightResult = Static<typeof SetWeightResult>;

export const RequestTotals = Open({ requests: Type.Number() });
export const VersionView = Open({ url: Type.String(), version: Type.String(), weight: Type.Number(), requests: RequestTotals });
export type VersionView = Static<typeof VersionView>;

/** One data-plane worker (`workers: N`, docs/fleet.md "Workers"), as the primary last heard from it (every second). */
export const WorkerStatus = Open({
  worker: Type.Number({ description: 'the worker slot, 1..N: stable across restarts (the `worker` label)' }),
  pid: Nullable(Type.Number()),
  state: Type.String({ description: 'starting, up, restarting or stopped' }),
  startedAt: Type.Number({ description: 'epoch ms this worker process was forked' }),
  restarts: Type.Number({ description: 'times this slot was restarted after its worker was lost' }),
  inflight: Type.Number(),
  requests: Type.Number({ description: 'requests this worker process served since it started' }),
  byVersion: Open({ baseline: Type.Number(), canary: Type.Number() }, { description: 'the same, per version' }),
  memory: Nullable(Open({ rss: Type.Number(), heapUsed: Type.Number() })),
});
export type WorkerStatus = Static<typeof WorkerStatus>;

/** Only `weights` is always there: the other parts come from components a canaryd may run without. */
export const StatusView = Open({
  versions: Type.Optional(Type.Object({ baseline: VersionView, canary: VersionView })),
  weights: WeightsView,
  uptimeSeconds: Type.Optional(Type.Number()),
  inflight: Type.Optional(Type.Number()),
  proxy: Type.Optional(Nullable(Open({ port: Type.Number() }))),
  rollout: Type.Optional(RolloutStatus),
  fleet: Type.Optional(FleetStatus),
  workers: Type.Optional(Type.Array(WorkerStatus, { description: 'the data-plane workers (workers: N > 1); absent with one process' })),
});
export type StatusView = Omit<Static<typeof StatusView>, 'rollout'> & { rollout?: RolloutStatus };

export const ProbeAnswer = Type.Object({ status: Type.String() });
