/**
 * The rollout's durable record under state.dir:
 *  - `rollout.json`: the state machine's state, written atomically on every change, so that after a
 *    kill -9 canaryd resumes at the same step and weight;
 *  - `audit.jsonl`: append-only, one JSON line per decision, weight change, rollback and operator action
 *    ({type, at, reason, ...}), rotated by size (state.audit.maxBytes / keep, state/audit-log.ts). A
 *    decision that changes something (PROMOTE, ROLLBACK, PAUSE...) or whose analysis failed carries the full
 *    report (per-arm n, estimates, intervals, evidence, boundaries) so it can be reproduced from the log
 *    alone; a routine CONTINUE carries a summary (verdict, score, per-arm counts, each check's status):
 *    ~0.5 KB instead of ~8.7 KB, which made the log grow 150 MB a day.
 * Recent decisions and rollbacks are kept in memory for the admin API. At start they are read from the
 * END of the log (newest first, within a byte budget), parsing only decision and rollback lines, so a
 * large log costs no more than a full rotated file.
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
  /** lines newest first while `visit` returns true (state/store.ts); readLines is used without it */
  scanLines?(name: string, visit: (line: Buffer) => boolean): void;
}

/** What a routine decision line keeps of its report. */
export interface ReportSummary {
  summary: true;
  at: number;
  verdict: AnalysisReport['verdict'];
  score: number | null;
  hardBreach: boolean;
  nonInferior: boolean;
  moreCanaryRequestsNeeded: number | null;
  arms: { baseline: { requests: number; errors: number }; canary: { requests: number; errors: number } };
  checks: Array<{ name: string; status: string }>;
}

export function summariseReport(r: AnalysisReport): ReportSummary {
  return {
    summary: true,
    at: r.at,
    verdict: r.verdict,
    score: r.score,
    hardBreach: r.hardBreach,
    nonInferior: r.nonInferior,
    moreCanaryRequestsNeeded: r.moreCanaryRequestsNeeded,
    arms: {
      baseline: { requests: r.arms.baseline.requests, errors: r.arms.baseline.errors },
      canary: { requests: r.arms.canary.requests, errors: r.arms.canary.errors },
    },
    checks: r.checks.map((c) => ({ name: c.name, status: c.status })),
  };
}

/** The full report is kept for decisions that change something and for failed analyses. */
function keepsFullReport(d: Decision): boolean {
  const r = d.report;
  return d.action !== 'CONTINUE' || r === null || r.verdict === 'fail' || r.hardBreach || r.checks.some((c) => c.status === 'fail');
}

const DECISION = Buffer.from('"type":"decision"');
const ROLLBACK = Buffer.from('"type":"rollback"');

export const ROLLOUT_FILE = 'rollout.json';
export const AUDIT_FILE = 'audit.jsonl';
const KEEP = 500;

export interface DecisionRecord extends Omit<Decision, 'report'> {
  type: 'decision';
  /** the full report, or its summary for a routine CONTINUE */
  report: AnalysisReport | ReportSummary | null;
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
  return [
    d.action,
    d.step,
    r?.verdict ?? '-',
    r?.hardBreach ? 'H' : '',
    r?.nonInferior ? 'N' : '',
    (d.reasons[0] ?? '').replace(/[\d.,]+/g, '#'),
    ...(r?.checks ?? []).map((c) => `${c.name}=${c.status}`),
  ].join('|');
}

export class RolloutAudit {
  #store: AuditStore;
  #decisions: DecisionRecord[];
  #rollbacks: RollbackRecord[];
  #lastSig = '';
  #lastRecordedAt = -Infinity;

  constructor(store: AuditStore) {
    this.#store = store;
    this.#decisions = [];
    this.#rollbacks = [];
    if (store.scanLines) {
      store.scanLines(AUDIT_FILE, (line) => {
        const want =
          this.#decisions.length < KEEP && line.includes(DECISION)
            ? this.#decisions
            : this.#rollbacks.length < KEEP && line.includes(ROLLBACK)
              ? this.#rollbacks
              : null;
        if (want !== null) {
          try {
            const rec = JSON.parse(line.toString('utf8')) as { type?: string };
            if (rec.type === 'decision' && want === this.#decisions) this.#decisions.push(rec as DecisionRecord);
            else if (rec.type === 'rollback' && want === this.#rollbacks) this.#rollbacks.push(rec as RollbackRecord);
          } catch {
            /* a torn line */
          }
        }
        return this.#decisions.length < KEEP || this.#rollbacks.length < KEEP;
      });
      this.#decisions.reverse();
      this.#rollbacks.reverse();
    } else {
      const lines = store.readLines<{ type?: string }>(AUDIT_FILE);
      this.#decisions = lines.filter((l): l is DecisionRecord => l.type === 'decision').slice(-KEEP);
      this.#rollbacks = lines.filter((l): l is RollbackRecord => l.type === 'rollback').slice(-KEEP);
    }
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
    const report = d.report === null || keepsFullReport(d) ? d.report : summariseReport(d.report);
    const rec: DecisionRecord = { type: 'decision', ...d, report, rolloutId, reason: d.reasons[0] ?? d.action };
    this.#push(this.#decisions, rec);
    this.#store.append(AUDIT_FILE, rec);
    if (d.action === 'ROLLBACK') {
      const rb: RollbackRecord = {
        at: d.at,
        type: 'rollback',
        rolloutId,
        step: d.step,
        reason: rec.reason,
        reasons: d.reasons,
        source: d.source,
        ...(d.dryRun ? { dryRun: true } : {}),
      };
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
