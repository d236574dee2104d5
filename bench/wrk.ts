/**
 * A small shared runner for the load generator wrk (Debian package `wrk`): makes sure it is installed
 * (apt-get when missing and running as root), runs it against a 127.0.0.1 URL for a bounded time, and
 * parses requests/s and the latency percentiles from its `--latency` report. Used by bench/faults-bench.ts;
 * other benches may use it too.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';

export interface WrkResult {
  requests: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  errors: number;
}

export function ensureWrk(): string {
  const found = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' });
  if (found.status === 0) return found.stdout.trim();
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
  if (!isRoot || !hasApt) throw new Error('wrk is not installed (Debian: apt-get install -y wrk)');
  console.error('installing wrk (apt-get install -y wrk)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'wrk'], { stdio: 'inherit', env });
  return 'wrk';
}

const UNIT: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function ms(v: string, unit: string): number {
  return Number(v) * UNIT[unit];
}

/** Parses wrk's text report (with --latency). */
export function parseWrk(out: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const total = /(\d+) requests in/.exec(out);
  const pct = (p: number) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    return m ? ms(m[1], m[2]) : NaN;
  };
  const errs = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  if (!rps || !total) throw new Error(`cannot parse wrk output:\n${out}`);
  return {
    requests: Number(total[1]),
    rps: Number(rps[1]),
    p50Ms: pct(50),
    p90Ms: pct(90),
    p99Ms: pct(99),
    errors: (errs ? Number(errs[1]) : 0) + (sock ? sock.slice(1).reduce((a, x) => a + Number(x), 0) : 0),
  };
}

export interface WrkOptions {
  threads: number;
  connections: number;
  durationS: number;
}

/** One wrk run; only 127.0.0.1 targets are accepted (benches never send traffic elsewhere). */
export function runWrk(bin: string, url: string, o: WrkOptions): Promise<WrkResult> {
  if (!/^http:\/\/127\.0\.0\.1:\d+\//.test(url)) throw new Error(`wrk target must be http://127.0.0.1:PORT/..., got ${url}`);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [`-t${o.threads}`, `-c${o.connections}`, `-d${o.durationS}s`, '--latency', url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`wrk exited ${code}:\n${out}`));
      try {
        resolve(parseWrk(out));
      } catch (e) {
        reject(e);
      }
    });
  });
}
