/**
 * Fault trips and drift reach `event` webhooks subscribed to the "faults" / "drift" topics (they used to
 * reach only the audit log). Subscribed to the event bus, off the request path: notify() is fire-and-forget.
 */
import type { EventInput } from '../core/index.js';
import type { WebhookRunner } from './webhooks.js';

export function busEventsToWebhooks(
  webhooks: () => WebhookRunner,
  versions: () => { baseline: string; canary: string },
): (e: EventInput) => void {
  return (e) => {
    if (e.type === 'fault' && (e.action === 'killed' || e.action === 'auto-disabled')) {
      const halted = e.halted as { reason?: string } | undefined;
      const what = e.action === 'killed' ? 'fault kill switch: every fault off' : 'fault injection auto-disabled';
      webhooks().notify(
        'event',
        { text: `canaryd: ${what}${halted?.reason ? ` — ${halted.reason}` : ''}`, action: e.action, halted, versions: versions() },
        'faults',
      );
    } else if (
      e.type === 'drift' &&
      (e.action === 'reverted' || (e.action === 'detected' && Array.isArray(e.items) && e.items.length > 0))
    ) {
      const items = e.items as Array<{ path: string }>;
      const paths = items.map((i) => i.path);
      const what =
        e.action === 'reverted'
          ? `reverted ${paths.length} drift item(s) to the config file`
          : `runtime state differs from the config file in ${paths.length} place(s)`;
      webhooks().notify(
        'event',
        {
          text: `canaryd: ${what}: ${paths.slice(0, 5).join(', ')}${paths.length > 5 ? ', ...' : ''}`,
          action: e.action,
          items,
          versions: versions(),
        },
        'drift',
      );
    }
  };
}
