/**
 * The dependency relay: one TCP listener per dependency and app version (dependencies[] in the config),
 * each relaying the app's connections byte for byte to the real dependency, and the live TCP fault rules
 * the fault engine hands it (DependencyRuleSink). The engine owns the rules (CRUD, expiry, safety
 * switches, audit, experiments); the relay acts on connections: refuse on accept, stages on open ones,
 * reset of faulted ones when the engine halts (kill switch, auto-disable).
 *
 * Without a fault a connection costs two sockets and a byte counter per chunk (bench: bench/dependency-bench.ts).
 * A listener whose address is unchanged survives a reload; an upstream change applies to new connections.
 */
import { createServer, connect, type Socket } from 'node:net';
import { CanarydError, systemClock, type Clock, type VersionName } from '../../core/index.js';
import type { DependencyConfig } from '../../config/index.js';
import type { FaultLog } from '../faults/switches.js';
import type { DependencyRule, DependencyRuleSink } from '../faults/types.js';
import { builtinTcpFaultKinds, tcpFaultKind, type TcpFaultRegistry } from './kinds.js';
import { Link, resetSocket, type LinkHost, type LinkRule } from './link.js';
import { registerDependencyMetrics, type DependencyStats } from './metrics.js';
import { statsOf, viewOf, type Dep, type DependencyView, type Slot } from './dependency.js';
import type { Registry } from 'prom-client';

const TLS_HANDSHAKE = 0x16;

export interface DependencyRelayOptions {
  dependencies: readonly DependencyConfig[];
  registry: Registry;
  log: FaultLog;
  clock?: Clock;
  random?: () => number;
  /** asks the fault engine to expire due rules (the relay's one timer fires it at the earliest expiry) */
  expire?: () => void;
  kinds?: TcpFaultRegistry;
}

function split(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  return { host: addr.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(addr.slice(i + 1)) };
}

export type { DependencyView } from './dependency.js';

export class DependencyRelay implements DependencyRuleSink {
  #deps = new Map<string, Dep>();
  #log: FaultLog;
  #clock: Clock;
  #random: () => number;
  #expire: () => void;
  #kinds: TcpFaultRegistry;
  #expiryTimer: NodeJS.Timeout | null = null;
  #rules: readonly DependencyRule[] = [];
  #pending = new Set<Socket>();

  constructor(o: DependencyRelayOptions) {
    this.#log = o.log;
    this.#clock = o.clock ?? systemClock;
    this.#random = o.random ?? Math.random;
    this.#expire = o.expire ?? (() => {});
    this.#kinds = o.kinds ?? builtinTcpFaultKinds();
    for (const c of o.dependencies) this.#deps.set(c.name, this.#newDep(c));
    registerDependencyMetrics(o.registry, () => [...this.#deps.values()].map((d) => statsOf(d)));
  }

  #newDep(config: DependencyConfig): Dep {
    const stats: DependencyStats = {
      name: config.name,
      accepted: { any: 0, baseline: 0, canary: 0 },
      live: 0,
      faulted: 0,
      bytes: { upstream: 0, downstream: 0 },
      rejected: { fault: 0, capacity: 0, connect_error: 0, plaintext: 0 },
    };
    const dep: Dep = { config, listeners: new Map(), links: new Set(), rules: [], stats, host: null as unknown as LinkHost };
    dep.host = {
      random: this.#random,
      now: () => performance.now(),
      bytes: (dir, n) => {
        stats.bytes[dir] += n;
      },
      closed: (l) => dep.links.delete(l),
    };
    return dep;
  }

  /** names rules may target (match.dependency) */
  names(): string[] {
    return [...this.#deps.keys()];
  }

  // =============================== listeners ===============================

  /** Binds every listener; a listener that cannot bind throws CANARYD_ERR_DEPENDENCY_LISTEN naming its key. */
  async start(): Promise<void> {
    for (const dep of this.#deps.values()) await this.#open(dep);
  }

  async #open(dep: Dep): Promise<void> {
    const c = dep.config;
    const want = new Map<Slot, string>();
    if (c.listen !== undefined) want.set('any', c.listen);
    if (c.listeners?.baseline !== undefined) want.set('baseline', c.listeners.baseline);
    if (c.listeners?.canary !== undefined) want.set('canary', c.listeners.canary);
    for (const [slot, l] of [...dep.listeners]) {
      if (want.get(slot) === l.address) continue;
      dep.listeners.delete(slot);
      l.server.close();
    }
    for (const [slot, address] of want) {
      if (dep.listeners.has(slot)) continue;
      const version = slot === 'any' ? null : slot;
      const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => this.#accept(dep, version, s));
      const { host, port } = split(address);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host, port }, () => (server.off('error', reject), resolve()));
      }).catch((e: NodeJS.ErrnoException) => {
        const key = slot === 'any' ? 'listen' : `listeners.${slot}`;
        throw new CanarydError(
          'CANARYD_ERR_DEPENDENCY_LISTEN',
          `dependencies[${c.name}].${key}: cannot listen on ${address}: ${e.code ?? e.message}`,
          { cause: e },
        );
      });
      server.on('error', (e) =>
        this.#log.error({ event: 'dependency_listener_error', dependency: c.name, err: e }, `dependency ${c.name} listener failed`),
      );
      const a = server.address();
      const bound = typeof a === 'object' && a ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : null;
      dep.listeners.set(slot, { address, server, bound });
      this.#log.info(
        { event: 'dependency_listening', dependency: c.name, version: slot, address: bound, upstream: c.upstream },
        `dependency ${c.name} (${slot}) listening on ${bound}, relaying to ${c.upstream}`,
      );
    }
  }

  /** A reload: new dependencies open, removed ones close (their connections too), changed listeners move. */
  async configure(next: readonly DependencyConfig[]): Promise<void> {
    const names = new Set(next.map((d) => d.name));
    for (const [name, dep] of [...this.#deps]) {
      if (names.has(name)) continue;
      this.#deps.delete(name);
      this.#close(dep);
    }
    for (const c of next) {
      const dep = this.#deps.get(c.name);
      if (dep) dep.config = c;
      else this.#deps.set(c.name, this.#newDep(c));
    }
    for (const dep of this.#deps.values()) {
      try {
        await this.#open(dep);
      } catch (e) {
        this.#log.error({ event: 'dependency_listen_failed', dependency: dep.config.name, err: e }, (e as Error).message);
      }
    }
    this.setRules(this.#rules, false);
  }

  #close(dep: Dep): void {
    for (const l of dep.listeners.values()) l.server.close();
    dep.listeners.clear();
    for (const link of [...dep.links]) link.destroy();
  }

  /** Shutdown: listeners closed, relayed connections closed. Idempotent. */
  async stop(): Promise<void> {
    if (this.#expiryTimer !== null) clearTimeout(this.#expiryTimer);
    this.#expiryTimer = null;
    const closing: Array<Promise<void>> = [];
    for (const dep of this.#deps.values()) {
      for (const l of dep.listeners.values()) closing.push(new Promise((r) => l.server.close(() => r())));
      dep.listeners.clear();
      for (const link of [...dep.links]) link.destroy();
    }
    for (const s of this.#pending) s.destroy();
    await Promise.all(closing);
  }

  // =============================== connections ===============================

  #accept(dep: Dep, version: VersionName | null, c: Socket): void {
    const s = dep.stats;
    s.accepted[version ?? 'any']++;
    c.on('error', () => {}); // a client that resets before the link exists must not crash the process
    c.setNoDelay(true);
    if (dep.links.size >= dep.config.maxConnections) {
      s.rejected.capacity++;
      return resetSocket(c);
    }
    for (const r of dep.rules) {
      if (!r.fault.refuse || (r.version !== null && r.version !== version)) continue;
      if (!(this.#random() < r.probability)) continue;
      r.count();
      s.rejected.fault++;
      return resetSocket(c);
    }
    if (dep.config.tls !== 'passthrough') return this.#dial(dep, version, c);
    // a TLS dependency: the client speaks first, with a handshake record; plaintext is refused before any dial
    c.once('data', (first: Buffer) => {
      c.pause();
      if (first[0] !== TLS_HANDSHAKE) {
        s.rejected.plaintext++;
        this.#log.warn(
          { event: 'dependency_plaintext_refused', dependency: dep.config.name },
          `dependency ${dep.config.name} is tls: passthrough; a plaintext client was reset`,
        );
        return resetSocket(c);
      }
      c.unshift(first);
      this.#dial(dep, version, c);
    });
    c.resume();
  }

  #dial(dep: Dep, version: VersionName | null, c: Socket): void {
    const { host, port } = split(dep.config.upstream);
    const u = connect({ host, port, allowHalfOpen: true, noDelay: true });
    this.#pending.add(c);
    const timer = setTimeout(
      () => u.destroy(Object.assign(new Error(`no connection within ${dep.config.connectTimeout} ms`), { code: 'ETIMEDOUT' })),
      dep.config.connectTimeout,
    );
    const failed = (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      this.#pending.delete(c);
      c.off('close', gone);
      dep.stats.rejected.connect_error++;
      this.#log.warn(
        { event: 'dependency_connect_failed', dependency: dep.config.name, upstream: dep.config.upstream, code: e.code },
        `dependency ${dep.config.name}: cannot reach ${dep.config.upstream} (${e.code ?? e.message})`,
      );
      resetSocket(c);
    };
    const gone = () => u.destroy(); // the client left while we dialled
    c.once('close', gone);
    u.once('error', failed);
    u.once('connect', () => {
      clearTimeout(timer);
      this.#pending.delete(c);
      u.off('error', failed);
      c.off('close', gone);
      if (c.destroyed) return void u.destroy();
      const link = new Link(version, c, u, dep.host);
      link.openedAt = this.#clock.now();
      dep.links.add(link);
      link.apply(dep.rules, false);
      link.start();
    });
  }

  // =============================== rules ===============================

  /** The engine's live TCP rules (DependencyRuleSink): compiled, then applied to every open connection. */
  setRules(rules: readonly DependencyRule[], cut: boolean): void {
    this.#rules = rules;
    const byDep = new Map<string, LinkRule[]>();
    let nextExpiry = Infinity;
    for (const r of rules) {
      const kind = tcpFaultKind(this.#kinds, r.type);
      const lr: LinkRule = {
        key: r.key,
        name: r.name,
        type: r.type,
        probability: r.probability,
        version: r.version,
        fault: kind.compile(r.params),
        count: () => r.count(kind.category),
      };
      const list = byDep.get(r.dependency) ?? [];
      list.push(lr);
      byDep.set(r.dependency, list);
      if (r.expiresAt !== null && r.expiresAt < nextExpiry) nextExpiry = r.expiresAt;
    }
    for (const dep of this.#deps.values()) {
      const list = byDep.get(dep.config.name) ?? [];
      const same = list.length === dep.rules.length && list.every((r, i) => r.key === dep.rules[i].key);
      dep.rules = list;
      if (same && !cut) continue;
      let cutN = 0;
      for (const link of [...dep.links]) {
        if (link.apply(list, cut) === 'cut') cutN++;
      }
      if (cutN > 0)
        this.#log.warn(
          { event: 'dependency_connections_cut', dependency: dep.config.name, connections: cutN },
          `dependency ${dep.config.name}: ${cutN} faulted connection(s) reset (faults halted)`,
        );
    }
    if (this.#expiryTimer !== null) clearTimeout(this.#expiryTimer);
    this.#expiryTimer = null;
    if (nextExpiry !== Infinity) {
      const wait = Math.min(2 ** 31 - 1, Math.max(0, nextExpiry - this.#clock.now()) + 1);
      this.#expiryTimer = setTimeout(() => ((this.#expiryTimer = null), this.#expire()), wait);
      this.#expiryTimer.unref();
    }
  }

  list(): DependencyView[] {
    return [...this.#deps.values()].map((d) => viewOf(d));
  }

  get(name: string): DependencyView {
    const d = this.#deps.get(name);
    if (!d) throw new CanarydError('CANARYD_ERR_NOT_FOUND', `no dependency named ${JSON.stringify(name)}`);
    return viewOf(d);
  }

  /** the bound address of a listener ("host:port"), e.g. for tests and the demo */
  address(name: string, version: Slot = 'any'): string | null {
    return this.#deps.get(name)?.listeners.get(version)?.bound ?? null;
  }
}
