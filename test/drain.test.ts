/**
 * The drain, connection by connection (in-process, raw sockets): when it starts, a request in flight
 * finishes with Connection: close; an idle keep-alive connection is closed; a connection accepted before
 * the drain whose request arrives after the last in-flight one finished is still served (with Connection:
 * close) rather than reset — the race a busy machine showed in the SIGTERM test, where the old drain cut
 * every connection as soon as the requests it knew of were done; a connection that never sends is closed.
 */
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml, startSidecar } from './helpers/canaryd.js';

function open(port: number): Promise<{ s: Socket; data: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let buf = '';
    s.on('data', (c) => (buf += c.toString('latin1')));
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.once('error', () => undefined);
    s.once('connect', () => resolve({ s, data: () => buf, closed }));
    s.once('error', reject);
  });
}

/** Resolves once `cond` holds (checked on every data event of `s`) or `s` closes, whichever comes first. */
function when(s: Socket, cond: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (cond() || s.destroyed) return resolve();
    const check = () => {
      if (cond()) {
        s.off('data', check);
        resolve();
      }
    };
    s.on('data', check);
    s.once('close', () => resolve());
  });
}

const complete = (res: string) => /\r\n\r\n[\s\S]*\}$/.test(res);

t.test('drain: in-flight finishes, idle closes, a just-arriving request is served, a silent connection closes', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const c = await startSidecar(configYaml(base.url, can.url));
  t.teardown(async () => (await base.close(), await can.close()));
  const port = c.sidecar.proxyAddress!.port;

  const idle = await open(port);
  idle.s.write('GET /first HTTP/1.1\r\nHost: a\r\n\r\n');
  await when(idle.s, () => complete(idle.data()));
  t.match(idle.data(), /^HTTP\/1\.1 200 [\s\S]*Connection: keep-alive/i, 'a served keep-alive connection, now idle');

  const busy = await open(port);
  busy.s.write('GET /slow?ms=400 HTTP/1.1\r\nHost: a\r\n\r\n');
  const fresh = await open(port);
  const silent = await open(port);
  for (let i = 0; i < 100_000 && c.sidecar.proxy.inflight < 1; i++) await new Promise((r) => setImmediate(r)); // the slow request is in flight
  t.equal(c.sidecar.proxy.inflight, 1, 'one request in flight when the drain begins');

  const stopped = c.sidecar.stop(20_000);
  await when(busy.s, () => complete(busy.data()));
  t.match(busy.data(), /^HTTP\/1\.1 200 [\s\S]*\r\nConnection: close\r\n/i, 'the in-flight request finishes, with Connection: close');
  // no request is in flight now; one arrives on a connection accepted before the drain (the SIGTERM race)
  fresh.s.write('GET /late HTTP/1.1\r\nHost: a\r\n\r\n');
  await when(fresh.s, () => complete(fresh.data()));
  t.match(fresh.data(), /^HTTP\/1\.1 200 /, 'the request arriving on a fresh connection is served, not reset');
  t.match(fresh.data(), /\r\nConnection: close\r\n/i, 'with Connection: close');
  await idle.closed;
  t.pass('the idle keep-alive connection is closed (after shutdown.idleGrace)');
  await silent.closed;
  t.pass('a connection that never sends is closed after the grace');
  t.same(await stopped, { cut: 0 }, 'nothing cut');
  t.ok(
    base.seen.some((s) => s.url === '/late'),
    'the late request reached the upstream',
  );
});

t.test('drain: connections still in the accept queue when it starts are served, not reset', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const c = await startSidecar(configYaml(base.url, can.url));
  t.teardown(async () => (await base.close(), await can.close()));
  const port = c.sidecar.proxyAddress!.port;
  // The kernel completes these handshakes at once; Node accepts them only on a later turn of the loop,
  // after the drain has begun. Closing the listener then would reset every one of them.
  const clients = Array.from({ length: 8 }, (_, i) => {
    const s = connect(port, '127.0.0.1');
    let buf = '';
    s.on('data', (d) => (buf += d.toString('latin1')));
    s.on('error', () => undefined);
    s.write(`GET /queued/${i} HTTP/1.1\r\nHost: a\r\n\r\n`);
    return new Promise<string>((resolve) => {
      s.on('data', () => complete(buf) && resolve(buf));
      s.once('close', () => resolve(buf));
    });
  });
  const stopped = c.sidecar.stop(20_000);
  const answers = await Promise.all(clients);
  t.same(
    answers.map((a) => /^HTTP\/1\.1 (\d{3})/.exec(a)?.[1] ?? 'reset'),
    Array(8).fill('200'),
    'every queued connection got its answer',
  );
  t.same(await stopped, { cut: 0 });
});
