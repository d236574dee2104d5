/**
 * The TCP fault kinds over real sockets: a TCP echo server (and a server that streams) behind the relay,
 * raw client sockets in front. The contract every kind shares (probability 0 passes through untouched,
 * probability 1 always fires, release is idempotent), then each kind's own behaviour, and backpressure:
 * a client that stops reading stops the dependency's sending instead of growing canaryd's memory.
 * Timing is asserted one-sided (a fault can make things slower, never faster than configured) or as a spread.
 */
import t from 'tap';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { DEPENDENCY_FAULT_TYPES } from '../config/index.js';
import { builtinTcpFaultKinds, tcpFaultKind } from '../proxy/index.js';
import { LatencyStage, BandwidthStage, SlicerStage, HoldStage } from '../proxy/tcp/stages.js';
import { median, startRelay, type RelaySetup } from './helpers/dependencies.js';
import { runCtl } from '../cli/ctl.js';

let echo: Server;
let relay: RelaySetup;
const sockets: Socket[] = [];

t.before(async () => {
  echo = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  const port = (echo.address() as { port: number }).port;
  relay = await startRelay('echo', port);
});
t.teardown(async () => {
  for (const s of sockets) s.destroy();
  await relay?.stop();
  await new Promise((r) => echo.close(r));
});

async function open(version: 'any' | 'baseline' | 'canary' = 'any'): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port: relay.port(version), noDelay: true });
  sockets.push(s);
  s.on('error', () => {});
  await new Promise<void>((resolve, reject) => (s.once('connect', () => resolve()), s.once('error', reject)));
  return s;
}

/** Writes `data` and resolves with the bytes read back once `n` have arrived (or the socket ended). */
function roundTrip(s: Socket, data: Buffer, n = data.length): Promise<Buffer> {
  return new Promise((resolve) => {
    const got: Buffer[] = [];
    let len = 0;
    const onData = (c: Buffer) => {
      got.push(c);
      len += c.length;
      if (len >= n) done();
    };
    const done = () => {
      s.off('data', onData);
      s.off('close', done);
      resolve(Buffer.concat(got));
    };
    s.on('data', onData);
    s.once('close', done);
    s.write(data);
  });
}

const closed = (s: Socket) =>
  new Promise<{ error: string | null }>((resolve) => {
    let error: string | null = null;
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    s.once('close', () => resolve({ error }));
  });

const PARAMS: Record<string, Record<string, unknown>> = {
  latency: { ms: 30 },
  bandwidth: { bytesPerSecond: 100_000 },
  slowClose: { delayMs: 50 },
  timeout: {},
  resetPeer: {},
  refuse: {},
  slicer: { averageSize: 4 },
  limitData: { bytes: 10 },
};

t.test('the registry is exactly the config kinds; unknown types throw', async (t) => {
  t.same([...builtinTcpFaultKinds().keys()].sort(), [...DEPENDENCY_FAULT_TYPES].sort());
  t.same(Object.keys(PARAMS).sort(), [...DEPENDENCY_FAULT_TYPES].sort(), 'every kind is in the contract suite below');
  t.throws(() => tcpFaultKind(builtinTcpFaultKinds(), 'explode'), { code: 'CANARYD_ERR_BAD_REQUEST' });
});

for (const type of DEPENDENCY_FAULT_TYPES) {
  t.test(`contract: ${type} at probability 0 passes through; at probability 1 it fires`, async (t) => {
    const data = Buffer.from('0123456789abcdefghij'.repeat(50));
    await relay.rule({ name: `c0-${type}`, probability: 0, [type]: PARAMS[type] });
    const s = await open();
    t.same(await roundTrip(s, data), data, 'probability 0: bytes unchanged');
    t.ok(
      (await relay.view()).live.every((l: any) => l.faults.length === 0),
      'and no connection is faulted',
    );
    await relay.remove(`c0-${type}`);
    await relay.rule({ name: `c1-${type}`, [type]: PARAMS[type] });
    if (type === 'refuse') {
      await t.rejects(open(), 'a new connection is reset');
    } else {
      t.ok(
        (await relay.view()).live.some((l: any) => l.faults.includes(`c1-${type}`)),
        'probability 1: the open connection is faulted',
      );
    }
    const rules = (await relay.view()).faults;
    t.match(rules, [{ rule: `c1-${type}`, type, probability: 1 }]);
    await relay.remove(`c1-${type}`);
    s.destroy();
  });
}

t.test('stages: release is idempotent and flushes in order', async (t) => {
  const host = { random: () => 0.5, now: () => performance.now(), cut: () => {} };
  for (const make of [
    (n: (c: Buffer) => void) => new LatencyStage(host, n, 10_000, 0),
    (n: (c: Buffer) => void) => new BandwidthStage(host, n, 1),
    (n: (c: Buffer) => void) => new SlicerStage(host, n, 1, 0, 1_000_000),
    (n: (c: Buffer) => void) => new HoldStage(n),
  ]) {
    const out: Buffer[] = [];
    const st = make((c) => out.push(c));
    st.push(Buffer.from('abc'));
    st.push(Buffer.from('def'));
    st.release();
    st.release();
    st.push(Buffer.from('g'));
    t.equal(Buffer.concat(out).toString(), 'abcdefg', st.constructor.name);
  }
});

t.test('latency with jitter: every round trip at least ms - jitterMs later, and they vary', async (t) => {
  const s = await open();
  await relay.rule({ name: 'jitter', latency: { ms: 40, jitterMs: 20, direction: 'upstream' } });
  const took: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    await roundTrip(s, Buffer.from('x'));
    took.push(performance.now() - t0);
  }
  await relay.remove('jitter');
  t.ok(Math.min(...took) >= 20 - 1, `min ${Math.min(...took).toFixed(1)} ms >= 40 - 20`);
  t.ok(Math.max(...took) - Math.min(...took) > 5, `they vary (spread ${(Math.max(...took) - Math.min(...took)).toFixed(1)} ms)`);
  t.ok(median(took) >= 30, `median ${median(took).toFixed(1)} ms`);
});

t.test('bandwidth: the rate never exceeds the configured one', async (t) => {
  const s = await open();
  await relay.rule({ name: 'slow-pipe', bandwidth: { bytesPerSecond: 50_000 } });
  const data = Buffer.alloc(25_000, 7);
  const t0 = performance.now();
  const got = await roundTrip(s, data);
  const secs = (performance.now() - t0) / 1000;
  await relay.remove('slow-pipe');
  t.equal(got.length, data.length, 'every byte arrives');
  const rate = data.length / secs;
  t.ok(rate <= 50_000 * 1.25, `measured ${Math.round(rate)} B/s for a 50000 B/s limit`);
});

t.test('slicer: one write arrives as many small ones', async (t) => {
  const s = await open();
  await relay.rule({ name: 'slices', slicer: { averageSize: 10, delayUs: 2000 } });
  let reads = 0;
  s.on('data', () => reads++);
  const got = await roundTrip(s, Buffer.alloc(500, 1));
  await relay.remove('slices');
  t.equal(got.length, 500);
  t.ok(reads >= 10, `${reads} reads for one 500-byte write`);
});

t.test('slowClose delays the close; timeout.closeAfterMs closes a held connection', async (t) => {
  const s = await open();
  await relay.rule({ name: 'slow-close', slowClose: { delayMs: 200 } });
  const ended = new Promise<number>((r) => s.once('end', () => r(performance.now())));
  s.resume();
  const t0 = performance.now();
  s.end();
  t.ok((await ended) - t0 >= 200 - 5, 'the FIN came back at least 200 ms later');
  await relay.remove('slow-close');

  const h = await open();
  await relay.rule({ name: 'held', timeout: { closeAfterMs: 150 } });
  const t1 = performance.now();
  const c = closed(h);
  h.write('anything');
  await c;
  t.ok(performance.now() - t1 >= 150 - 5, 'closed after closeAfterMs');
  await relay.remove('held');
});

t.test('resetPeer is an RST the client sees as ECONNRESET; limitData passes exactly N bytes then FINs', async (t) => {
  const s = await open();
  const c = closed(s);
  await relay.rule({ name: 'rst', resetPeer: { afterBytes: 100, direction: 'downstream' } });
  s.resume();
  s.write(Buffer.alloc(1000, 2));
  const seen = (await c).error;
  t.equal(seen, 'ECONNRESET', `the client saw ${seen}`);
  await relay.remove('rst');

  const l = await open();
  await relay.rule({ name: 'limit', limitData: { bytes: 300, direction: 'downstream' } });
  const got = await roundTrip(l, Buffer.alloc(1000, 3), 1000);
  t.equal(got.length, 300, 'exactly 300 bytes, then the close');
  await relay.remove('limit');
});

t.test('backpressure: a client that stops reading stops the dependency, with or without a fault', async (t) => {
  for (const withFault of [false, true]) {
    const s = await open();
    if (withFault) await relay.rule({ name: 'bp-latency', latency: { ms: 1 } });
    s.pause(); // never reads: the echo of what it writes must back up to the writer
    const chunk = Buffer.alloc(64 * 1024, 9);
    let wrote = 0;
    // write until the relay stops accepting (bounded: 64 MiB at most)
    for (let i = 0; i < 1024; i++) {
      wrote += chunk.length;
      if (!s.write(chunk)) {
        await Promise.race([new Promise((r) => s.once('drain', r)), new Promise((r) => setTimeout(r, 500))]);
        if (s.writableNeedDrain) break;
      }
    }
    t.ok(
      wrote < 64 * 1024 * 1024,
      `${withFault ? 'latency' : 'no fault'}: the writer was held back after ${(wrote / 1048576).toFixed(1)} MiB`,
    );
    // the relay settles (kernel buffers fill) and then moves nothing more: two reads 200 ms apart agree
    let stable = false;
    let v = (await relay.view()).bytes.downstream;
    for (let i = 0; i < 30 && !stable; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const now = (await relay.view()).bytes.downstream;
      stable = now === v;
      v = now;
    }
    t.ok(stable, `nothing more is relayed while the client does not read (${(v / 1048576).toFixed(1)} MiB relayed)`);
    t.ok(v < 64 * 1024 * 1024, 'bounded');
    if (withFault) await relay.remove('bp-latency');
    s.destroy();
  }
});

t.test('canaryd ctl dependencies lists listeners, live connections and active faults over the real admin socket', async (t) => {
  const s = await open();
  await relay.rule({ name: 'ctl-latency', latency: { ms: 1 }, match: { version: undefined } });
  const out: string[] = [];
  const code = await runCtl(
    ['dependencies', '--admin', relay.s.adminUrl],
    { CANARYD_ADMIN_TOKEN: '', CANARYD_ADMIN_URL: '' },
    { out: (l) => out.push(l), err: (l) => out.push(l), stream: { write: () => true, isTTY: false } },
  );
  t.equal(code, 0);
  const text = out.join('\n');
  t.match(
    text,
    /echo\s+127\.0\.0\.1:\d+\s+any=127\.0\.0\.1:\d+ baseline=127\.0\.0\.1:\d+ canary=127\.0\.0\.1:\d+\s+[1-9]/,
    'the dependency row',
  );
  t.match(text, /echo\s+ctl-latency\s+latency\s+any\s+1\s+[1-9]/, 'the active fault and the connections it acts on');
  const missing: string[] = [];
  t.equal(
    await runCtl(
      ['dependencies', 'nope', '--admin', relay.s.adminUrl],
      { CANARYD_ADMIN_TOKEN: '', CANARYD_ADMIN_URL: '' },
      { out: (l) => missing.push(l), err: (l) => missing.push(l), stream: { write: () => true, isTTY: false } },
    ),
    1,
    'an unknown name is an API error',
  );
  t.match(missing.join('\n'), /no dependency named "nope"/);
  await relay.remove('ctl-latency');
  s.destroy();
});
