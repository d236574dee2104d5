/**
 * The metrics listener (metrics.listen): /metrics without the admin token while the admin API requires one
 * for everything; nothing else is served there. The info series: canaryd_version_info maps each version to
 * its release and follows a config change; canaryd_build_info. And label cardinality: 100,000 requests with
 * distinct paths, queries and user ids do not add a single series to /metrics (no per-path or per-user
 * labels; docs/prometheus.md).
 */
import t from 'tap';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { parseConfigText } from '../config/index.js';
import { startSampleUpstream } from '../demo/upstream.js';
import { configYaml, spawnCanaryd, startSidecar } from './helpers/canaryd.js';
import type { TapTest } from './helpers/admin.js';

// 100,000 requests through a real canaryd on a shared, overloaded machine: the file's bound is generous
t.setTimeout(480_000);

const EXTRA = `admin: { listen: "127.0.0.1:0", token: s3cret, authReads: true }
metrics: { listen: "127.0.0.1:0" }
routing: { canaryWeight: 50, sticky: { header: x-user-id } }
`;

async function rig(t: TapTest) {
  const base = await startSampleUpstream({ name: 'baseline', latencyMs: 0 });
  const can = await startSampleUpstream({ name: 'canary', latencyMs: 0 });
  const yaml = configYaml(base.url, can.url, EXTRA).replace('admin: { listen: "127.0.0.1:0" }\n', '');
  const c = await startSidecar(yaml);
  t.teardown(async () => {
    await c.stop();
    await base.close();
    await can.close();
  });
  return { c, yaml, metricsUrl: `http://127.0.0.1:${c.sidecar.metricsAddress!.port}` };
}

/** The cheapest upstream: 200 "ok" to everything (the load test's cost should be canaryd's). */
async function plainUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-length': 2 }).end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** The series of an exposition, without values: `name{labels}`. Runtime series (nodejs_, process_) are left out: their label sets are fixed by Node, not by traffic. */
function seriesOf(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#') || line.startsWith('nodejs_') || line.startsWith('process_')) continue;
    out.add(line.slice(0, line.lastIndexOf(' ')));
  }
  return out;
}

t.test('the metrics listener serves /metrics without the admin token, and nothing else', async (t) => {
  const { c, yaml, metricsUrl } = await rig(t);
  t.equal((await fetch(`${c.adminUrl}/api/v1/status`)).status, 401, 'the admin API needs the token, for reads too (authReads)');
  const r = await fetch(`${metricsUrl}/metrics`);
  t.equal(r.status, 200, 'the listener needs none');
  t.match(r.headers.get('content-type'), /text\/plain/);
  const text = await r.text();
  t.match(text, /canaryd_version_info\{version="baseline",release="v1"\} 1/);
  t.match(text, /canaryd_version_info\{version="canary",release="v2"\} 1/);
  t.match(text, /canaryd_build_info\{version="\d+\.\d+\.\d+[^"]*",node="v\d+\.[^"]+"\} 1/);
  t.match(text, /canary_traffic_percent\{version="canary"\} 50/);
  for (const path of ['/', '/api/v1/status', '/api/v1/weights', '/metrics/../api/v1/status']) {
    t.equal((await fetch(`${metricsUrl}${path}`)).status, 404, `${path}: 404`);
  }
  t.equal((await fetch(`${metricsUrl}/metrics`, { method: 'POST', body: 'x' })).status, 405, 'POST /metrics: 405');

  // a new canary release replaces its info series (one series per version, not one per release ever seen)
  c.sidecar.applyConfig(parseConfigText(yaml.replace('version: v2', 'version: v2.1.0'), {}), 'test');
  const after = await (await fetch(`${metricsUrl}/metrics`)).text();
  t.match(after, /canaryd_version_info\{version="canary",release="v2\.1\.0"\} 1/);
  t.notMatch(after, /release="v2"/, 'the old release is gone');
});

t.test('the metrics listener caps its connections (32): a flood is closed at accept, scrapes resume after', async (t) => {
  const { metricsUrl } = await rig(t);
  const port = Number(new URL(metricsUrl).port);
  const closed: boolean[] = [];
  const sockets = await Promise.all(
    Array.from(
      { length: 40 },
      (_, i) =>
        new Promise<import('node:net').Socket>((resolve) => {
          const s = connect(port, '127.0.0.1', () => resolve(s));
          closed[i] = false;
          s.on('close', () => (closed[i] = true));
          s.on('error', () => undefined);
        }),
    ),
  );
  t.teardown(() => sockets.forEach((s) => s.destroy()));
  // held sockets send nothing; the 8 over the cap are destroyed by the server at accept
  for (let i = 0; i < 400 && closed.filter(Boolean).length < 8; i++) await new Promise((r) => setTimeout(r, 25));
  t.equal(closed.filter(Boolean).length, 8, 'exactly the connections over the cap were closed');
  for (const s of sockets) s.destroy();
  let status = 0;
  for (let i = 0; i < 100 && status !== 200; i++) {
    status = await fetch(`${metricsUrl}/metrics`).then(
      (r) => (r.body?.cancel(), r.status),
      () => 0,
    );
    if (status !== 200) await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(status, 200, 'scrapes are served again once the flood is gone');
});

t.test('100,000 distinct paths and users do not grow /metrics', async (t) => {
  // canaryd in its own process, so the load generator and the proxy do not share one event loop
  const base = await plainUpstream();
  const can = await plainUpstream();
  const p = await spawnCanaryd(configYaml(base.url, can.url, EXTRA).replace('admin: { listen: "127.0.0.1:0" }\n', ''));
  t.teardown(async () => {
    p.child.kill('SIGKILL');
    await base.close();
    await can.close();
  });
  const started = await p.waitForLog((l) => l.event === 'started');
  const metricsUrl = `http://127.0.0.1:${(started.metrics as { port: number }).port}`;
  // a lean client: raw keep-alive sockets with 64 pipelined requests in flight each, answers counted by status
  const { port } = new URL(p.url);
  const send = async (from: number, to: number) => {
    let next = from;
    const codes = new Map<number, number>();
    const request = (i: number) => `GET /users/u${i}/orders/${i * 7}?session=${i} HTTP/1.1\r\nhost: x\r\nx-user-id: user-${i}\r\n\r\n`;
    await Promise.all(
      Array.from(
        { length: 8 },
        () =>
          new Promise<void>((resolve, reject) => {
            const sock = connect(Number(port), '127.0.0.1');
            let inflight = 0;
            let tail = '';
            const pump = () => {
              let out = '';
              while (inflight < 64 && next < to) {
                out += request(next++);
                inflight++;
              }
              if (out) sock.write(out);
              else if (inflight === 0) (sock.end(), resolve());
            };
            sock.on('connect', pump);
            sock.on('error', reject);
            sock.on('data', (chunk: Buffer) => {
              const text = tail + chunk.toString('latin1');
              let end = 0;
              for (const m of text.matchAll(/HTTP\/1\.1 (\d{3}) /g)) {
                codes.set(Number(m[1]), (codes.get(Number(m[1])) ?? 0) + 1);
                inflight--;
                end = m.index + m[0].length;
              }
              // keep what could be the start of a status line cut by the chunk boundary
              tail = text.slice(Math.max(end, text.length - 12));
              pump();
            });
          }),
      ),
    );
    return codes;
  };
  // warm up: both versions, every status the run will produce, so the comparison sees only traffic-driven growth
  await send(0, 200);
  const before = await (await fetch(`${metricsUrl}/metrics`)).text();
  const codes = await send(200, 100_200);
  const after = await (await fetch(`${metricsUrl}/metrics`)).text();
  t.same([...codes.keys()], [200], `all 100,000 answered 200 (${JSON.stringify([...codes])})`);
  const counted = [...after.matchAll(/^http_requests_total\{[^}]*\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
  t.equal(counted, 100_200, 'canaryd counted every request');
  const s0 = seriesOf(before);
  const s1 = seriesOf(after);
  t.same(
    [...s1].filter((s) => !s0.has(s)),
    [],
    'no new series',
  );
  t.equal(s1.size, s0.size, `the same ${s0.size} series before and after`);
  t.notMatch(after, /user-\d|\/users\/|session=/, 'no path, query or user id in any label');
  const size = (text: string) =>
    text
      .split('\n')
      .filter((l) => !/^(# (HELP|TYPE) )?(nodejs_|process_)/.test(l))
      .join('\n').length;
  const grew = size(after) - size(before);
  t.ok(Math.abs(grew) < 2048, `the exposition size moved by ${grew} bytes (counter digits), not by series`);
});
