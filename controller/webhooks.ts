/**
 * Rollout webhooks, shaped like Flagger's: `pre-rollout` and `confirm-promotion` are gates (every gate of
 * the type must answer 2xx, or the rollout does not start / the final promotion waits), `post-rollout`,
 * `rollback` and `event` are notifications (fire and forget; failures are logged, never block).
 *
 * Each call is a JSON POST whose body is Slack-compatible (`text` is the human line; Slack incoming
 * webhooks ignore the other fields) and carries the details a program needs: type, phase, rollout number,
 * step, weight, reasons, the versions and the webhook's metadata. Attempts time out after `timeout`;
 * network errors, timeouts and 5xx are retried up to `retries` times with a doubling backoff; a 4xx is an
 * answer (a gate's "no"), not retried.
 *
 * Delivery (config/sections/webhooks.ts): `format` shapes the body (generic, slack, pagerduty Events v2),
 * `headers` are added (auth), `secret` signs the body — `x-canaryd-signature: t=<unix s>,v1=<hex>` where
 * v1 = HMAC-SHA256(secret, "<t>.<body>"), so a receiver can check both the body and its age (replays).
 * `event` webhooks receive the topics in `events` (default: phase changes and rollbacks — not every
 * CONTINUE); rollback and post-rollout webhooks receive their own kind only.
 */
import { createHmac } from 'node:crypto';
import { request } from 'undici';
import type { Log } from '../core/index.js';

export type WebhookType = 'pre-rollout' | 'confirm-promotion' | 'post-rollout' | 'rollback' | 'event';

export type WebhookTopic = 'phase' | 'rollback' | 'decision' | 'faults' | 'drift';
export type WebhookFormat = 'generic' | 'slack' | 'pagerduty';

export interface WebhookSpec {
  name: string;
  type: WebhookType;
  url: string;
  timeout: number;
  retries: number;
  metadata: Record<string, string>;
  format?: WebhookFormat;
  headers?: Record<string, string>;
  secret?: string;
  routingKey?: string;
  /** type event: topics sent (default phase + rollback) */
  events?: readonly WebhookTopic[];
}

export const DEFAULT_EVENT_TOPICS: readonly WebhookTopic[] = ['phase', 'rollback'];

/** What the caller supplies: the Slack-compatible line and any details. */
export interface PayloadBody {
  text: string;
  [k: string]: unknown;
}

export type WebhookPayload = PayloadBody & { type: WebhookType };

export interface WebhookResult {
  name: string;
  ok: boolean;
  status: number | null;
  attempts: number;
  /** why it failed: the status, or the network error */
  error?: string;
  /** the receiver's answer, first 500 bytes (a gate may say why it refused) */
  body?: string;
}

export interface GateResult {
  approved: boolean;
  results: WebhookResult[];
  /** one line: which gate refused and why */
  reason: string;
}

const BACKOFF_BASE_MS = 200;

export class WebhookRunner {
  #hooks: readonly WebhookSpec[];
  #log: Log;
  #inflight = new Set<Promise<unknown>>();

  constructor(hooks: readonly WebhookSpec[], log: Log) {
    this.#hooks = hooks;
    this.#log = log;
  }

  configure(hooks: readonly WebhookSpec[]): void {
    this.#hooks = hooks;
  }

  has(type: WebhookType): boolean {
    return this.#hooks.some((h) => h.type === type);
  }

  /** Calls every gate of `type`; approved only when each answers 2xx. No gate configured: approved. */
  async gate(type: 'pre-rollout' | 'confirm-promotion', payload: PayloadBody): Promise<GateResult> {
    const hooks = this.#hooks.filter((h) => h.type === type);
    const results = await Promise.all(hooks.map((h) => this.#call(h, { ...payload, type })));
    const refused = results.filter((r) => !r.ok);
    const reason =
      refused.length === 0
        ? `${type} gate${hooks.length === 1 ? '' : 's'} approved`
        : refused.map((r) => `${type} gate ${r.name} refused: ${r.error}${r.body ? ` (${r.body.slice(0, 120)})` : ''}`).join('; ');
    return { approved: refused.length === 0, results, reason };
  }

  /**
   * Fire-and-forget notification: to every webhook of `type`, and to `event` webhooks subscribed to the
   * topic (rollback: "rollback"; post-rollout: "phase"; event: the `topic` given, default "decision").
   */
  notify(type: 'post-rollout' | 'rollback' | 'event', payload: PayloadBody, topic?: WebhookTopic): void {
    const t: WebhookTopic = type === 'rollback' ? 'rollback' : type === 'post-rollout' ? 'phase' : (topic ?? 'decision');
    const hooks = this.#hooks.filter(
      (h) => (type !== 'event' && h.type === type) || (h.type === 'event' && (h.events ?? DEFAULT_EVENT_TOPICS).includes(t)),
    );
    for (const h of hooks) {
      const body = formatBody(h, { ...payload, type }, t);
      if (body === null) continue; // e.g. pagerduty: nothing to page about
      const p = this.#send(h, body).then((r) => {
        if (!r.ok)
          this.#log.warn(
            { event: 'webhook_failed', webhook: h.name, type, status: r.status, error: r.error, attempts: r.attempts },
            `webhook ${h.name} failed: ${r.error}`,
          );
      });
      this.#inflight.add(p);
      void p.finally(() => this.#inflight.delete(p));
    }
  }

  /** Resolves when every notification sent so far has finished (for shutdown and tests). */
  async settle(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  async #call(h: WebhookSpec, payload: WebhookPayload): Promise<WebhookResult> {
    // gates answer a program: always the generic body, whatever the format
    return this.#send(h, formatBody({ ...h, format: 'generic' }, payload, null)!);
  }

  async #send(h: WebhookSpec, body: string): Promise<WebhookResult> {
    let last: WebhookResult = { name: h.name, ok: false, status: null, attempts: 0, error: 'not sent' };
    for (let attempt = 1; attempt <= h.retries + 1; attempt++) {
      last = await attemptOnce(h, body, attempt);
      if (last.ok || (last.status !== null && last.status < 500)) break;
      if (attempt <= h.retries) await new Promise((r) => setTimeout(r, BACKOFF_BASE_MS * 2 ** (attempt - 1)));
    }
    this.#log.info(
      { event: 'webhook', webhook: h.name, type: h.type, ok: last.ok, status: last.status, attempts: last.attempts },
      `webhook ${h.name} ${last.ok ? 'ok' : 'failed'}`,
    );
    return last;
  }
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` */
export function signature(secret: string, body: string, nowMs = Date.now()): string {
  const t = Math.floor(nowMs / 1000);
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

const PD_SEVERITY: Record<WebhookTopic, 'critical' | 'error' | 'warning' | 'info'> = {
  rollback: 'error',
  faults: 'warning',
  drift: 'warning',
  phase: 'info',
  decision: 'info',
};

/**
 * The request body for a webhook's format; null when the format has nothing to send for this topic
 * (PagerDuty pages on rollbacks, fault trips and drift, resolves on promotion, and skips the rest).
 */
export function formatBody(h: WebhookSpec, payload: WebhookPayload, topic: WebhookTopic | null): string | null {
  const format = h.format ?? 'generic';
  if (format === 'slack') {
    const context = [
      `rollout ${String(payload.rolloutId ?? '-')}`,
      `phase ${String(payload.phase ?? '-')}`,
      ...Object.entries(h.metadata).map(([k, v]) => `${k}: ${v}`),
    ].join(' · ');
    return JSON.stringify({
      text: payload.text,
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: payload.text } },
        { type: 'context', elements: [{ type: 'mrkdwn', text: context }] },
      ],
    });
  }
  if (format === 'pagerduty') {
    const t = topic ?? (payload.type === 'rollback' ? 'rollback' : 'phase');
    const rolloutKey = `canaryd-${h.metadata.service ?? 'rollout'}-${String(payload.rolloutId ?? 0)}`;
    const resolve = payload.type === 'post-rollout' || (t === 'phase' && payload.phase === 'promoted');
    if (!resolve && t !== 'rollback' && t !== 'faults' && t !== 'drift') return null;
    const dedupKey =
      t === 'faults'
        ? `canaryd-${h.metadata.service ?? 'faults'}-faults`
        : t === 'drift'
          ? `canaryd-${h.metadata.service ?? 'config'}-drift`
          : rolloutKey;
    const versions = payload.versions as { canary?: string } | undefined;
    return JSON.stringify({
      routing_key: h.routingKey ?? '',
      event_action: resolve ? 'resolve' : 'trigger',
      dedup_key: dedupKey,
      payload: {
        summary: payload.text.slice(0, 1024),
        source: h.metadata.source ?? 'canaryd',
        severity: PD_SEVERITY[t],
        component: versions?.canary,
        group: h.metadata.service,
        class: t,
        custom_details: { ...payload, metadata: h.metadata },
      },
    });
  }
  return JSON.stringify({ ...payload, ...(topic ? { topic } : {}), webhook: h.name, metadata: h.metadata });
}

async function attemptOnce(h: WebhookSpec, body: string, attempt: number): Promise<WebhookResult> {
  try {
    const headers: Record<string, string> = { ...h.headers, 'content-type': 'application/json', 'user-agent': 'canaryd' };
    if (h.secret) headers['x-canaryd-signature'] = signature(h.secret, body);
    const res = await request(h.url, {
      method: 'POST',
      headers,
      body,
      headersTimeout: h.timeout,
      bodyTimeout: h.timeout,
      signal: AbortSignal.timeout(h.timeout),
    });
    const text = (await res.body.text()).slice(0, 500);
    const ok = res.statusCode >= 200 && res.statusCode < 300;
    return {
      name: h.name,
      ok,
      status: res.statusCode,
      attempts: attempt,
      ...(ok ? {} : { error: `HTTP ${res.statusCode}` }),
      ...(text ? { body: text } : {}),
    };
  } catch (e) {
    const err = e as { name?: string; code?: string; message?: string };
    const timedOut = err.name === 'TimeoutError' || err.code === 'UND_ERR_HEADERS_TIMEOUT' || err.code === 'UND_ERR_BODY_TIMEOUT';
    return {
      name: h.name,
      ok: false,
      status: null,
      attempts: attempt,
      error: timedOut ? `timed out after ${h.timeout} ms` : (err.code ?? err.message ?? String(e)),
    };
  }
}
