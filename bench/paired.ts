/**
 * Paired measurement, for a machine shared with other jobs: canaryd and one other proxy are loaded at the
 * same time (a wrk each, both proxies pinned to the same core), and the CPU each spends per request is
 * compared round by round. Whatever else the machine does then hits both alike, so their ratio holds
 * steady where back-to-back runs swing by tens of percent. The absolute µs are inflated (two proxies share
 * a core and its caches); only the ratios are reported as results.
 */
import { cpuSeconds } from './procstat.js';
import type { Target } from './targets.js';
import { runWrk } from './wrk.js';

export interface PairResult {
  other: string;
  /** per round: canaryd µs per request / other µs per request */
  ratios: number[];
  canarydUs: number[];
  otherUs: number[];
}

async function cpuPerRequestUs(t: Target, run: Promise<{ requests: number }>): Promise<number> {
  const c0 = cpuSeconds(t.pid!);
  const r = await run;
  return ((cpuSeconds(t.pid!) - c0) * 1e6) / r.requests;
}

export async function pairedRounds(
  canaryd: Target,
  others: Target[],
  o: { rounds: number; durationSec: number; connections: number; loadCpus: string; script: string },
): Promise<PairResult[]> {
  const out: PairResult[] = [];
  for (const other of others) {
    const res: PairResult = { other: other.name, ratios: [], canarydUs: [], otherUs: [] };
    for (let round = 0; round < o.rounds; round++) {
      const wrk = (t: Target) =>
        runWrk({ url: t.url, connections: o.connections, durationSec: o.durationSec, cpus: o.loadCpus, script: o.script });
      const [c, x] = await Promise.all([cpuPerRequestUs(canaryd, wrk(canaryd)), cpuPerRequestUs(other, wrk(other))]);
      res.canarydUs.push(c);
      res.otherUs.push(x);
      res.ratios.push(c / x);
      console.log(`  paired round ${round + 1} canaryd ${c.toFixed(1)} µs/req, ${other.name} ${x.toFixed(1)} µs/req`);
    }
    out.push(res);
  }
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Markdown: throughput per core of canaryd relative to each other proxy (the inverse of the CPU ratio). */
export function renderPaired(results: PairResult[], o: { rounds: number; durationSec: number }): string {
  const lines = [
    `Paired (${o.rounds} rounds × ${o.durationSec} s, canaryd and the other proxy loaded at the same time, both on the proxy core):`,
    '',
    '| canaryd vs | requests per CPU-second, canaryd / other (median) | per round |',
    '|---|---:|---|',
  ];
  for (const r of results)
    lines.push(`| ${r.other} | ${(1 / median(r.ratios)).toFixed(2)}× | ${r.ratios.map((x) => (1 / x).toFixed(2)).join(' / ')} |`);
  return lines.join('\n');
}
