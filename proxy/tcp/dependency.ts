/**
 * One dependency as the relay (relay.ts) holds it — its config, listeners per app version, live links and
 * rules — and what GET /api/v1/dependencies shows of it (viewOf). Split from relay.ts, which keeps the
 * sockets and the rules' lifecycle.
 */
import type { Server } from 'node:net';
import type { VersionName } from '../../core/index.js';
import type { DependencyConfig } from '../../config/index.js';
import type { Link, LinkHost, LinkRule } from './link.js';
import type { DependencyStats } from './metrics.js';

export type Slot = 'any' | VersionName;
export const SLOTS: Slot[] = ['any', 'baseline', 'canary'];
/** the newest live connections a view lists */
const LIVE_LISTED = 100;

export interface Listener {
  address: string;
  server: Server;
  bound: string | null;
}

export interface Dep {
  config: DependencyConfig;
  listeners: Map<Slot, Listener>;
  links: Set<Link>;
  rules: LinkRule[];
  stats: DependencyStats;
  host: LinkHost;
}

/** GET /api/v1/dependencies: one dependency. */
export interface DependencyView {
  name: string;
  upstream: string;
  tls: 'none' | 'passthrough';
  listeners: Array<{ version: Slot; address: string; bound: string | null }>;
  connections: { live: number; faulted: number; accepted: DependencyStats['accepted']; rejected: DependencyStats['rejected'] };
  bytes: DependencyStats['bytes'];
  /** live rules of this dependency and how many live connections each acts on */
  faults: Array<{ rule: string; type: string; version: VersionName | null; probability: number; connections: number }>;
  /** the newest live connections (at most 100) */
  live: Array<{ id: number; version: Slot; openedAt: number; bytes: { upstream: number; downstream: number }; faults: string[] }>;
}

export function statsOf(d: Dep): DependencyStats {
  let faulted = 0;
  for (const l of d.links) if (l.faulted) faulted++;
  d.stats.live = d.links.size;
  d.stats.faulted = faulted;
  return d.stats;
}

export function viewOf(d: Dep): DependencyView {
  const s = statsOf(d);
  const links = [...d.links];
  return {
    name: d.config.name,
    upstream: d.config.upstream,
    tls: d.config.tls,
    listeners: SLOTS.filter((v) => d.listeners.has(v)).map((v) => ({
      version: v,
      address: d.listeners.get(v)!.address,
      bound: d.listeners.get(v)!.bound,
    })),
    connections: { live: s.live, faulted: s.faulted, accepted: { ...s.accepted }, rejected: { ...s.rejected } },
    bytes: { ...s.bytes },
    faults: d.rules.map((r) => ({
      rule: r.name,
      type: r.type,
      version: r.version,
      probability: r.probability,
      connections: links.filter((l) => l.faults.includes(r.name)).length,
    })),
    live: links.slice(-LIVE_LISTED).map((l) => ({
      id: l.id,
      version: l.version ?? 'any',
      openedAt: l.openedAt,
      bytes: { upstream: l.up.bytes, downstream: l.down.bytes },
      faults: l.faults,
    })),
  };
}
