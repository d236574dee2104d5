/**
 * The event bus of canaryd: one in-process publish/subscribe channel that every part of the sidecar publishes
 * to (weight changes, rollout decisions, fault events, config reloads, flags, drift, metric snapshots) and
 * that the admin WebSocket stream (/api/v1/events), the dashboard and `canaryd ctl watch` read from.
 *
 * Publishers call `bus.publish({ type, ...fields })`; the bus stamps `seq` (monotonic) and `at` (the clock
 * passed in). Subscribers are called synchronously, each isolated by try/catch so one bad subscriber cannot
 * break a publisher (publishers sit on timers and request paths). Events other than `snapshot` are kept in a
 * small ring so a client that connects late can replay recent history (`recent(sinceSeq)`).
 *
 * Code that may not import admin/ (proxy/faults, analysis) takes core's `EventSink` port and is handed
 * `sidecar.events`.
 */
import type { EventInput, EventSink } from '../../core/index.js';

export type { EventInput, EventSink };

export interface CanarydEvent extends EventInput {
  /** monotonic per process, starting at 1 */
  seq: number;
  /** epoch ms when published */
  at: number;
}

export type EventListener = (event: CanarydEvent) => void;

/** Event types not kept in the replay ring (high-rate, only the latest matters). */
const NOT_KEPT = new Set(['snapshot']);

export class EventBus implements EventSink {
  #seq = 0;
  #listeners = new Set<EventListener>();
  #ring: CanarydEvent[] = [];
  #latest = new Map<string, CanarydEvent>();
  readonly #now: () => number;
  readonly #historySize: number;
  readonly #onError: (err: unknown, event: CanarydEvent) => void;

  constructor(opts: { now?: () => number; history?: number; onError?: (err: unknown, event: CanarydEvent) => void } = {}) {
    this.#now = opts.now ?? Date.now;
    this.#historySize = opts.history ?? 500;
    this.#onError = opts.onError ?? (() => {});
  }

  /** Stamps and delivers an event; returns the stamped event. Never throws because of a subscriber. */
  publish(input: EventInput): CanarydEvent {
    if (typeof input?.type !== 'string' || input.type === '') throw new TypeError('event needs a non-empty string type');
    const event: CanarydEvent = { ...input, type: input.type, seq: ++this.#seq, at: typeof input.at === 'number' ? input.at : this.#now() };
    this.#latest.set(event.type, event);
    if (!NOT_KEPT.has(event.type)) {
      this.#ring.push(event);
      if (this.#ring.length > this.#historySize) this.#ring.splice(0, this.#ring.length - this.#historySize);
    }
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch (err) {
        this.#onError(err, event);
      }
    }
    return event;
  }

  /** Calls `fn` for every event published from now on; returns the unsubscribe function. */
  subscribe(fn: EventListener): () => void {
    this.#listeners.add(fn);
    return () => {
      this.#listeners.delete(fn);
    };
  }

  get subscribers(): number {
    return this.#listeners.size;
  }

  /** Sequence number of the last published event (0 when none). */
  get seq(): number {
    return this.#seq;
  }

  /** Kept events (no snapshots) with seq > sinceSeq, oldest first, at most `limit` (the newest ones). */
  recent(sinceSeq = 0, limit = this.#historySize): CanarydEvent[] {
    const out = this.#ring.filter((e) => e.seq > sinceSeq);
    return out.length > limit ? out.slice(out.length - limit) : out;
  }

  /** The last event of a type (snapshots included), if any. */
  latest(type: string): CanarydEvent | undefined {
    return this.#latest.get(type);
  }
}
