/**
 * The rule set behind the fault engine: rules from the config file, from the admin API and from running
 * experiments, in that order (the order rules are tried in). Each entry keeps the rule as written (the YAML
 * / API shape: one key per kind), when it became active, when it expires, and how many faults it injected.
 *
 * Expiry (`duration`) is checked lazily — by the engine when a request arrives after the earliest expiry
 * (`nextExpiry`), and on every read — so there is no timer per rule and nothing on the hot path but one
 * comparison. A reload keeps an unchanged config rule's activation time (a reload never extends a rule's
 * life) and its runtime enable/disable override; a changed rule starts afresh.
 */
import { faultKindsOf, type AnyFaultTypeName, type FaultRuleConfig } from './settings.js';

export type RuleSource = 'config' | 'api' | 'experiment';

/** A rule as written, with its expiry already in ms. */
export type RuleSpec = Omit<FaultRuleConfig, 'duration'> & { durationMs?: number };

export interface RuleEntry {
  spec: RuleSpec;
  type: AnyFaultTypeName;
  source: RuleSource;
  /** the experiment that owns it (source "experiment") */
  experiment?: string;
  createdAt: number;
  updatedAt: number;
  /** when it last became enabled (the start of its `duration`) */
  activatedAt: number;
  expired: boolean;
  injected: number;
  /** config rules: enabled as set at runtime through the API, kept across reloads while the rule is unchanged */
  override?: boolean;
}

/** The JSON shape of a rule on the admin API (and in events). */
export interface RuleView {
  name: string;
  type: AnyFaultTypeName;
  source: RuleSource;
  experiment?: string;
  description?: string;
  enabled: boolean;
  /** enabled, not expired, and the engine is armed: the rule can fire now */
  active: boolean;
  expired: boolean;
  probability: number;
  match: RuleSpec['match'];
  /** expiry in ms after activation, or null */
  duration: number | null;
  expiresAt: number | null;
  createdAt: number;
  updatedAt: number;
  injected: number;
  [kind: string]: unknown;
}

export function enabledOf(e: RuleEntry): boolean {
  return e.override ?? e.spec.enabled !== false;
}

export function expiresAt(e: RuleEntry): number | null {
  return e.spec.durationMs === undefined ? null : e.activatedAt + e.spec.durationMs;
}

const SOURCE_ORDER: Record<RuleSource, number> = { config: 0, api: 1, experiment: 2 };

export class RuleSet {
  #entries = new Map<string, RuleEntry>();

  get(name: string): RuleEntry | undefined {
    return this.#entries.get(name);
  }

  has(name: string): boolean {
    return this.#entries.has(name);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Entries in the order they are tried: config, then API (creation order), then experiments. */
  ordered(): RuleEntry[] {
    return [...this.#entries.values()].sort((a, b) => SOURCE_ORDER[a.source] - SOURCE_ORDER[b.source]);
  }

  /** Replaces the config rules; returns the names of API rules a config rule of the same name displaced. */
  setConfigRules(rules: readonly FaultRuleConfig[], now: number): string[] {
    const displaced: string[] = [];
    const next = new Map<string, RuleEntry>();
    for (const r of rules) {
      const spec = toSpec(r);
      const prev = this.#entries.get(r.name);
      if (prev && prev.source === 'config' && JSON.stringify(prev.spec) === JSON.stringify(spec)) {
        next.set(r.name, prev);
        continue;
      }
      if (prev && prev.source !== 'config') displaced.push(r.name);
      next.set(r.name, newEntry(spec, 'config', now));
    }
    for (const [name, e] of this.#entries) if (e.source !== 'config' && !next.has(name)) next.set(name, e);
    this.#entries = next;
    return displaced;
  }

  /** Every entry at once, as another engine stores them (a worker following its primary: FaultEngine.follow). */
  load(entries: readonly RuleEntry[]): void {
    this.#entries = new Map(entries.map((e) => [e.spec.name, { ...e }]));
  }

  add(spec: RuleSpec, source: RuleSource, now: number, experiment?: string): RuleEntry {
    const e = newEntry(spec, source, now);
    if (experiment !== undefined) e.experiment = experiment;
    this.#entries.set(spec.name, e);
    return e;
  }

  replace(name: string, spec: RuleSpec, now: number): RuleEntry {
    const prev = this.#entries.get(name)!;
    const wasOn = enabledOf(prev) && !prev.expired;
    const e: RuleEntry = { ...prev, spec, type: faultKindsOf(spec)[0], updatedAt: now };
    delete e.override;
    const on = enabledOf(e);
    // turning a rule on (again) or changing its duration starts its life afresh
    if ((on && !wasOn) || prev.spec.durationMs !== spec.durationMs) {
      e.activatedAt = now;
      e.expired = false;
    }
    this.#entries.set(name, e);
    return e;
  }

  /** Runtime enable/disable of a config rule, kept across reloads while its definition is unchanged. */
  override(name: string, enabled: boolean, now: number): RuleEntry {
    const e = this.#entries.get(name)!;
    const wasOn = enabledOf(e) && !e.expired;
    e.override = enabled;
    e.updatedAt = now;
    if (enabled && !wasOn) {
      e.activatedAt = now;
      e.expired = false;
    }
    return e;
  }

  /** Drops a config rule's runtime override: the file's `enabled` applies again. */
  clearOverride(name: string, now: number): RuleEntry | undefined {
    const e = this.#entries.get(name);
    if (!e || e.override === undefined) return e;
    const wasOn = enabledOf(e) && !e.expired;
    delete e.override;
    e.updatedAt = now;
    if (enabledOf(e) && !wasOn) {
      e.activatedAt = now;
      e.expired = false;
    }
    return e;
  }

  delete(name: string): RuleEntry | undefined {
    const e = this.#entries.get(name);
    this.#entries.delete(name);
    return e;
  }

  /** Removes every rule an experiment owns. */
  deleteExperiment(id: string): RuleEntry[] {
    const out: RuleEntry[] = [];
    for (const [name, e] of this.#entries) {
      if (e.experiment === id) {
        this.#entries.delete(name);
        out.push(e);
      }
    }
    return out;
  }

  /** Marks rules whose duration has passed; returns them. */
  expireDue(now: number): RuleEntry[] {
    const out: RuleEntry[] = [];
    for (const e of this.#entries.values()) {
      const at = expiresAt(e);
      if (!e.expired && at !== null && now >= at && enabledOf(e)) {
        e.expired = true;
        out.push(e);
      }
    }
    return out;
  }

  /** The earliest expiry among enabled, unexpired rules (Infinity: none). */
  nextExpiry(): number {
    let next = Infinity;
    for (const e of this.#entries.values()) {
      const at = expiresAt(e);
      if (at !== null && !e.expired && enabledOf(e) && at < next) next = at;
    }
    return next;
  }

  /** Rules that may fire, in order. */
  live(): RuleEntry[] {
    return this.ordered().filter((e) => enabledOf(e) && !e.expired);
  }
}

export function toSpec(r: FaultRuleConfig | (RuleSpec & { duration?: unknown })): RuleSpec {
  const { duration, durationMs, ...rest } = r as FaultRuleConfig & { durationMs?: number };
  const spec: RuleSpec = { ...structuredClone(rest), enabled: rest.enabled !== false };
  const ms = typeof durationMs === 'number' ? durationMs : typeof duration === 'number' ? duration : undefined;
  if (ms !== undefined) spec.durationMs = ms;
  return spec;
}

function newEntry(spec: RuleSpec, source: RuleSource, now: number): RuleEntry {
  return { spec, type: faultKindsOf(spec)[0], source, createdAt: now, updatedAt: now, activatedAt: now, expired: false, injected: 0 };
}

export function viewOf(e: RuleEntry, armed: boolean): RuleView {
  const s = e.spec;
  const enabled = enabledOf(e);
  const v: RuleView = {
    name: s.name,
    type: e.type,
    source: e.source,
    ...(e.experiment !== undefined ? { experiment: e.experiment } : {}),
    ...(s.description !== undefined ? { description: s.description } : {}),
    enabled,
    active: armed && enabled && !e.expired,
    expired: e.expired,
    probability: s.probability,
    match: s.match ?? {},
    duration: s.durationMs ?? null,
    expiresAt: expiresAt(e),
    createdAt: e.createdAt,
    updatedAt: e.updatedAt,
    injected: e.injected,
  };
  v[e.type] = structuredClone(s[e.type]);
  return v;
}
