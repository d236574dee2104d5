/**
 * The safety switches' state: the master switch and production refusal (from config and environment), and
 * the latch (`halted`) that the kill switch and auto-disable set and only resume() clears. The latch is kept
 * in state.dir (faults.json) so a restart does not bring back the chaos that tripped it; kills, auto-disables
 * and resumes are written to the audit log (audit.jsonl) as `faults-killed`, `faults-auto-disabled`,
 * `faults-resumed` records.
 */
import { CanarydError } from '../../core/index.js';
import { isProduction, productionRefusal, type FaultSettings } from './settings.js';

export interface FaultLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}
/** The structural shape of the event bus (proxy/ may not import admin/). */
export interface FaultEventSink {
  publish(e: { type: string; [k: string]: unknown }): unknown;
}
/** The structural shape of the StateStore. */
export interface FaultStore {
  readJson<T>(name: string): T | undefined;
  writeJson(name: string, value: unknown): void;
  append(name: string, record: unknown): void;
}

export interface Halt {
  at: number;
  reason: string;
  by: string;
  kind: 'kill' | 'auto-disable';
}

export type EngineState = 'refused' | 'disabled' | 'halted' | 'armed' | 'idle';
export const FAULTS_FILE = 'faults.json';

export function refused(message: string): CanarydError {
  return new CanarydError('CANARYD_ERR_FAULTS_REFUSED', message);
}

export class SafetySwitches {
  config: FaultSettings;
  environment: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #store: FaultStore;
  readonly #log: FaultLog;
  readonly #now: () => number;
  #halted: Halt | null;

  constructor(o: {
    config: FaultSettings;
    environment: string;
    env: NodeJS.ProcessEnv;
    store: FaultStore;
    log: FaultLog;
    now: () => number;
  }) {
    this.config = o.config;
    this.environment = o.environment;
    this.#env = o.env;
    this.#store = o.store;
    this.#log = o.log;
    this.#now = o.now;
    this.#halted = o.store.readJson<{ halted?: Halt | null }>(FAULTS_FILE)?.halted ?? null;
    if (this.#halted)
      o.log.warn(
        { event: 'faults_halted', halted: this.#halted },
        `fault injection stays halted (${this.#halted.reason}) until POST /api/v1/faults/resume`,
      );
  }

  get halted(): Halt | null {
    return this.#halted && { ...this.#halted };
  }

  #productionBlocked(): boolean {
    return !this.config.allowInProduction && isProduction(this.environment, this.#env);
  }

  /** null when faults may fire; else why not (the message of a 409). */
  refusal(): string | null {
    if (this.#productionBlocked()) return productionRefusal(this.environment, this.#env);
    if (!this.config.enabled) return 'fault injection is off (faults.enabled: false in the config)';
    const h = this.#halted;
    if (h) return `fault injection is halted since ${new Date(h.at).toISOString()} (${h.reason}); POST /api/v1/faults/resume to re-arm it`;
    return null;
  }

  state(armed: boolean): EngineState {
    if (this.#productionBlocked()) return 'refused';
    if (!this.config.enabled) return 'disabled';
    if (this.#halted) return 'halted';
    return armed ? 'armed' : 'idle';
  }

  halt(h: Halt): void {
    this.#halted = h;
    this.#persist();
  }

  /** A data-plane worker's latch is the primary's (FaultEngine.follow): set as given, nothing persisted or audited. */
  follow(h: Halt | null): void {
    this.#halted = h && { ...h };
  }

  /** Clears the latch; refused (409) while faults are off or refused for another reason. Returns the latch cleared. */
  clear(): Halt | null {
    const prev = this.#halted;
    if (prev === null) return null;
    this.#halted = null;
    const why = this.refusal();
    if (why !== null) {
      this.#halted = prev;
      throw refused(why);
    }
    this.#persist();
    return prev;
  }

  #persist(): void {
    try {
      this.#store.writeJson(FAULTS_FILE, { version: 1, halted: this.#halted });
    } catch (e) {
      this.#log.error({ err: e }, 'cannot persist the faults latch');
    }
  }

  audit(record: { type: string; reason: string; [k: string]: unknown }): void {
    try {
      this.#store.append('audit.jsonl', { at: this.#now(), ...record });
    } catch (e) {
      this.#log.error({ err: e }, 'cannot write the audit log');
    }
  }
}
