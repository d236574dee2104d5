/**
 * `canaryd demo`: two sample upstreams on 127.0.0.1 (a healthy baseline and a canary with a configurable
 * regression), canaryd in front, a bounded synthetic load, and the proxy, admin, dashboard and metrics URLs.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../config/index.js';
import { Sidecar } from '../sidecar.js';
import { startSampleUpstream } from './upstream.js';
import { runLoad } from './load.js';

const HELP = `usage: canaryd demo [--canary-errors RATE] [--canary-latency MS] [--rate RPS] [--duration SECONDS] [--port N] [--admin-port N]
  --canary-errors   share of canary requests that fail with 500 (default 0.2: a bad canary)
  --canary-latency  canary median latency in ms (default 20; baseline is 20)
  --rate            requests per second of synthetic load (default 100)
  --duration        seconds of load before the demo exits (default 300)`;

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : fallback;
}

export async function runDemo(args: string[]): Promise<number> {
  if (args.includes('--help')) {
    console.log(HELP);
    return 0;
  }
  const canaryErrors = flag(args, '--canary-errors', 0.2);
  const canaryLatency = flag(args, '--canary-latency', 20);
  const rate = flag(args, '--rate', 100);
  const duration = flag(args, '--duration', 300);
  const baseline = await startSampleUpstream({ name: 'baseline', latencyMs: 20, errorRate: 0.002 });
  const canary = await startSampleUpstream({ name: 'canary', latencyMs: canaryLatency, errorRate: canaryErrors });
  const stateDir = mkdtempSync(join(tmpdir(), 'canaryd-demo-'));
  const config = parseConfigText(
    `listen: 127.0.0.1:${flag(args, '--port', 8080)}
admin: { listen: "127.0.0.1:${flag(args, '--admin-port', 9901)}" }
upstreams:
  baseline: { url: "${baseline.url}", version: v1.0.0 }
  canary: { url: "${canary.url}", version: v1.0.1 }
routing:
  canaryWeight: 5
  sticky: { header: x-user-id }
log: { level: warn }
state: { dir: "${stateDir}" }
`,
  );
  const sidecar = new Sidecar({ config });
  await sidecar.start();
  const proxyUrl = `http://127.0.0.1:${sidecar.proxyAddress!.port}`;
  const adminUrl = `http://127.0.0.1:${sidecar.adminAddress!.port}`;
  console.log(`canaryd demo
  proxy:      ${proxyUrl}
  dashboard:  ${adminUrl}/
  admin API:  ${adminUrl}/api/v1/status
  metrics:    ${adminUrl}/metrics
  baseline:   ${baseline.url} (v1.0.0, healthy)
  canary:     ${canary.url} (v1.0.1, ${canaryErrors * 100}% errors, ${canaryLatency} ms median)
  load:       ${rate} req/s for ${duration} s`);
  const result = await runLoad({ url: proxyUrl, ratePerSecond: rate, durationMs: duration * 1000 });
  console.log(`load finished: ${result.sent} requests, by status ${JSON.stringify(result.byStatus)}`);
  await sidecar.stop(2000);
  await baseline.close();
  await canary.close();
  return 0;
}
