/**
 * Parsing of the NAB layout (data/<category>/<file>.csv with `timestamp,value`, and
 * labels/combined_windows.json), from text already read by the caller, so it stays pure.
 *
 * Timestamps are kept as wall-clock milliseconds (read as UTC, no zone shifts) only to compare them: rows are
 * never assumed to be in increasing time order (some NAB files repeat a timestamp or step back), and a window
 * maps to rows by the first row whose timestamp equals each end, as the README says.
 */
import type { NabLabelledFile } from './nab-score.js';

/** Malformed NAB-layout input (a bad CSV row or label file). Benchmark code: not one of canaryd's API errors. */
export class NabDataError extends Error {
  readonly code = 'NAB_DATA_INVALID';
}

export interface NabSeries {
  /** key under data/, e.g. "realKnownCause/nyc_taxi.csv" */
  name: string;
  timestamps: Float64Array;
  values: Float64Array;
}

const STAMP = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/;

/** "2014-04-10 07:15:00.000000" → epoch ms (as if UTC). */
export function parseNabTimestamp(text: string): number {
  const m = STAMP.exec(text.trim());
  if (!m) throw new NabDataError(`not a NAB timestamp: "${text}"`);
  const ms = m[7] ? Math.round(Number(m[7].padEnd(6, '0')) / 1000) : 0;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), ms);
}

export function parseNabCsv(name: string, text: string): NabSeries {
  const lines = text.split(/\r?\n/);
  const stamps: number[] = [];
  const values: number[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') continue;
    const comma = line.indexOf(',');
    const value = Number(line.slice(comma + 1));
    if (comma < 0 || !Number.isFinite(value)) throw new NabDataError(`${name}:${i + 1}: expected "timestamp,value", got "${line}"`);
    stamps.push(parseNabTimestamp(line.slice(0, comma)));
    values.push(value);
  }
  return { name, timestamps: Float64Array.from(stamps), values: Float64Array.from(values) };
}

/** combined_windows.json: file key → [[start, end], ...] timestamps. */
export type NabWindowLabels = Record<string, readonly (readonly [string, string])[]>;

export function parseNabWindows(text: string): NabWindowLabels {
  const doc = JSON.parse(text) as unknown;
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    throw new NabDataError('combined_windows.json: expected an object of file → windows');
  for (const [key, windows] of Object.entries(doc)) {
    const ok = Array.isArray(windows) && windows.every((w) => Array.isArray(w) && w.length === 2 && w.every((s) => typeof s === 'string'));
    if (!ok) throw new NabDataError(`combined_windows.json: ${key}: expected a list of [start, end] timestamps`);
  }
  return doc as NabWindowLabels;
}

/**
 * Map a file's windows to inclusive row ranges: the first row whose timestamp equals each end, as NAB does.
 * An end whose timestamp no row has does not throw (NAB's labeler would refuse the file; its scorer would
 * never enter the window): the window is taken as the rows whose timestamps lie inside [start, end] — from
 * the first such row to the last one — which is the set NAB's labeler marks as anomalous. A window with no
 * such row cannot be scored: it is counted in `unmapped` (perfect score only) and listed in `skipped`.
 */
export function labelSeries(series: NabSeries, windows: readonly (readonly [string, string])[]): NabLabelledFile & { skipped: string[] } {
  const firstRow = new Map<number, number>();
  for (let i = series.timestamps.length - 1; i >= 0; i--) firstRow.set(series.timestamps[i], i);
  const rows: [number, number][] = [];
  const skipped: string[] = [];
  for (const [start, end] of windows) {
    const t0 = parseNabTimestamp(start);
    const t1 = parseNabTimestamp(end);
    let l = firstRow.get(t0);
    let r = firstRow.get(t1);
    if (l === undefined || r === undefined) {
      const inside = insideRows(series.timestamps, t0, t1);
      l ??= inside?.[0];
      r ??= inside?.[1];
    }
    if (l === undefined || r === undefined || r < l) skipped.push(`[${start}, ${end}]`);
    else rows.push([l, r]);
  }
  rows.sort((a, b) => a[0] - b[0]);
  return { name: series.name, rows: series.timestamps.length, windows: rows, unmapped: skipped.length, skipped };
}

/** first and last row (file order) whose timestamp lies in [t0, t1], or undefined when none does */
function insideRows(stamps: Float64Array, t0: number, t1: number): [number, number] | undefined {
  let first = -1;
  let last = -1;
  for (let i = 0; i < stamps.length; i++) {
    if (stamps[i] < t0 || stamps[i] > t1) continue;
    if (first < 0) first = i;
    last = i;
  }
  return first < 0 ? undefined : [first, last];
}
