/**
 * The eight TCP fault kinds and their explicit registry (type name -> implementation; nothing registers
 * itself on import). The registry equals config's DEPENDENCY_FAULT_TYPES (a test checks). A kind compiles
 * its schema-checked params once per rule change into a TcpFault: what a relayed connection needs to act
 * (stages per direction, a close delay, a close deadline, refusal on accept, a cut at once).
 */
import { CanarydError } from '../../core/index.js';
import type { DependencyFaultParams, DependencyFaultTypeName } from '../../config/index.js';
import {
  BandwidthStage,
  ByteLimitStage,
  HoldStage,
  LatencyStage,
  SlicerStage,
  type ByteBudget,
  type Next,
  type Stage,
  type StageHost,
} from './stages.js';

export type Direction = 'upstream' | 'downstream';
type DirectionParam = 'upstream' | 'downstream' | 'both';

/** What one rule keeps per connection across rebuilds of the connection's stages. */
export interface FaultState {
  budget?: ByteBudget;
}

export interface TcpFault {
  /** the stage of this direction, or null when the fault leaves it alone */
  stage(dir: Direction, host: StageHost, next: Next, state: FaultState): Stage | null;
  /** a close from either side reaches the other this much later (slowClose) */
  readonly closeDelayMs: number;
  /** > 0: the connection is closed this long after the fault applied (timeout.closeAfterMs) */
  readonly closeAfterMs: number;
  /** new connections are reset when accepted */
  readonly refuse: boolean;
  /** the connection is cut as soon as the fault applies (a zero byte budget) */
  readonly immediate: 'rst' | 'fin' | null;
  /** a byte limit: goes last in a chain, so it counts bytes as they leave */
  readonly last: boolean;
}

export interface TcpFaultKind {
  readonly type: DependencyFaultTypeName;
  /** how injection counts classify it (as the HTTP kinds: latencyInjections or errorInjections) */
  readonly category: 'latency' | 'error';
  compile(params: unknown): TcpFault;
}

const covers = (d: DirectionParam | undefined, dflt: DirectionParam, dir: Direction) => (d ?? dflt) === 'both' || (d ?? dflt) === dir;
const base = { closeDelayMs: 0, closeAfterMs: 0, refuse: false, immediate: null, last: false } as const;

const latency: TcpFaultKind = {
  type: 'latency',
  category: 'latency',
  compile(raw) {
    const p = raw as DependencyFaultParams['latency'];
    return {
      ...base,
      stage: (dir, host, next) => (covers(p.direction, 'downstream', dir) ? new LatencyStage(host, next, p.ms, p.jitterMs ?? 0) : null),
    };
  },
};

const bandwidth: TcpFaultKind = {
  type: 'bandwidth',
  category: 'latency',
  compile(raw) {
    const p = raw as DependencyFaultParams['bandwidth'];
    return {
      ...base,
      stage: (dir, host, next) => (covers(p.direction, 'downstream', dir) ? new BandwidthStage(host, next, p.bytesPerSecond) : null),
    };
  },
};

const slicer: TcpFaultKind = {
  type: 'slicer',
  category: 'latency',
  compile(raw) {
    const p = raw as DependencyFaultParams['slicer'];
    return {
      ...base,
      stage: (dir, host, next) =>
        covers(p.direction, 'downstream', dir)
          ? new SlicerStage(host, next, p.averageSize ?? 16, p.sizeVariation ?? 0, p.delayUs ?? 0)
          : null,
    };
  },
};

const slowClose: TcpFaultKind = {
  type: 'slowClose',
  category: 'latency',
  compile(raw) {
    const p = raw as DependencyFaultParams['slowClose'];
    return { ...base, closeDelayMs: p.delayMs, stage: () => null };
  },
};

const timeout: TcpFaultKind = {
  type: 'timeout',
  category: 'error',
  compile(raw) {
    const p = raw as DependencyFaultParams['timeout'];
    return {
      ...base,
      closeAfterMs: p.closeAfterMs ?? 0,
      stage: (dir, _host, next) => (covers(p.direction, 'both', dir) ? new HoldStage(next) : null),
    };
  },
};

function byteLimit(type: 'resetPeer' | 'limitData', how: 'rst' | 'fin'): TcpFaultKind {
  return {
    type,
    category: 'error',
    compile(raw) {
      const p = raw as { afterBytes?: number; bytes?: number; direction?: DirectionParam };
      const n = (type === 'resetPeer' ? p.afterBytes : p.bytes) ?? 0;
      const why = `${type}: ${n} bytes relayed`;
      return {
        ...base,
        last: true,
        immediate: n === 0 ? how : null,
        stage: (dir, host, next, state) => {
          if (!covers(p.direction, 'both', dir)) return null;
          state.budget ??= { remaining: n, spent: false };
          return new ByteLimitStage(host, next, state.budget, how, why);
        },
      };
    },
  };
}

const refuse: TcpFaultKind = {
  type: 'refuse',
  category: 'error',
  compile: () => ({ ...base, refuse: true, stage: () => null }),
};

export type TcpFaultRegistry = ReadonlyMap<string, TcpFaultKind>;

export function builtinTcpFaultKinds(): TcpFaultRegistry {
  return new Map<string, TcpFaultKind>([
    ['latency', latency],
    ['bandwidth', bandwidth],
    ['slowClose', slowClose],
    ['timeout', timeout],
    ['resetPeer', byteLimit('resetPeer', 'rst')],
    ['refuse', refuse],
    ['slicer', slicer],
    ['limitData', byteLimit('limitData', 'fin')],
  ]);
}

/** The kind of a type name; unknown names throw (never a silent pass-through). */
export function tcpFaultKind(registry: TcpFaultRegistry, type: string): TcpFaultKind {
  const k = registry.get(type);
  if (k === undefined)
    throw new CanarydError(
      'CANARYD_ERR_BAD_REQUEST',
      `unknown dependency fault type ${JSON.stringify(type)} (known: ${[...registry.keys()].join(', ')})`,
    );
  return k;
}
