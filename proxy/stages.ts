/**
 * The request path as a chain of stages, compiled once per change (models: undici's compose() of
 * interceptors, Envoy's filter chain). A stage covers both directions:
 *
 *   request:  prepare (before the upstream request headers are built) -> route (once the version is picked;
 *             a stage may take the exchange over and continue it later with ex.proceed()) -> upstream
 *   response: observe (the exchange ended: one Observation, however it ended)
 *
 * Today's stages: faults (proxy/faults), mirror (proxy/mirror.ts), observation (recorder + metrics) and the
 * access log (proxy/observe.ts). A stage that is off (`active` false) is left out when the chain is
 * compiled, so it costs nothing per request; a stage whose on/off state changes at run time (the fault
 * engine arming, the mirror percent going to 0) asks for a recompile through the hook it was bound to.
 */
import type { Observation } from '../core/index.js';
import type { Exchange, ExchangeFailure } from './exchange.js';

export type { ExchangeFailure, ResponseTap } from './exchange.js';

export interface ProxyStage {
  readonly name: string;
  /** false: not in the compiled chain. Read only when the chain is compiled. */
  readonly active?: boolean;
  /** called once when the stage joins a server: `changed` recompiles the chain (after `active` changed) */
  bind?(changed: () => void): void;
  /** request direction, before the upstream request headers are built */
  prepare?(ex: Exchange): void;
  /** request direction, routed: true when the stage took the exchange over (it calls ex.proceed() to go on) */
  route?(ex: Exchange): boolean;
  /** response direction: the exchange ended (ex is null for an upgraded connection) */
  observe?(o: Observation, ex: Exchange | null, failure?: ExchangeFailure): void;
}

/** The chain compiled from the active stages: one array per hook, in stage order. */
export class StageChain {
  readonly prepare: readonly ProxyStage[];
  readonly route: readonly ProxyStage[];
  readonly observe: readonly ProxyStage[];
  /** the active stages' names, in order (the admin status shows them) */
  readonly names: readonly string[];

  constructor(stages: readonly ProxyStage[]) {
    const on = stages.filter((s) => s.active !== false);
    this.prepare = on.filter((s) => s.prepare !== undefined);
    this.route = on.filter((s) => s.route !== undefined);
    this.observe = on.filter((s) => s.observe !== undefined);
    this.names = on.map((s) => s.name);
  }
}
