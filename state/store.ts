/**
 * Durable state under state.dir: JSON documents written atomically (write to a temp file, fsync, rename,
 * fsync the directory) so a kill -9 leaves either the old or the new version, never a torn one; and
 * append-only JSON-lines logs (audit), rotated by size, whose torn last line, if any, is skipped on read.
 *
 * Two ways to write a document:
 *  - `writeJson`: synchronous, for the few writes whose ORDER against other effects matters (the rollout
 *    state is on disk before the weight moves, so a crash between the two cannot resume an old step);
 *  - `writeJsonLater`: off the event loop (fs.promises, libuv's thread pool) and coalesced: while one write
 *    of a file is in flight, later values wait and only the newest is written. A burst of flag PATCHes
 *    costs one or two fsyncs, and none of them blocks the proxy (a synchronous write+fsync took ~16 ms a
 *    PATCH and tripled the proxy's p99). `flush()` waits for them (on shutdown).
 * Temp files left by a kill -9 mid-write (`<file>.<pid>.tmp`, possibly torn) are removed at start, unless
 * the pid in the name is a live process other than this one (another canaryd sharing the directory).
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { CanarydError } from '../core/index.js';
import { AuditLog, type AuditLogOptions } from './audit-log.js';

/** Documents larger than this are refused on read: state files are small by construction (flags are capped). */
export const MAX_STATE_FILE_BYTES = 16 * 1024 * 1024;
const TMP = /^(.+)\.(\d+)\.tmp$/;

function alive(pid: number): boolean {
  if (pid === process.pid) return false; // our own pid from an earlier life (pid reuse): ours is not writing yet
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface PendingWrite {
  value: unknown;
  queued: boolean;
  done: Promise<void>;
}

/** Told of every successful write, after it is durable locally (fleet mode mirrors writes to Redis). */
export type StateWriteObserver = (kind: 'doc' | 'line', name: string, value: unknown) => void;

export class StateStore {
  readonly dir: string;
  /** temp files removed at start (kill -9 leftovers) */
  readonly cleaned: string[] = [];
  /** completed writeJsonLater writes per file (coalescing makes it fewer than the calls) */
  readonly writes = new Map<string, number>();
  #pending = new Map<string, PendingWrite>();
  #logs = new Map<string, AuditLog>();
  #logOptions: AuditLogOptions;
  #onWriteError: (name: string, err: unknown) => void;
  /** set by the composition root; called synchronously, so it must only queue (no I/O) */
  observer: StateWriteObserver | null = null;

  constructor(dir: string, opts: { log?: AuditLogOptions; onWriteError?: (name: string, err: unknown) => void } = {}) {
    this.dir = dir;
    this.#logOptions = opts.log ?? {};
    this.#onWriteError = opts.onWriteError ?? (() => {});
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new CanarydError('CANARYD_ERR_STATE_IO', `cannot create state.dir ${dir}: ${(e as Error).message}`, { cause: e });
    }
    this.#cleanTempFiles();
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  #cleanTempFiles(): void {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return;
    }
    for (const n of names) {
      const m = TMP.exec(n);
      if (!m || alive(Number(m[2]))) continue;
      try {
        unlinkSync(this.path(n));
        this.cleaned.push(n);
      } catch {
        /* gone already, or not ours to remove */
      }
    }
  }

  readJson<T>(name: string): T | undefined {
    const p = this.path(name);
    if (!existsSync(p)) return undefined;
    try {
      const size = statSync(p).size;
      if (size > MAX_STATE_FILE_BYTES) throw new Error(`${size} bytes is over the ${MAX_STATE_FILE_BYTES}-byte limit for a state file`);
      return JSON.parse(readFileSync(p, 'utf8')) as T;
    } catch (e) {
      throw new CanarydError('CANARYD_ERR_STATE_IO', `cannot read ${p}: ${(e as Error).message}`, { cause: e });
    }
  }

  writeJson(name: string, value: unknown): void {
    const p = this.path(name);
    const tmp = `${p}.${process.pid}.tmp`;
    try {
      const fd = openSync(tmp, 'w');
      try {
        writeSync(fd, JSON.stringify(value, null, 2) + '\n');
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, p);
      const dfd = openSync(this.dir, 'r');
      try {
        fsyncSync(dfd);
      } finally {
        closeSync(dfd);
      }
    } catch (e) {
      throw new CanarydError('CANARYD_ERR_STATE_IO', `cannot write ${p}: ${(e as Error).message}`, { cause: e });
    }
    this.observer?.('doc', name, value);
  }

  /** Queues an atomic write of `value` off the event loop; coalesced with other queued writes of `name`. */
  writeJsonLater(name: string, value: unknown): Promise<void> {
    const cur = this.#pending.get(name);
    if (cur) {
      cur.value = value; // the in-flight write is followed by one more, with the newest value
      cur.queued = true;
      return cur.done;
    }
    const entry: PendingWrite = { value, queued: false, done: Promise.resolve() };
    this.#pending.set(name, entry);
    entry.done = (async () => {
      try {
        do {
          entry.queued = false;
          const value = entry.value;
          await this.#writeAsync(name, value);
          this.writes.set(name, (this.writes.get(name) ?? 0) + 1);
          this.observer?.('doc', name, value);
        } while (entry.queued);
      } catch (e) {
        this.#onWriteError(name, e);
      } finally {
        this.#pending.delete(name);
      }
    })();
    return entry.done;
  }

  async #writeAsync(name: string, value: unknown): Promise<void> {
    const p = this.path(name);
    const tmp = `${p}.${process.pid}.tmp`;
    const text = JSON.stringify(value, null, 2) + '\n';
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, p);
    const dh = await open(this.dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }

  /** Resolves when every queued writeJsonLater is on disk. */
  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending.values()].map((p) => p.done));
  }

  #log(name: string): AuditLog {
    let l = this.#logs.get(name);
    if (!l) this.#logs.set(name, (l = new AuditLog(this.path(name), this.#logOptions)));
    return l;
  }

  /** Appends one JSON line (one write with O_APPEND, so lines never interleave); rotates the file by size. */
  append(name: string, record: unknown): void {
    try {
      this.#log(name).append(JSON.stringify(record));
    } catch (e) {
      throw new CanarydError('CANARYD_ERR_STATE_IO', `cannot append to ${this.path(name)}: ${(e as Error).message}`, { cause: e });
    }
    this.observer?.('line', name, record);
  }

  /**
   * The last `limit` records of a JSON-lines file (all when no limit: small files only), read backwards from
   * the end in fixed-size chunks, so memory and time do not grow with the file. A torn or corrupt line (a
   * crash mid-write) is skipped.
   */
  readLines<T>(name: string, limit?: number): T[] {
    const p = this.path(name);
    try {
      return this.#log(name).tail<T>(limit ?? Infinity);
    } catch (e) {
      throw new CanarydError('CANARYD_ERR_STATE_IO', `cannot read ${p}: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * Lines of a JSON-lines file (and its rotated predecessors) newest first, as raw bytes, while `visit`
   * returns true, within the log's byte budget: the caller parses only the lines it wants.
   */
  scanLines(name: string, visit: (line: Buffer) => boolean): void {
    this.#log(name).scanLines(visit);
  }
}
