/**
 * The rollout's durable record under state.dir:
 *  - `rollout.json`: the state machine's state, written atomically on every change, so that after a
 *    kill -9 canaryd resumes at the same step and weight;
 *  - `audit.jsonl`: append-only, one JSON line per decision, weight change, rollback and operator action
 *    ({at, type, reason, ...}); each decision line carries its full analysis report (per-arm n, estimates,
 *    intervals, evidence, boundaries) so it can be reproduced from the log alone.
 * Recent decisions and rollbacks are kept in memory (loaded from the log at start) for the admin API.
 *
 * Not every per-second CONTINUE is written: a decision is recorded when it is not CONTINUE, when what it
 * says changes (verdict, failures, check statuses), or once per `interval` otherwise — the log stays
 * readable and bounded while no state change goes unrecorded.
 */
import type { AnalysisReport, Decision, RolloutState } from '../analysis/index.js';

export interface AuditStore {
  readJson<T>(name: string): T | undefined;
  writeJson(name: string, value: unknown): void;
  append(name: string, record: unknown): void;
  readLines<T>(name: string, limit?: number): T[];
}

export const ROLLOUT_FILE = 'rollout.json';
export const AUDIT_FILE = 'audit.jsonl';
const KEEP = 500;

export interface DecisionRecord extends Decision {
  type: 'decision';
  rolloutId: number;
  reason: string;
}

export interface RollbackRecord {
  at: number;
  type: 'rollback';
  rolloutId: number;
  step: number;
  reason: string;
  reasons: string[];
  source: Decision['source'];
  dryRun?: boolean;
}

function signature(d: Decision): string {
  const r: AnalysisReport | null = d.report;
  return [d.action, d.step, r?.verdict ?? '-', r?.hardBreach ? 'H' : '', r?.nonInferior ? 'N' : '', (d.reasons[0] ?? '').replace(/[\d.,]+/g, '#'), ...(r?.checks ?? []).map((c) => `${c.name}=${c.status}`)].join('|');
}

export class RolloutAudit {
  #store: AuditStore;
  #decisions: DecisionRecord[];
  #rollbacks: RollbackRecord[];
  #lastSig = '';
  #lastRecordedAt = -Infinity;

  constructor(store: AuditStore) {
    this.#store = store;
    const lines = store.readLines<{ type?: string }>(AUDIT_FILE);
    this.#decisions = lines.filter((l): l is DecisionRecord => l.type === 'decision').slice(-KEEP);
    this.#rollbacks = lines.filter((l): l is RollbackRecord => l.type === 'rollback').slice(-KEEP);
  }

  loadState(): RolloutState | undefined {
    return this.#store.readJson<RolloutState>(ROLLOUT_FILE);
  }

  saveState(state: RolloutState): void {
    this.#store.writeJson(ROLLOUT_FILE, state);
  }

  /** Records the decision if the policy above says so; returns whether it did. */
  decision(d: Decision, rolloutId: number, intervalMs: number, force = false): boolean {
    const sig = signature(d);
    const due = force || d.action !== 'CONTINUE' || sig !== this.#lastSig || d.at - this.#lastRecordedAt >= intervalMs;
    if (!due) return false;
    this.#lastSig = sig;
    this.#lastRecordedAt = d.at;
    const rec: DecisionRecord = { ...d, type: 'decision', rolloutId, reason: d.reasons[0] ?? d.action };
    this.#push(this.#decisions, rec);
    this.#store.append(AUDIT_FILE, rec);
    if (d.action === 'ROLLBACK') {
      const rb: RollbackRecord = { at: d.at, type: 'rollback', rolloutId, step: d.step, reason: rec.reason, reasons: d.reasons, source: d.source, ...(d.dryRun ? { dryRun: true } : {}) };
      this.#push(this.#rollbacks, rb);
      this.#store.append(AUDIT_FILE, rb);
    }
    return true;
  }

  /** Any other audited event (operator pause/resume, gate refusals, recovery). */
  event(at: number, type: string, reason: string, details: Record<string, unknown> = {}): void {
    this.#store.append(AUDIT_FILE, { at, type, reason, ...details });
  }

  decisions(limit = 100): DecisionRecord[] {
    return this.#decisions.slice(-limit).reverse();
  }

  rollbacks(limit = 100): RollbackRecord[] {
    return this.#rollbacks.slice(-limit).reverse();
  }

  #push<T>(list: T[], item: T): void {
    list.push(item);
    if (list.length > KEEP) list.splice(0, list.length - KEEP);
  }
}
