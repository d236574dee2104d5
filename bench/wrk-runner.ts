/**
 * Runs the load generator `wrk` (Debian package) pinned to a core, and parses what it prints: requests/s,
 * the latency percentiles of --latency, and the error counts (non-2xx, socket errors), so a proxy that
 * answers fast with errors cannot look good. A Lua script rotates through 1,000 pre-formatted requests that
 * differ in an `x-user-id` header, so sticky hashing sees many keys and both versions get traffic; the
 * requests are built once in init(), so wrk's per-request cost stays tiny. Named apart from the faults
 * bench's runner on purpose (the lead dedupes on merge).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface WrkResult {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  socketErrors: number;
}

export interface WrkOptions {
  url: string;
  connections: number;
  durationSec: number;
  /** cores for taskset -c, e.g. "0" */
  cpus: string;
  script: string;
  threads?: number;
}

/** Writes the rotating-requests Lua script into `dir` and returns its path. */
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

function toMs(value: string, unit: string): number {
  const v = Number(value);
  switch (unit) {
    case 'us':
      return v / 1000;
    case 'ms':
      return v;
    case 's':
      return v * 1000;
    case 'm':
      return v * 60_000;
    default:
      throw new Error(`unknown wrk latency unit ${unit}`);
  }
}

export function parseWrk(out: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p50 = /^\s+50%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(out);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(out);
  const total = /(\d+) requests in/.exec(out);
  if (!rps || !p50 || !p99 || !total) throw new Error(`cannot parse wrk output:\n${out}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requestsPerSec: Number(rps[1]),
    p50Ms: toMs(p50[1], p50[2]),
    p99Ms: toMs(p99[1], p99[2]),
    requests: Number(total[1]),
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
  };
}

export function runWrk(o: WrkOptions): Promise<WrkResult> {
  const args = ['-c', o.cpus, 'wrk', '-t', String(o.threads ?? 1), '-c', String(o.connections), '-d', `${o.durationSec}s`, '--latency', '-s', o.script, o.url];
  return new Promise((resolve, reject) => {
    const child = spawn('taskset', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`wrk exited ${code}: ${err || out}`));
      try {
        resolve(parseWrk(out));
      } catch (e) {
        reject(e);
      }
    });
  });
}
