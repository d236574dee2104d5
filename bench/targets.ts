/**
 * The processes the proxy bench starts, each pinned with taskset: the tiny upstream (nginx returning a fixed
 * 29-byte body, one worker, on the load generator's core), and the proxies under test on the other core —
 * canaryd (the real CLI with a config that turns every feature on), nginx (one worker, upstream keep-alive),
 * node http-proxy (keep-alive agent), and optionally the bare undici floor (bench/bare-undici-server.ts). Every target is a process the bench can measure (RSS, CPU) and
 * stop. Why nginx as the upstream: a node:http upstream tops out near the proxies' own rates on half a
 * core, so "direct" and the nginx proxy would measure the upstream; nginx's `return 200` serves several
 * times what any proxy here does, so the proxy is what is measured.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export interface Target {
  name: string;
  url: string;
  /** pid of the process to measure (the root of its tree); null for "direct" */
  pid: number | null;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function waitHttp(url: string, child: ChildProcess, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  while (Date.now() < deadline) {
    if (exited !== undefined) throw new Error(`${what} exited (${exited}) before serving`);
    const ok = await fetch(url).then(
      async (r) => (await r.arrayBuffer(), r.status === 200),
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not answer 200 at ${url} within ${timeoutMs} ms`);
}

function stopper(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exit = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exit;
    clearTimeout(timer);
  };
}

function pinned(cpus: string, cmd: string, args: string[], logFile: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  // taskset execs the command: the child's pid is the proxy's own
  return spawn('taskset', ['-c', cpus, cmd, ...args], { stdio: ['ignore', fd, fd] });
}

const NGINX_COMMON = `worker_processes 1;
events { worker_connections 4096; }
`;

async function startNginx(name: string, dir: string, cpus: string, http: string, port: number): Promise<Target> {
  const prefix = join(dir, name);
  mkdirSync(prefix, { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(conf, `${NGINX_COMMON}pid ${join(prefix, 'nginx.pid')};\nhttp {\n${http}\n}\n`);
  const child = pinned(
    cpus,
    '/usr/sbin/nginx',
    ['-p', prefix, '-c', conf, '-e', join(prefix, 'error.log'), '-g', 'daemon off;'],
    join(prefix, 'stdout.log'),
  );
  const url = `http://127.0.0.1:${port}/`;
  await waitHttp(url, child, name);
  return { name, url, pid: child.pid!, stop: stopper(child) };
}

/** The tiny upstream: nginx answering a fixed small body, access log off, keep-alive without a request cap. */
export async function startNginxUpstream(dir: string, cpus: string): Promise<Target> {
  const port = await freePort();
  return startNginx(
    'upstream',
    dir,
    cpus,
    `  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / { default_type text/plain; return 200 "hello from the tiny upstream\\n"; }
  }`,
    port,
  );
}

/** Fallback upstream when nginx is not installed: a minimal node:http server (it may then be the bottleneck). */
export async function startNodeUpstream(dir: string, cpus: string): Promise<Target> {
  const port = await freePort();
  const src = `require('http').createServer((q,r)=>{r.writeHead(200,{'content-type':'text/plain','content-length':29});r.end('hello from the tiny upstream\\n')}).listen(${port},'127.0.0.1')`;
  const child = pinned(cpus, process.execPath, ['-e', src], join(dir, 'node-upstream.log'));
  const url = `http://127.0.0.1:${port}/`;
  await waitHttp(url, child, 'node upstream');
  return { name: 'upstream (node)', url, pid: child.pid!, stop: stopper(child) };
}

export async function startNginxProxy(dir: string, cpus: string, upstreamUrl: string): Promise<Target> {
  const port = await freePort();
  const u = new URL(upstreamUrl);
  return startNginx(
    'nginx',
    dir,
    cpus,
    `  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  upstream tiny { server ${u.host}; keepalive 64; keepalive_requests 10000000; keepalive_timeout 120s; }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / { proxy_pass http://tiny; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }`,
    port,
  );
}

/** The node flags the container runs canaryd with (Dockerfile ENTRYPOINT): a small young generation. */
export const CANARYD_NODE_FLAGS = ['--max-semi-space-size=4'];

/**
 * canaryd with every feature of the issue's target on: 50/50 weights, sticky hashing on x-user-id (which the
 * wrk script varies), a targeting rule that does not match, metrics and histograms (always on), the access
 * log at its default sampling, written to a file as a log shipper would read it.
 */
export async function startCanaryd(
  dir: string,
  cpus: string,
  upstreamUrl: string,
  extraArgs: string[] = [],
  name = 'canaryd',
  cli = 'dist/cli/canaryd.js',
  extraYaml = '',
): Promise<Target> {
  const port = await freePort();
  const admin = await freePort();
  const base = upstreamUrl.replace(/\/$/, '');
  const slug = name.replace(/[^a-z0-9-]+/gi, '-');
  const conf = join(dir, `${slug}.yaml`);
  writeFileSync(
    conf,
    `listen: 127.0.0.1:${port}
admin: { listen: 127.0.0.1:${admin} }
upstreams:
  baseline: { url: ${base}, version: v1 }
  canary: { url: ${base}, version: v2 }
routing:
  canaryWeight: 50
  sticky: { header: x-user-id }
  rules:
    - { name: beta-testers, match: { header: { x-beta: "1" } }, to: canary }
state: { dir: "${join(dir, `${slug}-state`)}" }
log: { level: info }
${extraYaml}`,
  );
  const child = pinned(cpus, process.execPath, [...extraArgs, cli, '--config', conf], join(dir, `${slug}.log`));
  const url = `http://127.0.0.1:${port}/`;
  await waitHttp(url, child, name);
  return { name, url, pid: child.pid!, stop: stopper(child) };
}

/** A node process printing "listening PORT": http-proxy, or the bare undici floor. */
export async function startNodeProxy(name: string, script: string, cpus: string, upstreamUrl: string): Promise<Target> {
  const child = spawn('taskset', ['-c', cpus, process.execPath, script, upstreamUrl], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`${name} exited ${code}`)));
  });
  child.stdout!.resume();
  const url = `http://127.0.0.1:${port}/`;
  await waitHttp(url, child, name);
  return { name, url, pid: child.pid!, stop: stopper(child) };
}
