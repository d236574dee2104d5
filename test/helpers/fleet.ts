/** Fleet test rig: real canaryd processes (the CLI) sharing one real redis-server, each with its own state.dir. */
import { request } from 'undici';
import { configYaml, spawnCanaryd, type CanarydProcess } from './canaryd.js';
import { until } from './admin.js';

export async function api(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await request(base + path, {
    method: method as 'GET',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.body.text();
  return { status: r.statusCode, body: text ? JSON.parse(text) : null };
}

export interface Replica extends CanarydProcess {
  name: string;
}

export function fleetYaml(baseUrl: string, canUrl: string, redisUrl: string, service: string, extra = ''): string {
  return configYaml(
    baseUrl,
    canUrl,
    `routing: { sticky: { header: x-user-id } }
fleet: { redis: "${redisUrl}", service: ${service}, leaseTtl: 2s, heartbeat: 250ms }
${extra}`,
  );
}

/** Spawns n replicas (each its own config file and state.dir) and waits until one of them leads. */
export async function startFleet(n: number, yaml: () => string, names = ['A', 'B', 'C', 'D', 'E']): Promise<Replica[]> {
  const out: Replica[] = [];
  for (let i = 0; i < n; i++) out.push({ ...(await spawnCanaryd(yaml(), {}, 90_000)), name: names[i] }); // 3 processes on a shared, loaded machine
  await until('a fleet leader', () => leaderOf(out), 60_000);
  return out;
}

export async function stopFleet(rs: Replica[]): Promise<void> {
  await Promise.all(
    rs.map(async (r) => {
      if (r.child.exitCode !== null || r.child.signalCode !== null) return;
      r.child.kill('SIGCONT');
      r.child.kill('SIGTERM');
      await r.exited;
    }),
  );
}

/** The replica whose own /api/v1/fleet says it leads, if any (only among the given live ones). */
export async function leaderOf(rs: Replica[]): Promise<Replica | null> {
  for (const r of rs) {
    const f = await api(r.adminUrl, 'GET', '/api/v1/fleet').catch(() => null);
    if (f?.body?.leading) return r;
  }
  return null;
}

export async function weights(rs: Replica[]): Promise<number[]> {
  return Promise.all(rs.map(async (r) => (await api(r.adminUrl, 'GET', '/api/v1/rollout')).body.canaryWeight as number));
}

/** Waits until every replica routes at `w`; returns the ms it took from the call. */
export async function converged(rs: Replica[], w: number, timeoutMs = 30_000): Promise<number> {
  const t0 = Date.now();
  await until(`all replicas at canary ${w} %`, async () => (await weights(rs)).every((x) => x === w), timeoutMs, 20);
  return Date.now() - t0;
}

export async function versionFor(r: Replica, user: string): Promise<string> {
  const res = await request(r.url + '/', { headers: { 'x-user-id': user } });
  await res.body.dump();
  return String(res.headers['x-canaryd-version']);
}
