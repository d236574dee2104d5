/**
 * Where the admin token comes from: `admin.token` inline, or `admin.tokenFile` (a mounted Kubernetes
 * Secret, a file written by a vault agent). The file is read at start — unreadable or empty is a start-up
 * error naming the key — and re-read when it changes, so a Secret can rotate without a restart. A rotation
 * is polled with fs.watchFile (stat of the path, following symlinks), which sees Kubernetes' atomic
 * `..data` symlink swap that an inotify watch on the file itself would miss. A bad new file (unreadable,
 * empty, too short off loopback) keeps the previous token and logs why: a half-written Secret must not lock
 * the operator out.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { CanarydError, type Log } from '../core/index.js';
import { isLoopbackHost, MIN_TOKEN_BYTES, splitHostPort } from '../config/index.js';

export interface TokenSettings {
  token: string;
  tokenFile: string;
  listen: string;
}

export class AdminToken {
  #value = '';
  #file = '';
  #listen = '';
  #log: Log;
  #pollMs: number;

  constructor(settings: TokenSettings, log: Log, opts: { pollMs?: number } = {}) {
    this.#log = log;
    this.#pollMs = opts.pollMs ?? 1000;
    this.configure(settings);
  }

  /** The token mutations need now ('' = none configured). */
  current(): string {
    return this.#value;
  }

  /** Applies admin.token / admin.tokenFile. Throws CANARYD_ERR_CONFIG_INVALID when the file cannot be used. */
  configure(s: TokenSettings): void {
    this.#listen = s.listen;
    if (s.tokenFile === '') {
      this.#unwatch();
      this.#value = s.token;
      return;
    }
    const value = this.#read(s.tokenFile);
    if (typeof value !== 'string')
      throw new CanarydError('CANARYD_ERR_CONFIG_INVALID', `admin.tokenFile: ${value.problem}`, {
        details: [`admin.tokenFile: ${value.problem}`],
      });
    this.#value = value;
    if (this.#file !== s.tokenFile) {
      this.#unwatch();
      this.#file = s.tokenFile;
      watchFile(this.#file, { interval: this.#pollMs, persistent: false }, () => this.#reread());
    }
  }

  stop(): void {
    this.#unwatch();
  }

  #unwatch(): void {
    if (this.#file !== '') unwatchFile(this.#file);
    this.#file = '';
  }

  #reread(): void {
    const value = this.#read(this.#file);
    if (typeof value !== 'string') {
      this.#log.error(
        { event: 'admin_token_rejected', file: this.#file, problem: value.problem },
        `admin.tokenFile changed but cannot be used (${value.problem}); keeping the previous token`,
      );
      return;
    }
    if (value === this.#value) return;
    this.#value = value;
    this.#log.info({ event: 'admin_token_rotated', file: this.#file }, 'admin token re-read from admin.tokenFile');
  }

  /** The trimmed token in `file`, or why it cannot be used. */
  #read(file: string): string | { problem: string } {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      return { problem: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
    }
    const token = text.trim();
    if (token === '') return { problem: `${file} is empty` };
    const bytes = Buffer.byteLength(token);
    if (!isLoopbackHost(splitHostPort(this.#listen).host) && bytes < MIN_TOKEN_BYTES)
      return {
        problem: `the token in ${file} is ${bytes} bytes; at least ${MIN_TOKEN_BYTES} are needed when admin.listen (${this.#listen}) is not a loopback address`,
      };
    return token;
  }
}
