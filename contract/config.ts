/** /api/v1/config: a reload's answer, and drift between the running state and the config file. */
import { AnyRecord, Nullable, StringEnum, Type, type Static } from './common.js';

export const ReloadAnswer = Type.Object({ applied: Type.Optional(Type.Boolean()), file: Type.Optional(Type.String()) });
export type ReloadAnswer = Static<typeof ReloadAnswer>;

export const DriftItem = Type.Object({
  path: Type.Optional(Type.String()),
  file: Type.Optional(Type.Unknown({ description: 'the value in the file (null: absent from the file)', nullable: true })),
  runtime: Type.Optional(Type.Unknown({ description: 'the running value', nullable: true })),
  owner: Type.Optional(Type.String({ description: 'who made the runtime state: api, rollout, file (not applied)...' })),
  revertible: Type.Optional(Type.Boolean()),
  note: Type.Optional(Type.String()),
});
export type DriftItem = Static<typeof DriftItem>;

export const DriftReport = Type.Object({
  file: Type.Optional(Nullable(Type.String())),
  checkedAt: Type.Optional(Type.Integer()),
  policy: Type.Optional(StringEnum(['report', 'revert'])),
  intervalMs: Type.Optional(Type.Number()),
  inSync: Type.Optional(Type.Boolean()),
  items: Type.Optional(Type.Array(DriftItem)),
  runtimeOnly: Type.Optional(
    Type.Array(
      Type.Object({
        path: Type.Optional(Type.String()),
        runtime: Type.Optional(Type.Unknown({ nullable: true })),
        owner: Type.Optional(Type.String()),
        note: Type.Optional(Type.String()),
      }),
      { description: 'runtime state the file does not manage (API-made flags): not drift, never reverted' },
    ),
  ),
  fileError: Type.Optional(AnyRecord),
  lastReconcile: Type.Optional(Nullable(AnyRecord)),
});
export type DriftReport = Static<typeof DriftReport>;

export const ReconcileAnswer = Type.Object({ reverted: Type.Optional(Type.Array(DriftItem)), report: Type.Optional(DriftReport) });
export type ReconcileAnswer = Static<typeof ReconcileAnswer>;
