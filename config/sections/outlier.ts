/**
 * Config section of upstream outlier ejection (proxy/outlier, docs/proxy.md "Outlier ejection"): Envoy's
 * outlier detection for the two upstreams. Off by default, as in Envoy and Istio (where a DestinationRule
 * turns it on): with it on, a dead canary's traffic moves to the baseline and a running rollout rolls back.
 */
import { Type } from '@sinclair/typebox';
import { Duration, Section } from './types.js';

const ErrorKind = Type.Union([Type.Literal('connect'), Type.Literal('reset'), Type.Literal('timeout'), Type.Literal('5xx')], {
  description: 'connect (refused, unreachable, TLS refused), reset, timeout, 5xx (an upstream answer of 500-599)',
});

export const outlierSections = {
  outlier: Section('Outlier ejection: an upstream that keeps failing is taken out of routing for a backoff period (Envoy-style)', {
    enabled: Type.Boolean({
      default: false,
      description: 'Eject an upstream after consecutiveErrors errors in a row; its canary share goes to the baseline meanwhile',
    }),
    consecutiveErrors: Type.Integer({
      minimum: 1,
      maximum: 10_000,
      default: 5,
      description: 'Errors in a row (each within interval of the one before) that eject an upstream (Envoy consecutive_5xx)',
    }),
    errors: Type.Array(ErrorKind, {
      minItems: 1,
      uniqueItems: true,
      default: ['connect', 'reset', 'timeout', '5xx'],
      description: 'Which outcomes count as errors; any other answer of the upstream resets the count',
    }),
    interval: Duration(
      '10s',
      'Errors further apart than this do not add up; the backoff multiplier also drops by one per interval healthy',
    ),
    baseEjectionTime: Duration('30s', 'First ejection length; doubles with each repeat ejection (Envoy base_ejection_time)'),
    maxEjectionTime: Duration('300s', 'Longest ejection (Envoy max_ejection_time)'),
    rollbackOnEjection: Type.Boolean({
      default: true,
      description: 'An ejection of the canary during a rollout is a hard failure: the rollout rolls back at once (a dry run reports it)',
    }),
  }),
};
