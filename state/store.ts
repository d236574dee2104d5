/**
 * Durable state under state.dir: JSON documents written atomically (write to a temp file, fsync, rename,
 * fsync the directory) so a kill -9 leaves either the old or the new version, never a torn one; and
 * append-only JSON-lines logs (audit) whose torn last line, if any, is skipped on read.
 */
import { appendFileSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CanarydError } from '../core/index.js';

/** Told of every successful write, after it is durable locally (fleet mode mirrors writes to Redis). */
export type StateWriteObserver = (kind: 'doc' | 'line', name: string, value: unknown) => void;

export class StateStore {
  readonly dir: string;
  /** set by the composition root; called synchronously, so it must only queue (no I/O) */
  observer: StateWriteObserver | null = null;

  constructor(dir: string) {
    this.dir = dir;
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new CanarydError('CANARYD_ERR_STATE_IO', `cannot create state.dir ${dir}: ${(e as Error).message}`, { cause: e });
    }
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  readJson<T>(name: string): T | undefined {
    const p = this.path(name);
    if (!existsSync(p)) return undefined;
    try {
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

  /** Appends one JSON line. appendFileSync with O_APPEND: one write per record, so lines never interleave. */
  append(name: string, record: unknown): void {
    try {
      appendFileSync(this.path(name), JSON.stringify(record) + '\n');
    } catch (e) {
      throw new CanarydError('CANARYD_ERR_STATE_IO', `cannot append to ${this.path(name)}: ${(e as Error).message}`, { cause: e });
    }
    this.observer?.('line', name, record);
  }

  /** Reads a JSON-lines file; a torn or corrupt line (e.g. after a crash mid-write) is skipped. */
  readLines<T>(name: string, limit?: number): T[] {
    const p = this.path(name);
    if (!existsSync(p)) return [];
    const out: T[] = [];
    for (const line of readFileSync(p, 'utf8').split('\n')) {
      if (!line) continue;
      try {
        out.push(JSON.parse(line) as T);
      } catch {
        /* torn line */
      }
    }
    return limit !== undefined ? out.slice(-limit) : out;
  }
}
