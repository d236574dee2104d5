/**
 * The benches' one runner for the load generator wrk (Debian package `wrk`): installs the Debian tools a
 * bench needs (apt-get, when missing and running as root), runs wrk against a 127.0.0.1 URL for a bounded
 * time — pinned to cores with taskset when asked, with a Lua script when given — and parses requests/s, the
 * latency percentiles of `--latency` and the error counts (non-2xx, socket errors), so a proxy that answers
 * fast with errors cannot look good.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface WrkResult {
  requests: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  /** the slowest request of the run */
  maxMs: number;
  non2xx: number;
  socketErrors: number;
  /** non2xx + socketErrors */
  errors: number;
}

export interface WrkOptions {
  url: string;
  connections: number;
  durationSec: number;
  threads?: number;
  /** cores for taskset -c, e.g. "0"; unpinned when absent */
  cpus?: string;
  /** a wrk Lua script (see writeWrkScript) */
  script?: string;
}

export const hasCommand = (cmd: string): boolean =>
  spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0 || existsSync(`/usr/sbin/${cmd}`);

/** Installs the missing tools ([binary, Debian package] pairs) with apt-get when root; returns what is still missing. */
export function ensureDebianTools(tools: ReadonlyArray<readonly [string, string]>): string[] {
  const missing = tools.filter(([bin]) => !hasCommand(bin));
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (missing.length > 0 && root && hasCommand('apt-get')) {
    const pkgs = [...new Set(missing.map(([, pkg]) => pkg))];
    console.error(`installing ${pkgs.join(' ')} with apt-get`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { stdio: 'inherit', env });
  }
  return tools.filter(([bin]) => !hasCommand(bin)).map(([bin]) => bin);
}

export function ensureWrk(): void {
  if (ensureDebianTools([['wrk', 'wrk']]).length > 0) throw new Error('wrk is not installed (Debian: apt-get install -y wrk)');
}

/** Writes a Lua script rotating through `keys` pre-formatted requests that differ in x-user-id (the sticky key). */
export function writeWrkScript(dir: string, keys = 1000): string {
  const path = join(dir, 'rotate-users.lua');
  writeFileSync(
    path,
    `-- ${keys} requests that differ only in x-user-id (the sticky key), built once per thread
local reqs = {}
local n = ${keys}
local i = 0
init = function(args)
  for k = 1, n do reqs[k] = wrk.format("GET", "/", { ["x-user-id"] = "user-" .. k }) end
end
request = function()
  i = i % n + 1
  return reqs[i]
end
`,
  );
  return path;
}

const UNIT: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** Parses wrk's text report (with --latency). */
export function parseWrk(out: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const total = /(\d+) requests in/.exec(out);
  const pct = (p: number) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    return m ? Number(m[1]) * UNIT[m[2]] : NaN;
  };
  if (!rps || !total) throw new Error(`cannot parse wrk output:\n${out}`);
  const max = /^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m)\s/m.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = sock ? sock.slice(1).reduce((a, x) => a + Number(x), 0) : 0;
  return {
    requests: Number(total[1]),
    rps: Number(rps[1]),
    p50Ms: pct(50),
    p90Ms: pct(90),
    p99Ms: pct(99),
    maxMs: max ? Number(max[1]) * UNIT[max[2]] : NaN,
    non2xx,
    socketErrors,
    errors: non2xx + socketErrors,
  };
}

/** One wrk run; only 127.0.0.1 targets are accepted (benches never send traffic elsewhere). */
export function runWrk(o: WrkOptions): Promise<WrkResult> {
  if (!/^http:\/\/127\.0\.0\.1:\d+\//.test(o.url)) throw new Error(`wrk target must be http://127.0.0.1:PORT/..., got ${o.url}`);
  const wrkArgs = [
    '-t',
    String(o.threads ?? 1),
    '-c',
    String(o.connections),
    '-d',
    `${o.durationSec}s`,
    '--latency',
    ...(o.script ? ['-s', o.script] : []),
    o.url,
  ];
  const [cmd, args] = o.cpus !== undefined ? ['taskset', ['-c', o.cpus, 'wrk', ...wrkArgs]] : ['wrk', wrkArgs];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args as string[], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`wrk exited ${code}: ${err || out}`));
      try {
        resolve(parseWrk(out));
      } catch (e) {
        reject(e);
      }
    });
  });
}
