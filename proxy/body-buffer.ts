/**
 * Request buffering (nginx's proxy_request_buffering is the model, in memory and bounded): the first
 * `limits.bufferBodyBytes` of a body are read before the request takes an upstream connection. A body
 * that fits is sent as one Buffer; a larger one (declared or chunked) is streamed on from there, what was
 * read first. So a client that trickles its body holds canaryd's memory (at most the limit) and its own
 * deadlines (proxy/deadline.ts), never one of the upstream's connections: the 1-byte-per-5-s
 * POSTs with Content-Length 1000000 never reach the limit, and are cut with 408 at the minimum rate.
 */
import type { IncomingMessage } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';

/**
 * Reads `req` up to `limit` bytes. `done` gets the whole body as a Buffer, or — past the limit — a stream
 * that yields every byte; it is not called when the client goes away first (the exchange sees the close).
 */
export function bufferBody(req: IncomingMessage, limit: number, done: (body: Buffer | Readable) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (c: Buffer) => {
    size += c.length;
    chunks.push(c);
    if (size <= limit) return;
    // past the limit: stream the rest after what was read
    req.pause();
    req.off('data', onData);
    req.off('end', onEnd);
    const rest = new PassThrough();
    for (const chunk of chunks) rest.write(chunk);
    chunks.length = 0;
    req.once('close', () => {
      if (!req.complete) rest.destroy(new Error('client closed mid-body'));
    });
    req.pipe(rest);
    done(rest);
  };
  const onEnd = () => done(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
  req.on('data', onData);
  req.once('end', onEnd);
}
