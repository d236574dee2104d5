/** Number formatting for the sentences in reports: fixed, locale-free, so a report is byte-identical on replay. */

export function int(n: number): string {
  if (!Number.isFinite(n)) return n > 0 ? '∞' : '-∞';
  const s = Math.round(n).toString();
  return s.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export function pct(x: number | null): string {
  if (x === null || !Number.isFinite(x)) return 'n/a';
  const v = x * 100;
  return `${v < 0.1 && v > 0 ? v.toFixed(3) : v.toFixed(2)} %`;
}

export function ms(x: number | null): string {
  // an open confidence bound (too few requests) is said as such, never as "∞ ms"
  if (x === null || !Number.isFinite(x)) return x === Infinity ? 'not yet bounded' : 'n/a';
  return `${x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0)} ms`;
}

/** An e-value (evidence) as "1/312"-style odds against the null, the way the boundary 1/α is written. */
export function odds(logE: number): string {
  if (!Number.isFinite(logE)) return logE > 0 ? '∞' : '0';
  const e = Math.exp(logE);
  if (e >= 1) return `${e >= 1e9 ? e.toExponential(1) : int(e)}`;
  return e.toFixed(e < 0.01 ? 4 : 2);
}

const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8];

/** Rounds for the audit record (null for non-finite values, which JSON cannot carry). */
export function num(x: number | null, digits = 3): number | null {
  if (x === null || !Number.isFinite(x)) return null;
  const f = POW10[digits] ?? Math.pow(10, digits);
  return Math.round(x * f) / f;
}
