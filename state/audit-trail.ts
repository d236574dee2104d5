/**
 * The one audit writer: every `audit.jsonl` line canaryd writes goes through `record`, so every line has the
 * same envelope `{ at, type, reason, ...details }` (core's AuditSink). Rollout decision and rollback lines
 * (controller/audit.ts) carry more fields in the same envelope. A failed append is logged, never thrown:
 * the change it records has already happened and must not be undone by a full disk.
 */
import type { AuditSink, Log } from '../core/index.js';

export const AUDIT_FILE = 'audit.jsonl';

export interface AuditAppender {
  append(name: string, record: unknown): void;
}

export class AuditTrail implements AuditSink {
  readonly #store: AuditAppender;
  readonly #now: () => number;
  readonly #log: Log;

  constructor(store: AuditAppender, now: () => number, log: Log) {
    this.#store = store;
    this.#now = now;
    this.#log = log;
  }

  record(type: string, reason: string, details: Record<string, unknown> = {}): void {
    this.append({ at: this.#now(), type, reason, ...details });
  }

  /** A line already in the envelope (its own `at`): decisions stamped at their analysis instant. */
  append(line: { at: number; type: string; reason: string }): void {
    try {
      this.#store.append(AUDIT_FILE, line);
    } catch (e) {
      this.#log.error({ err: e, type: line.type }, 'cannot append to the audit log');
    }
  }
}
