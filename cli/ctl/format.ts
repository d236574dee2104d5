/** Text rendering for `canaryd ctl`: numbers, tables, the rollout progress bar, rollout phase names. */
import { TERMINAL_PHASES, type RolloutStatus } from '../../contract/index.js';

export function num(x: unknown, digits = 3): string {
  if (x === null || x === undefined || (typeof x === 'number' && !Number.isFinite(x))) return '–';
  if (typeof x === 'number') return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(digits)));
  return String(x);
}

export function pct(x: unknown): string {
  return typeof x === 'number' ? `${(x * 100).toFixed(2)}%` : '–';
}

export function ms(x: unknown): string {
  return typeof x === 'number' ? `${num(x)}ms` : '–';
}

/** Left-aligned columns, two spaces apart. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n');
}

export const DEFAULT_STEPS = [5, 10, 25, 50, 75, 100];

export function stepsOf(rollout: Pick<RolloutStatus, 'steps'> | null | undefined): number[] {
  const s = rollout?.steps ?? [];
  return s.length > 0 ? s : DEFAULT_STEPS;
}

/** "[██████░░░░░░] 25%  5 › 10 › [25] › 50 › 75 › 100" */
export function progressBar(weight: number, steps: number[], stepIndex: number | null, width = 30): string {
  const filled = Math.round((Math.max(0, Math.min(100, weight)) / 100) * width);
  const bar = `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${num(weight)}%`;
  const marks = steps.map((s, i) => ((stepIndex !== null ? i === stepIndex : s === weight) ? `[${s}]` : String(s))).join(' › ');
  return `${bar}  ${marks}`;
}

/** The phase a rollout ended in (analysis/rollout/machine.ts: promoted or rolledback), or null while it runs. */
export function terminalPhase(rollout: Pick<RolloutStatus, 'phase'>): (typeof TERMINAL_PHASES)[number] | null {
  const p = rollout.phase;
  return p === 'promoted' || p === 'rolledback' ? p : null;
}

export function time(at: unknown): string {
  return typeof at === 'number' ? new Date(at).toISOString().slice(11, 19) : '--:--:--';
}

/** The array itself, or the array-valued field `key` of an answer; [] otherwise. */
export function listOf<T>(v: T[] | { [k: string]: unknown } | null | undefined, key?: string): T[] {
  if (Array.isArray(v)) return v;
  const field = key !== undefined && v ? v[key] : undefined;
  return Array.isArray(field) ? (field as T[]) : [];
}
