/**
 * gRPC through canaryd with real @grpc/grpc-js clients and servers over h2c on 127.0.0.1 (both upstreams
 * `http2: true`): the four call shapes, trailers both ways, weights and path rules on the service/method,
 * grpc-status as the outcome (metrics, snapshot, grpc.errorCodes), gRPC-shaped fault aborts, grpc-timeout
 * as the deadline, and a rollout that rolls back a canary answering UNAVAILABLE.
 */
import t from 'tap';
import { connect as h2connect, constants, type IncomingHttpHeaders } from 'node:http2';
import type { TapTest } from './helpers/admin.js';
import { configYaml, startSidecar, type RunningSidecar } from './helpers/canaryd.js';
import { encodeGrpcMessage, grpcStatusIn, isGrpcContentType, parseGrpcTimeout } from '../proxy/grpc.js';
import { ECHO_SERVICE, echoClient, grpc, startEchoServer, unary, type EchoClientInstance, type EchoServer } from './helpers/grpc.js';

async function rig(t: TapTest, extra = '', opts: { canaryFail?: () => grpc.status | null } = {}) {
  const base = await startEchoServer({ name: 'baseline', slowMs: 5000 });
  const can = await startEchoServer({ name: 'canary', fail: opts.canaryFail, slowMs: 5000 });
  const yaml = configYaml(`http://127.0.0.1:${base.port}`, `http://127.0.0.1:${can.port}`, extra).replace(
    /version: v(\d) \}/g,
    'version: v$1, http2: true }',
  );
  const c = await startSidecar(yaml);
  const client = echoClient(`127.0.0.1:${c.sidecar.proxyAddress!.port}`);
  t.teardown(async () => {
    client.close();
    await c.stop();
    await base.close();
    await can.close();
  });
  return { base, can, c, client };
}

function collect<T>(
  stream: NodeJS.EventEmitter & { on(e: 'data', f: (x: T) => void): unknown },
): Promise<{ items: T[]; status: grpc.StatusObject }> {
  return new Promise((resolve) => {
    const items: T[] = [];
    stream.on('data', (x: T) => items.push(x));
    stream.on('error', () => undefined);
    stream.on('status', (status: grpc.StatusObject) => setImmediate(() => resolve({ items, status })));
  });
}

function clientStream(
  client: EchoClientInstance,
  parts: string[],
): Promise<{ err: grpc.ServiceError | null; value: string | null; status: grpc.StatusObject }> {
  return new Promise((resolve) => {
    let err: grpc.ServiceError | null = null;
    let value: string | null = null;
    const call = client.makeClientStreamRequest(
      ECHO_SERVICE.clientStream.path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      new grpc.Metadata(),
      {},
      (e, v) => {
        err = e;
        value = v === undefined ? null : v.toString();
      },
    );
    call.on('status', (status: grpc.StatusObject) => setImmediate(() => resolve({ err, value, status })));
    for (const p of parts) call.write(Buffer.from(p));
    call.end();
  });
}

async function metricsText(c: RunningSidecar): Promise<string> {
  return (await fetch(`${c.adminUrl}/metrics`)).text();
}

/** Polls `probe` until it returns a value (bounded: 15 s × patience); fails the wait with `what`. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

t.test('unary, server streaming, client streaming and bidi through canaryd; trailers both ways; weights', async (t) => {
  const { base, can, c, client } = await rig(t, 'routing: { canaryWeight: 50 }');
  const u = await unary(client, 'hello');
  t.equal(u.error, null, String(u.error));
  t.match(u.value, /^(baseline|canary):hello$/);
  const servedBy = u.value!.split(':')[0];
  t.same(u.status?.metadata.get('x-served-by'), [servedBy], 'response trailers (trailing metadata) reach the client');
  t.same(u.metadata?.get('x-canaryd-version'), [servedBy], 'response headers carry the version');

  const ss = client.makeServerStreamRequest(
    ECHO_SERVICE.serverStream.path,
    (b: Buffer) => b,
    (b: Buffer) => b,
    Buffer.from('5'),
    new grpc.Metadata(),
    {},
  );
  const got = await collect<Buffer>(ss);
  t.equal(got.status.code, grpc.status.OK, got.status.details);
  t.equal(got.items.length, 5, 'five streamed messages');
  t.match(got.items[4].toString(), /^(baseline|canary):4$/);

  const cs = await clientStream(client, ['a', 'b', 'c']);
  t.equal(cs.status.code, grpc.status.OK, cs.status.details);
  t.match(cs.value, /^(baseline|canary):a,b,c$/, 'the streamed request messages all reached the upstream');

  const bidi = client.makeBidiStreamRequest(
    ECHO_SERVICE.bidi.path,
    (b: Buffer) => b,
    (b: Buffer) => b,
    new grpc.Metadata(),
    {},
  );
  const bidiDone = collect<Buffer>(bidi);
  bidi.write(Buffer.from('x'));
  bidi.write(Buffer.from('y'));
  bidi.end();
  const b = await bidiDone;
  t.equal(b.status.code, grpc.status.OK, b.status.details);
  t.same(
    b.items.map((x) => x.toString().split(':')[1]),
    ['x', 'y'],
    'bidi: each message echoed',
  );

  const seen: Record<string, number> = {};
  for (let i = 0; i < 60; i++) {
    const r = await unary(client, `n${i}`);
    const v = r.value?.split(':')[0] ?? `error ${r.error?.code}`;
    seen[v] = (seen[v] ?? 0) + 1;
  }
  t.ok(seen.baseline > 0 && seen.canary > 0, `both versions served at weight 50: ${JSON.stringify(seen)}`);
  t.equal((base.calls.unary ?? 0) + (can.calls.unary ?? 0), 61, 'every unary call reached exactly one upstream');
  t.equal(can.calls.unary ?? 0, seen.canary + (servedBy === 'canary' ? 1 : 0), 'the calls the canary answered are the ones it received');

  const m = await metricsText(c);
  t.match(m, /http_requests_total\{version="baseline",status="200",grpc_status="0"\} \d+/, 'grpc_status label on gRPC calls');
  t.notMatch(m, /http_requests_total\{version="\w+",status="200"\} /, 'no gRPC call is counted without its grpc_status');
});

t.test('request trailers reach an HTTP/2 upstream; an HTTP/1.1 chunked request with trailers too', async (t) => {
  const { createServer } = await import('node:http2');
  const seen: Array<Record<string, unknown>> = [];
  const up = createServer();
  up.on('stream', (stream, headers) => {
    let body = '';
    stream.on('data', (c: Buffer) => (body += c));
    stream.on('trailers', (tr: IncomingHttpHeaders) =>
      seen.push({ path: headers[':path'], trailers: { 'x-checksum': tr['x-checksum'] }, body }),
    );
    stream.on('end', () => {
      stream.respond({ ':status': 200 });
      stream.end('ok');
    });
  });
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  t.teardown(() => up.close());
  const url = `http://127.0.0.1:${(up.address() as { port: number }).port}`;
  const c = await startSidecar(configYaml(url, url).replace(/version: v(\d) \}/g, 'version: v$1, http2: true }'));
  t.teardown(() => c.stop());
  const s = h2connect(c.url);
  t.teardown(() => s.destroy());
  await new Promise<void>((resolve, reject) => {
    const req = s.request({ ':method': 'POST', ':path': '/h2' }, { waitForTrailers: true });
    req.on('wantTrailers', () => req.sendTrailers({ 'x-checksum': 'abc' }));
    req.on('response', () => undefined);
    req.resume();
    req.on('end', resolve);
    req.on('error', reject);
    req.end('body');
  });
  const { request } = await import('node:http');
  await new Promise<void>((resolve, reject) => {
    const req = request(`${c.url}/h1`, { method: 'POST', headers: { trailer: 'x-checksum' } }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.write('chunked');
    req.addTrailers({ 'x-checksum': 'def' });
    req.end();
  });
  await until('the trailers at the upstream', async () => (seen.length === 2 ? true : undefined));
  t.same(
    seen.find((x) => x.path === '/h2'),
    { path: '/h2', trailers: { 'x-checksum': 'abc' }, body: 'body' },
    'HTTP/2 client → HTTP/2 upstream',
  );
  t.same(
    seen.find((x) => x.path === '/h1'),
    { path: '/h1', trailers: { 'x-checksum': 'def' }, body: 'chunked' },
    'HTTP/1.1 chunked client → HTTP/2 upstream',
  );
});

t.test('grpc-status is the outcome: UNAVAILABLE from the canary counts as errors in metrics and the snapshot', async (t) => {
  const { c, client } = await rig(t, 'routing: { canaryWeight: 50 }', { canaryFail: () => grpc.status.UNAVAILABLE });
  let failed = 0;
  for (let i = 0; i < 40; i++) {
    const r = await unary(client, `n${i}`);
    if (r.error !== null) {
      t.equal(r.error.code, grpc.status.UNAVAILABLE);
      failed++;
    }
  }
  t.ok(failed > 0, `${failed} calls failed on the canary`);
  const m = await metricsText(c);
  t.match(
    m,
    new RegExp(`http_requests_total\\{version="canary",status="200",grpc_status="14"\\} ${failed}\\b`),
    'grpc_status="14" on the canary',
  );
  const snap = await until('a snapshot with the canary errors', async () => {
    const s = (await (await fetch(`${c.adminUrl}/api/v1/snapshot`)).json()) as any;
    return s.versions.canary.requests > 0 && s.versions.canary.requests + s.versions.baseline.requests === 40 ? s : undefined;
  });
  t.equal(
    snap.versions.canary.errors,
    snap.versions.canary.requests,
    'every canary call is an error in the snapshot (HTTP 200 all the same)',
  );
  t.equal(snap.versions.baseline.errors, 0, 'grpc-status 0 is a success');
});

t.test('grpc.errorCodes decides which codes are errors', async (t) => {
  const { c, client } = await rig(t, 'routing: { canaryWeight: 100 }\ngrpc: { errorCodes: [INTERNAL, 15] }', {
    canaryFail: () => grpc.status.UNAVAILABLE,
  });
  for (let i = 0; i < 10; i++) t.equal((await unary(client, 'x')).error?.code, grpc.status.UNAVAILABLE);
  const snap = await until('a snapshot with the canary calls', async () => {
    const s = (await (await fetch(`${c.adminUrl}/api/v1/snapshot`)).json()) as any;
    return s.versions.canary.requests === 10 ? s : undefined;
  });
  t.equal(snap.versions.canary.errors, 0, 'UNAVAILABLE is not in the configured set: not an error');
});

t.test('faults speak gRPC; routing and fault rules match the service and method by path', async (t) => {
  const { base, can, c, client } = await rig(
    t,
    `routing:
  canaryWeight: 0
  rules: [{ name: streams-to-canary, match: { path: /canaryd.test.Echo/ServerStream }, to: canary }]
faults:
  enabled: true
  maxErrorRate: 1
  rules:
    - { name: unary-down, probability: 1, match: { path: /canaryd.test.Echo/Unary, header: { x-fault: "1" } }, abort: { status: 503, grpcStatus: RESOURCE_EXHAUSTED, grpcMessage: "quota gone" } }
    - { name: unary-default, probability: 1, match: { path: /canaryd.test.Echo/Unary, header: { x-fault: "2" } }, abort: { status: 503 } }`,
  );
  const md = (v: string) => {
    const m = new grpc.Metadata();
    m.set('x-fault', v);
    return m;
  };
  const a = await unary(client, 'x', { metadata: md('1') });
  t.equal(a.error?.code, grpc.status.RESOURCE_EXHAUSTED, 'the rule’s grpcStatus');
  t.equal(a.error?.details, 'quota gone', 'and its grpcMessage');
  const d = await unary(client, 'x', { metadata: md('2') });
  t.equal(d.error?.code, grpc.status.UNAVAILABLE, 'default grpcStatus: UNAVAILABLE');
  t.match(d.error?.details, /unary-default/);
  t.equal(base.calls.unary ?? 0, 0, 'the aborted calls reached no upstream');
  const http = await fetch(`${c.url}/canaryd.test.Echo/Unary`, { method: 'POST', headers: { 'x-fault': '1' } });
  await http.arrayBuffer();
  t.equal(http.status, 503, 'a request that is not gRPC still gets the HTTP status');

  const ok = await unary(client, 'x');
  t.equal(ok.value, 'baseline:x', 'no fault without the header; weight 0: baseline');
  const ss = client.makeServerStreamRequest(
    ECHO_SERVICE.serverStream.path,
    (b: Buffer) => b,
    (b: Buffer) => b,
    Buffer.from('2'),
    new grpc.Metadata(),
    {},
  );
  const got = await collect<Buffer>(ss);
  t.same(
    got.items.map((x) => x.toString()),
    ['canary:0', 'canary:1'],
    'the path rule sent the ServerStream method to the canary',
  );
  t.equal(can.calls.serverStream, 1);

  const totals = c.sidecar.recorder.totals('baseline');
  t.equal(totals.faulted, 3, 'the two gRPC aborts (and the HTTP one) are recorded as faulted');
  const m = await metricsText(c);
  t.match(m, /http_requests_total\{version="baseline",status="200",grpc_status="8"\} 1\b/, 'recorded with the grpc-status the client got');
  t.match(m, /canaryd_faulted_requests_total\{version="baseline"\} 3\b/, 'faulted: two gRPC aborts and the HTTP one');
});

t.test('outlier ejection counts a gRPC server-side status as a 5xx', async (t) => {
  const { base, client, c } = await rig(
    t,
    'routing: { canaryWeight: 100 }\noutlier: { enabled: true, consecutiveErrors: 3, interval: 30s, baseEjectionTime: 30s, maxEjectionTime: 60s }',
    { canaryFail: () => grpc.status.UNAVAILABLE },
  );
  for (let i = 0; i < 3; i++)
    t.equal((await unary(client, `f${i}`)).error?.code, grpc.status.UNAVAILABLE, 'the canary answers UNAVAILABLE');
  const status = (await (await fetch(`${c.adminUrl}/api/v1/status`)).json()) as any;
  t.equal(status.outlier.canary.state, 'ejected', 'three UNAVAILABLE in a row eject the canary (HTTP 200 all the same)');
  const after = await unary(client, 'after');
  t.equal(after.value, 'baseline:after', 'its share goes to the baseline');
  t.equal(base.calls.unary, 1);
});

/** A hand-made gRPC call (node:http2, no client-side deadline): what canaryd itself answers. */
function rawCall(url: string, path: string, payload: string, headers: Record<string, string>) {
  return new Promise<{ headers: IncomingHttpHeaders; endStream: boolean; trailers: IncomingHttpHeaders | null }>((resolve, reject) => {
    const s = h2connect(url);
    const msg = Buffer.from(payload);
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
    const req = s.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers });
    let h: IncomingHttpHeaders = {};
    let endStream = false;
    let trailers: IncomingHttpHeaders | null = null;
    req.on('response', (r, flags) => {
      h = r;
      endStream = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    req.on('trailers', (tr) => (trailers = tr));
    req.resume();
    req.on('end', () => {
      s.close();
      resolve({ headers: h, endStream, trailers });
    });
    req.on('error', (err) => {
      s.destroy();
      reject(err);
    });
    req.end(frame);
  });
}

t.test('grpc-timeout is the upstream deadline: DEADLINE_EXCEEDED, trailers-only, the upstream call cancelled', async (t) => {
  const { base, c, client } = await rig(t);
  const r = await rawCall(c.url, ECHO_SERVICE.unary.path, 'slow', { 'grpc-timeout': '300m' });
  t.equal(r.headers[':status'], 200);
  t.equal(r.headers['grpc-status'], '4', 'DEADLINE_EXCEEDED');
  t.equal(r.headers['x-canaryd-error'], 'CANARYD_ERR_DEADLINE');
  t.ok(r.endStream, 'a trailers-only answer: the HEADERS end the stream');
  await until('the upstream call cancelled', async () => (base.cancelled === 1 ? true : undefined));
  t.pass('canaryd reset the upstream stream at the deadline');
  const fast = await rawCall(c.url, ECHO_SERVICE.unary.path, 'quick', { 'grpc-timeout': '5S' });
  t.equal(fast.trailers?.['grpc-status'], '0', 'a call within its deadline is answered');

  const viaClient = await unary(client, 'slow', { deadlineMs: 300 });
  t.equal(viaClient.error?.code, grpc.status.DEADLINE_EXCEEDED, 'a grpc-js client with a deadline gets DEADLINE_EXCEEDED');
  await until('the second upstream call cancelled', async () => (base.cancelled === 2 ? true : undefined));
  const m = await metricsText(c);
  t.match(m, /http_requests_total\{version="baseline",status="200",grpc_status="4"\} 2\b/, 'recorded as DEADLINE_EXCEEDED');
});

t.test('a rollout rolls back a canary answering UNAVAILABLE', async (t) => {
  let canaryCalls = 0;
  const { c, client } = await rig(
    t,
    `rollout:
  autoStart: true
  steps: [30, 60, 100]
  interval: 2s
  minRequests: 50
  analysisInterval: 500ms
  baseline: { maxDegradation: 1 }
  slo: { maxErrorRate: 0.05, minSuccessRate: 0.95, maxP95Ms: 2000, maxP99Ms: 4000 }`,
    { canaryFail: () => (++canaryCalls % 3 === 0 ? grpc.status.UNAVAILABLE : null) },
  );
  let running = true;
  const load = (async () => {
    const end = Date.now() + 60_000;
    while (running && Date.now() < end) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => unary(client, `l${i}`)));
      await new Promise((r) => setTimeout(r, 20)); // pacing the load, not waiting for anything
    }
  })();
  t.teardown(async () => {
    running = false;
    await load;
  });
  const end = await until(
    'the rollout to end',
    async () => {
      const r = (await (await fetch(`${c.adminUrl}/api/v1/rollout`)).json()) as any;
      return r.phase === 'rolledback' || r.phase === 'promoted' ? r : undefined;
    },
    60_000,
  );
  t.equal(end.phase, 'rolledback', `ended ${end.phase}: ${JSON.stringify(end.lastDecision?.reasons ?? [])}`);
  t.equal(end.canaryWeight, 0);
  t.match(end.lastDecision.reasons.join('\n'), /errorRate|success/i, 'the reasons name the error checks');
  running = false;
  await load;
  const after: string[] = [];
  for (let i = 0; i < 10; i++) after.push((await unary(client, `after${i}`)).value?.split(':')[0] ?? 'error');
  t.same([...new Set(after)], ['baseline'], 'all calls back on baseline');
});

t.test('the gRPC wire values: grpc-timeout units, grpc-status, grpc-message, content-type', async (t) => {
  t.equal(parseGrpcTimeout('2H'), 7_200_000);
  t.equal(parseGrpcTimeout('3M'), 180_000);
  t.equal(parseGrpcTimeout('5S'), 5000);
  t.equal(parseGrpcTimeout('250m'), 250);
  t.equal(parseGrpcTimeout('1500u'), 2, 'microseconds round up');
  t.equal(parseGrpcTimeout('99999999n'), 100, 'nanoseconds, 8 digits');
  t.equal(parseGrpcTimeout('1n'), 1, 'never shorter than asked: at least 1 ms');
  for (const bad of ['', '5', 'm', '123456789S', '5s', '-5S', '5 S', '1.5S'])
    t.equal(parseGrpcTimeout(bad), -1, `malformed ${JSON.stringify(bad)}: ignored`);
  t.equal(grpcStatusIn([Buffer.from('Grpc-Status'), Buffer.from('14')]), 14);
  t.equal(grpcStatusIn(['grpc-status', '99']), 2, 'out of range: UNKNOWN');
  t.equal(grpcStatusIn(['grpc-message', 'x']), -1, 'absent');
  t.equal(encodeGrpcMessage('plain text'), 'plain text');
  t.equal(encodeGrpcMessage('100% é\n'), '100%25 %C3%A9%0A', 'percent-encoded UTF-8');
  t.ok(isGrpcContentType('application/grpc'));
  t.ok(isGrpcContentType('application/grpc+proto'));
  t.ok(isGrpcContentType('application/grpc;charset=utf-8'));
  t.notOk(isGrpcContentType('application/grpc-web'), 'grpc-web is not gRPC to canaryd');
  t.notOk(isGrpcContentType('application/json'));
});
