/**
 * `npm run bench:h2`: canaryd against nginx over HTTP/2 and TLS, side by side in one run (issue 16's
 * benchmarks). Targets, each pinned alone to core 1 (the upstream and the load generators on core 0):
 *   - h2c (prior knowledge): canaryd's one port (HTTP/1.1 + h2c) and nginx `listen ... http2`, proxying to
 *     the same tiny nginx upstream over HTTP/1.1 keep-alive; h2load -c 8 -m 10 for --duration seconds;
 *   - h2 over TLS (ALPN): the same with a self-signed P-256 certificate this bench makes with openssl;
 *   - TLS handshakes: `openssl s_time -new` (a full handshake and one GET per connection, serially).
 * Reported: requests (or handshakes) per CPU-second of the proxy process tree (utime + stime from /proc),
 * the raw rates, and canaryd / nginx. Rounds alternate the order of the two proxies. Every run is bounded
 * in time; traffic goes to 127.0.0.1 only. Results go to bench/RESULTS.md, section "## HTTP/2 and TLS".
 *
 *   node dist/bench/h2-bench.js [--duration 5] [--rounds 2] [--no-write]
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds } from './procstat.js';
import { freePort, startNginxUpstream, type Target } from './targets.js';
import { hasCommand } from './wrk.js';

interface Args {
  duration: number;
  rounds: number;
  write: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { duration: 5, rounds: 2, write: true };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--duration') a.duration = Number(argv[++i]);
    else if (argv[i] === '--rounds') a.rounds = Number(argv[++i]);
    else if (argv[i] === '--no-write') a.write = false;
    else throw new Error(`unknown option ${argv[i]}`);
  }
  return a;
}

function pinned(cpuList: string, cmd: string, args: string[], logFile: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  return spawn('taskset', ['-c', cpuList, cmd, ...args], { stdio: ['ignore', fd, fd] });
}

function stopper(child: ChildProcess): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exit = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exit;
    clearTimeout(timer);
  };
}

/** Waits until `port` accepts a TCP connection (bounded). */
async function waitPort(port: number, child: ChildProcess, what: string): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode})`);
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not listen on ${port}`);
}

function makeCert(dir: string): { cert: string; key: string } {
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem'].concat([
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ]),
    { cwd: dir, stdio: 'pipe' },
  );
  return { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
}

async function startCanaryd(dir: string, upstream: string, tls: { cert: string; key: string } | null): Promise<Target & { port: number }> {
  const port = await freePort();
  const admin = await freePort();
  const name = tls ? 'canaryd-tls' : 'canaryd-h2c';
  const conf = join(dir, `${name}.yaml`);
  const base = upstream.replace(/\/$/, '');
  const listen = tls ? `{ address: "127.0.0.1:${port}", tls: { cert: "${tls.cert}", key: "${tls.key}" } }` : `127.0.0.1:${port}`;
  writeFileSync(
    conf,
    `listen: ${listen}
admin: { listen: 127.0.0.1:${admin} }
upstreams:
  baseline: { url: ${base}, version: v1 }
  canary: { url: ${base}, version: v2 }
routing: { canaryWeight: 50, sticky: { header: x-user-id }, rules: [{ name: beta, match: { header: { x-beta: "1" } }, to: canary }] }
state: { dir: "${join(dir, `${name}-state`)}" }
log: { level: info }
`,
  );
  const child = pinned(
    '1',
    process.execPath,
    ['--max-semi-space-size=4', 'dist/cli/canaryd.js', '--config', conf],
    join(dir, `${name}.log`),
  );
  await waitPort(port, child, name);
  return { name, url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}/`, pid: child.pid!, port, stop: stopper(child) };
}

async function startNginxFront(
  dir: string,
  upstream: string,
  tls: { cert: string; key: string } | null,
): Promise<Target & { port: number }> {
  const port = await freePort();
  const name = tls ? 'nginx-tls' : 'nginx-h2c';
  const prefix = join(dir, name);
  mkdirSync(prefix, { recursive: true });
  const u = new URL(upstream);
  const listen = tls
    ? `listen 127.0.0.1:${port} ssl http2 backlog=4096;\n    ssl_certificate ${tls.cert};\n    ssl_certificate_key ${tls.key};`
    : `listen 127.0.0.1:${port} http2 backlog=4096;`;
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
events { worker_connections 4096; }
pid ${join(prefix, 'nginx.pid')};
http {
  access_log off;
  keepalive_requests 10000000;
  http2_max_requests 10000000;
  upstream tiny { server ${u.host}; keepalive 64; keepalive_requests 10000000; keepalive_timeout 120s; }
  server {
    ${listen}
    location / { proxy_pass http://tiny; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`,
  );
  const child = pinned(
    '1',
    '/usr/sbin/nginx',
    ['-p', prefix, '-c', conf, '-e', join(prefix, 'error.log'), '-g', 'daemon off;'],
    join(prefix, 'out.log'),
  );
  await waitPort(port, child, name);
  return { name, url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}/`, pid: child.pid!, port, stop: stopper(child) };
}

interface Run {
  count: number;
  seconds: number;
  cpu: number;
  failed: number;
}

/** h2load for `duration` seconds on core 0; CPU of the proxy tree across the run. */
function h2load(t: Target, duration: number): Run {
  const before = cpuSeconds(t.pid!);
  const started = performance.now();
  const r = spawnSync('taskset', ['-c', '0', 'h2load', '-D', String(duration), '-c', '8', '-m', '10', '-t', '1', t.url], {
    encoding: 'utf8',
    timeout: (duration + 30) * 1000,
  });
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuSeconds(t.pid!) - before;
  const m = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed/.exec(r.stdout ?? '');
  if (!m) throw new Error(`h2load against ${t.name} gave no result: ${r.stdout} ${r.stderr}`);
  return { count: Number(m[1]), failed: Number(m[2]), seconds, cpu };
}

/** openssl s_time -new: full handshakes (and one GET each) for `duration` seconds, serially, on core 0. */
function handshakes(t: Target & { port: number }, duration: number): Run {
  const before = cpuSeconds(t.pid!);
  const started = performance.now();
  const r = spawnSync(
    'taskset',
    ['-c', '0', 'openssl', 's_time', '-connect', `127.0.0.1:${t.port}`, '-new', '-time', String(duration), '-www', '/'],
    {
      encoding: 'utf8',
      timeout: (duration + 30) * 1000,
    },
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuSeconds(t.pid!) - before;
  const m = /(\d+) connections in [\d.]+s/.exec(r.stdout ?? '') ?? /(\d+) connections in \d+ real seconds/.exec(r.stdout ?? '');
  if (!m) throw new Error(`s_time against ${t.name} gave no result: ${r.stdout} ${r.stderr}`);
  return { count: Number(m[1]), failed: 0, seconds, cpu };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  for (const tool of ['h2load', 'openssl', 'taskset'])
    if (!hasCommand(tool)) throw new Error(`${tool} is needed (Debian: nghttp2-client, openssl, util-linux)`);
  if (!existsSync('/usr/sbin/nginx')) throw new Error('/usr/sbin/nginx is needed (Debian: nginx)');
  const dir = mkdtempSync(join(tmpdir(), 'canaryd-h2-bench-'));
  const cert = makeCert(dir);
  const upstream = await startNginxUpstream(dir, '0');
  const targets = {
    'canaryd-h2c': await startCanaryd(dir, upstream.url, null),
    'nginx-h2c': await startNginxFront(dir, upstream.url, null),
    'canaryd-tls': await startCanaryd(dir, upstream.url, cert),
    'nginx-tls': await startNginxFront(dir, upstream.url, cert),
  };
  const results: Record<string, { h2: Run[]; hs: Run[] }> = {};
  for (const k of Object.keys(targets)) results[k] = { h2: [], hs: [] };
  try {
    // warm-up: JIT and connection pools
    for (const t of Object.values(targets)) h2load(t, 2);
    for (let round = 0; round < args.rounds; round++) {
      const order = round % 2 === 0 ? ['canaryd', 'nginx'] : ['nginx', 'canaryd'];
      for (const proto of ['h2c', 'tls'] as const)
        for (const who of order) {
          const key = `${who}-${proto}` as keyof typeof targets;
          results[key].h2.push(h2load(targets[key], args.duration));
          if (proto === 'tls') results[key].hs.push(handshakes(targets[key], args.duration));
          process.stderr.write(`round ${round + 1} ${key} done\n`);
        }
    }
  } finally {
    for (const t of Object.values(targets)) await t.stop();
    await upstream.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const perCpu = (runs: Run[]) => median(runs.map((r) => r.count / Math.max(r.cpu, 0.01)));
  const rate = (runs: Run[]) => median(runs.map((r) => r.count / r.seconds));
  const rows: string[] = [];
  const row = (what: string, c: Run[], n: Run[], unit: string) => {
    const ratio = perCpu(c) / perCpu(n);
    rows.push(`| ${what} | ${fmt(rate(c))} | ${fmt(perCpu(c))} | ${fmt(rate(n))} | ${fmt(perCpu(n))} | **${fmt(ratio, 2)}×** | ${unit} |`);
    return ratio;
  };
  const h2c = row('h2c, h2load -c 8 -m 10', results['canaryd-h2c'].h2, results['nginx-h2c'].h2, 'req');
  const tlsReq = row('h2 over TLS, h2load -c 8 -m 10', results['canaryd-tls'].h2, results['nginx-tls'].h2, 'req');
  const hs = row('TLS handshakes, openssl s_time -new', results['canaryd-tls'].hs, results['nginx-tls'].hs, 'handshake');
  const failed = Object.entries(results).map(([k, r]) => `${k} ${r.h2.reduce((a, x) => a + x.failed, 0)}`);
  const when = new Date().toISOString().replace('T', ' ').slice(0, 16);
  const text = `## HTTP/2 and TLS (issue 16) — \`npm run bench:h2\`

Measured ${when} UTC by bench/h2-bench.ts, ${args.rounds} rounds of ${args.duration} s per target (order
alternating), medians; ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ')} at the end
(a machine shared with other jobs: the per-CPU-second figures are the ones that hold). Each proxy pinned alone to core 1, the tiny nginx upstream and the load generator on core 0; both
proxies reach the upstream over HTTP/1.1 keep-alive; canaryd runs its bench config (50/50 weights, sticky
hashing, a rule, metrics, access log sampled). CPU = utime + stime of the proxy's process tree over the run.
Reproduce: \`npm run build && node dist/bench/h2-bench.js --duration ${args.duration} --rounds ${args.rounds}\`.

| load | canaryd /s | canaryd per CPU-s | nginx /s | nginx per CPU-s | canaryd / nginx per CPU-s | unit |
|---|---:|---:|---:|---:|---:|---|
${rows.join('\n')}

Failed h2load requests (all rounds): ${failed.join(', ')}.
Target (issue 16): h2 throughput ≥ 0.3× nginx per CPU-second: ${h2c >= 0.3 ? 'met' : 'missed'} in clear (${fmt(h2c, 2)}×),
${tlsReq >= 0.3 ? 'met' : 'missed'} over TLS (${fmt(tlsReq, 2)}×); TLS handshakes ${fmt(hs, 2)}× nginx per CPU-second (no target given). Not measured here: gRPC unary added
latency, and the HTTP/1.1 A/B against the build before issue 16.
`;
  process.stdout.write(`${text}\n`);
  if (args.write) {
    const file = 'bench/RESULTS.md';
    const md = readFileSync(file, 'utf8');
    const re = /## HTTP\/2 (listener|and TLS) \(issue 16\)[^\n]*\n[\s\S]*?(?=\n## |$)/;
    writeFileSync(file, re.test(md) ? md.replace(re, text.trimEnd() + '\n') : `${md.trimEnd()}\n\n${text}`);
    process.stderr.write(`written to ${file}\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
