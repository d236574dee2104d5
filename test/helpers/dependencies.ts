/**
 * Helpers for the dependency-relay tests: an in-process canaryd with faults on and one dependency relayed
 * (shared, baseline and canary listeners on port 0), rules through the admin API, and small statistics.
 */
import { startAdminSidecar, call, type AdminSidecar } from './admin.js';
import { configYaml } from './canaryd.js';
import { startEchoUpstream } from './echo-upstream.js';

export interface RelaySetup {
  s: AdminSidecar;
  /** the bound port of a listener of the dependency */
  port(version?: 'any' | 'baseline' | 'canary'): number;
  rule(body: Record<string, unknown>): Promise<any>;
  remove(name: string): Promise<void>;
  view(): Promise<any>;
  stop(): Promise<void>;
}

export async function startRelay(name: string, upstreamPort: number, extra = ''): Promise<RelaySetup> {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const yaml = configYaml(
    base.url,
    can.url,
    `faults:\n  enabled: true\n  maxErrorRate: 1\ndependencies:\n  - name: ${name}\n    upstream: 127.0.0.1:${upstreamPort}\n    listen: 127.0.0.1:0\n    listeners: { baseline: 127.0.0.1:0, canary: 127.0.0.1:0 }\n${extra}`,
  );
  const s = await startAdminSidecar(yaml);
  return {
    s,
    port: (v = 'any') => {
      const a = s.sidecar.dependencies.address(name, v);
      if (a === null) throw new Error(`no ${v} listener for ${name}`);
      return Number(a.slice(a.lastIndexOf(':') + 1));
    },
    rule: async (body) => {
      const r = await call(s.app, 'POST', '/api/v1/faults', {
        body: { probability: 1, ...body, match: { dependency: name, ...((body.match as object) ?? {}) } },
      });
      if (r.status !== 201) throw new Error(`POST /api/v1/faults: ${r.status} ${r.body}`);
      return r.json;
    },
    remove: async (rule) => {
      const r = await call(s.app, 'DELETE', `/api/v1/faults/${rule}`);
      if (r.status !== 200) throw new Error(`DELETE /api/v1/faults/${rule}: ${r.status} ${r.body}`);
    },
    view: async () => (await call(s.app, 'GET', `/api/v1/dependencies/${name}`)).json,
    stop: async () => {
      await s.stop();
      await base.close();
      await can.close();
    },
  };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

/** Times `n` sequential runs of fn (ms each). */
export async function timed(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}
