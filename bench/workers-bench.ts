/**
 * `npm run bench:workers` (docs/fleet.md "Workers"): canaryd with `workers: 2` against `workers: 1`.
 *  1. Per-core efficiency: requests per CPU-second (the whole process tree: primary + workers), both
 *     canaryds loaded at the same time by a wrk each (bench/paired.ts), so whatever else the shared machine
 *     does hits both alike. Target ≥ 0.95×.
 *  2. Throughput 1 → 2 workers: each canaryd alone, flat out (wrk 16 connections), alternating order, req/s
 *     per round. On this 2-core machine wrk, the upstream and canaryd all share the same two cores: the
 *     ratio says how much of the second core canaryd can take from wrk and the upstream, not how it scales.
 *  3. Memory per worker: VmRSS of the primary and of each worker after the load.
 * Bounded: a few rounds of 8 s (4 s with --quick). Usage: npm run bench:workers [-- --quick]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds, processTree, rssMb } from './procstat.js';
import { startCanaryd, startNginxUpstream, startNodeUpstream, type Target } from './targets.js';
import { ensureWrk, hasCommand, runWrk, writeWrkScript } from './wrk.js';
import { pairedRounds } from './paired.js';

const QUICK = process.argv.includes('--quick');
const ROUNDS = QUICK ? 2 : 4;
const DURATION = QUICK ? 4 : 8;
const CPUS = Array.from({ length: availableParallelism() }, (_, i) => i).join(',');
const dir = mkdtempSync(join(tmpdir(), 'canaryd-workers-bench-'));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** CPU seconds of the root process alone (its tree minus its children's trees). */
function ownCpu(pid: number): number {
  const [, ...children] = processTree(pid);
  return cpuSeconds(pid) - children.reduce((a, c) => a + cpuSeconds(c), 0);
}

async function flatOut(t: Target, script: string): Promise<{ rps: number; cpuPerReqUs: number; errors: number; primaryShare: number }> {
  const c0 = cpuSeconds(t.pid!);
  const p0 = ownCpu(t.pid!);
  const r = await runWrk({ url: t.url, connections: 16, durationSec: DURATION, cpus: CPUS, script });
  const total = cpuSeconds(t.pid!) - c0;
  return { rps: r.rps, cpuPerReqUs: (total * 1e6) / r.requests, errors: r.errors, primaryShare: (ownCpu(t.pid!) - p0) / total };
}

function memory(t: Target): { primaryMb: number; workersMb: number[] } {
  const [primary, ...workers] = processTree(t.pid!);
  const workersMb = workers.map((p) => rssMb(p));
  return { primaryMb: rssMb(primary) - workersMb.reduce((a, b) => a + b, 0), workersMb };
}

async function main(): Promise<void> {
  ensureWrk();
  const script = writeWrkScript(dir);
  const upstream = hasCommand('nginx') ? await startNginxUpstream(dir, CPUS) : await startNodeUpstream(dir, CPUS);
  const started: Target[] = [upstream];
  try {
    console.log(
      `# workers bench (${QUICK ? 'quick' : 'full'}), node ${process.version}, ${availableParallelism()} CPUs, load average ${loadavg()}`,
    );
    console.log(`upstream: ${upstream.name}; wrk, the upstream and canaryd unpinned on CPUs ${CPUS} (the same cores)`);
    const one = await startCanaryd(dir, CPUS, upstream.url, [], 'workers-1', 'dist/cli/canaryd.js', 'workers: 1\n');
    started.push(one);
    const two = await startCanaryd(dir, CPUS, upstream.url, [], 'workers-2', 'dist/cli/canaryd.js', 'workers: 2\n');
    started.push(two);
    // warm-up: JIT and connection pools in every process
    await Promise.all([one, two].map((t) => runWrk({ url: t.url, connections: 16, durationSec: 2, cpus: CPUS, script })));

    const [paired] = await pairedRounds(two, [one], { rounds: ROUNDS, durationSec: DURATION, connections: 16, loadCpus: CPUS, script });
    const efficiency = paired.ratios.map((r) => 1 / r);

    const rows: Array<{ round: number; one: number; two: number; oneUs: number; twoUs: number; errors: number; primary: number }> = [];
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? [one, two] : [two, one];
      const res = new Map<Target, Awaited<ReturnType<typeof flatOut>>>();
      for (const t of order) res.set(t, await flatOut(t, script));
      const a = res.get(one)!;
      const b = res.get(two)!;
      rows.push({
        round: round + 1,
        one: a.rps,
        two: b.rps,
        oneUs: a.cpuPerReqUs,
        twoUs: b.cpuPerReqUs,
        errors: a.errors + b.errors,
        primary: b.primaryShare,
      });
      console.log(`  alone round ${round + 1}: workers 1 ${a.rps.toFixed(0)} req/s, workers 2 ${b.rps.toFixed(0)} req/s`);
    }
    const m1 = memory(one);
    const m2 = memory(two);

    console.log(`\nload average at the end ${loadavg()}\n`);
    console.log(`Per-core efficiency, paired (${ROUNDS} rounds × ${DURATION} s, both loaded at once, each by its own wrk):\n`);
    console.log(`| requests per CPU-second, workers: 2 / workers: 1 | per round |\n|---:|---|`);
    console.log(`| ${median(efficiency).toFixed(3)}× (target ≥ 0.95×) | ${efficiency.map((e) => e.toFixed(3)).join(' / ')} |`);
    console.log(`\nThroughput, each alone flat out (wrk -c 16 on the same ${availableParallelism()} cores):\n`);
    console.log(`| round | workers: 1 req/s | workers: 2 req/s | ratio | CPU µs/req 1 | CPU µs/req 2 |\n|---|---:|---:|---:|---:|---:|`);
    for (const r of rows)
      console.log(
        `| ${r.round} | ${r.one.toFixed(0)} | ${r.two.toFixed(0)} | ${(r.two / r.one).toFixed(2)} | ${r.oneUs.toFixed(1)} | ${r.twoUs.toFixed(1)} |`,
      );
    console.log(
      `| median | ${median(rows.map((r) => r.one)).toFixed(0)} | ${median(rows.map((r) => r.two)).toFixed(0)} | ${median(rows.map((r) => r.two / r.one)).toFixed(2)} | | |`,
    );
    console.log(`\nerrors (non-2xx + socket) over the alone runs: ${rows.reduce((n, r) => n + r.errors, 0)}`);
    console.log(
      `the primary's share of the CPU of workers: 2 under load (it proxies nothing): ${rows.map((r) => (100 * r.primary).toFixed(1) + ' %').join(' / ')}`,
    );
    console.log(
      `\nMemory (VmRSS after the load): workers: 1 — ${m1.primaryMb.toFixed(0)} MB in one process; workers: 2 — primary ${m2.primaryMb.toFixed(0)} MB, workers ${m2.workersMb.map((m) => m.toFixed(0) + ' MB').join(', ')}`,
    );
  } finally {
    for (const t of started.reverse()) await t.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
