/**
 * Cold start: the latency of the first 3 s of load (wrk, 50 connections) on a proxy that has just started,
 * for canaryd, the bare undici proxy and http-proxy; then canaryd's RSS every 5 s over 60 s of continuous
 * load (the transient before V8's first full collections, which the proxy bench's short rounds miss).
 *
 *   npm run build && node dist/bench/cold-start.js [--trials 3] [--node-flags "--max-semi-space-size=4 ..."]
 *
 * The processes, the wrk runner and the RSS reader are the proxy bench's (bench/targets.ts, bench/wrk.ts,
 * bench/procstat.ts); --node-flags replaces the container's flag for every node proxy started here.
 * Traffic goes to 127.0.0.1 only; every run is bounded in time. Prints, writes nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rssMb, peakRssMb } from './procstat.js';
import { CANARYD_NODE_FLAGS, startCanaryd, startNodeProxy, startNodeUpstream, type Target } from './targets.js';
import { ensureWrk, runWrk, writeWrkScript } from './wrk.js';

const LOAD_CPUS = '0';
const PROXY_CPUS = '1';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

async function coldBurst(start: () => Promise<Target>, script: string): Promise<string> {
  const t = await start();
  try {
    const r = await runWrk({ url: t.url, connections: 50, durationSec: 3, cpus: LOAD_CPUS, script });
    return `${t.name.padEnd(18)} max ${r.maxMs.toFixed(1)} ms  p99 ${r.p99Ms.toFixed(1)} ms  ${Math.round(r.rps).toLocaleString('en-US')} req/s`;
  } finally {
    await t.stop();
  }
}

async function main(): Promise<void> {
  const trials = Number(arg('--trials', '3'));
  const flags = arg('--node-flags', CANARYD_NODE_FLAGS.join(' ')).split(' ').filter(Boolean);
  ensureWrk();
  const dir = mkdtempSync(join(tmpdir(), 'canaryd-cold-'));
  const script = writeWrkScript(dir);
  const upstream = await startNodeUpstream(dir, LOAD_CPUS);
  try {
    console.log(`node flags: ${flags.join(' ') || '(none)'}; first 3 s of load after start, 50 connections`);
    // bench/*-server.js take node flags through NODE_OPTIONS (startNodeProxy runs them with plain node)
    process.env.NODE_OPTIONS = flags.join(' ');
    for (let i = 0; i < trials; i++) {
      console.log(await coldBurst(() => startCanaryd(dir, PROXY_CPUS, upstream.url, flags), script));
      console.log(
        await coldBurst(() => startNodeProxy('bare undici proxy', 'dist/bench/bare-undici-server.js', PROXY_CPUS, upstream.url), script),
      );
      console.log(await coldBurst(() => startNodeProxy('http-proxy', 'dist/bench/http-proxy-server.js', PROXY_CPUS, upstream.url), script));
    }
    delete process.env.NODE_OPTIONS;

    const c = await startCanaryd(dir, PROXY_CPUS, upstream.url, flags);
    try {
      const pid = c.pid!;
      const samples: string[] = [];
      const sampler = setInterval(() => samples.push(`${(samples.length + 1) * 5}s:${Math.round(rssMb(pid))}`), 5000);
      console.log(`canaryd RSS idle ${Math.round(rssMb(pid))} MB`);
      await runWrk({ url: c.url, connections: 50, durationSec: 60, cpus: LOAD_CPUS, script }).finally(() => clearInterval(sampler));
      console.log(`canaryd RSS under 60 s of load, MB: ${samples.join(' ')}; high-water ${Math.round(peakRssMb(pid))} MB`);
    } finally {
      await c.stop();
    }
  } finally {
    await upstream.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
