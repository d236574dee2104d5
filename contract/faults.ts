/**
 * The answers of /api/v1/faults and /api/v1/dependencies as the CLI and the dashboard read them. The route
 * schemas of these groups are still admin/routes/fault-schemas.ts and dependencies.ts (their bodies are
 * checked by the fault service, which names the field); these types follow those schemas.
 */
import { Nullable, Open, Type, type Static } from './common.js';

export const FaultHalt = Nullable(
  Open({ at: Type.Number(), reason: Type.String(), by: Type.Optional(Type.String()), kind: Type.Optional(Type.String()) }),
);

export const FaultRuleView = Open({
  name: Type.String(),
  type: Type.String(),
  source: Type.Optional(Type.String({ description: 'config, api or experiment' })),
  enabled: Type.Optional(Type.Boolean()),
  active: Type.Optional(Type.Boolean({ description: 'can fire now: enabled, not expired, fault injection armed' })),
  expired: Type.Optional(Type.Boolean()),
  probability: Type.Optional(Type.Number()),
  match: Type.Optional(Type.Object({}, { additionalProperties: true })),
  injected: Type.Optional(Type.Integer({ description: 'faults this rule injected' })),
});
export type FaultRuleView = Static<typeof FaultRuleView>;

export const FaultsView = Open({
  state: Type.String({ description: 'refused, disabled, halted, armed or idle' }),
  halted: Type.Optional(FaultHalt),
  refusal: Type.Optional(Nullable(Type.String())),
  rules: Type.Array(FaultRuleView),
});
export type FaultsView = Static<typeof FaultsView>;

export const FaultsKillAnswer = Open({
  halted: Type.Optional(FaultHalt),
  released: Type.Optional(Type.Integer()),
  experimentsStopped: Type.Optional(Type.Integer()),
  removed: Type.Optional(Type.Integer()),
  state: Type.Optional(Type.String()),
});
export type FaultsKillAnswer = Static<typeof FaultsKillAnswer>;

export const DependencyView = Open({
  name: Type.String(),
  upstream: Type.String({ description: 'host:port of the real dependency' }),
  tls: Type.Optional(Type.String({ description: 'none or passthrough' })),
  bytes: Type.Optional(Open({ upstream: Type.Integer(), downstream: Type.Integer() })),
  listeners: Type.Array(Open({ version: Type.String(), address: Type.String(), bound: Type.Optional(Nullable(Type.String())) })),
  connections: Type.Optional(
    Open({
      live: Type.Integer(),
      faulted: Type.Optional(Type.Integer()),
      rejected: Type.Optional(Type.Record(Type.String(), Type.Integer())),
    }),
  ),
  faults: Type.Array(
    Open({
      rule: Type.String(),
      type: Type.String(),
      version: Type.Optional(Nullable(Type.String())),
      probability: Type.Number(),
      connections: Type.Integer(),
    }),
  ),
});
export type DependencyView = Static<typeof DependencyView>;
export const DependencyList = Type.Object({ dependencies: Type.Array(DependencyView) });
export type DependencyList = Static<typeof DependencyList>;
