/** Config section of the data-plane workers inside one replica (docs/fleet.md "Workers"). */
import { Type } from '@sinclair/typebox';

export const workerSections = {
  workers: Type.Union([Type.Integer({ minimum: 1, maximum: 64 }), Type.Literal('auto')], {
    default: 1,
    description:
      'Data-plane processes serving the proxy port (node:cluster). 1: one process, as without the key; auto: one per available CPU. The primary keeps the controller, admin, state and audit',
  }),
};

/** How many workers `workers` asks for: `auto` is the CPUs this process may use (os.availableParallelism). */
export function workerCount(workers: number | 'auto', cpus: () => number): number {
  return workers === 'auto' ? Math.max(1, cpus()) : workers;
}
