/**
 * An append-only JSON-lines file that cannot grow without bound and never has to be read whole:
 *  - size rotation: when the file reaches `maxBytes` (state.audit.maxBytes, default 32 MiB) it becomes
 *    `<file>.1` (the older ones shift to .2 ... and the oldest past `keep`, default 5, is deleted). A
 *    rotation is a few renames, done between two appends, so no line is ever split across files;
 *  - reading from the end: start-up wants the newest records, so the file is read backwards in 64 KiB
 *    chunks and lines are handed out newest first until the reader has enough, with a byte budget
 *    (`scanBytes`, default the larger of maxBytes and 32 MiB) so a huge file left by an older version (no
 *    rotation) costs the same as a full rotated one. `readFileSync` of a 630 MB log once failed start-up with ERR_STRING_TOO_LONG.
 * A line longer than MAX_LINE_BYTES (never written by canaryd) is skipped, as is a torn last line.
 */
import { appendFileSync, closeSync, existsSync, openSync, readSync, renameSync, rmSync, statSync } from 'node:fs';

export interface AuditLogOptions {
  maxBytes?: number;
  keep?: number;
  /** bytes read backwards at most per scan, over the current and rotated files (default max(maxBytes, 32 MiB)) */
  scanBytes?: number;
}

export const DEFAULT_AUDIT_MAX_BYTES = 32 * 1024 * 1024;
export const DEFAULT_AUDIT_KEEP = 5;
const CHUNK = 64 * 1024;
const MAX_LINE_BYTES = 4 * 1024 * 1024;
const NL = 10;

export class AuditLog {
  readonly path: string;
  readonly maxBytes: number;
  readonly keep: number;
  readonly scanBytes: number;
  #size: number | null = null;

  constructor(path: string, opts: AuditLogOptions = {}) {
    this.path = path;
    this.maxBytes = opts.maxBytes ?? DEFAULT_AUDIT_MAX_BYTES;
    this.keep = opts.keep ?? DEFAULT_AUDIT_KEEP;
    this.scanBytes = opts.scanBytes ?? Math.max(this.maxBytes, DEFAULT_AUDIT_MAX_BYTES);
  }

  append(line: string): void {
    if (this.#size === null) this.#size = existsSync(this.path) ? statSync(this.path).size : 0;
    if (this.#size > 0 && this.#size >= this.maxBytes) this.rotate();
    const text = line + '\n';
    appendFileSync(this.path, text);
    this.#size += Buffer.byteLength(text);
  }

  /** <file> -> <file>.1 -> ... -> <file>.<keep>; the one past keep is deleted. */
  rotate(): void {
    rmSync(`${this.path}.${this.keep}`, { force: true });
    for (let i = this.keep - 1; i >= 1; i--) if (existsSync(`${this.path}.${i}`)) renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
    if (this.keep > 0 && existsSync(this.path)) renameSync(this.path, `${this.path}.1`);
    else rmSync(this.path, { force: true });
    this.#size = 0;
  }

  /** Files newest first: the live one, then .1, .2 ... */
  files(): string[] {
    const out = [this.path];
    for (let i = 1; i <= this.keep; i++) out.push(`${this.path}.${i}`);
    return out.filter((p) => existsSync(p));
  }

  /**
   * Hands each line (as a Buffer view, valid only during the call) newest first to `visit` until it
   * returns false or the byte budget is spent. Memory: one chunk plus the longest line.
   */
  scanLines(visit: (line: Buffer) => boolean): void {
    let budget = this.scanBytes;
    const buf = Buffer.allocUnsafe(CHUNK);
    for (const file of this.files()) {
      if (budget <= 0) return;
      const fd = openSync(file, 'r');
      try {
        let pos = statSync(file).size;
        let carry: Buffer = Buffer.alloc(0);
        let dropping = false; // inside a line longer than MAX_LINE_BYTES
        while (pos > 0 && budget > 0) {
          const len = Math.min(CHUNK, pos, budget);
          pos -= len;
          budget -= len;
          readSync(fd, buf, 0, len, pos);
          const chunk = carry.length > 0 ? Buffer.concat([buf.subarray(0, len), carry]) : buf.subarray(0, len);
          let end = chunk.length;
          for (let i = chunk.length - 1; i >= 0; i--) {
            if (chunk[i] !== NL) continue;
            if (dropping) dropping = false;
            else if (end > i + 1 && !visit(chunk.subarray(i + 1, end))) return;
            end = i;
          }
          carry = Buffer.from(chunk.subarray(0, end));
          if (carry.length > MAX_LINE_BYTES) {
            carry = Buffer.alloc(0);
            dropping = true;
          }
        }
        // the file's first line, when the whole file was read
        if (pos === 0 && carry.length > 0 && !dropping && !visit(carry)) return;
      } finally {
        closeSync(fd);
      }
    }
  }

  /** Parsed records newest first while `visit` returns true; torn or corrupt lines are skipped. */
  scanBackwards<T>(visit: (record: T) => boolean): void {
    this.scanLines((line) => {
      let rec: T;
      try {
        rec = JSON.parse(line.toString('utf8')) as T;
      } catch {
        return true; // a torn line
      }
      return visit(rec);
    });
  }

  /** The newest `limit` records, oldest first (the order they were written). */
  tail<T>(limit: number): T[] {
    const out: T[] = [];
    if (limit <= 0) return out;
    this.scanBackwards<T>((r) => (out.push(r), out.length < limit));
    return out.reverse();
  }
}
