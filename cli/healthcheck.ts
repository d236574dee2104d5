/**
 * `canaryd healthcheck`: the container HEALTHCHECK. Reads the same config file the process runs with and
 * asks its admin listener for /healthz, so the port always matches the config (no separate env var to keep
 * in sync). Exit 0 healthy, 1 not.
 */
import { loadConfigFile, splitHostPort } from '../config/index.js';

/** A wildcard listen address is reached on loopback from inside the container. */
export function probeHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '::1';
  return host;
}

export async function runHealthcheck(file: string, env: NodeJS.ProcessEnv = process.env, timeoutMs = 3000): Promise<number> {
  let listen: string;
  try {
    listen = loadConfigFile(file, env).admin.listen;
  } catch (e) {
    // An invalid edit leaves the old config serving: probe the default rather than report a healthy process as dead.
    listen = env.CANARYD_ADMIN_LISTEN || '127.0.0.1:9901';
    console.error(`healthcheck: ${(e as Error).message.split('\n')[0]}; probing ${listen}`);
  }
  const { host, port } = splitHostPort(listen);
  const h = probeHost(host);
  const url = `http://${h.includes(':') ? `[${h}]` : h}:${port}/healthz`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (res.ok) return 0;
    console.error(`healthcheck: ${url} answered ${res.status}`);
  } catch (e) {
    console.error(`healthcheck: ${url}: ${(e as Error).message}`);
  }
  return 1;
}
