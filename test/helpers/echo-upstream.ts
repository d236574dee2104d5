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
  close(): Promise<void>;
}

export async function startEchoUpstream(name: string): Promise<EchoUpstream> {
  const seen: SeenRequest[] = [];
  const server = createServer((req, res) => {
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      hash.update(c);
    });
    req.on('end', () => {
      const record: SeenRequest = { method: req.method!, url: req.url!, rawHeaders: req.rawHeaders, headers: req.headers, bodyBytes: bytes, bodySha256: hash.digest('hex') };
      seen.push(record);
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
        res.writeHead(200, [['set-cookie', 'a=1; Path=/'], ['set-cookie', 'b=2; Path=/'], ['x-upstream', name]].flat());
        res.end('cookies');
      } else if (p === '/reset') {
        req.socket.destroy();
      } else if (p === '/hang') {
        /* never answer */
      } else if (p === '/slow') {
        setTimeout(() => res.end(JSON.stringify({ upstream: name, slow: true })), Number(u.searchParams.get('ms') ?? 100));
      } else {
        const body = JSON.stringify({ upstream: name, method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: bytes, bodySha256: record.bodySha256 });
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
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
