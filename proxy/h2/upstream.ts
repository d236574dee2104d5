/**
 * HTTP/2 towards an upstream (`upstreams.*.http2: true`): h2c with prior knowledge for http:// URLs, h2 by
 * ALPN for https:// ones. It drives the same undici dispatch-handler interface the Exchange already
 * implements (onConnect, onHeaders, onData, onComplete, onError), so the proxy path is one whatever the
 * upstream speaks. node:http2 rather than undici's allowH2: it speaks h2c, sends request trailers and
 * `te: trailers` (gRPC needs both), and lets a deadline reset one stream.
 *
 * Sessions: up to `connections`, each carrying up to the upstream's SETTINGS_MAX_CONCURRENT_STREAMS; a new
 * session opens only when every open one is full. Failures carry the codes classifyUpstreamError() maps
 * (ECONNREFUSED, UND_ERR_CONNECT_TIMEOUT, UND_ERR_HEADERS_TIMEOUT, UND_ERR_BODY_TIMEOUT, ECONNRESET...).
 */
import {
  connect,
  constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';

export interface H2PoolOptions {
  connections: number;
  connectTimeout: number;
  headersTimeout: number;
  bodyTimeout: number;
  tls: Record<string, unknown> | null;
}

/** What the pool reads from the handler besides the dispatch interface (the Exchange has both). */
interface ExchangeLike {
  req?: IncomingMessage;
  teTrailers?: boolean;
  /** a deadline for the whole exchange (grpc-timeout), ms from startedAt; 0 when none */
  deadlineMs?: number;
  startedAt?: number;
  /** set here: the answer was trailers-only (its HEADERS ended the stream; gRPC reads its status there) */
  trailersOnly?: boolean;
}

function failure(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

interface Session {
  s: ClientHttp2Session;
  active: number;
  error: Error | null;
}

export class H2Pool {
  readonly #origin: string;
  readonly #opts: H2PoolOptions;
  readonly #sessions: Session[] = [];
  #closed = false;

  constructor(origin: string, opts: H2PoolOptions) {
    this.#origin = origin;
    this.#opts = opts;
  }

  #session(): Session {
    let best: Session | null = null;
    for (const x of this.#sessions) {
      if (x.s.destroyed || x.s.closed || x.error !== null) continue;
      const max = x.s.remoteSettings?.maxConcurrentStreams ?? 100;
      if (x.active < max) return x;
      if (best === null || x.active < best.active) best = x;
    }
    if (best !== null && this.#sessions.length >= this.#opts.connections) return best;
    return this.#open();
  }

  #open(): Session {
    const tls = this.#opts.tls ?? {};
    const s = connect(this.#origin, { ...tls, ALPNProtocols: ['h2'], settings: { enablePush: false } });
    const x: Session = { s, active: 0, error: null };
    this.#sessions.push(x);
    const timer = setTimeout(() => {
      x.error = failure('UND_ERR_CONNECT_TIMEOUT', `connect timeout after ${this.#opts.connectTimeout} ms`);
      s.destroy(x.error);
    }, this.#opts.connectTimeout);
    s.once('connect', () => clearTimeout(timer));
    s.on('error', (err) => {
      clearTimeout(timer);
      x.error ??= err;
    });
    s.once('close', () => {
      clearTimeout(timer);
      const i = this.#sessions.indexOf(x);
      if (i >= 0) this.#sessions.splice(i, 1);
    });
    s.on('goaway', () => {
      x.error ??= failure('UND_ERR_CLOSED', 'upstream sent GOAWAY');
    });
    // an idle session should not hold the process open, nor a connection on the upstream forever
    s.setTimeout(60_000, () => {
      if (x.active === 0) s.close();
    });
    s.unref();
    return x;
  }

  dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler & ExchangeLike): boolean {
    if (this.#closed) {
      handler.onError?.(failure('UND_ERR_CLOSED', 'upstream pool closed'));
      return false;
    }
    const x = this.#session();
    const flat = opts.headers as string[];
    const headers: OutgoingHttpHeaders = {
      ':method': opts.method,
      ':path': opts.path ?? '/',
      ':scheme': this.#origin.startsWith('https:') ? 'https' : 'http',
    };
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i].toLowerCase();
      const value = flat[i + 1];
      if (name === 'host') {
        headers[':authority'] = value;
        continue;
      }
      const prev = headers[name];
      if (prev === undefined) headers[name] = value;
      else if (name === 'cookie') headers[name] = `${String(prev)}; ${value}`;
      else headers[name] = Array.isArray(prev) ? [...prev, value] : [String(prev), value];
    }
    if (handler.teTrailers) headers.te = 'trailers';
    // the request body: the client's stream, or the bytes canaryd read ahead (limits.bufferBodyBytes)
    const body = (opts.body as Readable | Buffer | null) ?? null;
    const req = handler.req;
    // request trailers: an HTTP/2 client may send them on any stream, an HTTP/1.1 one after a chunked body
    const wantTrailers =
      body !== null &&
      req !== undefined &&
      (req.httpVersionMajor === 2 || req.headers.trailer !== undefined || req.headers['transfer-encoding'] !== undefined);
    let stream: ClientHttp2Stream;
    try {
      stream = x.s.request(headers, { endStream: body === null, waitForTrailers: wantTrailers });
    } catch (err) {
      handler.onError?.(Object.assign(err as Error, { code: 'ECONNRESET' }));
      return false;
    }
    x.active++;
    let done = false;
    let status = 0;
    let trailers: string[] | null = null;
    const timers: NodeJS.Timeout[] = [];
    const end = () => {
      if (done) return false;
      done = true;
      x.active--;
      for (const t of timers) clearTimeout(t);
      return true;
    };
    const fail = (err: Error) => {
      if (!end()) return;
      if (!stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
      handler.onError?.(err);
    };
    handler.onConnect?.((err?: Error) => fail(err ?? failure('UND_ERR_ABORTED', 'request aborted')));
    timers.push(
      setTimeout(
        () => fail(failure('UND_ERR_HEADERS_TIMEOUT', `no response headers in ${this.#opts.headersTimeout} ms`)),
        this.#opts.headersTimeout,
      ),
    );
    const deadline = handler.deadlineMs ?? 0;
    if (deadline > 0) {
      const left = Math.max(0, deadline - (performance.now() - (handler.startedAt ?? performance.now())));
      timers.push(setTimeout(() => fail(failure('CANARYD_DEADLINE', `grpc-timeout of ${deadline} ms passed`)), left));
    }
    stream.setTimeout(this.#opts.bodyTimeout, () => fail(failure('UND_ERR_BODY_TIMEOUT', `body idle for ${this.#opts.bodyTimeout} ms`)));
    stream.on('headers', (h: IncomingHttpHeaders) => {
      const code = Number(h[':status']);
      if (code < 200 && !done) handler.onHeaders?.(code, rawPairs(h), () => undefined, '');
    });
    stream.on('response', (h: IncomingHttpHeaders, flags: number) => {
      if (done) return;
      clearTimeout(timers[0]);
      status = Number(h[':status']);
      if (flags & constants.NGHTTP2_FLAG_END_STREAM) handler.trailersOnly = true;
      const goOn = handler.onHeaders?.(status, rawPairs(h), () => stream.resume(), '');
      if (goOn === false) stream.pause();
    });
    stream.on('data', (chunk: Buffer) => {
      if (done) return;
      if (handler.onData?.(chunk) === false) stream.pause();
    });
    stream.on('trailers', (h: IncomingHttpHeaders) => {
      trailers = rawPairs(h) as unknown as string[];
    });
    stream.on('end', () => {
      if (status === 0 || !end()) return;
      handler.onComplete?.(trailers);
    });
    stream.on('close', () => {
      if (done) return;
      // closed without a complete response: the session's error says why (refused, reset...), else a reset
      const code = stream.rstCode;
      fail(x.error ?? failure('ECONNRESET', `upstream closed the stream (RST_STREAM ${code ?? 'none'})`));
    });
    // a session that failed (refused, TLS) cancels its streams; the cause carries the session's error
    stream.on('error', (err: Error & { code?: string; cause?: unknown }) =>
      fail(x.error ?? (err.code === 'ERR_HTTP2_STREAM_CANCEL' && err.cause instanceof Error ? err.cause : err)),
    );
    if (wantTrailers) {
      stream.once('wantTrailers', () => {
        const t = req!.trailers ?? {};
        const out: OutgoingHttpHeaders = {};
        for (const k of Object.keys(t)) if (k.charCodeAt(0) !== 58) out[k] = t[k];
        stream.sendTrailers(out);
      });
    }
    if (Buffer.isBuffer(body)) stream.end(body);
    else if (body !== null) {
      body.on('error', (err) => fail(Object.assign(err, { code: 'UND_ERR_ABORTED' })));
      body.pipe(stream);
    }
    return true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#sessions.map((x) => new Promise<void>((r) => (x.s.closed ? r() : x.s.close(() => r())))));
  }

  async destroy(): Promise<void> {
    this.#closed = true;
    for (const x of [...this.#sessions]) x.s.destroy();
  }
}

/** Response fields as the flat Buffer pairs undici hands to onHeaders (pseudo-headers left out). */
function rawPairs(h: IncomingHttpHeaders): Buffer[] {
  const out: Buffer[] = [];
  for (const k of Object.keys(h)) {
    if (k.charCodeAt(0) === 58) continue;
    const v = h[k];
    if (v === undefined) continue;
    const name = Buffer.from(k, 'latin1');
    if (Array.isArray(v)) for (const one of v) out.push(name, Buffer.from(one, 'latin1'));
    else out.push(name, Buffer.from(String(v), 'latin1'));
  }
  return out;
}
