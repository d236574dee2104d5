/**
 * Real dependencies for the dependency-relay tests, each started in a temp dir on a free 127.0.0.1 port and
 * stopped by the caller: redis-server (Debian's redis-server), and PostgreSQL 15 (initdb + postgres; they
 * refuse to run as root, so as root they run as `nobody` through setpriv). `pgUnavailable()` says why a
 * PostgreSQL test must skip (no binaries), so a skip always names its reason.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tempDir } from './canaryd.js';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

/** A port free right now (bound then released; the service binds it next). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface Service {
  port: number;
  stop(): Promise<void>;
}

/** Resolves when `pattern` shows on the child's stdout or stderr; rejects when it exits first or after 30 s. */
function waitFor(child: ChildProcess, pattern: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (c: Buffer) => {
      out = (out + c.toString()).slice(-8192);
      if (pattern.test(out)) done(null);
    };
    const timer = setTimeout(() => done(new Error(`${what} did not start within 30 s:\n${out}`)), 30_000);
    const onExit = (code: number | null) => done(new Error(`${what} exited (${code}) before it was ready:\n${out}`));
    const done = (e: Error | null) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      if (e) reject(e);
      else resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => (clearTimeout(timer), resolve()));
    child.kill(signal);
  });
}

export async function startRedis(): Promise<Service> {
  const dir = tempDir('canaryd-redis-');
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await waitFor(child, /Ready to accept connections/, 'redis-server');
  return {
    port,
    stop: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** null when PostgreSQL can run here; else the reason a test must skip. */
export function pgUnavailable(): string | null {
  if (!existsSync(`${PG_BIN}/initdb`) || !existsSync(`${PG_BIN}/postgres`))
    return `PostgreSQL 15 is not installed (${PG_BIN}); .ci/run installs it`;
  if (process.getuid?.() === 0 && spawnSync('setpriv', ['--help']).error)
    return 'running as root without setpriv (util-linux): postgres refuses root';
  return null;
}

/** A fresh cluster (trust auth, user postgres) in a temp dir, listening on 127.0.0.1 only. */
export async function startPostgres(): Promise<Service> {
  const dir = tempDir('canaryd-pg-');
  const data = `${dir}/data`;
  const root = process.getuid?.() === 0;
  if (root) {
    chmodSync(dir, 0o755);
    chownSync(dir, 65534, 65534);
  }
  // setpriv execs the command itself (no process in between), so signals reach postgres directly
  const as = (cmd: string, args: string[]) =>
    root ? { cmd: 'setpriv', args: ['--reuid=65534', '--regid=65534', '--clear-groups', cmd, ...args] } : { cmd, args };
  const init = as(`${PG_BIN}/initdb`, ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const r = spawnSync(init.cmd, init.args, { encoding: 'utf8', cwd: dir });
  if (r.status !== 0) throw new Error(`initdb failed: ${r.stderr || r.stdout || r.error}`);
  const port = await freePort();
  const run = as(`${PG_BIN}/postgres`, [
    '-D',
    data,
    '-p',
    String(port),
    '-h',
    '127.0.0.1',
    '-k',
    dir,
    '-c',
    'fsync=off',
    '-c',
    'max_connections=40',
    '-c',
    'shared_buffers=16MB',
  ]);
  const child = spawn(run.cmd, run.args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  await waitFor(child, /database system is ready to accept connections/, 'postgres');
  return {
    port,
    stop: async () => {
      await stopChild(child, 'SIGINT'); // fast shutdown
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
