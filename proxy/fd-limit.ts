/**
 * The process's open-file limit. Every client connection, upstream socket and file is a descriptor; at
 * the soft limit accept() fails and every new client, the admin /healthz included, is refused with nothing
 * logged. Node has no setrlimit API. Node itself raises the soft limit to the hard one at start-up on
 * POSIX (node.cc), so canaryd usually finds it there ("at_hard_limit"); when it does not (another
 * runtime, a changed Node), canaryd raises it with util-linux's `prlimit` on its own pid if installed.
 * Either way both limits are logged.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface FdLimits {
  soft: number;
  hard: number;
}

/** From /proc/self/limits (Linux); null elsewhere. "unlimited" reads as Infinity. */
export function readFdLimits(): FdLimits | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const m = line ? /Max open files\s+(\S+)\s+(\S+)/.exec(line) : null;
    if (!m) return null;
    const n = (v: string) => (v === 'unlimited' ? Infinity : Number(v));
    return { soft: n(m[1]), hard: n(m[2]) };
  } catch {
    return null;
  }
}

export interface FdLimitReport {
  before: FdLimits | null;
  after: FdLimits | null;
  /** what happened: raised, already at the hard limit, or why it could not be raised */
  result: 'raised' | 'at_hard_limit' | 'unknown_limits' | 'prlimit_failed';
  error?: string;
}

export function raiseFdLimit(): FdLimitReport {
  const before = readFdLimits();
  if (before === null) return { before, after: null, result: 'unknown_limits' };
  if (before.soft >= before.hard) return { before, after: before, result: 'at_hard_limit' };
  const hard = before.hard === Infinity ? 'unlimited' : String(before.hard);
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${hard}:${hard}`], { stdio: 'ignore', timeout: 2000 });
  } catch (e) {
    return { before, after: readFdLimits(), result: 'prlimit_failed', error: (e as Error).message };
  }
  const after = readFdLimits();
  return { before, after, result: after !== null && after.soft > before.soft ? 'raised' : 'prlimit_failed' };
}

/**
 * limits.maxConnections 0 ("auto"): half of the descriptors left after the admin budget and a reserve for
 * files and logs go to client connections, the other half stays for their upstream sockets.
 */
export function autoMaxConnections(softLimit: number | undefined, adminConnections: number): number {
  if (softLimit === undefined || !Number.isFinite(softLimit)) return 16_384;
  return Math.max(32, Math.floor((softLimit - adminConnections - 64) / 2));
}
