/**
 * Drift of fault injection against the config file (GET /api/v1/config/drift, admin.reconcile): runtime
 * rules the file does not have, and config rules switched on or off at runtime. Reverting only ever turns
 * faults off: API rules are switched off (as flags are: nothing is deleted) and a config rule switched on at
 * runtime goes back to the file's off. A fault someone switched off is reported but never switched back on
 * by a reconcile — safety wins over the file. Experiment rules are reported, never reverted.
 */
import type { FaultService } from '../chaos/index.js';
import type { DriftItem, DriftSource } from './drift.js';

export function faultDriftSource(faults: FaultService): DriftSource {
  return {
    name: 'faults',
    items: () => {
      const out: DriftItem[] = [];
      for (const e of faults.engine.rules.entries()) {
        const name = e.spec.name;
        if (e.source === 'api' && (e.override ?? e.spec.enabled) && !e.expired) {
          out.push({
            path: `faults.${name}`,
            file: null,
            runtime: { type: e.type, probability: e.spec.probability, enabled: true },
            owner: 'api',
            revertible: true,
            note: 'runtime fault rule (not in faults.rules); revert switches it off',
          });
        } else if (e.source === 'experiment' && !e.expired) {
          out.push({
            path: `faults.${name}`,
            file: null,
            runtime: { type: e.type, probability: e.spec.probability },
            owner: 'experiment',
            revertible: false,
            note: `rule of experiment ${e.experiment}: stop the experiment`,
          });
        } else if (e.source === 'config' && e.override !== undefined && e.override !== e.spec.enabled) {
          const on = e.override === true;
          out.push({
            path: `faults.${name}.enabled`,
            file: e.spec.enabled,
            runtime: e.override,
            owner: 'api',
            revertible: on,
            note: on
              ? 'config rule switched on at runtime; revert switches it off as the file says'
              : 'switched off at runtime: a reconcile never switches a fault back on; edit the file or PATCH enabled: true',
          });
        }
      }
      return out;
    },
    revert: (_file, items) => {
      for (const i of items) {
        const m = /^faults\.(.+?)(\.enabled)?$/.exec(i.path);
        const e = m && faults.engine.rules.get(m[1]);
        if (!e) continue;
        if (e.source === 'api')
          faults.engine.rules.replace(e.spec.name, { ...e.spec, enabled: false }, 'switched off by reconcile: not in the config file');
        else if (e.source === 'config' && e.override === true)
          faults.engine.rules.clearConfigRuleOverride(e.spec.name, 'reconcile: the config file is the source of truth');
      }
    },
  };
}
