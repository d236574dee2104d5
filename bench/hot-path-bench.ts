/**
 * Micro-benchmark of the per-request functions of canaryd's hot path, in CPU nanoseconds per call
 * (process.cpuUsage, so time the process spends descheduled on a shared machine does not count; the fastest
 * of 5 runs, as the others carry other processes' cache misses): the header
 * rewrites both ways, the traffic split, the metrics and the windowed record. It
 * complements the wrk bench, whose numbers on a busy machine swing more than most single changes move them.
 *   node dist/bench/hot-path-bench.js [--from DIST_DIR]   (default: this build's dist/)
 * --from runs the same cases against another build (e.g. a copy of dist/ from before a change), so a
 * before/after pair is two runs of this file.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const fromIdx = args.indexOf('--from');
const root = resolve(fromIdx >= 0 ? args[fromIdx + 1] : new URL('..', import.meta.url).pathname);
const load = (p: string) => import(pathToFileURL(resolve(root, p)).href);

const headersMod = await load('proxy/headers.js');
const { TrafficSplitter } = await load('proxy/router.js');
const { ProxyMetrics } = await load('proxy/metrics.js');
const { WindowedRecorder } = await load('proxy/record.js');
const { Registry } = await import('prom-client');

function cpuNsPerOp(fn: () => void, iterations: number): number {
  for (let i = 0; i < iterations / 5; i++) fn(); // warm-up: let the JIT settle
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < iterations; i++) fn();
    const c = process.cpuUsage(c0);
    runs.push(((c.user + c.system) * 1000) / iterations);
  }
  // the fastest of the runs: on a shared machine the others carry other processes' cache misses
  return Math.min(...runs);
}

// what wrk sends, and what a browser sends
const wrkRequest = ['Host', '127.0.0.1:8080', 'x-user-id', 'user-42'];
const browserRequest = [
  'Host',
  'shop.example',
  'User-Agent',
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
  'Accept',
  'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'Accept-Language',
  'en-GB,en;q=0.9',
  'Accept-Encoding',
  'gzip, deflate, br',
  'Connection',
  'keep-alive',
  'Cookie',
  'session=abc123; uid=user-42; theme=dark',
  'Upgrade-Insecure-Requests',
  '1',
  'X-Forwarded-For',
  '203.0.113.7',
  'traceparent',
  '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
];
const nginxResponse = [
  'Server',
  'nginx/1.22.1',
  'Date',
  'Tue, 01 Dec 2026 20:00:00 GMT',
  'Content-Type',
  'text/plain',
  'Content-Length',
  '29',
  'Connection',
  'keep-alive',
].map((s) => Buffer.from(s, 'latin1'));

const ctx = { clientIp: '127.0.0.1', proto: 'http' as const, authority: null, requireHost: true };
const splitter = new TrafficSplitter({
  canaryWeight: 50,
  sticky: { header: 'x-user-id' },
  rules: [{ name: 'beta-testers', match: { header: { 'x-beta': '1' } }, to: 'canary' }],
});
const req = { headers: { host: '127.0.0.1:8080', 'x-user-id': 'user-42' }, url: '/', method: 'GET', rawHeaders: wrkRequest };
const metrics = new ProxyMetrics(new Registry());
const recorder = new WindowedRecorder({ now: Date.now });
let n = 0;
const observation = () => ({
  version: (n++ & 1 ? 'canary' : 'baseline') as 'canary' | 'baseline',
  status: 200,
  durationMs: 1.7,
  outcome: 'ok' as const,
  faulted: false,
});

let sink: unknown;
const cases: Array<[string, () => void, number]> = [
  ['upstreamRequestHeaders (wrk: 2 headers)', () => (sink = headersMod.upstreamRequestHeaders(wrkRequest, ctx)), 500_000],
  ['upstreamRequestHeaders (browser: 11 headers)', () => (sink = headersMod.upstreamRequestHeaders(browserRequest, ctx)), 300_000],
  ['clientResponseHeaders (nginx: 5 headers)', () => (sink = headersMod.clientResponseHeaders(nginxResponse, 'baseline', true)), 500_000],
  ['TrafficSplitter.pick (sticky, 1 rule)', () => (sink = splitter.pick(req, '127.0.0.1')), 1_000_000],
  ['ProxyMetrics.observe', () => metrics.observe(observation()), 1_000_000],
  ['WindowedRecorder.record', () => recorder.record(observation()), 1_000_000],
];

console.log(`hot-path micro-benchmark of ${root} (CPU ns per call, fastest of 5 runs)\n`);
console.log('| function | ns/call |\n|---|---:|');
for (const [name, fn, iterations] of cases) console.log(`| ${name} | ${cpuNsPerOp(fn, iterations).toFixed(0)} |`);
void sink;
