/**
 * How a rollout webhook is delivered (spread into rollout.webhooks[] items): the body format, extra headers
 * (auth), an HMAC signature, and — for `event` webhooks — which topics are sent. controller/webhooks.ts
 * implements them; docs/rollout.md describes the formats and how a receiver checks the signature.
 */
import { Type } from '@sinclair/typebox';

export const WEBHOOK_TOPICS = ['phase', 'rollback', 'decision', 'faults', 'drift'] as const;

export const webhookDeliveryFields = {
  format: Type.Union([Type.Literal('generic'), Type.Literal('slack'), Type.Literal('pagerduty')], {
    default: 'generic',
    description:
      'Body: generic (JSON with a Slack-compatible `text` and every detail), slack (incoming-webhook `text` + blocks) or pagerduty (Events API v2: trigger on rollbacks and fault trips, resolve on promotion)',
  }),
  headers: Type.Record(Type.String({ pattern: '^[A-Za-z0-9-]+$' }), Type.String(), {
    default: {},
    description: 'Extra request headers, e.g. Authorization: "Bearer ${HOOK_TOKEN}"',
  }),
  secret: Type.String({
    default: '',
    description:
      'HMAC-SHA256 key: each request carries x-canaryd-signature: t=<unix seconds>,v1=<hex HMAC of "<t>.<body>">; empty: unsigned',
  }),
  routingKey: Type.String({ default: '', description: 'format pagerduty: the integration (routing) key of the PagerDuty service' }),
  events: Type.Array(Type.Union(WEBHOOK_TOPICS.map((t) => Type.Literal(t))), {
    default: ['phase', 'rollback'],
    uniqueItems: true,
    description:
      'type event only — topics sent: phase (rollout started, promoted, paused...), rollback, decision (every analysis decision, about one a minute or more), faults (kill switch, auto-disable), drift (runtime state differs from the file)',
  }),
};

/** A pagerduty webhook needs its routing key. */
export function webhookProblems(
  hooks: ReadonlyArray<{ format: string; routingKey: string; type: string; events: readonly string[] }>,
): string[] {
  const out: string[] = [];
  hooks.forEach((h, i) => {
    if (h.format === 'pagerduty' && h.routingKey === '')
      out.push(`rollout.webhooks[${i}].routingKey: required for format pagerduty (the Events API v2 integration key)`);
  });
  return out;
}
