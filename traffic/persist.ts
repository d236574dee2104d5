/**
 * weights.json: the runtime canary weight, so that a weight set by an operator or a rollout survives a
 * restart. It records the file's weight at the time: when the file's routing.canaryWeight has changed since,
 * the file wins and the saved weight is dropped. The fleet replicates this document as it is.
 */
import type { JsonStore, WeightOwner } from '../core/index.js';

export const WEIGHTS_FILE = 'weights.json';

export interface PersistedWeights {
  canary: number;
  /** the config file's canaryWeight when this runtime weight was set: a changed file weight wins */
  fileWeight: number;
  reason: string;
  at: number;
  /** who set it (drift reports and reverts only API-made weights); absent in files written before owners */
  owner?: WeightOwner;
}

export function readPersistedWeights(store: JsonStore): PersistedWeights | undefined {
  const doc = store.readJson<PersistedWeights>(WEIGHTS_FILE);
  return doc && typeof doc.canary === 'number' && typeof doc.fileWeight === 'number' ? doc : undefined;
}
