/**
 * `npm run bench`: canaryd against nginx and node http-proxy, side by side in one run, with wrk.
 *
 * canaryd runs with the node flags of the container (Dockerfile); "canaryd, node defaults" is the same
 * build under plain `node`. Set-up (the same for every target): one tiny upstream (nginx, fixed 29-byte body); wrk and the upstream
 * pinned to one core, the proxy under test pinned alone to the other (taskset); 50 keep-alive connections,
 * one wrk thread, the same duration, a warm-up per target, then several rounds in rotating order so drift on
 * a shared machine spreads over every target. The medians are reported, with requests/s, p50, p99, peak RSS
 * of the proxy (VmHWM of its process tree) and the CPU share of its core it used, and the ratios that the
 * issue's targets are about. The table, date and machine go to bench/RESULTS.md (section "## Proxy").
 *
 *   node dist/bench/proxy-bench.js [--duration 10] [--warmup 3] [--rounds 3] [--connections 50]
 *        [--targets direct,canaryd,canaryd-node-defaults,bare-undici,nginx,http-proxy] [--no-write] [--paired 5] [--cpu-prof DIR] [--ab LABEL=CLI.js ...]
 * --paired N then runs N paired rounds of canaryd against each other proxy (bench/paired.ts): the ratios
 * that hold on a machine shared with other jobs (0 skips them).
 * --cpu-prof runs canaryd alone under `node --cpu-prof` (for bench/profile-summary.js) and writes nothing.
 * --ab adds another canaryd build as a target (e.g. a copy of dist/ from before a change; node flags may
 * follow the path, space-separated), measured in the same rounds as the rest: the before/after numbers of
 * an optimisation on a noisy machine.
 * Traffic goes to 127.0.0.1 only and every run is bounded in time.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { pairedRounds, renderPaired } from './paired.js';
import { cpuSeconds, peakRssMb, rssMb } from './procstat.js';
import {
  CANARYD_NODE_FLAGS,
  startCanaryd,
  startNodeProxy,
  startNginxProxy,
  startNginxUpstream,
  startNodeUpstream,
  type Target,
} from './targets.js';
import { ensureDebianTools, hasCommand, runWrk, writeWrkScript, type WrkResult } from './wrk.js';

interface Args {
  duration: number;
  warmup: number;
  rounds: number;
  connections: number;
  targets: string[];
  write: boolean;
  cpuProf: string | null;
  ab: Array<{ label: string; cli: string }>;
  paired: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    duration: 10,
    warmup: 3,
    rounds: 3,
    connections: 50,
    targets: ['direct', 'canaryd', 'canaryd-node-defaults', 'bare-undici', 'nginx', 'http-proxy'],
    write: true,
    cpuProf: null,
    ab: [],
    paired: 5,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === '--duration') a.duration = Number(v);
    else if (k === '--warmup') a.warmup = Number(v);
    else if (k === '--rounds') a.rounds = Number(v);
    else if (k === '--connections') a.connections = Number(v);
    else if (k === '--targets') a.targets = v.split(',');
    else if (k === '--cpu-prof') a.cpuProf = v;
    else if (k === '--paired') a.paired = Number(v);
    else if (k === '--ab') {
      const eq = v.indexOf('=');
      a.ab.push({ label: v.slice(0, eq), cli: v.slice(eq + 1) });
    } else if (k === '--no-write') {
      a.write = false;
      continue;
    } else throw new Error(`unknown option ${k}`);
    i++;
  }
  if (a.cpuProf !== null) {
    a.targets = ['canaryd'];
    a.paired = 0;
  }
  return a;
}

/** wrk and nginx are Debian packages; installed when missing and we are root with apt-get (CI, a fresh box). */
function ensureTools(): { nginx: boolean } {
  const missing = ensureDebianTools([
    ['wrk', 'wrk'],
    ['nginx', 'nginx'],
    ['taskset', 'util-linux'],
  ]);
  if (missing.includes('wrk') || missing.includes('taskset'))
    throw new Error('the bench needs wrk and taskset (apt-get install wrk util-linux)');
  return { nginx: hasCommand('nginx') };
}

interface Row {
  name: string;
  rounds: WrkResult[];
  cpu: number[];
  peakRss: number | null;
  hwm: number | null;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (n: number, d = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '—';

function machineNote(loadCpus: string, proxyCpus: string, upstreamName: string): string {
  const c = cpus();
  const version = (cmd: string) =>
    spawnSync('sh', ['-c', cmd], { encoding: 'utf8' }).stdout.trim() || spawnSync('sh', ['-c', cmd], { encoding: 'utf8' }).stderr.trim();
  return [
    `${c.length} × ${c[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GB RAM, load average at start ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
    `node ${process.version}; ${version('nginx -v 2>&1')}; ${version('wrk --version 2>&1 | head -1').split(' Copyright')[0]}`,
    `wrk + upstream (${upstreamName}) on CPU ${loadCpus}, proxy under test alone on CPU ${proxyCpus} (taskset)`,
  ].join('\n');
}

/** One wrk run against `t`, with the proxy's CPU use and its RSS sampled every 250 ms meanwhile (the peak under load). */
async function measure(
  t: Target,
  args: Args,
  script: string,
  loadCpus: string,
  seconds: number,
): Promise<{ r: WrkResult; cpu: number; rss: number }> {
  const pid = t.pid;
  const cpu0 = pid === null ? 0 : cpuSeconds(pid);
  let rss = 0;
  const sampler = pid === null ? null : setInterval(() => (rss = Math.max(rss, rssMb(pid))), 250);
  const started = performance.now();
  try {
    const r = await runWrk({ url: t.url, connections: args.connections, durationSec: seconds, cpus: loadCpus, script });
    const wall = (performance.now() - started) / 1000;
    const cpu = pid === null ? NaN : (cpuSeconds(pid) - cpu0) / wall;
    return { r, cpu, rss: pid === null ? NaN : Math.max(rss, rssMb(pid)) };
  } finally {
    if (sampler) clearInterval(sampler);
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const tools = ensureTools();
  const n = cpus().length;
  const [loadCpus, proxyCpus] = n >= 2 ? ['0', '1'] : ['0', '0'];
  if (n < 2) console.warn('only one CPU: wrk, upstream and proxy share it; ratios still compare, absolute numbers do not');
  const dir = mkdtempSync(join(tmpdir(), 'canaryd-bench-'));
  const script = writeWrkScript(dir);
  const started: Target[] = [];
  try {
    const upstream = tools.nginx ? await startNginxUpstream(dir, loadCpus) : await startNodeUpstream(dir, loadCpus);
    started.push(upstream);
    const targets: Target[] = [];
    for (const name of args.targets) {
      let t: Target;
      if (name === 'direct') t = { name: 'direct (no proxy)', url: upstream.url, pid: null, stop: async () => undefined };
      else if (name === 'canaryd')
        t = await startCanaryd(dir, proxyCpus, upstream.url, [
          ...CANARYD_NODE_FLAGS,
          ...(args.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${args.cpuProf}`] : []),
        ]);
      else if (name === 'canaryd-node-defaults') t = await startCanaryd(dir, proxyCpus, upstream.url, [], 'canaryd, node defaults');
      else if (name === 'nginx') {
        if (!tools.nginx) continue;
        t = await startNginxProxy(dir, proxyCpus, upstream.url);
      } else if (name === 'http-proxy') t = await startNodeProxy('http-proxy', 'dist/bench/http-proxy-server.js', proxyCpus, upstream.url);
      else if (name === 'bare-undici')
        t = await startNodeProxy('bare undici proxy', 'dist/bench/bare-undici-server.js', proxyCpus, upstream.url);
      else throw new Error(`unknown target ${name}`);
      started.push(t);
      targets.push(t);
    }
    for (const { label, cli } of args.ab) {
      const [path, ...nodeFlags] = cli.split(' ');
      const t = await startCanaryd(dir, proxyCpus, upstream.url, nodeFlags, label, path);
      started.push(t);
      targets.push(t);
    }
    const rows: Row[] = targets.map((t) => ({ name: t.name, rounds: [], cpu: [], peakRss: null, hwm: null }));
    console.log(`warm-up ${args.warmup} s per target, then ${args.rounds} rounds of ${args.duration} s, ${args.connections} connections`);
    for (const t of targets) await measure(t, args, script, loadCpus, args.warmup);
    for (let round = 0; round < args.rounds; round++) {
      for (let k = 0; k < targets.length; k++) {
        const i = (k + round) % targets.length; // rotate the order each round
        const { r, cpu, rss } = await measure(targets[i], args, script, loadCpus, args.duration);
        rows[i].rounds.push(r);
        rows[i].cpu.push(cpu);
        if (Number.isFinite(rss)) rows[i].peakRss = Math.max(rows[i].peakRss ?? 0, rss);
        console.log(
          `  round ${round + 1} ${targets[i].name.padEnd(18)} ${fmt(r.rps).padStart(8)} req/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  cpu ${Number.isFinite(cpu) ? (cpu * 100).toFixed(0) + '%' : '—'}`,
        );
      }
    }
    // the high-water mark since start includes start-up transients (undici compiling its llhttp wasm on the
    // first connection); reported apart, the table's peak is the one sampled under load
    targets.forEach((t, i) => (rows[i].hwm = t.pid === null ? null : peakRssMb(t.pid)));
    if (args.cpuProf !== null) {
      console.log(`CPU profile of canaryd will be written to ${args.cpuProf} when it exits`);
      return;
    }
    let report = renderReport(rows, args, machineNote(loadCpus, proxyCpus, upstream.name));
    const canaryd = targets.find((t) => t.name === 'canaryd');
    const others = targets.filter((t) => t.pid !== null && t !== canaryd && !t.name.startsWith('canaryd'));
    if (args.paired > 0 && canaryd && others.length > 0) {
      console.log(`paired: ${args.paired} rounds of ${args.duration} s against each of ${others.map((t) => t.name).join(', ')}`);
      const pairs = await pairedRounds(canaryd, others, {
        rounds: args.paired,
        durationSec: args.duration,
        connections: args.connections,
        loadCpus,
        script,
      });
      report += `\n\n${renderPaired(pairs, { rounds: args.paired, durationSec: args.duration })}`;
    }
    console.log(`\n${report}`);
    if (args.write) {
      writeResults(report);
      console.log('written to bench/RESULTS.md (## Proxy)');
    }
  } finally {
    for (const t of started.reverse()) await t.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function renderReport(rows: Row[], args: Args, machine: string): string {
  const lines: string[] = [];
  lines.push(
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC with \`npm run bench\` (${args.rounds} rounds × ${args.duration} s after a ${args.warmup} s warm-up, ${args.connections} connections, medians).`,
  );
  lines.push('', '```', machine, '```', '');
  lines.push(
    'canaryd: 50/50 weights, sticky hashing on `x-user-id` (the wrk script rotates 1,000 keys), a targeting rule that',
    'does not match, metrics and histograms, the access log at its default 1 % sample (to a file), node run with the',
    'container\'s `--max-semi-space-size=4`; "node defaults" is the same without it. nginx: one worker, upstream',
    'keep-alive, access log off. http-proxy: node http-proxy with a keep-alive agent. bare undici proxy: the floor',
    '(bench/bare-undici-server.ts). "req per CPU-second" divides by the CPU time the proxy used, the steadiest',
    "figure on a shared machine; the issue's targets are per core.",
    '',
  );
  lines.push(
    '| target | req/s | req/s per round | p50 ms | p99 ms | peak RSS under load MB | RSS high-water since start MB | CPU of its core | req per CPU-second | errors |',
  );
  lines.push('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|');
  const stat = new Map<string, { rps: number; p99: number; perCore: number; rss: number | null }>();
  for (const r of rows) {
    const rps = median(r.rounds.map((x) => x.rps));
    const cpu = median(r.cpu);
    const errors = r.rounds.reduce((a, x) => a + x.errors, 0);
    const p99 = median(r.rounds.map((x) => x.p99Ms));
    // requests per CPU-second of the proxy, per round then the median: what one fully used core would serve
    const perCore = median(r.rounds.map((x, i) => (r.cpu[i] > 0 ? x.rps / r.cpu[i] : NaN)).filter(Number.isFinite));
    stat.set(r.name, { rps, p99, perCore, rss: r.peakRss });
    lines.push(
      `| ${r.name} | ${fmt(rps)} | ${r.rounds.map((x) => fmt(x.rps)).join(' / ')} | ${fmt(median(r.rounds.map((x) => x.p50Ms)), 2)} | ${fmt(p99, 2)} | ${r.peakRss === null ? '—' : fmt(r.peakRss, 1)} | ${r.hwm === null ? '—' : fmt(r.hwm, 1)} | ${Number.isFinite(cpu) ? `${fmt(cpu * 100)} %` : '—'} | ${fmt(perCore)} | ${errors} |`,
    );
  }
  const c = stat.get('canaryd');
  const hp = stat.get('http-proxy');
  const ng = stat.get('nginx');
  if (c) {
    // The issue's throughput targets are per core: judged on requests per CPU-second, since a proxy that
    // is not saturated (nginx, limited by the load generator's core) would otherwise look worse than it is.
    lines.push('', '| ratio | req/s | req/s per CPU-second (judged) | target |', '|---|---:|---:|---|');
    const ratio = (x: number, y: number) => (Number.isFinite(x / y) ? `${(x / y).toFixed(2)}×` : '—');
    if (hp)
      lines.push(
        `| canaryd / http-proxy | ${ratio(c.rps, hp.rps)} | ${ratio(c.perCore, hp.perCore)} | ≥ 1.5× ${c.perCore / hp.perCore >= 1.5 ? '(met)' : '(not met)'} |`,
      );
    if (ng)
      lines.push(
        `| canaryd / nginx | ${ratio(c.rps, ng.rps)} | ${ratio(c.perCore, ng.perCore)} | ≥ 0.3× ${c.perCore / ng.perCore >= 0.3 ? '(met)' : '(not met)'} |`,
      );
    if (hp) lines.push(`| canaryd p99 / http-proxy p99 | ${ratio(c.p99, hp.p99)} | | ≤ 1× ${c.p99 <= hp.p99 ? '(met)' : '(not met)'} |`);
    if (c.rss !== null) lines.push(`| canaryd peak RSS | ${fmt(c.rss, 1)} MB | | ≤ 100 MB ${c.rss <= 100 ? '(met)' : '(not met)'} |`);
  }
  return lines.join('\n');
}

const HEADER = `# Benchmark results

Every number here was measured with the command named beside it. The machine these runs come from was
shared with other jobs while they ran, so absolute numbers are noisy; the ratios measured side by side in
one run are what to compare. Re-run on a quiet machine for absolute figures.
`;

/** Replaces the "## Proxy" section of bench/RESULTS.md (other sections are kept). */
function writeResults(report: string): void {
  const path = 'bench/RESULTS.md';
  const old = existsSync(path) ? readFileSync(path, 'utf8') : HEADER;
  const section = `## Proxy\n\n${report}\n`;
  const start = old.indexOf('## Proxy\n');
  let next = start < 0 ? -1 : old.indexOf('\n## ', start + 1);
  if (next >= 0) next += 1;
  const out = start < 0 ? `${old.trimEnd()}\n\n${section}` : `${old.slice(0, start)}${section}${next >= 0 ? `\n${old.slice(next)}` : ''}`;
  writeFileSync(path, out);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
