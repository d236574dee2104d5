/**
 * Config drift: what the running sidecar has that the YAML file does not — a canary weight set through the
 * API, runtime flags, fault rules added through the API, a file edit that was never applied — and the
 * reconcile policy over it (`admin.reconcile.policy`): `report` only reports (log + `drift` event when the
 * set changes); `revert` makes the file the source of truth, as in GitOps, undoing revertible drift every
 * `admin.reconcile.interval`.
 *
 * Each kind of runtime state is a DriftSource (items + revert), so other parts (e.g. the faults engine) can
 * `register` theirs. Weights set by the rollout controller are reported but never reverted: the rollout owns
 * them while it runs and after it ends (undoing a promotion behind the operator's back would be worse than
 * drift); update the file to match instead.
 */
import { CanarydError, isCanarydError } from '../core/index.js';
import type { Config } from '../config/index.js';
import type { EventSink } from './events/bus.js';

export interface DriftItem {
  /** what differs: "routing.canaryWeight", "flags.<key>", "config.<path>", "faults.<name>" */
  path: string;
  /** what the file says (null: the file has no such thing) */
  file: unknown;
  /** what is running */
  runtime: unknown;
  /** who made the runtime state: "api", "rollout", "file (not applied)", ... */
  owner: string;
  /** true when `revert` undoes it */
  revertible: boolean;
  note?: string;
}

/** Runtime state that has no counterpart in the file by design (e.g. API-made flags): listed, not drift. */
export interface RuntimeOnlyItem {
  path: string;
  runtime: unknown;
  owner: string;
  note?: string;
}

export interface DriftSource {
  name: string;
  items(file: Config): DriftItem[];
  /** state the file does not manage: reported beside drift, never reverted */
  runtimeOnly?(file: Config): RuntimeOnlyItem[];
  /** undo this source's revertible items against the file; returns what was reverted */
  revert(file: Config, items: DriftItem[]): void;
}

export interface DriftReport {
  file: string | null;
  checkedAt: number;
  policy: 'report' | 'revert';
  intervalMs: number;
  inSync: boolean;
  items: DriftItem[];
  /** runtime state the file does not manage (API-made flags): not drift, never reverted */
  runtimeOnly: RuntimeOnlyItem[];
  /** the file could not be read or is invalid: drift is unknown and nothing is reverted */
  fileError?: { error: string; message: string; details?: unknown };
  lastReconcile?: { at: number; trigger: string; reverted: DriftItem[] } | null;
}

export interface ReconcilerOptions {
  configPath: () => string | undefined;
  load: (path: string) => Config;
  settings: () => { policy: 'report' | 'revert'; interval: number };
  sink: EventSink;
  log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void; error(obj: object, msg: string): void };
  now: () => number;
  sources?: DriftSource[];
}

export class DriftReconciler {
  #sources: DriftSource[];
  #timer: NodeJS.Timeout | null = null;
  #timerMs = 0;
  #lastFingerprint = '';
  #lastReconcile: DriftReport['lastReconcile'] = null;

  constructor(private readonly opts: ReconcilerOptions) {
    this.#sources = [...(opts.sources ?? [])];
  }

  /** Adds a source of runtime state (e.g. the faults engine's API-made rules). */
  register(source: DriftSource): void {
    this.#sources.push(source);
  }

  #file(): { config?: Config; path: string | null; error?: DriftReport['fileError'] } {
    const path = this.opts.configPath() ?? null;
    if (path === null)
      return {
        path,
        error: { error: 'CANARYD_ERR_CONFLICT', message: 'canaryd was started without a config file: there is nothing to compare with' },
      };
    try {
      return { path, config: this.opts.load(path) };
    } catch (e) {
      const err = isCanarydError(e) ? e : new CanarydError('CANARYD_ERR_CONFIG_READ', String(e));
      return { path, error: err.toJSON() };
    }
  }

  #items(file: Config): DriftItem[] {
    return this.#sources.flatMap((s) => s.items(file));
  }

  report(): DriftReport {
    const { policy, interval } = this.opts.settings();
    const f = this.#file();
    const items = f.config ? this.#items(f.config) : [];
    const runtimeOnly = f.config ? this.#sources.flatMap((s) => s.runtimeOnly?.(f.config!) ?? []) : [];
    const report: DriftReport = {
      file: f.path,
      checkedAt: this.opts.now(),
      policy,
      intervalMs: interval,
      inSync: !f.error && items.length === 0,
      items,
      runtimeOnly,
      lastReconcile: this.#lastReconcile,
    };
    if (f.error) report.fileError = f.error;
    return report;
  }

  /** Reverts every revertible item now (whatever the policy). Sources run in order, each on fresh items. */
  reconcile(trigger: string): { reverted: DriftItem[]; report: DriftReport } {
    const f = this.#file();
    if (!f.config) {
      if (f.error?.error === 'CANARYD_ERR_CONFLICT') throw new CanarydError('CANARYD_ERR_CONFLICT', f.error.message);
      this.opts.log.error({ event: 'reconcile_skipped', trigger, problem: f.error }, 'reconcile skipped: the config file cannot be used');
      return { reverted: [], report: this.report() };
    }
    const reverted: DriftItem[] = [];
    for (const s of this.#sources) {
      const mine = s.items(f.config).filter((i) => i.revertible);
      if (mine.length === 0) continue;
      s.revert(f.config, mine);
      reverted.push(...mine);
    }
    this.#lastReconcile = { at: this.opts.now(), trigger, reverted };
    if (reverted.length > 0) {
      this.opts.log.info(
        { event: 'drift_reverted', trigger, paths: reverted.map((i) => i.path) },
        `reverted ${reverted.length} drift item(s) to the config file`,
      );
      this.opts.sink.publish({ type: 'drift', action: 'reverted', trigger, items: reverted });
    }
    const report = this.report();
    this.#lastFingerprint = fingerprint(report.items);
    return { reverted, report };
  }

  /** One timer tick: revert (policy revert) or report changes in the drift set (policy report). */
  tick(): void {
    try {
      if (this.opts.settings().policy === 'revert') {
        this.reconcile('interval');
        return;
      }
      const report = this.report();
      const fp = fingerprint(report.items);
      if (fp !== this.#lastFingerprint) {
        this.#lastFingerprint = fp;
        if (report.items.length > 0)
          this.opts.log.warn(
            { event: 'drift_detected', paths: report.items.map((i) => i.path) },
            `runtime state differs from the config file in ${report.items.length} place(s)`,
          );
        this.opts.sink.publish({ type: 'drift', action: 'detected', items: report.items });
      }
    } catch (e) {
      this.opts.log.error({ err: e }, 'drift check failed');
    }
  }

  /** (Re)starts the timer at the configured interval. Call again after a config change. */
  start(): void {
    const ms = Math.max(100, this.opts.settings().interval);
    if (this.#timer && ms === this.#timerMs) return;
    this.stop();
    this.#timerMs = ms;
    this.#timer = setInterval(() => this.tick(), ms);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}

function fingerprint(items: DriftItem[]): string {
  return JSON.stringify(items.map((i) => [i.path, i.runtime, i.file]));
}

const SECRET = /token|secret|password/i;

/** Leaf paths where two configs differ (at most `limit`), secrets redacted. */
export function configDiff(running: unknown, file: unknown, limit = 50): Array<{ path: string; running: unknown; file: unknown }> {
  const out: Array<{ path: string; running: unknown; file: unknown }> = [];
  const walk = (a: unknown, b: unknown, path: string) => {
    if (out.length >= limit) return;
    if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
      if (Array.isArray(a)) {
        if (JSON.stringify(a) !== JSON.stringify(b)) out.push({ path, running: a, file: b });
        return;
      }
      const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
      for (const k of keys) walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
      return;
    }
    if (a !== b) out.push(SECRET.test(path) ? { path, running: '(redacted)', file: '(redacted)' } : { path, running: a, file: b });
  };
  walk(running, file, '');
  return out;
}
