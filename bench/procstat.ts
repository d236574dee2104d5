/**
 * Process numbers the bench reports, read from /proc (Linux): the peak resident set (VmHWM) of a process
 * tree — nginx is a master plus a worker — and CPU time (utime + stime), so requests/s can be shown next to
 * how much of its core the proxy actually used (a proxy that is not saturated is limited elsewhere).
 */
import { readFileSync, readdirSync } from 'node:fs';

const TICKS_PER_SEC = 100; // USER_HZ on Linux

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const c = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (c) out.push(...c.split(/\s+/).map(Number));
    }
  } catch {
    /* gone */
  }
  return out;
}

/** pid and all its descendants. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...childrenOf(out[i]));
  return out;
}

function statusKb(pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Peak RSS in MB of the tree rooted at pid (sum of each process's VmHWM; shared pages counted per process). */
export function peakRssMb(pid: number): number {
  return processTree(pid).reduce((a, p) => a + statusKb(p, 'VmHWM'), 0) / 1024;
}

/** Current RSS in MB of the tree rooted at pid. */
export function rssMb(pid: number): number {
  return processTree(pid).reduce((a, p) => a + statusKb(p, 'VmRSS'), 0) / 1024;
}

/** CPU seconds (user + system) used so far by the tree rooted at pid. */
export function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
    } catch {
      /* gone */
    }
  }
  return ticks / TICKS_PER_SEC;
}
