/**
 * The package and the container, without a Docker engine: `npm pack` + `npm install -g --prefix` from a temp
 * directory must give a working `canaryd`, and that installed package (what the image's build stage puts in
 * /app) must start the way the image's ENTRYPOINT and CMD start it — as a non-root uid, in a root-owned
 * working directory, with the image's ENV and a config that sets only the upstreams — then answer /readyz,
 * pass the image's HEALTHCHECK, and drain on SIGTERM.
 */
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { accessSync, chmodSync, chownSync, constants, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './helpers/canaryd.js';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { readImageSpec } from './helpers/dockerfile.js';

const run = promisify(execFile);
const NODE_UID = 1000; // the `node` user of the official node images
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { name: string; version: string };
const isRoot = process.getuid?.() === 0;

/** Can `uid` (not root) execute `file`: every parent directory searchable by others, the file o+x. */
function othersCanRun(file: string): boolean {
  for (let d = dirname(file); ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return false;
    if (d === dirname(d)) break;
  }
  return (statSync(file).mode & 0o001) !== 0;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

interface Proc {
  code: Promise<number | null>;
  stdout: () => string;
  stderr: () => string;
  kill(sig: NodeJS.Signals): void;
  started: Promise<{ proxy: { port: number }; admin: { port: number } }>;
}

function spawnAs(argv: string[], cwd: string, env: NodeJS.ProcessEnv): Proc {
  const asUser = isRoot ? ['setpriv', `--reuid=${NODE_UID}`, `--regid=${NODE_UID}`, '--clear-groups', '--'] : [];
  const full = [...asUser, ...argv];
  const child = spawn(full[0], full.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let resolveStarted: (v: { proxy: { port: number }; admin: { port: number } }) => void;
  const started = new Promise<{ proxy: { port: number }; admin: { port: number } }>((r) => (resolveStarted = r));
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
    for (const line of out.split('\n')) {
      if (!line.includes('"event":"started"')) continue;
      try {
        resolveStarted(JSON.parse(line));
      } catch {
        /* partial line */
      }
    }
  });
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  return { code, stdout: () => out, stderr: () => err, kill: (s) => child.kill(s), started };
}

t.test('npm pack + npm install -g give a working canaryd; it starts the way the image starts it', async (t) => {
  const root = tempDir('canaryd-image-');
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  chmodSync(root, 0o755); // an image's / is world-searchable; mkdtemp makes 0700

  // --- the package ---
  const { stdout: packOut } = await run('npm', ['pack', '--json', '--pack-destination', root], { maxBuffer: 16 << 20 });
  const [packed] = JSON.parse(packOut) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = packed.files.map((f) => f.path);
  t.ok(files.includes('dist/cli/canaryd.js'), 'the CLI is in the package');
  t.ok(files.includes('LICENSE'), 'LICENSE is in the package');
  t.ok(files.includes('dist/admin/dashboard/web/app.js'), 'the built dashboard is in the package');
  t.same(
    files.filter((f) => /^dist\/(test|bench)\//.test(f)),
    [],
    'no dist/test or dist/bench in the package',
  );
  t.match(readFileSync('LICENSE', 'utf8'), /MIT License/, 'LICENSE is the MIT licence package.json names');

  const prefix = join(root, 'usr', 'local');
  await run(
    'npm',
    ['install', '-g', '--prefix', prefix, join(root, packed.filename), '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'],
    { cwd: root, maxBuffer: 16 << 20 },
  );
  const bin = join(prefix, 'bin', 'canaryd');
  const { stdout: version } = await run(bin, ['--version'], { cwd: root });
  t.equal(version.trim(), pkg.version, '`canaryd --version` of the installed package');
  const { stdout: help } = await run(bin, ['validate', '--help'], { cwd: root });
  t.match(help, /usage: canaryd validate FILE/, '`validate --help` is help, not a file name');

  // --- the image: its /app is the installed package, root-owned; paths the image names map under root ---
  const image = readImageSpec();
  const app = join(prefix, 'lib', 'node_modules', pkg.name);
  const mapped = (p: string) => (p === image.workdir ? app : p.startsWith('/') ? join(root, p) : p);
  t.equal(statSync(app).uid, process.getuid?.(), 'the working directory is owned by the installing user (root in the image)');
  t.ok(image.user !== 'root' && image.user !== '0', `the image runs as a non-root user (${image.user})`);
  t.ok(image.env.CANARYD_CONFIG, 'the image names its config file in CANARYD_CONFIG');
  const configFile = mapped(image.env.CANARYD_CONFIG);
  const stateDir = mapped(image.env.CANARYD_STATE_DIR ?? '/var/lib/canaryd');
  mkdirSync(dirname(configFile), { recursive: true });
  mkdirSync(stateDir, { recursive: true });
  if (isRoot) chownSync(stateDir, NODE_UID, NODE_UID); // the Dockerfile's chown node:node /var/lib/canaryd

  const baseline = await startEchoUpstream('baseline');
  const canary = await startEchoUpstream('canary');
  t.teardown(() => Promise.all([baseline.close(), canary.close()]));
  // Only what a user must write: no listen, no admin, no state.dir — the image's defaults fill them.
  writeFileSync(
    configFile,
    `upstreams:\n  baseline: { url: "${baseline.url}" }\n  canary: { url: "${canary.url}" }\nlog: { accessLogSampleRate: 0 }\n`,
  );

  if (isRoot && !othersCanRun(process.execPath)) {
    t.comment(`SKIP the non-root run: ${process.execPath} is not executable by uid ${NODE_UID} (a private Node install)`);
    return;
  }
  const adminPort = await freePort();
  // The image's ENV, with the listen port made 0 (tests use free ports), its host kept; the admin port is a
  // free one given the documented way. Paths the image names are mapped under the temp root.
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: root, CANARYD_ADMIN_LISTEN: `127.0.0.1:${adminPort}` };
  for (const [k, v] of Object.entries(image.env)) env[k] = v.startsWith('/') ? mapped(v) : v;
  env.CANARYD_LISTEN = `${(image.env.CANARYD_LISTEN ?? '127.0.0.1:8080').replace(/:\d+$/, '')}:0`;
  const argv = [process.execPath, ...image.entrypoint.slice(1), ...image.cmd].map((a, i) => (i > 0 ? mapped(a) : a));

  if (isRoot) {
    // The bug class this test exists for: without the image's state dir default, ./.canaryd under the
    // root-owned workdir is not writable for the non-root user.
    const { CANARYD_STATE_DIR: _omit, ...withoutStateDir } = env;
    const bad = spawnAs(argv, app, withoutStateDir);
    t.not(await bad.code, 0, 'without CANARYD_STATE_DIR the non-root process cannot start');
    t.match(bad.stderr(), /state\.dir/, `and says state.dir is the problem: ${bad.stderr().trim().split('\n')[0]}`);
  }

  const proc = spawnAs(argv, app, env);
  t.teardown(() => proc.kill('SIGKILL'));
  const started = await Promise.race([proc.started, proc.code.then((c) => Promise.reject(new Error(`exited ${c}: ${proc.stderr()}`)))]);
  t.equal(started.admin.port, adminPort, 'admin on the port CANARYD_ADMIN_LISTEN gave');
  const ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
  t.equal(ready.status, 200, '/readyz answers 200');
  const res = await fetch(`http://127.0.0.1:${started.proxy.port}/hello`);
  t.equal(res.status, 200, 'the data plane proxies (listening on the image host, reached on loopback)');
  await res.arrayBuffer();

  const health = spawnAs([process.execPath, ...image.healthcheck.slice(1)], app, env);
  const healthCode = await health.code;
  t.equal(healthCode, 0, `the image's HEALTHCHECK passes${healthCode === 0 ? '' : `: ${health.stderr()}`}`);
  t.ok(statSync(stateDir).uid === (isRoot ? NODE_UID : process.getuid?.()), 'state lives in the image state dir');
  if (isRoot) {
    accessSync(stateDir, constants.W_OK);
  }
  proc.kill('SIGTERM');
  t.equal(await proc.code, 0, 'SIGTERM drains and exits 0');
  const healthAfter = spawnAs([process.execPath, ...image.healthcheck.slice(1)], app, env);
  t.equal(await healthAfter.code, 1, 'the HEALTHCHECK fails once canaryd is gone');
});
