/**
 * One live canaryd per state.dir. Two processes writing the same rollout.json and audit.jsonl would
 * overwrite each other's steps, so the first one holds `state.dir/canaryd.lock` ({pid, host, startedAt})
 * and a second one refuses to start with CANARYD_ERR_STATE_LOCKED, naming the owner.
 *
 * A lock is stale, and taken over, when its owner is gone:
 *  - same host: the PID is not alive (kill(pid, 0) fails with ESRCH) — the kill -9 case;
 *  - another host (a volume shared between machines, where PIDs mean nothing): the owner refreshes the
 *    file's mtime every `refreshMs`; a lock not refreshed for 3 × refreshMs is stale.
 * Within one process the lock is re-entrant (counted): tests and the demo build several Sidecars in one
 * process on purpose, and a process cannot race itself across two event-loop turns.
 *
 * The create is O_EXCL (`wx`), so two starters on a free dir cannot both win. Taking over a stale lock is
 * unlink + O_EXCL create: of two starters that both saw the same stale lock, one create wins and the
 * other gets EEXIST, re-reads a live owner and refuses.
 */
import { closeSync, openSync, readFileSync, statSync, unlinkSync, utimesSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { CanarydError } from '../core/index.js';

export const LOCK_FILE = 'canaryd.lock';

export interface LockOwner {
  pid: number;
  host: string;
  startedAt: number;
}

export interface LockResult {
  /** the previous owner when a stale lock was taken over */
  tookOverFrom: LockOwner | null;
}

const held = new Map<string, { count: number; timer: NodeJS.Timeout }>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by another user
  }
}

function readOwner(path: string): { owner: LockOwner | null; mtimeMs: number } | null {
  try {
    const mtimeMs = statSync(path).mtimeMs;
    try {
      return { owner: JSON.parse(readFileSync(path, 'utf8')) as LockOwner, mtimeMs };
    } catch {
      return { owner: null, mtimeMs }; // torn (the owner died mid-write): judged by age alone
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

export class StateDirLock {
  readonly path: string;
  readonly refreshMs: number;

  constructor(dir: string, opts: { refreshMs?: number } = {}) {
    this.path = join(dir, LOCK_FILE);
    this.refreshMs = opts.refreshMs ?? 10_000;
  }

  /** Takes the lock or throws CANARYD_ERR_STATE_LOCKED naming the live owner. */
  acquire(now = Date.now()): LockResult {
    const mine = held.get(this.path);
    if (mine) {
      mine.count++;
      return { tookOverFrom: null };
    }
    let tookOverFrom: LockOwner | null = null;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (this.#tryCreate(now)) {
        const timer = setInterval(() => this.#refresh(), this.refreshMs);
        timer.unref();
        held.set(this.path, { count: 1, timer });
        return { tookOverFrom };
      }
      const cur = readOwner(this.path);
      if (cur === null) continue; // released between our create and our read
      const stale = this.#stale(cur, now);
      if (!stale) {
        const o = cur.owner!;
        throw new CanarydError(
          'CANARYD_ERR_STATE_LOCKED',
          `state.dir is in use by another canaryd (pid ${o.pid} on ${o.host}, since ${new Date(o.startedAt).toISOString()}): ${this.path}; give each canaryd its own state.dir`,
          { details: { lock: this.path, owner: o } },
        );
      }
      tookOverFrom = cur.owner ?? { pid: 0, host: 'unknown', startedAt: 0 };
      try {
        unlinkSync(this.path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw this.#io(e);
      }
    }
    throw new CanarydError('CANARYD_ERR_STATE_LOCKED', `state.dir lock ${this.path} is contended; another canaryd is starting on it`);
  }

  /** Drops one hold; the file goes with the last one. Only our own lock file is removed. */
  release(): void {
    const mine = held.get(this.path);
    if (!mine) return;
    if (--mine.count > 0) return;
    clearInterval(mine.timer);
    held.delete(this.path);
    const cur = readOwner(this.path);
    if (cur?.owner?.pid === process.pid && cur.owner.host === hostname()) {
      try {
        unlinkSync(this.path);
      } catch {
        /* already gone */
      }
    }
  }

  #stale(cur: { owner: LockOwner | null; mtimeMs: number }, now: number): boolean {
    const o = cur.owner;
    if (o === null || typeof o.pid !== 'number') return now - cur.mtimeMs > 3 * this.refreshMs;
    // our own PID but not in `held`: a previous life of this process slot (a container's PID 1 restarted)
    if (o.host === hostname()) return o.pid === process.pid || !alive(o.pid);
    return now - cur.mtimeMs > 3 * this.refreshMs;
  }

  #tryCreate(now: number): boolean {
    let fd: number;
    try {
      fd = openSync(this.path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw this.#io(e);
    }
    try {
      writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname(), startedAt: now } satisfies LockOwner) + '\n');
    } finally {
      closeSync(fd);
    }
    return true;
  }

  #refresh(): void {
    try {
      const t = new Date();
      utimesSync(this.path, t, t);
    } catch {
      /* removed under us: the next starter takes it; nothing to do from a timer */
    }
  }

  #io(e: unknown): CanarydError {
    return new CanarydError('CANARYD_ERR_STATE_IO', `cannot take the state.dir lock ${this.path}: ${(e as Error).message}`, { cause: e });
  }
}
