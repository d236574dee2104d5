/**
 * The built-in drift sources: a config file edit not applied yet, the runtime canary weight, runtime flags.
 * The composition root passes them to the DriftReconciler in that order (applying the file first makes the
 * weight comparison that follows meaningful).
 */
import type { TrafficRouting } from '../core/index.js';
import type { Config } from '../config/index.js';
import { configDiff, type DriftItem, type DriftSource } from './drift.js';
import { fileDrift, type FlagService } from './flags/service.js';

export function configDriftSource(o: { running: () => Config; apply: (file: Config) => void }): DriftSource {
  return {
    name: 'config',
    items: (file) =>
      configDiff(o.running(), file).map((d) => ({
        path: `config.${d.path}`,
        file: d.file,
        runtime: d.running,
        owner: 'file (not applied)',
        revertible: true,
        note: 'the file changed and the change was not applied (rejected, or not reloaded yet)',
      })),
    revert: (file) => o.apply(file),
  };
}

/** The running weight against the file's; revert sets the file's weight back as its owner ('file'). */
export function weightDriftSource(traffic: Pick<TrafficRouting, 'weight' | 'setWeight'>): DriftSource {
  return {
    name: 'weights',
    items: (file) => {
      const { canary: w, owner } = traffic.weight();
      if (w === file.routing.canaryWeight) return [];
      const item: DriftItem = {
        path: 'routing.canaryWeight',
        file: file.routing.canaryWeight,
        runtime: w,
        owner,
        revertible: owner !== 'rollout',
      };
      if (owner === 'rollout') item.note = 'set by the rollout controller: never reverted; promote, roll back or update the file';
      return [item];
    },
    revert: (file) => traffic.setWeight('file', file.routing.canaryWeight, 'reconcile: the config file is the source of truth'),
  };
}

/**
 * Flags against the file's `flags:`. A file-declared flag changed through the API is drift (revert puts the
 * file's declaration back); one the file no longer declares is drift until the reload archives it.
 * Flags made through the API that the file never declared are runtime-only: listed by `runtimeOnly`, never
 * drift, never switched off by `revert` (they have no file state to go back to).
 */
export function flagDriftSource(flags: FlagService): DriftSource {
  return {
    name: 'flags',
    items: (file) => {
      const out: DriftItem[] = [];
      const decls = new Map(file.flags.map((d) => [d.key, d]));
      for (const f of flags.list()) {
        const d = decls.get(f.key);
        if (d) {
          const fields = fileDrift(f, d);
          if (fields.length > 0)
            out.push({
              path: `flags.${f.key}`,
              file: pick(d, fields),
              runtime: pick(f, fields),
              owner: f.source === 'file' ? 'api' : 'api (same key as a file flag)',
              revertible: true,
              note: `differs from the file in ${fields.join(', ')}; revert applies the file's declaration`,
            });
        } else if (f.source === 'file') {
          out.push({
            path: `flags.${f.key}`,
            file: null,
            runtime: { kind: f.kind, version: f.version, enabled: f.enabled },
            owner: 'file (not applied)',
            revertible: true,
            note: 'the file no longer declares it; revert (or the reload) archives it',
          });
        }
      }
      return out;
    },
    runtimeOnly: (file) =>
      flags
        .list()
        .filter((f) => f.source !== 'file' && !file.flags.some((d) => d.key === f.key))
        .map((f) => ({
          path: `flags.${f.key}`,
          runtime: { kind: f.kind, version: f.version, enabled: f.enabled },
          owner: 'api',
          note: 'runtime-only flag: not in the file, kept as is by reconcile',
        })),
    revert: (file) => {
      flags.syncFromFile(file.flags, 'reconcile: the config file is the source of truth');
    },
  };
}

function pick(o: object, fields: string[]): Record<string, unknown> {
  return Object.fromEntries(fields.map((f) => [f, (o as Record<string, unknown>)[f] ?? null]));
}
