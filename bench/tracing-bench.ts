/**
 * `npm run bench:tracing`: what OpenTelemetry tracing costs canaryd, in requests per CPU-second, three
 * canaryds side by side in one run:
 *   before    the build from before tracing existed (git revision --before, built here into a temp dir)
 *   off       this build, `tracing` absent (the tracing stage is not in the chain)   target ≥ 0.98× before
 *   1%        this build, tracing on at sampleRatio 0.01, exporting to an OTLP/HTTP receiver in this process
 *                                                                                 target ≥ 0.95× before
 * All three are loaded at the same time (one wrk each, the three canaryds pinned to the same core, wrk and
 * the nginx upstream to the other), so whatever else the shared machine does hits them alike; the CPU each
 * canaryd spends per request (/proc) is compared round by round, and the medians of the per-round ratios are
 * reported. wrk's requests carry no traceparent, so at 1 % the ratio sampler decides and the other 99 % are
 * forwarded with a fresh unsampled traceparent (the real cost of tracing being on).
 *
 *   node dist/bench/tracing-bench.js [--rounds 5] [--duration 8] [--connections 16] [--before REV] [--no-write]
 * Traffic goes to 127.0.0.1 only; every run is bounded (rounds × duration, plus a warm-up).
 */
import { execFileSync, execSync } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cpuSeconds } from './procstat.js';
import { startCanaryd, startNginxUpstream, startNodeUpstream, type Target } from './targets.js';
import { ensureWrk, hasCommand, runWrk, writeWrkScript } from './wrk.js';

interface Args {
  rounds: number;
  duration: number;
  connections: number;
  before: string | null;
  write: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { rounds: 5, duration: 8, connections: 16, before: null, write: true };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === '--rounds') a.rounds = Number(v);
    else if (k === '--duration') a.duration = Number(v);
    else if (k === '--connections') a.connections = Number(v);
    else if (k === '--before') a.before = v;
    else if (k === '--no-write') {
      a.write = false;
      continue;
    } else throw new Error(`unknown option ${k}`);
    i++;
  }
  return a;
}

/**
 * The main line just before tracing landed: the newest merge whose merged-in side (its second parent) has no
 * tracing/ yet — that is main as it stood when tracing was merged with it, every other feature included.
 */
function revisionBeforeTracing(): string {
  const merges = execFileSync('git', ['rev-list', '--merges', 'HEAD'], { encoding: 'utf8' }).trim().split('\n');
  const has = (rev: string) => {
    try {
      execFileSync('git', ['cat-file', '-e', `${rev}:tracing/index.ts`], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  for (const m of merges) if (has(m) && !has(`${m}^2`)) return `${m}^2`;
  throw new Error('no merge of a tracing-less main found: pass --before REV');
}

/** Builds `rev` (tsc only: the proxy needs no dashboard) into dir/dist, with this checkout's node_modules. */
function buildRevision(rev: string, dir: string): string {
  execSync(`git archive --format=tar ${rev} | tar -x -C ${dir}`, { stdio: 'inherit' });
  symlinkSync(resolve('node_modules'), join(dir, 'node_modules'));
  execFileSync(process.execPath, [resolve('node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: dir, stdio: 'inherit' });
  if (existsSync(join(dir, 'scripts/copy-assets.mjs')))
    execFileSync(process.execPath, ['scripts/copy-assets.mjs'], { cwd: dir, stdio: 'inherit' });
  return join(dir, 'dist/cli/canaryd.js');
}

/** An OTLP/HTTP receiver that counts the spans it is sent (no parsing beyond counting span ids). */
async function startReceiver(): Promise<{ url: string; spans: () => number; close: () => Promise<void> }> {
  let spans = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      spans += body.split('"spanId"').length - 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    spans: () => spans,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const f2 = (x: number) => x.toFixed(2);
const f3 = (x: number) => x.toFixed(3);

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  ensureWrk();
  const dir = mkdtempSync(join(tmpdir(), 'canaryd-bench-tracing-'));
  const rev = a.before ?? revisionBeforeTracing();
  const revId = execFileSync('git', ['rev-parse', '--short', rev], { encoding: 'utf8' }).trim();
  console.error(`building the revision before tracing (${revId}) into ${dir}/before`);
  const beforeDir = join(dir, 'before');
  execFileSync('mkdir', ['-p', beforeDir]);
  const beforeCli = buildRevision(rev, beforeDir);
  const receiver = await startReceiver();
  const targets: Target[] = [];
  const stopAll = async () => {
    for (const t of targets) await t.stop().catch(() => undefined);
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const upstream = hasCommand('nginx') ? await startNginxUpstream(dir, '0') : await startNodeUpstream(dir, '0');
    targets.push(upstream);
    const tracingYaml = `tracing: { otlp: { url: "${receiver.url}" }, sampleRatio: 0.01 }\n`;
    const before = await startCanaryd(dir, '1', upstream.url, [], 'before', beforeCli);
    const off = await startCanaryd(dir, '1', upstream.url, [], 'off', 'dist/cli/canaryd.js');
    const onePct = await startCanaryd(dir, '1', upstream.url, [], 'sample-1pct', 'dist/cli/canaryd.js', tracingYaml);
    targets.push(before, off, onePct);
    const script = writeWrkScript(dir);
    const three = [before, off, onePct];
    const load = (t: Target, durationSec: number) => runWrk({ url: t.url, connections: a.connections, durationSec, cpus: '0', script });
    console.error('warm-up 3 s each, all three at once');
    await Promise.all(three.map((t) => load(t, 3)));
    const us: number[][] = [[], [], []];
    const rps: number[][] = [[], [], []];
    let requests = 0;
    for (let r = 0; r < a.rounds; r++) {
      const c0 = three.map((t) => cpuSeconds(t.pid!));
      const res = await Promise.all(three.map((t) => load(t, a.duration)));
      const c1 = three.map((t) => cpuSeconds(t.pid!));
      res.forEach((x, i) => {
        if (x.errors > 0) throw new Error(`${three[i].name}: ${x.errors} errors in round ${r + 1}`);
        us[i].push(((c1[i] - c0[i]) * 1e6) / x.requests);
        rps[i].push(x.rps);
      });
      requests += res[2].requests;
      console.error(
        `round ${r + 1}: ${three.map((t, i) => `${t.name} ${us[i].at(-1)!.toFixed(1)} µs/req ${rps[i].at(-1)!.toFixed(0)} req/s`).join(' | ')}`,
      );
    }
    // what the 1 % target exported: the spans leave every 5 s, so wait for one more interval
    await new Promise((r) => setTimeout(r, 5_500));
    const exported = receiver.spans();
    const offRatios = us[1].map((x, i) => us[0][i] / x);
    const pctRatios = us[2].map((x, i) => us[0][i] / x);
    const offR = median(offRatios);
    const pctR = median(pctRatios);
    const rows = [
      '| canaryd | CPU µs/request (median) | req/s (median) | requests per CPU-second vs before (median of rounds) | per round | target |',
      '|---|---:|---:|---:|---|---|',
      `| before tracing (${revId}) | ${median(us[0]).toFixed(1)} | ${median(rps[0]).toFixed(0)} | 1.000 | | |`,
      `| tracing absent | ${median(us[1]).toFixed(1)} | ${median(rps[1]).toFixed(0)} | ${f3(offR)}× | ${offRatios.map(f3).join(' / ')} | ≥ 0.98×: ${offR >= 0.98 ? 'met' : 'NOT met'} |`,
      `| tracing, sampleRatio 0.01 | ${median(us[2]).toFixed(1)} | ${median(rps[2]).toFixed(0)} | ${f3(pctR)}× | ${pctRatios.map(f3).join(' / ')} | ≥ 0.95×: ${pctR >= 0.95 ? 'met' : 'NOT met'} |`,
    ];
    const lines = [
      '',
      `### ${new Date().toISOString().slice(0, 19)}Z — node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')}`,
      '',
      `\`npm run bench:tracing -- --rounds ${a.rounds} --duration ${a.duration} --connections ${a.connections}\`: three canaryds loaded at the same time (one wrk -t1 -c${a.connections} each, 1,000 sticky keys), all three pinned to core 1, wrk and the ${upstream.name === 'upstream' ? 'nginx' : 'node'} upstream to core 0; ${a.rounds} rounds × ${a.duration} s after a 3 s warm-up. CPU per request from /proc; the ratio is before's CPU per request over the other's, per round (above 1 is cheaper). Absolute µs are inflated by three processes sharing a core; the ratios are the result.`,
      '',
      ...rows,
      '',
      `At 1 %: ${exported} spans reached the OTLP receiver for ${requests} requests in the measured rounds plus the warm-up (a sampled request exports 2 spans).`,
      '',
    ];
    console.log([...rows, '', lines.at(-2)].join('\n'));
    if (a.write) {
      const file = 'bench/RESULTS.md';
      const heading = '## Tracing';
      let text = readFileSync(file, 'utf8');
      if (!text.includes(`\n${heading}\n`))
        text += `\n${heading}\n\nOpenTelemetry tracing's cost (bench/tracing-bench.ts, docs/observability.md). Newest run last.\n`;
      const at = text.indexOf(`\n${heading}\n`);
      const next = text.indexOf('\n## ', at + heading.length + 2);
      const cut = next === -1 ? text.length : next;
      writeFileSync(file, text.slice(0, cut).replace(/\n*$/, '\n') + lines.join('\n') + text.slice(cut));
      console.error(`written to ${file}`);
    }
  } finally {
    await stopAll();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
