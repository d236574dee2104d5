/** `canaryd` as a process: $CANARYD_CONFIG, the env defaults for container keys, a taken port, --version/--help. */
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { applyEnvDefaults, parseConfigText } from '../config/index.js';
import { tempDir } from './helpers/canaryd.js';

const CLI = 'dist/cli/canaryd.js';
/** a slower machine (land.sh sets CANARYD_TEST_PATIENCE) waits longer; nothing asserts on time */
const PATIENCE = Number(process.env.CANARYD_TEST_PATIENCE ?? 1) || 1;

function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 60_000 * PATIENCE,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`canaryd ${args.join(' ')} did not exit in ${timeoutMs} ms; stdout: ${out}; stderr: ${err}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

const UPSTREAMS = 'upstreams:\n  baseline: { url: "http://127.0.0.1:1" }\n  canary: { url: "http://127.0.0.1:2" }\n';

t.test('env defaults fill only the keys the file leaves out', async (t) => {
  const env = { CANARYD_LISTEN: '0.0.0.0:8080', CANARYD_ADMIN_LISTEN: '127.0.0.1:9911', CANARYD_STATE_DIR: '/var/lib/canaryd' };
  const c = parseConfigText(UPSTREAMS, env);
  t.equal(c.listen, '0.0.0.0:8080');
  t.equal(c.admin.listen, '127.0.0.1:9911');
  t.equal(c.state.dir, '/var/lib/canaryd');
  const fileWins = parseConfigText(`${UPSTREAMS}listen: 127.0.0.1:7000\nadmin: { token: x }\nstate: { dir: /data }\n`, env);
  t.equal(fileWins.listen, '127.0.0.1:7000', 'the file wins over CANARYD_LISTEN');
  t.equal(fileWins.admin.listen, '127.0.0.1:9911', 'a partial admin section still takes the env default');
  t.equal(fileWins.admin.token, 'x');
  t.equal(fileWins.state.dir, '/data');
  t.equal(parseConfigText(UPSTREAMS, {}).listen, '127.0.0.1:8080', 'without env the schema default');
  t.same(applyEnvDefaults({ admin: 'oops' }, env).admin, 'oops', 'a non-mapping is left for the schema to report');
});

t.test('no --config: $CANARYD_CONFIG is the file; a taken port is one line and exit 1', async (t) => {
  const dir = tempDir('canaryd-cli-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const taken: Server = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise((r) => taken.close(r)));
  const port = (taken.address() as { port: number }).port;
  const file = join(dir, 'canaryd.yaml');
  writeFileSync(file, `${UPSTREAMS}listen: 127.0.0.1:${port}\nadmin: { listen: "127.0.0.1:0" }\nstate: { dir: "${join(dir, 'state')}" }\n`);
  const r = await runCli([], { CANARYD_CONFIG: file });
  t.equal(r.code, 1, 'exit 1');
  const lines = r.err.trim().split('\n');
  t.equal(lines.length, 1, `one line on stderr: ${r.err}`);
  t.equal(lines[0], `canaryd: cannot listen on 127.0.0.1:${port} (listen): address already in use`);

  writeFileSync(file, `${UPSTREAMS}listen: 127.0.0.1:0\nadmin: { listen: "127.0.0.1:${port}" }\nstate: { dir: "${join(dir, 'state')}" }\n`);
  const a = await runCli(['run'], { CANARYD_CONFIG: file });
  t.equal(a.code, 1);
  t.equal(a.err.trim(), `canaryd: cannot listen on 127.0.0.1:${port} (admin.listen): address already in use`);
});

t.test('--version and --help of each subcommand', async (t) => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
  t.equal((await runCli(['--version'])).out.trim(), pkg.version);
  for (const sub of ['run', 'validate', 'schema', 'healthcheck']) {
    const r = await runCli([sub, '--help']);
    t.equal(r.code, 0, `${sub} --help exits 0`);
    t.match(r.out, new RegExp(`usage: canaryd (\\[run\\]|${sub})`), `${sub} --help prints its usage`);
  }
  const unknown = await runCli(['frobnicate'], { CANARYD_CONFIG: '' });
  t.equal(unknown.code, 2, 'an unknown command is a usage error');
  t.match(unknown.err, /unknown command "frobnicate"/);
});

t.test('demo: an asked-for port that is taken is one line and exit 2; ctl --admin takes host:port', async (t) => {
  const taken: Server = createServer((sock) => sock.destroy()); // a listener that is not canaryd: hangs up
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise((r) => taken.close(r)));
  const port = (taken.address() as { port: number }).port;
  const r = await runCli(['demo', '--port', String(port)]);
  t.equal(r.code, 2);
  t.equal(r.err.trim(), `canaryd demo: port ${port} (--port) is already in use; pick another or pass 0 for a free one`);
  const { adminUrl } = await import('../cli/ctl.js');
  t.equal(adminUrl('127.0.0.1:9901'), 'http://127.0.0.1:9901');
  t.equal(adminUrl('https://canaryd.internal:9901'), 'https://canaryd.internal:9901');
  // ctl against a listener that is not canaryd, given without a scheme: it connects (a refused API is exit 1, not a usage error)
  const c = await runCli(['ctl', '--admin', `127.0.0.1:${port}`, 'status']);
  t.equal(c.code, 1, `host:port is used as http://host:port: ${c.err.trim().split('\n')[0]}`);
});
