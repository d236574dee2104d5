/**
 * POST /api/v1/alerts: Alertmanager's webhook receiver (webhook_config, payload version 4). A firing alert
 * whose labels equal every label of one `rollout.abortOn` entry rolls the running canary back, with the alert
 * (name, labels, summary) in the decision's reason and in the audit log. Token-protected like every mutating
 * route (Alertmanager: `http_config.authorization.credentials`). Resolved alerts and alerts that match no
 * entry are acknowledged and ignored; without a running rollout nothing happens (200, action "none").
 */
import type { FastifyInstance } from 'fastify';

export interface AlertmanagerAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt?: string;
  generatorURL?: string;
  fingerprint?: string;
}

export interface AlertRouteDeps {
  abortOn: () => ReadonlyArray<Readonly<Record<string, string>>>;
  rolloutActive: () => boolean;
  rollback: (reason: string, alert: Record<string, unknown>) => Record<string, unknown>;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

/** The first abortOn entry whose every label the alert carries with the same value, or null. */
export function matchAbortOn(
  labels: Readonly<Record<string, string>>,
  abortOn: ReadonlyArray<Readonly<Record<string, string>>>,
): Readonly<Record<string, string>> | null {
  return abortOn.find((m) => Object.entries(m).every(([k, v]) => labels[k] === v)) ?? null;
}

const labelMap = { type: 'object', additionalProperties: { type: 'string' } } as const;
const body = {
  type: 'object',
  required: ['alerts'],
  additionalProperties: true,
  properties: {
    version: { type: 'string' },
    status: { type: 'string', enum: ['firing', 'resolved'] },
    receiver: { type: 'string' },
    groupLabels: labelMap,
    commonLabels: labelMap,
    externalURL: { type: 'string' },
    alerts: {
      type: 'array',
      maxItems: 1000,
      items: {
        type: 'object',
        required: ['status', 'labels'],
        additionalProperties: true,
        properties: {
          status: { type: 'string', enum: ['firing', 'resolved'] },
          labels: labelMap,
          annotations: labelMap,
          startsAt: { type: 'string' },
          generatorURL: { type: 'string' },
          fingerprint: { type: 'string' },
        },
      },
    },
  },
} as const;

const answer = {
  type: 'object',
  properties: {
    received: { type: 'integer' },
    firing: { type: 'integer' },
    matched: { type: 'array', items: { type: 'string' } },
    action: { type: 'string', enum: ['rolled-back', 'none'] },
    reason: { type: 'string' },
  },
} as const;

function describe(a: AlertmanagerAlert): string {
  const labels = Object.entries(a.labels)
    .filter(([k]) => k !== 'alertname')
    .map(([k, v]) => `${k}="${v}"`)
    .join(', ');
  const summary = a.annotations?.summary ? `: ${a.annotations.summary}` : '';
  return `${a.labels.alertname ?? '(unnamed alert)'}{${labels}}${summary}`;
}

export function alertRoutes(deps: AlertRouteDeps): (app: FastifyInstance) => void {
  return (app) => {
    app.post<{ Body: { alerts: AlertmanagerAlert[] } }>(
      '/api/v1/alerts',
      {
        schema: {
          summary: 'Alertmanager webhook receiver: a firing alert matching rollout.abortOn rolls the canary back',
          tags: ['rollout'],
          body,
          response: { 200: answer },
        },
      },
      async (req) => {
        const alerts = req.body.alerts;
        const firing = alerts.filter((a) => a.status === 'firing');
        const abortOn = deps.abortOn();
        const matched = firing.filter((a) => matchAbortOn(a.labels, abortOn) !== null);
        deps.log.info(
          { event: 'alerts_received', received: alerts.length, firing: firing.length, matched: matched.map((a) => a.labels.alertname) },
          `received ${alerts.length} alert(s) from Alertmanager, ${matched.length} matching rollout.abortOn`,
        );
        if (matched.length === 0 || !deps.rolloutActive())
          return { received: alerts.length, firing: firing.length, matched: matched.map(describe), action: 'none' };
        const first = matched[0];
        const reason = `rolled back by an Alertmanager alert (rollout.abortOn): ${matched.map(describe).join('; ')}`;
        deps.log.warn({ event: 'alert_rollback', alert: first.labels }, reason);
        deps.rollback(reason, {
          labels: first.labels,
          annotations: first.annotations ?? {},
          startsAt: first.startsAt,
          generatorURL: first.generatorURL,
          fingerprint: first.fingerprint,
          matched: matched.length,
        });
        return { received: alerts.length, firing: firing.length, matched: matched.map(describe), action: 'rolled-back', reason };
      },
    );
  };
}
