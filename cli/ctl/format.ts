/** Text rendering for `canaryd ctl`: numbers, tables, the rollout progress bar, rollout phase names. */

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

export function stepsOf(rollout: any): number[] {
  if (!Array.isArray(rollout?.steps)) return DEFAULT_STEPS;
  const s = rollout.steps.map((x: any) => (typeof x === 'number' ? x : x?.weight ?? x?.canaryWeight)).filter((x: unknown) => typeof x === 'number');
  return s.length > 0 ? s : DEFAULT_STEPS;
}

/** "[██████░░░░░░] 25%  5 › 10 › [25] › 50 › 75 › 100" */
export function progressBar(weight: number, steps: number[], stepIndex: number | null, width = 30): string {
  const filled = Math.round((Math.max(0, Math.min(100, weight)) / 100) * width);
  const bar = `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${num(weight)}%`;
  const marks = steps.map((s, i) => ((stepIndex !== null ? i === stepIndex : s === weight) ? `[${s}]` : String(s))).join(' › ');
  return `${bar}  ${marks}`;
}

/** Terminal rollout phases, whatever the controller calls them. */
export function terminalPhase(rollout: any): 'promoted' | 'rolledback' | null {
  const p = String(rollout?.phase ?? '').toLowerCase().replace(/[^a-z]/g, '');
  if (['promoted', 'succeeded', 'completed', 'complete'].includes(p)) return 'promoted';
  if (['rolledback', 'rollback', 'aborted', 'failed'].includes(p)) return 'rolledback';
  return null;
}

export function time(at: unknown): string {
  return typeof at === 'number' ? new Date(at).toISOString().slice(11, 19) : '--:--:--';
}

/** An array from `v` or from the first array-valued field among `keys` (other engines own these shapes). */
export function listOf(v: any, keys: string[]): any[] {
  if (Array.isArray(v)) return v;
  for (const k of keys) if (Array.isArray(v?.[k])) return v[k];
  return [];
}
