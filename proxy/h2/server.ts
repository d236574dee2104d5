/**
 * The HTTP/2 side of the listener: node:http2's compatibility API, so an HTTP/2 stream is an
 * (IncomingMessage-like request, ServerResponse-like response) pair and goes through the same
 * ProxyServer.handle and Exchange as HTTP/1.1 — routing, stickiness, rules, flags, faults, mirror, metrics
 * and the record cannot drift apart between the protocols.
 *
 * Limits: SETTINGS_MAX_CONCURRENT_STREAMS and SETTINGS_MAX_HEADER_LIST_SIZE (nghttp2 refuses a stream past
 * either), server push off, an idle connection closed with GOAWAY. Rapid reset (CVE-2023-44487): a client
 * that cancels more than `resetFlood.maxResets` streams within `resetFlood.window` gets GOAWAY
 * ENHANCE_YOUR_CALM and its connection is closed; other connections are not touched.
 */
import { constants, createServer, Http2ServerRequest, Http2ServerResponse, type Http2Server, type ServerHttp2Session } from 'node:http2';

export interface Http2Limits {
  maxConcurrentStreams: number;
  maxHeaderListBytes: number;
  resetFlood: { maxResets: number; window: number };
  idleTimeout: number;
}

/** The request of a stream, with rawHeaders writable like IncomingMessage's (fault injection strips fields). */
export class CanarydH2Request extends Http2ServerRequest {
  /** set when rawHeaders is assigned; node:http2 defines rawHeaders as a getter only */
  replacedRawHeaders: string[] | null = null;
}
const streamRawHeaders = Object.getOwnPropertyDescriptor(Http2ServerRequest.prototype, 'rawHeaders')!.get!;
Object.defineProperty(CanarydH2Request.prototype, 'rawHeaders', {
  configurable: true,
  get(this: CanarydH2Request): string[] {
    return this.replacedRawHeaders ?? (streamRawHeaders.call(this) as string[]);
  },
  set(this: CanarydH2Request, v: string[]) {
    this.replacedRawHeaders = v;
  },
});

/** The response of a stream, with the fields the Exchange reads on an HTTP/1.1 response. */
export class CanarydH2Response extends Http2ServerResponse {
  exchange: unknown = null;
  /** meaningless on a stream (GOAWAY ends the connection on drain); kept so the Exchange can set it */
  shouldKeepAlive = true;
}
// node:http2's response has no `destroyed`; the Exchange checks it before writing
Object.defineProperty(CanarydH2Response.prototype, 'destroyed', {
  configurable: true,
  get(this: Http2ServerResponse): boolean {
    return this.stream.destroyed;
  },
});

export interface Http2FrontOptions {
  limits: Http2Limits;
  onRequest(req: CanarydH2Request, res: CanarydH2Response): void;
  /** a connection was closed for a reset flood */
  onFlood?(session: ServerHttp2Session): void;
}

export class Http2Front {
  readonly server: Http2Server;
  readonly #sessions = new Set<ServerHttp2Session>();
  #limits: Http2Limits;
  #onFlood: ((s: ServerHttp2Session) => void) | undefined;
  #draining = false;

  constructor(opts: Http2FrontOptions) {
    this.#limits = opts.limits;
    this.#onFlood = opts.onFlood;
    this.server = createServer(
      {
        Http2ServerRequest: CanarydH2Request,
        Http2ServerResponse: CanarydH2Response as unknown as typeof Http2ServerResponse,
        settings: {
          maxConcurrentStreams: opts.limits.maxConcurrentStreams,
          maxHeaderListSize: opts.limits.maxHeaderListBytes,
          enablePush: false,
        },
        maxHeaderListPairs: 256,
      },
      (req, res) => opts.onRequest(req as CanarydH2Request, res as unknown as CanarydH2Response),
    );
    this.server.on('session', (s: ServerHttp2Session) => this.#track(s));
    // a broken session or stream is the client's problem: never an uncaught error in the proxy
    this.server.on('sessionError', () => undefined);
  }

  get sessions(): number {
    return this.#sessions.size;
  }

  #track(session: ServerHttp2Session): void {
    const sessions = this.#sessions;
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    session.on('error', () => undefined);
    if (this.#draining) session.close();
    session.setTimeout(this.#limits.idleTimeout, () => session.close());
    let windowStart = 0;
    let resets = 0;
    session.on('stream', (stream) => {
      stream.on('error', () => undefined);
      stream.once('aborted', () => {
        const now = performance.now();
        const { maxResets, window } = this.#limits.resetFlood;
        if (now - windowStart > window) {
          windowStart = now;
          resets = 0;
        }
        if (++resets > maxResets && !session.destroyed) {
          this.#onFlood?.(session);
          session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
          session.destroy();
        }
      });
    });
  }

  configure(limits: Http2Limits): void {
    this.#limits = limits;
    for (const s of this.#sessions)
      if (!s.destroyed) s.settings({ maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderListBytes });
  }

  /** Drain: GOAWAY on every connection; streams in flight finish, then each connection closes. */
  drain(): void {
    this.#draining = true;
    for (const s of this.#sessions) if (!s.closed) s.close();
  }

  /** At the drain deadline: whatever is left is cut. */
  destroyAll(): void {
    for (const s of this.#sessions) s.destroy();
  }
}
