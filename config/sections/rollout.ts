/**
 * Config section of the rollout controller and the analysis engine (docs/rollout.md). The controller owns
 * steps, timing, failure budget, webhooks and dry-run; the judge owns slo, baseline, scoring, critical and
 * falseRollbackRate; anomaly detection owns `anomaly`.
 */
import { Type } from '@sinclair/typebox';
import { Duration, Section, StrictObject } from './types.js';
import { paceKeys } from './pace.js';
import { webhookDeliveryFields } from './webhooks.js';
import { AbortOnSchema, MetricCheckSchema } from './prometheus.js';

const Webhook = Type.Object(
  {
    name: Type.String({ minLength: 1, description: 'Webhook name, in the audit trail and the logs' }),
    type: Type.Union(
      [
        Type.Literal('pre-rollout'),
        Type.Literal('confirm-promotion'),
        Type.Literal('post-rollout'),
        Type.Literal('rollback'),
        Type.Literal('event'),
      ],
      { description: 'pre-rollout and confirm-promotion are gates (a non-2xx answer holds); post-rollout, rollback and event notify' },
    ),
    url: Type.String({ pattern: '^https?://', description: 'Receiver URL; gets a JSON POST (Slack-compatible `text` plus the details)' }),
    timeout: Duration('5s', 'Per attempt'),
    retries: Type.Integer({
      minimum: 0,
      maximum: 10,
      default: 2,
      description: 'Retries after a failed attempt (network error, timeout, 5xx)',
    }),
    metadata: Type.Record(Type.String(), Type.String(), { default: {}, description: 'Sent as-is in the payload' }),
    ...webhookDeliveryFields,
  },
  { additionalProperties: false },
);

export const rolloutSections = {
  rollout: Section('The automated rollout: steps, pace, checks and the verdict rules', {
    autoStart: Type.Boolean({
      default: false,
      description: 'Start a rollout when canaryd starts (unless one is already recorded in state.dir)',
    }),
    dryRun: Type.Boolean({ default: false, description: 'Analyse and log every verdict, never move the weights' }),
    steps: Type.Array(Type.Number({ exclusiveMinimum: 0, maximum: 100 }), {
      minItems: 1,
      default: [5, 10, 25, 50, 75, 100],
      description: 'Canary weights in percent, rising, the last one 100',
    }),
    interval: Duration('1m', 'Minimum time spent at each step before it may be promoted'),
    minRequests: Type.Integer({ minimum: 0, default: 200, description: 'Minimum canary requests at a step before it may be promoted' }),
    analysisInterval: Duration('1s', 'How often the analysis runs; sequential tests keep frequent peeks safe'),
    maxStepDuration: Duration('5m', 'A step still undecided after this long follows maxStepPolicy (0: never)'),
    ...paceKeys,
    failureLimit: Type.Integer({ minimum: 1, default: 3, description: 'Consecutive failed analyses before a rollback' }),
    hardBreach: Type.Union([Type.Literal('rollback'), Type.Literal('count')], {
      default: 'rollback',
      description: 'rollback: a hard SLO breach rolls back at once; count: it spends failureLimit like any failure',
    }),
    falseRollbackRate: Type.Number({
      exclusiveMinimum: 0,
      maximum: 0.2,
      default: 0.01,
      description: 'Bound on the chance of rolling back a canary that is no worse than the margin, over the whole rollout',
    }),
    alphaPlan: Type.Union([Type.Literal('equal'), Type.Literal('front')], {
      default: 'front',
      description:
        'How falseRollbackRate is split over the analysed steps: front (½, ¼, … on the first steps, the last two sharing the rest: faster rollback where most bad canaries are caught) or equal shares; both keep the whole rollout within falseRollbackRate. The promote side keeps falseRollbackRate / analysed steps either way',
    }),
    countFaulted: Type.Boolean({
      default: false,
      description: 'Count fault-injected requests in the verdict (to test the rollback itself with chaos)',
    }),
    slo: Section('Absolute service-level limits the canary must hold', {
      maxErrorRate: Type.Number({ minimum: 0, maximum: 1, default: 0.01, description: 'Share of 5xx answers' }),
      maxP95Ms: Type.Number({ exclusiveMinimum: 0, default: 500, description: 'The canary p95 latency must stay at or below this (ms)' }),
      maxP99Ms: Type.Number({ exclusiveMinimum: 0, default: 1000, description: 'The canary p99 latency must stay at or below this (ms)' }),
      minSuccessRate: Type.Number({
        minimum: 0,
        maximum: 1,
        default: 0.99,
        description: 'Share of 1xx-3xx answers (4xx and 5xx are not successes)',
      }),
    }),
    baseline: Section('Comparison of the canary against the baseline', {
      maxDegradation: Type.Number({
        minimum: 0,
        maximum: 10,
        default: 0.1,
        description:
          'How much worse than baseline the canary may be (0.1 = 10 %) on error rate and latency: rolled back only when shown worse than this, and promoted into 100 % only when shown within it',
      }),
      promotionMargin: Type.Union([Type.Literal('exposure'), Type.Literal('fixed')], {
        default: 'exposure',
        description:
          'Margin a step must show the canary within to promote it: exposure = maxDegradation × min(maxExposureFactor, last analysed weight / step weight) (the full margin at the last analysed step); fixed = maxDegradation at every step. The rollback side always uses maxDegradation',
      }),
      maxExposureFactor: Type.Number({
        minimum: 1,
        maximum: 100,
        default: 10,
        description: 'Cap on how many times maxDegradation the exposure-scaled promote margin may be',
      }),
    }),
    scoring: Section('Kayenta-style score over the checks: pass and marginal thresholds', {
      pass: Type.Number({ minimum: 0, maximum: 100, default: 95, description: 'Score at or above which the comparison passes' }),
      marginal: Type.Number({ minimum: 0, maximum: 100, default: 75, description: 'Score below which the comparison fails' }),
    }),
    critical: Type.Array(Type.String(), {
      default: ['slo.errorRate', 'compare.errorRate'],
      description: 'Checks whose failure fails the analysis on its own',
    }),
    anomaly: Section("Anomaly detection on the canary's per-10 s series", {
      enabled: Type.Boolean({ default: true, description: 'Run anomaly detection on the canary series' }),
      policy: Type.Union([Type.Literal('hold'), Type.Literal('fail')], {
        default: 'hold',
        description: 'A canary-only anomaly holds the step (hold) or counts as a failed analysis (fail)',
      }),
      windowSeconds: Type.Integer({ minimum: 1, maximum: 300, default: 10, description: 'Length of the points the detectors see' }),
      // anomaly-detection keys (docs/anomaly.md). The names mirror analysis/anomaly/registry.ts DETECTOR_NAMES
      // (config may not import analysis/); test/anomaly-monitor.test.ts keeps the two lists equal.
      detector: Type.Union(
        ['zscore', 'moving-average', 'iqr', 'exp-smoothing', 'ensemble', 'novelty', 'novelty-shift', 'blend'].map((n) => Type.Literal(n)),
        {
          default: 'blend',
          description:
            'Detector that decides: blend (ensemble and novelty-shift must agree), ensemble (majority of zscore, moving-average, iqr, exp-smoothing), one of those, novelty or novelty-shift (see docs/anomaly.md)',
        },
      ),
      metrics: Type.Array(Type.Union([Type.Literal('p95'), Type.Literal('errorRate'), Type.Literal('requestRate')]), {
        default: ['p95', 'errorRate', 'requestRate'],
        uniqueItems: true,
        description:
          'Canary series checked; drop requestRate when routing rules pin a fixed slice of traffic to the canary (its share then does not follow the weight)',
      }),
      holdFor: Duration('1m', 'How long a canary-only anomaly keeps its check marginal (hold) or failed (fail)'),
      minPointRequests: Type.Integer({
        minimum: 1,
        default: 20,
        description: 'Requests a point needs for its p95 and error rate to be scored',
      }),
    }),
    // end of anomaly-detection keys
    webhooks: Type.Array(Webhook, { default: [], description: 'Gates (pre-rollout, rollout, confirm-promotion) and notifications' }),
    metrics: Type.Array(MetricCheckSchema, {
      default: [],
      description: 'Prometheus-backed checks (docs/prometheus.md): point-in-time evidence judged beside the inline checks',
    }),
    abortOn: AbortOnSchema,
  }),
};
