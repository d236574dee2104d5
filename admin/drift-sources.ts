/**
 * The built-in drift sources: a config file edit not applied yet, the runtime canary weight, runtime flags.
 * The composition root passes them to the DriftReconciler in that order (applying the file first makes the
 * weight comparison that follows meaningful).
 */
import type { Config } from '../config/index.js';
import { configDiff, type DriftItem, type DriftSource } from './drift.js';
import type { FlagService } from './flags/service.js';

/** Who set the running canary weight. */
export type WeightOwner = 'file' | 'api' | 'rollout';

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

export function weightDriftSource(o: { weight: () => number; owner: () => WeightOwner; set: (canary: number, reason: string) => void }): DriftSource {
  return {
    name: 'weights',
    items: (file) => {
      const w = o.weight();
      if (w === file.routing.canaryWeight) return [];
      const owner = o.owner();
      const item: DriftItem = { path: 'routing.canaryWeight', file: file.routing.canaryWeight, runtime: w, owner, revertible: owner !== 'rollout' };
      if (owner === 'rollout') item.note = 'set by the rollout controller: never reverted; promote, roll back or update the file';
      return [item];
    },
    revert: (file) => o.set(file.routing.canaryWeight, 'reconcile: the config file is the source of truth'),
  };
}

export function flagDriftSource(flags: FlagService): DriftSource {
  return {
    name: 'flags',
    items: () =>
      flags.active().map((f) => ({
        path: `flags.${f.key}`,
        file: null,
        runtime: { kind: f.kind, version: f.version, enabled: true },
        owner: 'api',
        revertible: true,
        note: 'runtime flag (the file has routing.rules only); revert switches it off',
      })),
    revert: (_file, items) => {
      for (const i of items) flags.update(i.path.slice('flags.'.length), { enabled: false }, 'switched off by reconcile: not in the config file');
    },
  };
}
