/**
 * Idle, half-open and too many connections (issue 11, item 3), over real sockets: a connection that sends
 * nothing is closed after timeouts.clientHeaders (Node's headersTimeout only starts at the first byte); a
 * slowloris head gets 408; and, in a canaryd process started with a small open-file limit (prlimit), the
 * soft limit is raised to the hard one and logged, limits.maxConnections is derived from it, a flood of
 * idle connections is turned away with a log line and a metric, and the admin /healthz still answers.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml, spawnCanaryd, startSidecar } from './helpers/canaryd.js';

function open(port: number): Promise<{ s: Socket; data: () => string; closed: Promise<void> }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let buf = '';
    s.on('data', (c) => (buf += c.toString('latin1')));
    s.on('error', () => undefined);
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.once('connect', () => resolve({ s, data: () => buf, closed }));
    s.once('error', () => resolve({ s, data: () => buf, closed }));
  });
}

t.test('a silent connection is closed after timeouts.clientHeaders; a slowloris head gets 408', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const c = await startSidecar(configYaml(base.url, can.url, 'timeouts: { clientHeaders: 1s }'));
  t.teardown(async () => (await c.stop(), await base.close(), await can.close()));
  const port = c.sidecar.proxyAddress!.port;
  const silent = await open(port);
  const slowloris = await open(port);
  slowloris.s.write('GET / HTTP/1.1\r\nHost: a\r\n');
  const timer = setInterval(() => slowloris.s.writable && slowloris.s.write('x-pad: 1\r\n'), 200);
  t.teardown(() => clearInterval(timer));
  await silent.closed;
  t.equal(silent.data(), '', 'the silent connection is closed without an answer');
  await slowloris.closed;
  t.match(slowloris.data(), /^HTTP\/1\.1 408 /, 'the never-ending head: 408');
  const metrics = await (await fetch(`${c.adminUrl}/metrics`)).text();
  t.match(metrics, /canaryd_limit_rejections_total\{reason="first_byte_timeout"\} [12]/, 'counted');
  const ok = await fetch(`${c.url}/after`);
  t.equal(ok.status, 200, 'normal requests are unaffected');
  await ok.text();
});

const hasPrlimit = (() => {
  try {
    execFileSync('prlimit', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

t.test(
  'a small fd limit: raised to the hard limit and logged, a connection flood is capped, the admin still answers',
  { skip: !hasPrlimit && 'prlimit (util-linux) not installed' },
  async (t) => {
    const base = await startEchoUpstream('baseline');
    const can = await startEchoUpstream('canary');
    // soft 150, hard 200: the soft limit is raised to 200; maxConnections "auto" = (200 - 64 - 64) / 2 = 36
    const p = await spawnCanaryd(configYaml(base.url, can.url, 'timeouts: { clientHeaders: 6s }'), {}, undefined, [
      'prlimit',
      '--nofile=150:200',
      '--',
    ]);
    const sockets: Socket[] = [];
    t.teardown(async () => {
      for (const s of sockets) s.destroy();
      p.child.kill('SIGKILL');
      await base.close();
      await can.close();
    });
    const fd = await p.waitForLog((l) => l.event === 'fd_limit');
    // Node itself raises the soft limit to the hard one at start-up (node.cc), so canaryd usually finds it
    // there already; prlimit is its fallback for runtimes that do not
    t.ok(fd.result === 'raised' || fd.result === 'at_hard_limit', `soft limit at the hard one (${String(fd.result)})`);
    t.same(fd.after, { soft: 200, hard: 200 }, 'both limits logged');
    const limits = await p.waitForLog((l) => l.event === 'connection_limits');
    t.equal(limits.maxConnections, 36, 'limits.maxConnections derived from the raised limit');
    const port = Number(new URL(p.url).port);
    // clientHeaders 6 s: on a loaded machine opening the 80 sockets can take seconds, and an idle one closed by
    // the first-byte timeout before the last opens frees a slot (fewer drops than 80 - 36)
    const flood = await Promise.all(Array.from({ length: 80 }, () => open(port)));
    for (const f of flood) sockets.push(f.s);
    const line = await p.waitForLog((l) => l.event === 'limit_reached' && l.reason === 'max_connections');
    t.equal(line.limit, 36, 'the log line names the limit');
    const health = await fetch(`${p.adminUrl}/healthz`);
    t.equal(health.status, 200, 'the admin /healthz answers during the flood (its own budget)');
    const metrics = await (await fetch(`${p.adminUrl}/metrics`)).text();
    const dropped = Number(/canaryd_limit_rejections_total\{reason="max_connections"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    t.ok(dropped >= 80 - 36, `connections over the cap were turned away (${dropped})`);
    // the idle flood is closed by the first-byte timeout; then normal requests are served again
    await Promise.all(flood.map((f) => f.closed));
    const ok = await fetch(`${p.url}/after-flood`);
    t.equal(ok.status, 200, 'served once the idle connections were closed');
    await ok.text();
  },
);
