/**
 * The explicit registry from fault type name to implementation. Nothing registers itself on import: this
 * list is the whole set, and it must equal the config's FAULT_TYPES (a test checks). A FaultEngine takes a
 * registry as an argument, so tests (or an embedder) can pass their own.
 */
import { CanarydError } from '../../core/index.js';
import { FAULT_TYPES } from './settings.js';
import { abortFault, delayFault, dependencyFault, hangFault, resetFault } from './kinds/request.js';
import { throttleFault, truncateFault } from './kinds/response.js';
import type { FaultKind } from './types.js';

export type FaultKindRegistry = ReadonlyMap<string, FaultKind>;

export function builtinFaultKinds(): FaultKindRegistry {
  return new Map<string, FaultKind>([
    ['delay', delayFault],
    ['abort', abortFault],
    ['reset', resetFault],
    ['hang', hangFault],
    ['throttle', throttleFault],
    ['truncate', truncateFault],
    ['dependency', dependencyFault],
  ]);
}

/** The kind for a type name; unknown names throw (never a silent pass-through). */
export function faultKind(registry: FaultKindRegistry, type: string): FaultKind {
  const k = registry.get(type);
  if (k === undefined)
    throw new CanarydError(
      'CANARYD_ERR_BAD_REQUEST',
      `unknown fault type ${JSON.stringify(type)} (known: ${[...registry.keys()].join(', ')})`,
    );
  return k;
}

export { FAULT_TYPES };
