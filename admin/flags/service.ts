/**
 * The flag registry: create / update / archive, persisted under state.dir (flags.json, written atomically
 * by the StateStore) so flags survive restarts, and pushed into the TrafficSplitter as runtime rules on every
 * change. Each change is written to disk before it is applied: a failed write changes nothing.
 */
import { CanarydError } from '../../core/index.js';
import type { RuleSpec } from '../../proxy/index.js';
import { assertFlagValid, flagRules, type Flag, type FlagInput } from './model.js';

export interface JsonStore {
  readJson<T>(name: string): T | undefined;
  writeJson(name: string, value: unknown): void;
  /** an atomic write off the event loop, coalesced (state/store.ts); writeJson is used without it */
  writeJsonLater?(name: string, value: unknown): Promise<void>;
}

/** Caps (docs/admin.md): flags are checked per request, and flags.json is rewritten on every change. */
export const MAX_FLAGS = 256;
export const MAX_FLAGS_FILE_BYTES = 4 * 1024 * 1024;

interface FlagsFile {
  version: 1;
  flags: Flag[];
}

export type FlagAction = 'created' | 'updated' | 'archived';

export const FLAGS_FILE = 'flags.json';

export class FlagService {
  #flags: Flag[] = [];
  readonly #store: JsonStore;
  readonly #apply: (rules: RuleSpec[]) => void;
  readonly #now: () => number;
  readonly #onChange: (action: FlagAction, flag: Flag) => void;

  constructor(opts: {
    store: JsonStore;
    apply: (rules: RuleSpec[]) => void;
    now?: () => number;
    onChange?: (action: FlagAction, flag: Flag) => void;
  }) {
    this.#store = opts.store;
    this.#apply = opts.apply;
    this.#now = opts.now ?? Date.now;
    this.#onChange = opts.onChange ?? (() => {});
    const saved = this.#store.readJson<FlagsFile>(FLAGS_FILE);
    this.#flags = Array.isArray(saved?.flags) ? saved.flags : [];
    this.#apply(flagRules(this.#flags));
  }

  /** Flags in routing order; archived ones only when asked. Copies. */
  list(opts: { archived?: boolean } = {}): Flag[] {
    return this.#flags.filter((f) => opts.archived || !f.archived).map((f) => structuredClone(f));
  }

  get(key: string): Flag | undefined {
    const f = this.#flags.find((x) => x.key === key);
    return f && structuredClone(f);
  }

  #require(key: string): Flag {
    const f = this.#flags.find((x) => x.key === key);
    if (!f) throw new CanarydError('CANARYD_ERR_NOT_FOUND', `no flag named ${JSON.stringify(key)}`);
    return f;
  }

  #commit(next: Flag[], action: FlagAction, flag: Flag): Flag {
    const file = { version: 1, flags: next } satisfies FlagsFile;
    if (action === 'created' && next.filter((f) => !f.archived).length > MAX_FLAGS) {
      throw new CanarydError('CANARYD_ERR_LIMIT_REACHED', `at most ${MAX_FLAGS} flags (archived ones not counted); archive one first`);
    }
    if (action !== 'archived' && JSON.stringify(file).length > MAX_FLAGS_FILE_BYTES) {
      throw new CanarydError(
        'CANARYD_ERR_LIMIT_REACHED',
        `flags would take more than ${MAX_FLAGS_FILE_BYTES} bytes in flags.json; shorten user or IP lists`,
      );
    }
    // the change applies now; the write follows off the event loop (a failed write is logged, and the
    // change lives until restart) — a synchronous fsync here held the proxy ~16 ms per PATCH
    if (this.#store.writeJsonLater) void this.#store.writeJsonLater(FLAGS_FILE, file);
    else this.#store.writeJson(FLAGS_FILE, file);
    this.#flags = next;
    this.#apply(flagRules(next));
    this.#onChange(action, structuredClone(flag));
    return structuredClone(flag);
  }

  create(input: FlagInput & { key: string; kind: Flag['kind'] }): Flag {
    const existing = this.#flags.find((x) => x.key === input.key);
    if (existing) {
      throw new CanarydError(
        'CANARYD_ERR_CONFLICT',
        existing.archived
          ? `flag ${JSON.stringify(input.key)} exists (archived); archived keys are not reused, choose another`
          : `flag ${JSON.stringify(input.key)} already exists`,
      );
    }
    const now = this.#now();
    const flag: Flag = {
      description: '',
      enabled: false,
      version: 'canary',
      ...structuredClone(input),
      archived: false,
      createdAt: now,
      updatedAt: now,
      source: 'api',
    };
    assertFlagValid(flag);
    return this.#commit([...this.#flags, flag], 'created', flag);
  }

  /** Partial update; `null` is not accepted (the schema forbids it) — to drop a kind field, change kind. */
  update(key: string, patch: FlagInput, note?: string): Flag {
    const cur = this.#require(key);
    if (cur.archived) throw new CanarydError('CANARYD_ERR_CONFLICT', `flag ${JSON.stringify(key)} is archived and cannot change`);
    const next: Flag = { ...cur, ...structuredClone(patch), key: cur.key, updatedAt: this.#now() };
    if (patch.kind !== undefined && patch.kind !== cur.kind) {
      // fields of the old kind go away unless the patch sets them
      for (const f of ['percentage', 'users', 'ips'] as const) if (patch[f] === undefined) delete next[f];
    }
    if (note !== undefined) next.note = note;
    else delete next.note;
    assertFlagValid(next);
    return this.#commit(
      this.#flags.map((f) => (f.key === key ? next : f)),
      'updated',
      next,
    );
  }

  archive(key: string): Flag {
    const cur = this.#require(key);
    if (cur.archived) return structuredClone(cur);
    const now = this.#now();
    const next: Flag = { ...cur, enabled: false, archived: true, archivedAt: now, updatedAt: now };
    return this.#commit(
      this.#flags.map((f) => (f.key === key ? next : f)),
      'archived',
      next,
    );
  }

  /**
   * Makes the flags the config file declares match it: creates missing ones, updates changed ones, archives
   * file flags the file no longer declares. API-made flags the file does not name are left alone. Returns
   * the keys it touched (archived keys cannot come back: they are reported, not reused).
   */
  syncFromFile(decls: readonly FileFlagDecl[], note = 'config file'): { changed: string[]; refused: string[] } {
    const changed: string[] = [];
    const refused: string[] = [];
    const declared = new Set(decls.map((d) => d.key));
    for (const d of decls) {
      const cur = this.#flags.find((f) => f.key === d.key);
      if (cur?.archived) {
        refused.push(d.key);
        continue;
      }
      if (!cur) {
        this.#put({ ...fileFields(d), archived: false, createdAt: this.#now(), updatedAt: this.#now(), source: 'file', note }, 'created');
        changed.push(d.key);
      } else if (fileDrift(cur, d) || cur.source !== 'file') {
        const next: Flag = { ...cur, ...fileFields(d), key: cur.key, updatedAt: this.#now(), source: 'file', note };
        for (const f of ['percentage', 'users', 'ips', 'match'] as const) if (d[f] === undefined) delete next[f];
        this.#put(next, 'updated');
        changed.push(d.key);
      }
    }
    for (const f of this.#flags.filter((x) => x.source === 'file' && !x.archived && !declared.has(x.key))) {
      this.archive(f.key);
      changed.push(f.key);
    }
    return { changed, refused };
  }

  #put(flag: Flag, action: FlagAction): void {
    assertFlagValid(flag, `flags.${flag.key}`);
    const exists = this.#flags.some((f) => f.key === flag.key);
    this.#commit(exists ? this.#flags.map((f) => (f.key === flag.key ? flag : f)) : [...this.#flags, flag], action, flag);
  }

  /** Enabled, unarchived flags: the ones routing sees. */
  active(): Flag[] {
    return this.#flags.filter((f) => f.enabled && !f.archived).map((f) => structuredClone(f));
  }
}

/** A flag as the config file declares it (config/sections/flags.ts). */
export interface FileFlagDecl {
  key: string;
  description: string;
  kind: Flag['kind'];
  enabled: boolean;
  version: Flag['version'];
  percentage?: number;
  users?: string[];
  ips?: string[];
  match?: Flag['match'];
}

const FILE_FIELDS = ['description', 'kind', 'enabled', 'version', 'percentage', 'users', 'ips', 'match'] as const;

function fileFields(d: FileFlagDecl): Pick<Flag, 'key' | (typeof FILE_FIELDS)[number]> {
  const out: Record<string, unknown> = { key: d.key };
  for (const f of FILE_FIELDS) if (d[f] !== undefined) out[f] = structuredClone(d[f]);
  return out as Pick<Flag, 'key' | (typeof FILE_FIELDS)[number]>;
}

/** The fields where a running flag differs from its file declaration (empty: in sync). */
export function fileDrift(flag: Flag, d: FileFlagDecl): string[] {
  return FILE_FIELDS.filter((f) => JSON.stringify(flag[f] ?? null) !== JSON.stringify(d[f] ?? null));
}
