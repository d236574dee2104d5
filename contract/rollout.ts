/**
 * The rollout routes' shapes: status (phases exactly as analysis/rollout/machine.ts has them), the command
 * bodies, decisions, rollbacks and the analysis report. Reports are owned by analysis/: their named fields
 * are typed here and the rest passes through.
 */
import { AnyRecord, Nullable, Open, StringEnum, Type, type Static } from './common.js';

export const ROLLOUT_PHASES = ['idle', 'progressing', 'paused', 'promoted', 'rolledback'] as const;
export const RolloutPhase = StringEnum(ROLLOUT_PHASES);
export type RolloutPhase = Static<typeof RolloutPhase>;
/** The phases a rollout ends in. */
export const TERMINAL_PHASES = ['promoted', 'rolledback'] as const satisfies readonly RolloutPhase[];

export const DecisionAction = Type.String({ description: 'PROMOTE, CONTINUE, ROLLBACK, PAUSE...' });

export const DecisionSummary = Open({
  at: Type.Number(),
  action: DecisionAction,
  step: Type.Integer(),
  canaryWeight: Type.Number(),
  reasons: Type.Array(Type.String()),
  summary: Type.Optional(Nullable(Type.String())),
  source: Type.Optional(Type.String({ description: 'who decided: the engine or an operator' })),
  dryRun: Type.Optional(Type.Boolean()),
  verdict: Type.Optional(Nullable(Type.String())),
});
export type DecisionSummary = Static<typeof DecisionSummary>;

export const MdeItem = Open({ text: Type.String() });
export const Forecast = Open({ knob: Type.Optional(Nullable(Type.String())) });
const epochMs = (description: string) => Type.Optional(Nullable(Type.Number({ description })));

export const RolloutStatus = Open({
  phase: RolloutPhase,
  id: Type.Optional(Type.Integer({ description: 'number of the current (or last) rollout: 1, 2, ...' })),
  step: Type.Integer({ description: '0-based index into steps (steps.length when promoted)' }),
  steps: Type.Optional(Type.Array(Type.Number())),
  canaryWeight: Type.Number(),
  dryRun: Type.Optional(Type.Boolean()),
  failures: Type.Optional(Type.Integer({ description: 'consecutive failed analyses at this step' })),
  failureLimit: Type.Optional(Type.Integer()),
  reason: Type.Optional(Nullable(Type.String({ description: 'why the rollout is paused or rolled back, or what it waits for' }))),
  startedAt: epochMs('epoch ms'),
  stepStartedAt: epochMs('epoch ms'),
  stepDeadlineAt: epochMs('when an undecided step stops waiting (epoch ms); null: never'),
  endedAt: epochMs('epoch ms'),
  verdict: Type.Optional(Nullable(Type.String({ description: 'of the latest analysis: pass, fail or inconclusive' }))),
  score: Type.Optional(Nullable(Type.Number())),
  moreCanaryRequestsNeeded: Type.Optional(Nullable(Type.Number())),
  summary: Type.Optional(Nullable(Type.String())),
  forecast: Type.Optional(Nullable(Forecast)),
  mde: Type.Optional(Nullable(Type.Array(MdeItem))),
  harm: Type.Optional(Type.Unknown({ description: 'the harm bound of the latest analysis (analysis/judge/harm.ts)' })),
  evidence: Type.Optional(Type.Unknown({ description: 'rollout.evidence of the running config' })),
  maxStepPolicy: Type.Optional(Type.String()),
  pinsSuspended: Type.Optional(Type.Boolean()),
  suspendedPins: Type.Optional(Type.Array(Type.String())),
  confirmGate: Type.Optional(
    Nullable(StringEnum(['pending', 'approved', 'refused'], { description: 'the confirm-promotion gate of the final step' })),
  ),
  lastDecision: Type.Optional(Nullable(DecisionSummary)),
});
export type RolloutStatus = Static<typeof RolloutStatus>;

export const PromoteBody = Nullable(
  Type.Object(
    { full: Type.Optional(Type.Boolean({ default: false })), reason: Type.Optional(Type.String({ maxLength: 500 })) },
    { additionalProperties: false },
  ),
);
export type PromoteBody = Static<typeof PromoteBody>;

export const PinsBody = Type.Object({ suspended: Type.Boolean() }, { additionalProperties: false });
export type PinsBody = Static<typeof PinsBody>;

export const PlanBody = Nullable(
  Type.Object(
    {
      rate: Type.Optional(
        Type.Number({ exclusiveMinimum: 0, maximum: 10_000_000, description: "requests per second (default: the last minute's)" }),
      ),
      errorRate: Type.Optional(
        Type.Number({ minimum: 0, maximum: 1, description: "the baseline's 5xx share (default: the last minute's)" }),
      ),
      nonSuccessRate: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    },
    { additionalProperties: false },
  ),
);
export type PlanBody = Static<typeof PlanBody>;

export const CheckRow = Open({
  name: Type.String(),
  kind: Type.Optional(Type.String({ description: 'slo, compare, anomaly...' })),
  message: Type.Optional(Type.String({ description: 'one line a person can read' })),
  status: Type.String({ description: 'pass, fail, hold...' }),
  observed: Type.Optional(Nullable(Type.Number())),
  threshold: Type.Optional(Nullable(Type.Number())),
});
export type CheckRow = Static<typeof CheckRow>;

export const AnalysisReport = Open({
  at: Type.Number(),
  verdict: Type.String(),
  score: Nullable(Type.Number()),
  moreCanaryRequestsNeeded: Type.Optional(Nullable(Type.Number())),
  checks: Type.Array(CheckRow),
  reasons: Type.Array(Type.String()),
});
export type AnalysisReport = Static<typeof AnalysisReport> & {
  summary?: string;
  mde?: Array<{ text: string }>;
  forecast?: { knob?: string | null };
};

/** An audit record (controller/audit.ts): a decision with its report, or a rollback with its reasons. */
export const AuditRecord = Open({
  type: StringEnum(['decision', 'rollback']),
  at: Type.Number(),
  action: Type.Optional(DecisionAction),
  canaryWeight: Type.Optional(Type.Number()),
  reasons: Type.Array(Type.String()),
  reason: Type.Optional(Type.String()),
  source: Type.Optional(Type.String()),
  rolloutId: Type.Optional(Type.Integer()),
});
export type AuditRecord = Static<typeof AuditRecord>;
export const DecisionsList = Type.Object({ decisions: Type.Array(AuditRecord) });
export type DecisionsList = Static<typeof DecisionsList>;
export const RollbacksList = Type.Object({ rollbacks: Type.Array(AuditRecord) });
const maybeNumber = (description?: string) => Nullable(Type.Number({ description }));
export const PlanStep = Open({
  weight: Type.Number(),
  seconds: maybeNumber('expected seconds at this step (null: not expected to decide at this traffic)'),
  decidedBy: Type.String(),
  canaryRequests: Type.Optional(maybeNumber()),
  mde5xxRatio: maybeNumber('smallest 5xx regression (ratio to baseline) caught by the end of the step'),
});
/** What the current traffic can show with the configured steps (analysis/rollout/forecast.ts). */
export const PlanResult = Open({
  input: Type.Optional(Open({ rate: Type.Optional(maybeNumber()), errorRate: Type.Optional(maybeNumber()) })),
  measured: Type.Optional(Nullable(Open({ seconds: Type.Number() }))),
  steps: Type.Array(PlanStep),
  secondsToFullPromotion: maybeNumber(),
  mde5xxRatio: maybeNumber(),
  notes: Type.Array(Type.String()),
});
export type PlanResult = Static<typeof PlanResult>;
