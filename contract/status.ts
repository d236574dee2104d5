/** GET /api/v1/status and /api/v1/weights: what runs, where traffic goes, who set the weight. */
import { Nullable, Open, StringEnum, Type, type Static } from './common.js';
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
/** One upstream's health as outlier detection sees it (proxy/outlier, docs/proxy.md "Outlier ejection"). */
export const UpstreamHealthView = Type.Object({
  state: StringEnum(['healthy', 'ejected', 'probing'], {
    description: 'ejected: no traffic is sent (canary) or /readyz fails (baseline); probing: the next exchange decides',
  }),
  consecutiveErrors: Type.Integer({ description: 'errors in a row counted now' }),
  ejections: Type.Integer({ description: 'recent ejections: the backoff multiplier of the next one' }),
  ejectedUntil: Nullable(Type.Number({ description: 'epoch ms the ejection ends' })),
  lastReason: Nullable(Type.String({ description: 'why it was last ejected' })),
});
export type UpstreamHealthView = Static<typeof UpstreamHealthView>;

export const OutlierView = Type.Object({
  enabled: Type.Boolean({ description: 'outlier.enabled' }),
  baseline: UpstreamHealthView,
  canary: UpstreamHealthView,
  effectiveCanaryWeight: Type.Number({
    description:
      'percent of traffic the canary receives now: the weight, or 0 while the canary is ejected (its share goes to the baseline)',
  }),
});
export type OutlierView = Static<typeof OutlierView>;

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
  outlier: Type.Optional(OutlierView),
});
export type StatusView = Omit<Static<typeof StatusView>, 'rollout'> & { rollout?: RolloutStatus };

export const ProbeAnswer = Type.Object({
  status: Type.String(),
  reason: Type.Optional(Type.String({ description: 'why not ready: draining, or the baseline upstream is ejected' })),
});
