/**
 * Reads a folder in the NAB layout (`data/<category>/<file>.csv`, `labels/combined_windows.json`, optionally
 * `reference/<detector>_anomaly_scores.json.gz`) for the anomaly bench and the scorer's tests. The I/O lives
 * here so analysis/anomaly stays pure. Files are taken in the sorted order of their keys, so every run sees
 * the same corpus in the same order.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { labelledWindows, type NabLabelledFile } from './nab-score.js';
import { labelSeries, parseNabCsv, parseNabWindows, type NabSeries } from './nab-data.js';

export interface NabCorpus {
  dir: string;
  series: NabSeries[];
  files: NabLabelledFile[];
  windows: number;
}

/** The shared NAB copy, resolved from the repo root (process.cwd() under npm). */
export function defaultNabDir(): string {
  const beside = resolve(process.cwd(), '..', 'shared', 'nab');
  if (existsSync(beside)) return beside;
  // a linked git worktree (a scratch checkout elsewhere): the corpus sits beside the main checkout;
  // its .git file reads "gitdir: <main>/.git/worktrees/<name>"
  try {
    const m = /^gitdir: (.+)$/m.exec(readFileSync(join(process.cwd(), '.git'), 'utf8'));
    if (m) return resolve(m[1].trim(), '..', '..', '..', '..', 'shared', 'nab');
  } catch {
    /* not a linked worktree */
  }
  return beside;
}

/**
 * Load a corpus. `categories` keeps only files whose first path segment is listed (e.g. a split of the
 * shared corpus into artificial+AWS and the rest, to fix a threshold on one and score on the other).
 */
export function loadNabCorpus(dir: string, categories?: readonly string[]): NabCorpus {
  const labels = parseNabWindows(readFileSync(join(dir, 'labels', 'combined_windows.json'), 'utf8'));
  const dataDir = join(dir, 'data');
  const keys: string[] = [];
  for (const category of readdirSync(dataDir).sort()) {
    if (!statSync(join(dataDir, category)).isDirectory()) continue;
    if (categories && !categories.includes(category)) continue;
    for (const file of readdirSync(join(dataDir, category)).sort()) if (file.endsWith('.csv')) keys.push(`${category}/${file}`);
  }
  const series = keys.map((key) => parseNabCsv(key, readFileSync(join(dataDir, key), 'utf8')));
  // A data file without a labels entry has no windows (every detection is a false alarm).
  const files = series.map((s) => labelSeries(s, labels[s.name] ?? []));
  return { dir, series, files, windows: files.reduce((n, f) => n + labelledWindows(f), 0) };
}

/** Stored per-row scores of a published detector, aligned with the corpus' files. */
export function loadReferenceScores(corpus: NabCorpus, detector: string): Float64Array[] {
  const path = join(corpus.dir, 'reference', `${detector}_anomaly_scores.json.gz`);
  const doc = JSON.parse(gunzipSync(readFileSync(path)).toString('utf8')) as Record<string, string[]>;
  return corpus.series.map((s) => {
    const rows = doc[s.name];
    if (!rows) throw new Error(`${path}: no scores for ${s.name}`);
    return Float64Array.from(rows, Number);
  });
}
