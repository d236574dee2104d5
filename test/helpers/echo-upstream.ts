/**
 * A scriptable upstream for data-plane tests: records every request it sees (method, raw target, raw
 * headers, body hash/size) and answers by path:
 *   /download?size=N   N deterministic bytes (chunked), sha256 in the x-body-sha256 trailer-free header
 *   /status/N          status N with no body (204, 304) or a short one
 *   /trailers          chunked body followed by trailers (x-checksum)
 *   /cookies           two Set-Cookie headers
 *   /reset             destroys the socket without answering
 *   /hang              never answers (until the test closes the server)
 *   /slow?ms=N         answers after N ms
 *   anything else      JSON echo of what was received
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { EventEmitter } from 'node:events';

export interface SeenRequest {
  method: string;
  url: string;
  rawHeaders: string[];
  headers: IncomingMessage['headers'];
  bodyBytes: number;
  bodySha256: string;
}

/** Deterministic bytes: block i of 64 KiB is filled with (i mod 251). Same on both ends without storing it. */
export function patternChunk(i: number, size: number): Buffer {
  return Buffer.alloc(size, i % 251);
}

export function patternSha256(total: number, chunk = 65_536): string {
  const h = createHash('sha256');
  for (let i = 0, sent = 0; sent < total; i++) {
    const n = Math.min(chunk, total - sent);
    h.update(patternChunk(i, n));
    sent += n;
  }
  return h.digest('hex');
}

export interface EchoUpstream {
  name: string;
  url: string;
  port: number;
  server: Server;
  seen: SeenRequest[];
  /** emits `request` (a SeenRequest) as each request has arrived in full, before it is answered */
  arrivals: EventEmitter;
  close(): Promise<void>;
}

/**
 * Resolves once `upstreams` together have seen at least `n` requests that `pred` accepts, counting those
 * already seen: awaited on each arrival, no polling. Rejects after `baseTimeoutMs` × CANARYD_TEST_PATIENCE.
 */
export function seenAtLeast(
  upstreams: EchoUpstream[],
  n: number,
  pred: (r: SeenRequest) => boolean = () => true,
  baseTimeoutMs = 20_000,
): Promise<void> {
  const count = () => upstreams.reduce((sum, u) => sum + u.seen.filter(pred).length, 0);
  if (count() >= n) return Promise.resolve();
  const patience = Math.max(1, Number(process.env.CANARYD_TEST_PATIENCE ?? 1) || 1);
  return new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      for (const u of upstreams) u.arrivals.off('request', check);
      if (err) reject(err);
      else resolve();
    };
    const check = () => {
      if (count() >= n) done();
    };
    const timer = setTimeout(
      () => done(new Error(`the upstreams saw ${count()} of ${n} requests in ${baseTimeoutMs * patience} ms`)),
      baseTimeoutMs * patience,
    );
    for (const u of upstreams) u.arrivals.on('request', check);
  });
}

export async function startEchoUpstream(name: string): Promise<EchoUpstream> {
  const seen: SeenRequest[] = [];
  const arrivals = new EventEmitter();
  const server = createServer((req, res) => {
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      hash.update(c);
    });
    req.on('end', () => {
      const record: SeenRequest = {
        method: req.method!,
        url: req.url!,
        rawHeaders: req.rawHeaders,
        headers: req.headers,
        bodyBytes: bytes,
        bodySha256: hash.digest('hex'),
      };
      seen.push(record);
      arrivals.emit('request', record);
      const u = new URL(req.url!, 'http://x');
      const p = u.pathname;
      if (p === '/download') {
        const size = Number(u.searchParams.get('size') ?? 0);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-body-sha256': patternSha256(size), 'x-upstream': name });
        let i = 0;
        let sent = 0;
        const pump = () => {
          while (sent < size) {
            const n = Math.min(65_536, size - sent);
            const ok = res.write(patternChunk(i++, n));
            sent += n;
            if (!ok) {
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        pump();
      } else if (p.startsWith('/status/')) {
        const status = Number(p.slice(8));
        res.writeHead(status, { 'x-upstream': name, etag: '"v1"' });
        res.end(status === 204 || status === 304 || req.method === 'HEAD' ? undefined : `status ${status}`);
      } else if (p === '/trailers') {
        res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum', 'x-upstream': name });
        res.write('part one,');
        res.write('part two');
        res.addTrailers({ 'x-checksum': 'abc123' });
        res.end();
      } else if (p === '/cookies') {
        res.writeHead(
          200,
          [
            ['set-cookie', 'a=1; Path=/'],
            ['set-cookie', 'b=2; Path=/'],
            ['x-upstream', name],
          ].flat(),
        );
        res.end('cookies');
      } else if (p === '/reset') {
        req.socket.destroy();
      } else if (p === '/hang') {
        /* never answer */
      } else if (p === '/slow') {
        setTimeout(() => res.end(JSON.stringify({ upstream: name, slow: true })), Number(u.searchParams.get('ms') ?? 100));
      } else {
        const body = JSON.stringify({
          upstream: name,
          method: req.method,
          url: req.url,
          headers: req.headers,
          rawHeaders: req.rawHeaders,
          bodyBytes: bytes,
          bodySha256: record.bodySha256,
        });
        res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': name, 'content-length': Buffer.byteLength(body) });
        res.end(body);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    seen,
    arrivals,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
