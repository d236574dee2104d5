/**
 * A sample upstream for the demo, tests and benchmarks: answers JSON naming its version after a lognormal
 * latency, fails a configured share of requests with 500, and echoes what a test needs to see (headers,
 * body hash). Listens on 127.0.0.1 only.
 */
import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';

export interface SampleUpstreamOptions {
  name: string;
  /** median latency in ms (lognormal, sigma 0.5); 0 answers at once */
  latencyMs?: number;
  /** share of requests answered with 500 */
  errorRate?: number;
  random?: () => number;
}

function gaussian(random: () => number): number {
  let u = 0;
  while (u === 0) u = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

export async function startSampleUpstream(
  opts: SampleUpstreamOptions,
): Promise<{ server: Server; url: string; port: number; set(o: Partial<SampleUpstreamOptions>): void; close(): Promise<void> }> {
  const state = { latencyMs: opts.latencyMs ?? 10, errorRate: opts.errorRate ?? 0, random: opts.random ?? Math.random };
  const server = createServer((req, res) => {
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      hash.update(c);
    });
    req.on('end', () => {
      const delay = state.latencyMs > 0 ? state.latencyMs * Math.exp(0.5 * gaussian(state.random)) : 0;
      const fail = state.random() < state.errorRate;
      const answer = () => {
        const body = JSON.stringify({
          version: opts.name,
          ok: !fail,
          path: req.url,
          bodyBytes: bytes,
          bodySha256: bytes > 0 ? hash.digest('hex') : null,
        });
        res.writeHead(fail ? 500 : 200, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'x-upstream': opts.name,
        });
        res.end(body);
      };
      if (delay > 0) setTimeout(answer, delay);
      else answer();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    set(o) {
      if (o.latencyMs !== undefined) state.latencyMs = o.latencyMs;
      if (o.errorRate !== undefined) state.errorRate = o.errorRate;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
