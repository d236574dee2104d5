/**
 * Bounded warn logging for events a client can trigger at will (401, 429, refused hosts): at most `limit`
 * lines per kind per `windowMs`, then one summary line per kind saying how many were suppressed. A 20 s
 * flood of wrong tokens once wrote 152k lines (23 MB); with the defaults it writes at most 10 lines and
 * one summary per kind every 10 s. The summary goes out at the first event after the window, or from an
 * unref'd timer when the flood stops, so a suppressed count is never lost.
 */
export interface WarnLog {
  warn(obj: object, msg: string): void;
}

interface Window {
  start: number;
  logged: number;
  suppressed: number;
  msg: string;
  timer: NodeJS.Timeout | null;
}

export class LogThrottle {
  readonly limit: number;
  readonly windowMs: number;
  #now: () => number;
  #log: WarnLog;
  #kinds = new Map<string, Window>();

  constructor(log: WarnLog, opts: { limit?: number; windowMs?: number; now?: () => number } = {}) {
    this.#log = log;
    this.limit = opts.limit ?? 10;
    this.windowMs = opts.windowMs ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  /** Logs `msg` unless `kind` has used up its lines in the current window; returns whether it logged. */
  warn(kind: string, obj: object, msg: string): boolean {
    const now = this.#now();
    let w = this.#kinds.get(kind);
    if (w && now - w.start >= this.windowMs) {
      this.#flush(kind, w);
      w = undefined;
    }
    if (!w) {
      w = { start: now, logged: 0, suppressed: 0, msg, timer: null };
      this.#kinds.set(kind, w);
    }
    if (w.logged < this.limit) {
      w.logged++;
      this.#log.warn(obj, msg);
      return true;
    }
    if (w.suppressed++ === 0) {
      const win = w;
      win.timer = setTimeout(() => this.#kinds.get(kind) === win && this.#flush(kind, win), Math.max(0, win.start + this.windowMs - now));
      win.timer.unref();
    }
    return false;
  }

  #flush(kind: string, w: Window): void {
    if (w.timer) clearTimeout(w.timer);
    this.#kinds.delete(kind);
    if (w.suppressed > 0)
      this.#log.warn(
        { event: 'log_suppressed', kind, suppressed: w.suppressed, windowMs: this.windowMs },
        `${w.msg}: ${w.suppressed} more like this in the last ${Math.round(this.windowMs / 1000)} s not logged`,
      );
  }
}
