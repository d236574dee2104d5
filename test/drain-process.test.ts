/**
 * The drain as an operator sees it (issue 11, item 10), on a real canaryd process: requests still in
 * flight at shutdown.drainTimeout are answered 503 and the exit code is 3 (not 0); a tunnel is closed at
 * the deadline; a second SIGTERM exits at once (128 + 15), without waiting for the drain.
 */
import t from 'tap';
import { connect, createServer as createTcpServer, type Socket } from 'node:net';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml, spawnCanaryd } from './helpers/canaryd.js';

function rawRequest(port: number, bytes: string) {
  const s = connect(port, '127.0.0.1');
  let buf = '';
  s.on('data', (c) => (buf += c.toString('latin1')));
  s.on('error', () => undefined);
  s.write(bytes);
  const closed = new Promise<string>((r) => s.once('close', () => r(buf)));
  return { s, closed, data: () => buf };
}

/** Waits until the running canaryd reports `n` requests in flight (admin status). */
async function inflight(adminUrl: string, n: number): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    const s = (await (await fetch(`${adminUrl}/api/v1/status`)).json()) as { inflight: number };
    if (s.inflight >= n) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never ${n} in flight`);
}

t.test('requests cut at the drain deadline: answered 503, exit code 3; a tunnel is closed at the deadline', async (t) => {
  const base = await startEchoUpstream('baseline');
  // canary: a raw upstream that switches to websocket and then holds the tunnel open
  const tunnels: Socket[] = [];
  const ws = createTcpServer((s) => {
    tunnels.push(s);
    s.once('data', () => s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => ws.listen(0, '127.0.0.1', r));
  const wsUrl = `http://127.0.0.1:${(ws.address() as { port: number }).port}`;
  const p = await spawnCanaryd(
    configYaml(
      base.url,
      wsUrl,
      'routing: { rules: [{ name: ws, match: { path: /ws }, to: canary }] }\nshutdown: { drainTimeout: 1500ms, settle: 200ms }',
    ),
  );
  t.teardown(async () => {
    p.child.kill('SIGKILL');
    for (const s of tunnels) s.destroy();
    ws.close();
    await base.close();
  });
  const port = Number(new URL(p.url).port);
  const hung = rawRequest(port, 'GET /hang HTTP/1.1\r\nHost: a\r\n\r\n');
  const tunnel = rawRequest(
    port,
    'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  for (let i = 0; i < 2000 && !tunnel.data().includes('\r\n\r\n'); i++) await new Promise((r) => setTimeout(r, 10));
  await inflight(p.adminUrl, 1);
  t.match(tunnel.data(), /^HTTP\/1\.1 101 /, 'the tunnel is up');
  p.child.kill('SIGTERM');
  const answer = await hung.closed;
  t.match(answer, /^HTTP\/1\.1 503 /, 'the request in flight at the deadline is answered 503');
  t.match(answer, /CANARYD_ERR_SHUTTING_DOWN/);
  await tunnel.closed;
  t.pass('the tunnel is closed at the deadline');
  t.equal(await p.exited, 3, 'exit code 3: requests were cut');
  const cut = p.logs.find((l) => l.event === 'requests_cut');
  t.equal(cut?.cut, 1, 'logged with the count');
});

t.test('a second SIGTERM during the drain exits at once', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const p = await spawnCanaryd(configYaml(base.url, can.url, 'shutdown: { drainTimeout: 5m, settle: 0s }'));
  t.teardown(async () => {
    p.child.kill('SIGKILL');
    await base.close();
    await can.close();
  });
  const hung = rawRequest(Number(new URL(p.url).port), 'GET /hang HTTP/1.1\r\nHost: a\r\n\r\n');
  await inflight(p.adminUrl, 1);
  p.child.kill('SIGTERM');
  await p.waitForLog((l) => l.event === 'draining');
  p.child.kill('SIGTERM');
  t.equal(await p.exited, 143, 'the second signal exits with 128 + 15, without waiting for the 5 min drain');
  await hung.closed;
  t.ok(
    p.logs.some((l) => l.event === 'signal' && typeof l.msg === 'string' && l.msg.startsWith('second SIGTERM')),
    'logged',
  );
});
