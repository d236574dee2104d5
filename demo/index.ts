/**
 * `canaryd demo`: two sample upstreams on 127.0.0.1, canaryd in front with the rollout controller, a bounded
 * synthetic load, and two live rollouts, decisions printed as they happen:
 *   1. a good canary (same errors and latency as baseline) is promoted step by step to 100 %;
 *   2. the canary is then replaced by a bad build (more errors, slower) and a new rollout starts: the engine
 *      rolls it back by itself.
 * The dashboard URL is printed first, so the rollouts can be watched live. Everything ends on its own.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../config/index.js';
import { Sidecar } from '../sidecar.js';
import { startSampleUpstream } from './upstream.js';
import { runLoad } from './load.js';

const HELP = `usage: canaryd demo [options]
  --rate RPS            synthetic load, requests per second (default 1000)
  --interval SECONDS    minimum time per rollout step (default 12)
  --bad-errors RATE     share of requests the bad canary fails with 500 (default 0.05; baseline 0.0002)
  --bad-latency MS      median latency of the bad canary (default 40; baseline 20)
  --margin M            rollout.baseline.maxDegradation (default 0.15; canaryd's default is 0.10, with which
                        the last step needs about twice the traffic: the good rollout then takes ~3 min)
  --scenario S          good, bad or both (default both)
  --linger SECONDS      keep serving after the rollouts, to look at the dashboard (default 30)
  --port N, --admin-port N   listen ports (default 8080 and 9901, a free one when taken; 0 picks free ones)`;

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  const v = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isFinite(v)) throw new Error(`${name} must be a number, got ${JSON.stringify(args[i + 1])}`);
  return v;
}

const BASELINE = { latencyMs: 20, errorRate: 0.0002 };

export async function runDemo(args: string[]): Promise<number> {
  if (args.includes('--help')) {
    console.log(HELP);
    return 0;
  }
  const rate = flag(args, '--rate', 1000);
  const interval = flag(args, '--interval', 12);
  const bad = { errorRate: flag(args, '--bad-errors', 0.05), latencyMs: flag(args, '--bad-latency', 40) };
  const linger = flag(args, '--linger', 30);
  const margin = flag(args, '--margin', 0.15);
  const si = args.indexOf('--scenario');
  const scenario = si >= 0 ? args[si + 1] : 'both';
  if (!['good', 'bad', 'both'].includes(scenario)) throw new Error(`--scenario must be good, bad or both, got ${JSON.stringify(scenario)}`);

  // A default port someone else holds (8080 and 9901 are common) is replaced by a free one; a port asked
  // for with --port/--admin-port that is taken is one clear line and exit 2.
  const ports: number[] = [];
  for (const [name, fallback] of [
    ['--port', 8080],
    ['--admin-port', 9901],
  ] as const) {
    const want = flag(args, name, fallback);
    if (want === 0 || (await portFree(want))) ports.push(want);
    else if (args.includes(name)) {
      console.error(`canaryd demo: port ${want} (${name}) is already in use; pick another or pass 0 for a free one`);
      return 2;
    } else {
      console.log(`port ${want} is taken: using a free port instead (${name} N to choose)`);
      ports.push(0);
    }
  }
  const baseline = await startSampleUpstream({ name: 'baseline', ...BASELINE });
  const canary = await startSampleUpstream({ name: 'canary', ...BASELINE });
  const stateDir = mkdtempSync(join(tmpdir(), 'canaryd-demo-'));
  // changes through the admin API need a token (tokenless mutations are refused): a fresh one per run, handed
  // to the dashboard in the URL fragment and printed for `canaryd ctl`
  const adminToken = randomBytes(24).toString('base64url');
  const configText = (canaryVersion: string) => `listen: 127.0.0.1:${ports[0]}
admin: { listen: "127.0.0.1:${ports[1]}", token: "${adminToken}" }
upstreams:
  baseline: { url: "${baseline.url}", version: v1.0.0 }
  canary: { url: "${canary.url}", version: ${canaryVersion} }
routing: { canaryWeight: 0, sticky: { header: x-user-id } }
rollout:
  steps: [5, 10, 25, 50, 75, 100]
  interval: ${interval}s
  minRequests: 100
  analysisInterval: 1s
  maxStepDuration: 3m
  baseline: { maxDegradation: ${margin} }
log: { level: error }
state: { dir: "${stateDir}" }
`;
  const config = parseConfigText(configText('v1.1.0'));
  const sidecar = new Sidecar({ config });
  await sidecar.start();
  const adminUrl = `http://127.0.0.1:${sidecar.adminAddress!.port}`;
  const proxyUrl = `http://127.0.0.1:${sidecar.proxyAddress!.port}`;
  console.log(`canaryd demo
  dashboard:  ${adminUrl}/#token=${adminToken}
  ctl:        CANARYD_ADMIN_URL=${adminUrl} CANARYD_ADMIN_TOKEN=${adminToken} npx canaryd ctl status
  proxy:      ${proxyUrl}
  admin API:  ${adminUrl}/api/v1/status
  metrics:    ${adminUrl}/metrics
  baseline:   ${baseline.url} (v1.0.0: ${BASELINE.errorRate * 100} % errors, ${BASELINE.latencyMs} ms median)
  load:       ${rate} req/s from 1,000 sticky users
  rollout:    steps 5 → 10 → 25 → 50 → 75 → 100 %, at least ${interval} s a step, margin ${margin * 100} %
`);
  const t0 = Date.now();
  const stamp = () => `[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s]`;
  sidecar.events.subscribe((e) => {
    if (e.type !== 'decision') return;
    const d = e.decision as { action: string; canaryWeight: number; reasons: string[]; source: string };
    if (d.action === 'CONTINUE' && !/failed analysis|paused|gate/.test(d.reasons[0] ?? '')) return;
    console.log(`${stamp()} ${d.action.padEnd(8)} canary ${String(d.canaryWeight).padStart(3)} %  ${d.reasons[0] ?? ''}`);
    for (const r of d.reasons.slice(1, d.action === 'ROLLBACK' ? 4 : 2)) console.log(`${' '.repeat(27)}${r}`);
  });

  const budgetMs = 6 * 60_000 + linger * 1000;
  const stopLoad = new AbortController();
  const load = runLoad({ url: proxyUrl, ratePerSecond: rate, durationMs: budgetMs, signal: stopLoad.signal });
  const results: string[] = [];
  const rollout = async (label: string, expect: 'promoted' | 'rolledback') => {
    const started = Date.now();
    await sidecar.rollout.start(`${label}: rollout started`);
    let end = await waitForEnd(sidecar, 4 * 60_000);
    if (end !== 'promoted' && end !== 'rolledback') {
      sidecar.rollout.rollback(`demo: ${label} ${end}, rolled back by the demo to go on`);
      end = `${end}, then rolled back by the demo`;
    }
    const secs = ((Date.now() - started) / 1000).toFixed(0);
    const line = `${label}: ${end} after ${secs} s${end === expect ? '' : ` (expected ${expect})`}`;
    console.log(`${stamp()} ${line}\n`);
    results.push(line);
    return end === expect;
  };

  let ok = true;
  if (scenario !== 'bad') {
    console.log(`${stamp()} rollout 1: canary v1.1.0 is as good as baseline; expect PROMOTE to 100 %`);
    ok = (await rollout('good canary v1.1.0', 'promoted')) && ok;
  }
  if (scenario !== 'good') {
    canary.set(bad);
    // the bad build is a new release: canaryd labels it v1.2.0 too (status, metrics, webhooks)
    sidecar.applyConfig(parseConfigText(configText('v1.2.0')), 'demo: canary replaced by v1.2.0');
    console.log(
      `${stamp()} rollout 2: canary v1.2.0 is bad (${bad.errorRate * 100} % errors, ${bad.latencyMs} ms median); expect ROLLBACK`,
    );
    ok = (await rollout('bad canary v1.2.0', 'rolledback')) && ok;
  }
  console.log(`${results.join('\n')}\ndashboard stays up for ${linger} s: ${adminUrl}/`);
  await new Promise((r) => setTimeout(r, linger * 1000));
  stopLoad.abort();
  await load;
  await sidecar.stop(2000);
  await baseline.close();
  await canary.close();
  rmSync(stateDir, { recursive: true, force: true });
  return ok ? 0 : 1;
}

/** Whether 127.0.0.1:port can be listened on now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

async function waitForEnd(sidecar: Sidecar, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const phase = sidecar.rollout.machine.state.phase;
    if (phase === 'promoted' || phase === 'rolledback') return phase;
    if (phase === 'paused') return 'paused';
    await new Promise((r) => setTimeout(r, 250));
  }
  return 'still running (timed out)';
}
