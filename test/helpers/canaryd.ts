/** Test harness: a real canaryd, in-process (Sidecar) or as a child process (the CLI), on 127.0.0.1 port 0. */
import { testPatience } from './admin.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { pino } from 'pino';
import { parseConfigText } from '../../config/index.js';
import { Sidecar } from '../../sidecar.js';

export function tempDir(prefix = 'canaryd-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A config YAML with both upstreams, ports 0 and a temp state dir; `extra` is appended (YAML). */
export function configYaml(baselineUrl: string, canaryUrl: string, extra = '', stateDir = tempDir()): string {
  return `listen: 127.0.0.1:0
admin: { listen: "127.0.0.1:0" }
upstreams:
  baseline: { url: "${baselineUrl}", version: v1 }
  canary: { url: "${canaryUrl}", version: v2 }
state: { dir: "${stateDir}" }
log: { level: silent }
${extra}`;
}

/**
 * canaryd refuses mutating admin calls when no token is configured. Most tests steer a tokenless loopback
 * canaryd, as an operator on their own machine would with `admin.allowUnauthenticated: true`: the starters
 * below add that key to configYaml's tokenless admin line. A test that sets a token (it replaces that line)
 * or wants the refusal (`{ strictAdmin: true }`) is left as it is.
 */
export const TOKENLESS_ADMIN = 'admin: { listen: "127.0.0.1:0" }';
export function allowUnauthenticatedAdmin(yaml: string): string {
  return yaml.replace(TOKENLESS_ADMIN, 'admin: { listen: "127.0.0.1:0", allowUnauthenticated: true }');
}

export interface RunningSidecar {
  sidecar: Sidecar;
  url: string;
  adminUrl: string;
  stop(): Promise<void>;
}

export async function startSidecar(yaml: string, opts: { strictAdmin?: boolean } = {}): Promise<RunningSidecar> {
  const config = parseConfigText(opts.strictAdmin ? yaml : allowUnauthenticatedAdmin(yaml), { ...process.env });
  const sidecar = new Sidecar({ config, logger: pino({ level: 'silent' }) });
  await sidecar.start();
  return {
    sidecar,
    url: `http://127.0.0.1:${sidecar.proxyAddress!.port}`,
    adminUrl: `http://127.0.0.1:${sidecar.adminAddress!.port}`,
    stop: async () => {
      await sidecar.stop(1000, 0);
    },
  };
}

export interface CanarydProcess {
  child: ChildProcess;
  url: string;
  adminUrl: string;
  configPath: string;
  /** JSON log lines read back from stdout */
  logs: Array<Record<string, unknown>>;
  waitForLog(pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

/**
 * Spawns `node dist/cli/canaryd.js --config FILE` and waits for its "started" log line (ports from it).
 * `wrapper` runs it under a command that execs it (e.g. ['prlimit', '--nofile=150:200', '--']).
 */
export async function spawnCanaryd(
  yaml: string,
  env: NodeJS.ProcessEnv = {},
  startTimeoutMs = 15_000,
  wrapper: string[] = [],
  opts: { strictAdmin?: boolean } = {},
): Promise<CanarydProcess> {
  const dir = tempDir('canaryd-proc-');
  const configPath = join(dir, 'canaryd.yaml');
  writeFileSync(
    configPath,
    (opts.strictAdmin ? yaml : allowUnauthenticatedAdmin(yaml)).replace(
      'log: { level: silent }',
      'log: { level: info, accessLogSampleRate: 0 }',
    ),
  );
  const argv = [process.execPath, 'dist/cli/canaryd.js', '--config', configPath];
  const child = spawn(wrapper[0] ?? argv[0], [...wrapper.slice(1), ...(wrapper.length > 0 ? argv : argv.slice(1))], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const waiters: Array<{ pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }> = [];
  let buf = '';
  child.stdout!.on('data', (c: Buffer) => {
    buf += c.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        const l = JSON.parse(line) as Record<string, unknown>;
        logs.push(l);
        for (const w of [...waiters])
          if (w.pred(l)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(l);
          }
      } catch {
        /* not JSON */
      }
    }
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const waitForLog = (pred: (l: Record<string, unknown>) => boolean, baseTimeoutMs = 15_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const timeoutMs = baseTimeoutMs * testPatience();
      const found = logs.find(pred);
      if (found) return resolve(found);
      const t = setTimeout(() => reject(new Error(`log line not seen in ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
      waiters.push({ pred, resolve: (l) => (clearTimeout(t), resolve(l)) });
      void exited.then((code) => {
        clearTimeout(t);
        reject(new Error(`canaryd exited (${code}) before the log line; stderr: ${stderr}`));
      });
    });
  const started = await waitForLog((l) => l.event === 'started', startTimeoutMs);
  const proxy = started.proxy as { port: number };
  const admin = started.admin as { port: number };
  return { child, url: `http://127.0.0.1:${proxy.port}`, adminUrl: `http://127.0.0.1:${admin.port}`, configPath, logs, waitForLog, exited };
}
