/**
 * A real redis-server for fleet tests, started by the test on a free 127.0.0.1 port, without persistence,
 * in a temp dir. `stop()` ends it (SIGTERM) and `restart()` brings it back on the same port (the Redis
 * outage tests): empty, or with `keep` saving an RDB file on stop and loading it on restart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { tempDir } from './canaryd.js';

export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function launch(port: number, dir: string, keep: boolean): Promise<ChildProcess> {
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--appendonly',
    'no',
    '--save',
    keep ? '3600 1' : '',
    '--daemonize',
    'no',
    '--loglevel',
    'warning',
  ];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`redis-server exited ${code}: ${out}`));
    });
    // with loglevel warning the ready line is not printed: probe the port with PING instead
    const probe = async () => {
      const { connect } = await import('node:net');
      const sock = connect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.write('PING\r\n');
        sock.once('data', (d) => {
          sock.destroy();
          if (d.toString().startsWith('+PONG')) {
            clearTimeout(t);
            resolve();
          } else setTimeout(probe, 50);
        });
      });
      sock.once('error', () => {
        sock.destroy();
        setTimeout(probe, 50);
      });
    };
    void probe();
  });
  return child;
}

export async function startRedis(opts: { keep?: boolean } = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = tempDir('canaryd-redis-');
  const keep = opts.keep ?? false;
  let child: ChildProcess | null = await launch(port, dir, keep);
  const stop = async () => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM'); // redis saves on SIGTERM when a save point is configured
    await exited;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    restart: async () => {
      await stop();
      child = await launch(port, dir, keep);
    },
  };
}
