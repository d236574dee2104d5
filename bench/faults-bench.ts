/**
 * Fault injection overhead: canaryd with faults enabled and five rules that match nothing (version, path
 * glob, prefix, header, method) against the same canaryd with faults disabled, measured side by side in one
 * run with wrk against a tiny 127.0.0.1 upstream, same settings. One canaryd process serves both: between
 * rounds its config file is rewritten and it reloads (SIGHUP), alternating AB BA AB ... so that drift and
 * noise fall on both and process-level differences (core, memory layout, JIT) cancel. Measured per round:
 * wrk's req/s, p50, p99, and canaryd's CPU time per request (from /proc: far less sensitive than req/s to
 * other load on a shared machine). Also the engine's own cost in process, without the network. Prints a
 * table and appends it to bench/RESULTS.md under "## Faults overhead". Target: enabled within 3 %.
 *
 *   npm run bench:faults      (FAULTS_BENCH_ROUNDS=12 FAULTS_BENCH_SECONDS=3 FAULTS_BENCH_CONNECTIONS=32)
 *   FAULTS_BENCH_AA=1 ...     A/A check: "enabled" is disabled too — the method's own noise on this machine
 *
 * Every process is real (upstream, canaryd and wrk are separate); traffic only to 127.0.0.1, bounded in time.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { parseConfigText } from '../config/index.js';
import { FaultEngine, type Exchange } from '../proxy/index.js';
import { ensureWrk, runWrk, type WrkResult } from './wrk.js';

const ROUNDS = Number(process.env.FAULTS_BENCH_ROUNDS ?? 12);
const SECONDS = Number(process.env.FAULTS_BENCH_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.FAULTS_BENCH_CONNECTIONS ?? 32);
const AA = process.env.FAULTS_BENCH_AA === '1';
const CANARYD = fileURLToPath(new URL('../cli/canaryd.js', import.meta.url));
const RESULTS = 'bench/RESULTS.md';
type Mode = 'disabled' | 'enabled';

const UPSTREAM_SRC = `require('http').createServer({ keepAliveTimeout: 60000 }, (q, s) => { s.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 }); s.end('ok'); }).listen(0, '127.0.0.1', function () { console.log(this.address().port); });`;

const RULES_THAT_MATCH_NOTHING = `
  rules:
    - { name: canary-only, match: { version: canary }, probability: 0.5, abort: { status: 503 } }
    - { name: never-glob, match: { path: "/never/*/x" }, probability: 1, delay: { ms: 100 } }
    - { name: never-prefix, match: { path: /admin/ }, probability: 1, reset: {} }
    - { name: never-header, match: { header: { x-chaos: "on" } }, probability: 1, abort: { status: 500 } }
    - { name: never-method, match: { method: DELETE, path: "/api/*" }, probability: 1, hang: { maxMs: 1000 } }`;

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); null elsewhere. */
function cpuSeconds(pid: number | undefined): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** Calls `pick` on every stdout line of `child` until it returns a value. */
function onLine<T>(child: ChildProcess, pick: (line: string) => T | null, what: string, timeoutMs = 15_000): Promise<T> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => done(new Error(`${what}: not seen in ${timeoutMs} ms`)), timeoutMs);
    const onData = (c: Buffer) => {
      buf += c.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const got = pick(buf.slice(0, i));
        buf = buf.slice(i + 1);
        if (got !== null) return done(null, got);
      }
    };
    const onExit = (code: number | null) => done(new Error(`${what}: the process exited (${code})`));
    const done = (err: Error | null, v?: T) => {
      clearTimeout(t);
      child.stdout!.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(v as T);
    };
    child.stdout!.on('data', onData);
    child.once('exit', onExit);
  });
}

const jsonLine = (l: string): any => {
  try {
    return JSON.parse(l);
  } catch {
    return null;
  }
};

function configText(upstreamPort: number, stateDir: string, mode: Mode): string {
  const faults = mode === 'enabled' && !AA ? `  enabled: true${RULES_THAT_MATCH_NOTHING}` : '  enabled: false';
  return `listen: 127.0.0.1:0
admin: { listen: "127.0.0.1:0" }
upstreams:
  baseline: { url: "http://127.0.0.1:${upstreamPort}", version: v1 }
  canary: { url: "http://127.0.0.1:${upstreamPort}", version: v2 }
routing: { canaryWeight: 0 }
state: { dir: "${stateDir}" }
log: { level: info, accessLogSampleRate: 0 }
faults:
${faults}
`;
}

/**
 * The engine's own cost per request, in process and without network noise: route() + observe() on a
 * request no rule matches, with the same five rules.
 */
function engineCostNs(): number {
  const config = parseConfigText(
    `upstreams: { baseline: { url: "http://127.0.0.1:1" }, canary: { url: "http://127.0.0.1:2" } }\nfaults:\n  enabled: true${RULES_THAT_MATCH_NOTHING}\n`,
    {},
  );
  const engine = new FaultEngine({
    config: config.faults,
    environment: 'development',
    env: {},
    registry: new Registry(),
    log: { info() {}, warn() {}, error() {} },
    store: { readJson: () => undefined, writeJson() {}, append() {} },
  });
  const req = {
    url: '/api/items/42?x=1',
    method: 'GET',
    headers: { host: '127.0.0.1', 'user-agent': 'wrk' },
    rawHeaders: ['Host', '127.0.0.1', 'User-Agent', 'wrk'],
  };
  const ex = { req, version: 'baseline', faulted: false } as unknown as Exchange;
  const obs = { version: 'baseline' as const, status: 200, durationMs: 1.2, outcome: 'ok' as const, faulted: false };
  let hits = 0;
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      if (engine.route(ex)) hits++;
      engine.observe(obs);
    }
  };
  run(200_000); // warm-up (JIT)
  const n = 2_000_000;
  const t0 = process.hrtime.bigint();
  run(n);
  const ns = Number(process.hrtime.bigint() - t0) / n;
  if (hits !== 0) throw new Error('a rule matched in the in-process measurement');
  return ns;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);
const f3 = (x: number) => x.toFixed(3);

async function main(): Promise<void> {
  ensureWrk();
  const costNs = engineCostNs();
  console.error(`fault engine in process: ${costNs.toFixed(0)} ns per request (route + observe, 5 rules, none matching)`);

  const upstream = spawn(process.execPath, ['-e', UPSTREAM_SRC], { stdio: ['ignore', 'pipe', 'inherit'] });
  const upstreamPort = await onLine(upstream, (l) => (/^\d+$/.test(l.trim()) ? Number(l.trim()) : null), 'upstream');
  const dir = mkdtempSync(join(tmpdir(), 'canaryd-bench-faults-'));
  const file = join(dir, 'canaryd.yaml');
  writeFileSync(file, configText(upstreamPort, join(dir, 'state'), 'disabled'));
  const canaryd = spawn(process.execPath, [CANARYD, '--config', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  const cleanup = () => [upstream, canaryd].forEach((c) => c.kill('SIGKILL'));
  process.on('exit', cleanup);
  try {
    const started = await onLine(canaryd, (l) => (jsonLine(l)?.event === 'started' ? jsonLine(l) : null), 'canaryd start');
    const port: number = started.proxy.port;
    const admin = `http://127.0.0.1:${started.admin.port}`;
    let current: Mode = 'disabled';
    const setMode = async (mode: Mode) => {
      if (mode === current && !AA) return;
      const applied = onLine(canaryd, (l) => (jsonLine(l)?.event === 'config_applied' ? true : null), `reload to ${mode}`);
      writeFileSync(file, configText(upstreamPort, join(dir, 'state'), mode));
      canaryd.kill('SIGHUP');
      await applied;
      current = mode;
      const st = (await (await fetch(`${admin}/api/v1/faults`)).json()) as any;
      const want = mode === 'enabled' && !AA ? 'armed' : 'disabled';
      if (st.state !== want || (want === 'armed' && st.rules.filter((r: any) => r.active).length !== 5))
        throw new Error(`canaryd should be ${want}: ${JSON.stringify(st)}`);
    };
    const url = `http://127.0.0.1:${port}/api/items/42?x=1`;
    const opts = { url, threads: 1, connections: CONNECTIONS, durationSec: SECONDS };
    console.error(
      `one canaryd, reloaded between rounds; warm-up 2 s each; ${ROUNDS} rounds x 2 modes x ${SECONDS} s (wrk -t1 -c${CONNECTIONS})${AA ? ' — A/A check' : ''}`,
    );
    for (const mode of ['disabled', 'enabled'] as const) {
      await setMode(mode);
      await runWrk({ ...opts, durationSec: 2 });
    }
    const runs: Record<Mode, WrkResult[]> = { disabled: [], enabled: [] };
    const cpuUs: Record<Mode, number[]> = { disabled: [], enabled: [] };
    for (let r = 0; r < ROUNDS; r++) {
      const order: Mode[] = r % 2 === 0 ? ['disabled', 'enabled'] : ['enabled', 'disabled'];
      for (const mode of order) {
        await setMode(mode);
        const cpu0 = cpuSeconds(canaryd.pid);
        const res = await runWrk(opts);
        const cpu1 = cpuSeconds(canaryd.pid);
        if (res.errors > 0) throw new Error(`${mode}: ${res.errors} errors in round ${r + 1}`);
        runs[mode].push(res);
        if (cpu0 !== null && cpu1 !== null) cpuUs[mode].push(((cpu1 - cpu0) * 1e6) / res.requests);
        console.error(
          `round ${String(r + 1).padStart(2)} ${mode.padEnd(8)} ${f1(res.rps).padStart(9)} req/s  p50 ${f2(res.p50Ms)} ms  p99 ${f2(res.p99Ms)} ms  canaryd CPU ${f1(cpuUs[mode].at(-1) ?? NaN)} µs/request`,
        );
      }
    }
    const m = (await (await fetch(`${admin}/api/v1/faults/metrics`)).json()) as any;
    if (m.chaosInjected !== 0) throw new Error(`the rules were meant to match nothing: ${JSON.stringify(m)}`);

    const sum = (mode: Mode) => ({
      rps: median(runs[mode].map((x) => x.rps)),
      p50: median(runs[mode].map((x) => x.p50Ms)),
      p99: median(runs[mode].map((x) => x.p99Ms)),
      cpu: median(cpuUs[mode]),
    });
    const d = sum('disabled');
    const e = sum('enabled');
    const rpsPaired = runs.enabled.map((x, i) => x.rps / runs.disabled[i].rps);
    const cpuPaired = cpuUs.enabled.map((x, i) => cpuUs.disabled[i] / x);
    const rpsRatio = median(rpsPaired);
    const cpuRatio = median(cpuPaired);
    const label = AA ? 'disabled again (A/A check)' : 'enabled, 5 rules matching nothing';
    const rows = [
      '| faults | req/s | p50 ms | p99 ms | canaryd CPU µs/request | req/s ratio | CPU ratio |',
      '|---|---:|---:|---:|---:|---:|---:|',
      `| disabled | ${f1(d.rps)} | ${f2(d.p50)} | ${f2(d.p99)} | ${f1(d.cpu)} | 1.000 | 1.000 |`,
      `| ${label} | ${f1(e.rps)} | ${f2(e.p50)} | ${f2(e.p99)} | ${f1(e.cpu)} | ${f3(rpsRatio)} | ${f3(cpuRatio)} |`,
    ];
    const spread = (xs: number[]) => `${xs.map(f3).join(', ')} (min ${f3(Math.min(...xs))}, max ${f3(Math.max(...xs))})`;
    const lines = [
      '',
      `### ${new Date().toISOString().slice(0, 19)}Z — ${AA ? 'A/A check, ' : ''}node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')}`,
      '',
      `${AA ? '`FAULTS_BENCH_AA=1 npm run bench:faults`' : '`npm run bench:faults`'}: one canaryd reloaded between rounds, wrk -t1 -c${CONNECTIONS}, ${ROUNDS} rounds × ${SECONDS} s per mode, alternating AB/BA, against a node:http upstream answering "ok"; canaryd, upstream and wrk are separate processes on the same host. Values are medians over the rounds; ratios are medians of the per-round pairs (req/s: enabled/disabled; CPU: disabled/enabled, so above 1 is faster either way).`,
      '',
      ...rows,
      '',
      `Per-round req/s ratios: ${spread(rpsPaired)}. CPU ratios: ${spread(cpuPaired)}. ${AA ? 'A/A: both modes are the same, so the spread is the noise.' : `Target (ratio >= 0.970): req/s ${rpsRatio >= 0.97 ? 'met' : 'NOT met'}, CPU ${cpuRatio >= 0.97 ? 'met' : 'NOT met'}. ${m.totalRequests} requests evaluated by the fault engine, ${m.chaosInjected} faulted.`}`,
      '',
      `In process, without the network: the engine costs ${costNs.toFixed(0)} ns per request (route + observe, 5 rules, none matching), ${f2((costNs / (d.cpu * 1000)) * 100)} % of the ${f1(d.cpu)} µs of canaryd CPU a request costs with faults disabled.`,
      '',
    ];
    console.log([...rows, '', ...lines.slice(-4)].join('\n'));
    const heading = '## Faults overhead';
    if (!existsSync(RESULTS)) writeFileSync(RESULTS, '# Benchmark results\n');
    if (!readFileSync(RESULTS, 'utf8').includes(heading)) {
      appendFileSync(
        RESULTS,
        `\n${heading}\n\nFault injection enabled with rules that match nothing, against fault injection disabled (bench/faults-bench.ts). Newest run last. Read a run next to an A/A check (FAULTS_BENCH_AA=1) made on the same machine at the same time: the spread of its ratios is the noise floor of the method there.\n`,
      );
    }
    const text = readFileSync(RESULTS, 'utf8');
    const at = text.indexOf(heading);
    const next = text.indexOf('\n## ', at + heading.length);
    const cut = next === -1 ? text.length : next;
    writeFileSync(RESULTS, text.slice(0, cut).replace(/\n*$/, '\n') + lines.join('\n') + text.slice(cut));
    console.error(`appended to ${RESULTS}`);
  } finally {
    cleanup();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
