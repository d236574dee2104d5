/**
 * Config of the Prometheus side of canaryd (docs/prometheus.md): the Prometheus the custom checks query
 * (`analysis`), the checks themselves (`rollout.metrics`, inserted into the rollout section), the
 * Alertmanager matchers that roll back (`rollout.abortOn`) and the metrics listener (`metrics`).
 */
import { Type, type Static } from '@sinclair/typebox';
import { LISTEN_PATTERN, Section, StrictObject } from './types.js';
import { ServerTls } from './tls.js';

const OptionalDuration = (description: string) =>
  Type.Optional(Type.Unsafe<number>({ type: ['string', 'number'], duration: true, description }));

/** Check names: they become `metric.<name>` in reports, the audit and canary_analysis_check_status{check}. */
export const METRIC_CHECK_NAME_PATTERN = '^[A-Za-z][A-Za-z0-9_-]*$';

export const MetricCheckSchema = Type.Object(
  {
    name: Type.String({ pattern: METRIC_CHECK_NAME_PATTERN, description: 'Unique name; the check is reported as metric.<name>' }),
    query: Type.String({
      minLength: 1,
      description: 'PromQL giving one number; {{version}} {{arm}} {{canary}} {{baseline}} {{interval}} {{service}} are filled in',
    }),
    thresholdRange: Type.Optional(
      Type.Object(
        {
          min: Type.Optional(Type.Number({ description: 'lowest allowed value' })),
          max: Type.Optional(Type.Number({ description: 'highest allowed value' })),
        },
        { additionalProperties: false, description: "The canary's value must lie in [min, max]" },
      ),
    ),
    compare: Type.Optional(
      Type.Literal('baseline', { description: 'Evaluate the query for both versions and compare the canary with the baseline' }),
    ),
    maxDegradation: Type.Optional(
      Type.Number({ minimum: 0, description: 'With compare: how much worse, relative to the baseline, the canary may be (0.1 = 10 %)' }),
    ),
    direction: Type.Optional(
      Type.Union([Type.Literal('lower-is-better'), Type.Literal('higher-is-better')], { description: 'With compare: which way is worse' }),
    ),
    critical: Type.Boolean({ default: false, description: 'A failing critical check fails the analysis on its own' }),
    interval: OptionalDuration('How often the query runs (default rollout.analysisInterval); also {{interval}}'),
    failures: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'Consecutive failing samples before the check reports fail (default rollout.failureLimit); fewer hold the step',
      }),
    ),
  },
  { additionalProperties: false },
);

export const AbortOnSchema = Type.Array(Type.Record(Type.String({ minLength: 1 }), Type.String(), { minProperties: 1 }), {
  default: [],
  description:
    'Alertmanager matchers: a firing alert (POST /api/v1/alerts) whose labels equal every label of one entry rolls the canary back',
});

export const prometheusSections = {
  analysis: Section('Where custom metric checks read from', {
    service: Type.String({ default: 'canaryd', minLength: 1, description: 'Service name, {{service}} in query templates' }),
    prometheus: Type.Optional(
      Type.Object(
        {
          url: Type.String({ pattern: '^https?://', description: 'Prometheus base URL (the HTTP API is under /api/v1)' }),
          headers: Type.Record(Type.String(), Type.String(), {
            default: {},
            description: 'Sent with every query (${VAR} interpolation applies)',
          }),
          bearerTokenEnv: Type.Optional(
            Type.String({ minLength: 1, description: 'Environment variable holding a bearer token (read at each query)' }),
          ),
          bearerTokenFile: Type.Optional(
            Type.String({ minLength: 1, description: 'File holding a bearer token (read at each query: rotated tokens work)' }),
          ),
          timeout: Type.Unsafe<number>({
            type: ['string', 'number'],
            duration: true,
            default: '5s',
            description: 'Per query; a slower answer is nodata',
          }),
        },
        { additionalProperties: false, description: 'The Prometheus server that custom checks (rollout.metrics) query' },
      ),
    ),
  }),
  finops: Section('What the canary costs: request cost from CPU and memory prices, a budget and a check', {
    prices: Type.Optional(
      Type.Object(
        {
          cpuCoreHour: Type.Number({ minimum: 0, description: 'Price of one CPU core for one hour' }),
          memoryGbHour: Type.Number({ minimum: 0, description: 'Price of one GiB of memory (working set) for one hour' }),
          requestMillion: Type.Number({
            minimum: 0,
            default: 0,
            description: 'Price per million requests (e.g. a gateway or egress charge)',
          }),
        },
        { additionalProperties: false, description: 'FinOps is on when prices are set (needs analysis.prometheus)' },
      ),
    ),
    sources: Section('Where the cost inputs come from', {
      cpu: Type.String({
        default: 'sum(rate(container_cpu_usage_seconds_total{container!="",version="{{version}}"}[{{interval}}]))',
        description: 'PromQL: CPU cores a version uses (cAdvisor by default, pods labelled version=<release>)',
      }),
      memory: Type.String({
        default: 'sum(container_memory_working_set_bytes{container!="",version="{{version}}"})',
        description: 'PromQL: memory bytes a version uses',
      }),
      requests: Type.String({
        default: 'sum(rate(http_requests_total{version="{{arm}}"}[{{interval}}]))',
        description: "PromQL: requests per second a version serves (canaryd's own series by default)",
      }),
    }),
    interval: Type.Unsafe<number>({
      type: ['string', 'number'],
      duration: true,
      default: '1m',
      description: 'How often the costs are queried; also {{interval}}',
    }),
    budget: Section('A daily cost budget for both versions together', {
      perDay: Type.Optional(
        Type.Number({
          exclusiveMinimum: 0,
          description: 'Budget per day of both versions together (canaryd_cost_budget_per_day; the CanaryCostBudgetExceeded alert)',
        }),
      ),
    }),
    check: Section('The cost check in the rollout analysis', {
      enabled: Type.Boolean({ default: false, description: 'Judge compare.costPerRequest in rollouts' }),
      maxDegradation: Type.Number({
        minimum: 0,
        default: 0.2,
        description: 'A canary this much costlier per request (0.2 = 20 %) fails the check',
      }),
      critical: Type.Boolean({ default: false, description: 'A failing cost check fails the analysis on its own' }),
    }),
  }),
  metrics: Section('The Prometheus /metrics endpoint', {
    listen: Type.Optional(
      Type.String({
        pattern: LISTEN_PATTERN,
        description: 'A listener serving only /metrics, without the admin token (e.g. 0.0.0.0:9090); none when absent',
      }),
    ),
    tls: Type.Optional(
      Type.Object(ServerTls.properties, {
        additionalProperties: false,
        description: 'Serve the metrics listener over HTTPS: { cert, key, ca?, clientAuth? }, reloaded when the files change',
      }),
    ),
  }),
};
