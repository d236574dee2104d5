/**
 * The data-plane server: accepts client requests (node:http), picks a version, lets fault injection take
 * over if a rule matches, forwards through the version's undici pool, records one Observation per request,
 * and drains on shutdown. Settings are compiled once per config change; the per-request path does no I/O
 * besides the proxying.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { Observation, VersionName } from '../core/index.js';
import { CanarydResponse, Exchange, type ExchangeHost } from './exchange.js';
import { upstreamRequestHeaders } from './headers.js';
import { ConnectionTracker, FRESH_GRACE_MS } from './drain.js';
import { CidrSet } from './match.js';
import type { Mirror } from './mirror.js';
import type { TrafficSplitter } from './router.js';
import { Upstream, type Timeouts, type UpstreamTarget } from './upstream.js';
import { proxyUpgrade } from './websocket.js';
import { h2RequestFields } from './h2/headers.js';
import { FrontListener } from './h2/listener.js';
import { Http2Front, type Http2Limits } from './h2/server.js';
import { CertificateWatcher, serverTlsOptions, type ServerTlsFiles } from './tls/context.js';

export interface ProxySettings {
  upstreams: Record<VersionName, UpstreamTarget>;
  timeouts: Timeouts;
  versionHeader: boolean;
  retries: number;
  trustProxy: readonly string[];
  maxHeaderBytes: number;
  /** HTTP/2 on the listener (proxy/h2/) */
  http2: Http2Limits & { enabled: boolean };
  /** TLS on the listener (proxy/tls/); read when listen() is called */
  tls: ServerTlsFiles | null;
}

/** Fault injection's seam: return true when it took the exchange over (it then forwards or answers itself). */
export interface RequestInterceptor {
  /** before the upstream request headers are built: the request's own fault-control headers go (not forwarded, not mirrored) */
  prepare(ex: Exchange): void;
  intercept(ex: Exchange, forward: () => void): boolean;
}

export interface ObservationSink {
  (o: Observation, ex: Exchange | null, detail?: { err?: unknown; code?: string }): void;
}

export interface ProxyServerOptions {
  settings: ProxySettings;
  splitter: TrafficSplitter;
  onObservation: ObservationSink;
  interceptor?: RequestInterceptor | null;
  mirror?: Mirror | null;
  /** a TLS or HTTP/2 event worth a log line (certificate reloaded or refused, reset flood) */
  onEvent?: (level: 'info' | 'warn', event: string, detail: Record<string, unknown>) => void;
}

function isBodyless(req: IncomingMessage): boolean {
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) return false;
  const cl = req.headers['content-length'];
  return cl === undefined || cl === '0';
}

/**
 * An absolute-form request target (RFC 9112 §3.2.2) split into its authority and the origin-form to forward
 * (an empty path becomes "/", §3.2.1). Null when `url` is not an http(s) absolute URI with an authority.
 */
export function splitAbsoluteForm(url: string): { authority: string; originForm: string } | null {
  const lower = url.slice(0, 8).toLowerCase();
  const from = lower.startsWith('http://') ? 7 : lower.startsWith('https://') ? 8 : -1;
  if (from < 0) return null;
  let end = from;
  while (end < url.length) {
    const c = url.charCodeAt(end);
    if (c === 47 /* / */ || c === 63 /* ? */ || c === 35 /* # */) break;
    end++;
  }
  const authority = url.slice(from, end);
  if (authority === '' || authority.includes('@')) return null; // userinfo is deprecated in http(s) URIs (RFC 9110 §4.2.4)
  const rest = url.slice(end);
  if (rest.includes('#')) return null;
  return { authority, originForm: rest === '' ? '/' : rest.charCodeAt(0) === 63 ? `/${rest}` : rest };
}

/** What canaryd answers to OPTIONS * itself: undici can only send origin-form targets, and the question is about canaryd. */
const OPTIONS_ALLOW = 'GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS';

function rawErrorResponse(status: number, reason: string, code: string, message: string, extra = ''): string {
  const body = JSON.stringify({ error: code, message });
  return `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`;
}

export class ProxyServer implements ExchangeHost {
  readonly server: Server;
  versionHeader = true;
  retries = 1;
  interceptor: RequestInterceptor | null;
  mirror: Mirror | null;
  #splitter: TrafficSplitter;
  #upstreams!: Record<VersionName, Upstream>;
  #trusted: CidrSet | null = null;
  #onObservation: ObservationSink;
  #inflight = 0;
  #draining = false;
  #connections: ConnectionTracker;
  #settings!: ProxySettings;
  readonly #h2: Http2Front;
  #front: FrontListener | null = null;
  #certWatcher: CertificateWatcher | null = null;
  #proto: 'http' | 'https' = 'http';
  #onEvent: NonNullable<ProxyServerOptions['onEvent']>;

  constructor(opts: ProxyServerOptions) {
    this.#splitter = opts.splitter;
    this.#onObservation = opts.onObservation;
    this.interceptor = opts.interceptor ?? null;
    this.mirror = opts.mirror ?? null;
    this.server = createServer(
      {
        ServerResponse: CanarydResponse as unknown as typeof import('node:http').ServerResponse,
        maxHeaderSize: opts.settings.maxHeaderBytes,
        keepAliveTimeout: 65_000, // above common load-balancer idle timeouts (ALB 60 s), so the LB closes first
        requestTimeout: 0, // bodies may stream for long; timeouts.* bound the upstream side
        headersTimeout: 60_000,
        requireHostHeader: false, // checked in handle(), so the 400 carries canaryd's JSON body like every other
      },
      (req, res) => this.handle(req, res as unknown as CanarydResponse),
    );
    this.#connections = new ConnectionTracker(this.server);
    this.#onEvent = opts.onEvent ?? (() => undefined);
    this.#h2 = new Http2Front({
      limits: opts.settings.http2,
      onRequest: (req, res) => this.handle(req as unknown as IncomingMessage, res as unknown as CanarydResponse),
      onFlood: (s) => this.#onEvent('warn', 'http2_reset_flood', { client: s.socket?.remoteAddress }),
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.#upgrade(req, socket, head));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      // Malformed request line/headers (llhttp): answer 400 without touching any upstream — unless a response
      // is already on this connection (a bad pipelined request after a good one), where bytes would corrupt it.
      const busy = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
      if (!socket.writable || busy || err.code === 'ECONNRESET') {
        socket.destroy();
        return;
      }
      const [status, reason] =
        err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large'] : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout'] : [400, 'Bad Request'];
      socket.end(rawErrorResponse(status, reason, 'CANARYD_ERR_BAD_REQUEST', `malformed request: ${err.code ?? err.message}`));
    });
    // A reverse proxy is no tunnel: CONNECT gets 405 with the Allow field RFC 9110 §15.5.6 requires.
    this.server.on('connect', (_req: IncomingMessage, socket: Socket) => {
      socket.end(rawErrorResponse(405, 'Method Not Allowed', 'CANARYD_ERR_METHOD_NOT_ALLOWED', 'CONNECT is not supported: canaryd is a reverse proxy', `allow: ${OPTIONS_ALLOW}\r\n`));
    });
    this.configure(opts.settings);
  }

  /** Applies new settings. New upstream pools take new requests; old pools close once their requests end. */
  configure(settings: ProxySettings): void {
    const old = this.#upstreams;
    const prev = this.#settings;
    this.#settings = settings;
    this.versionHeader = settings.versionHeader;
    this.retries = settings.retries;
    this.#trusted = settings.trustProxy.length > 0 ? new CidrSet(settings.trustProxy) : null;
    if (prev !== undefined) this.#h2.configure(settings.http2);
    const same = (v: VersionName) =>
      prev !== undefined &&
      prev.upstreams[v].url === settings.upstreams[v].url &&
      prev.upstreams[v].connections === settings.upstreams[v].connections &&
      prev.upstreams[v].http2 === settings.upstreams[v].http2 &&
      JSON.stringify(prev.upstreams[v].tls) === JSON.stringify(settings.upstreams[v].tls) &&
      JSON.stringify(prev.timeouts) === JSON.stringify(settings.timeouts);
    this.#upstreams = {
      baseline: old && same('baseline') ? old.baseline : new Upstream('baseline', settings.upstreams.baseline, settings.timeouts),
      canary: old && same('canary') ? old.canary : new Upstream('canary', settings.upstreams.canary, settings.timeouts),
    };
    if (old) for (const v of ['baseline', 'canary'] as const) if (old[v] !== this.#upstreams[v]) void old[v].close();
    for (const v of ['baseline', 'canary'] as const) {
      const u = this.#upstreams[v];
      if ((old === undefined || old[v] !== u) && u.tls !== null && !u.tls.rejectUnauthorized) {
        this.#onEvent('warn', 'upstream_tls_unverified', { version: v, url: settings.upstreams[v].url, key: `upstreams.${v}.tls.rejectUnauthorized` });
      }
    }
  }

  upstream(v: VersionName): Upstream {
    return this.#upstreams[v];
  }

  get inflight(): number {
    return this.#inflight;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** The client's address: the socket peer, or — when the peer is a trusted proxy — the right-most untrusted X-Forwarded-For hop. */
  clientIp(req: IncomingMessage): string {
    const peer = req.socket.remoteAddress ?? '';
    if (this.#trusted === null || !this.#trusted.has(peer)) return peer;
    const xff = req.headers['x-forwarded-for'];
    if (typeof xff !== 'string') return peer;
    const hops = xff.split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i].trim();
      if (hop && !this.#trusted.has(hop)) return hop;
    }
    return peer;
  }

  handle(req: IncomingMessage, res: CanarydResponse): void {
    const ex = new Exchange(this, req, res, performance.now());
    this.#inflight++;
    this.#connections.served(req.socket);
    if (this.#draining) res.shouldKeepAlive = false;
    let url = req.url ?? '';
    let authority: string | null = null;
    if (url.charCodeAt(0) !== 47 /* '/' */) {
      // RFC 9112 §3.2: accept absolute-form (forwarded in origin-form, Host from the target); "*" only for OPTIONS
      const abs = splitAbsoluteForm(url);
      if (abs !== null) {
        url = req.url = abs.originForm; // routing rules and logs see the origin-form path
        authority = abs.authority;
      } else if (url === '*' && req.method === 'OPTIONS') {
        res.writeHead(200, { allow: OPTIONS_ALLOW, 'content-length': 0 });
        res.end();
        ex.finishLocal(200, 'bad_request');
        return;
      } else {
        ex.respondError(400, 'CANARYD_ERR_BAD_REQUEST', `request target must be origin-form or absolute-form, got ${JSON.stringify(url.slice(0, 100))}`, false);
        ex.finishLocal(400, 'bad_request');
        return;
      }
    }
    const clientIp = this.clientIp(req);
    if (this.interceptor !== null) this.interceptor.prepare(ex);
    let raw = req.rawHeaders;
    if (ex.h2) {
      const fields = h2RequestFields(raw);
      if (typeof fields === 'string') {
        ex.respondError(400, 'CANARYD_ERR_BAD_REQUEST', fields, false);
        ex.finishLocal(400, 'bad_request');
        return;
      }
      raw = fields.raw;
      ex.teTrailers = fields.teTrailers;
    }
    const headers = upstreamRequestHeaders(raw, { clientIp, proto: this.#proto, authority, requireHost: !ex.h2 && req.httpVersionMinor >= 1 });
    if (headers === null) {
      ex.respondError(400, 'CANARYD_ERR_BAD_REQUEST', 'Host header missing, repeated or invalid (RFC 9112 §3.2)', false);
      ex.finishLocal(400, 'bad_request');
      return;
    }
    const choice = this.#splitter.pick(req, clientIp);
    ex.version = choice.version;
    ex.rule = choice.rule;
    // an HTTP/2 request has a body unless its HEADERS frame ended the stream (RFC 9113 §8.1)
    const hasBody = ex.h2 ? !(req as unknown as { stream: { endAfterHeaders: boolean } }).stream.endAfterHeaders : !isBodyless(req);
    let body: Readable | null = hasBody ? req : null;
    if (this.mirror !== null && ex.version === 'baseline' && this.mirror.wants()) body = this.mirror.shadow(req, url, headers, hasBody);
    if (this.interceptor !== null) {
      const forward = () => {
        if (!ex.done) ex.forward(this.#upstreams[ex.version], url, headers, body);
      };
      if (this.interceptor.intercept(ex, forward)) return;
    }
    ex.forward(this.#upstreams[ex.version], url, headers, body);
  }

  finished(ex: Exchange, o: Observation, detail?: { err?: unknown; code?: string }): void {
    this.#inflight--;
    // Answered by canaryd before routing (malformed request, OPTIONS *): no version served it, so it is not
    // an observation of either — a burst of bad requests must not move baseline's numbers in an analysis.
    if (o.outcome !== 'bad_request') this.#onObservation(o, ex, detail);
  }

  #upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    if (this.#draining) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    this.#connections.tunnel(socket);
    const clientIp = this.clientIp(req);
    const { version } = this.#splitter.pick(req, clientIp);
    const started = performance.now();
    proxyUpgrade(req, socket, head, this.#upstreams[version], clientIp, this.versionHeader ? version : null, this.#settings.timeouts, (status, outcome) => {
      this.#onObservation({ version, status, durationMs: performance.now() - started, outcome, faulted: false }, null);
    });
  }

  /**
   * Listens through the front listener (proxy/h2/listener.ts): HTTP/1.1 and, when enabled, HTTP/2 on the
   * same port, over TLS when configured. Throws CANARYD_ERR_TLS when a certificate file is bad.
   */
  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    const s = this.#settings;
    const tlsFiles = s.tls;
    const tls = tlsFiles === null ? null : serverTlsOptions(tlsFiles, s.http2.enabled ? ['h2', 'http/1.1'] : ['http/1.1']);
    this.#proto = tls === null ? 'http' : 'https';
    const front = new FrontListener(
      {
        http1: this.server,
        http2: s.http2.enabled ? this.#h2.server : null,
        onTlsError: (err) => this.#onEvent('info', 'tls_handshake_failed', { reason: (err as NodeJS.ErrnoException).code ?? err.message }),
      },
      tls,
    );
    this.#front = front;
    this.#connections.acceptOn(front);
    const addr = await front.listen(host, port);
    // the HTTP server never listens itself: this starts its connection bookkeeping (headers timeout, closeAll)
    this.server.emit('listening');
    if (tlsFiles !== null) {
      this.#certWatcher = new CertificateWatcher(
        tlsFiles,
        (ctx) => {
          front.setSecureContext(ctx);
          this.#onEvent('info', 'tls_certificate_reloaded', { cert: tlsFiles.cert });
        },
        (err) => this.#onEvent('warn', 'tls_certificate_rejected', { cert: tlsFiles.cert, reason: (err as Error).message }),
      );
    }
    return addr;
  }

  /** Open HTTP/2 client connections. */
  get http2Sessions(): number {
    return this.#h2.sessions;
  }

  /**
   * Graceful drain (proxy/drain.ts): stop accepting, let in-flight requests finish (their responses carry
   * Connection: close), close idle connections without losing a request that is just arriving, and cut
   * what is left at the deadline. Resolves with the number of requests cut.
   */
  async drain(deadlineMs: number): Promise<number> {
    this.#draining = true;
    this.#certWatcher?.close();
    this.#h2.drain();
    this.#front?.closeUndecided(Math.min(FRESH_GRACE_MS, deadlineMs));
    const cut = await this.#connections.drain(deadlineMs, () => this.#inflight);
    this.#front?.destroyUndecided();
    this.#h2.destroyAll();
    // Every client exchange has ended; what may remain in the pools is shadow traffic, which must not hold
    // the exit up to a headers timeout: destroy, not close.
    await Promise.all([this.#upstreams.baseline.destroy(), this.#upstreams.canary.destroy()]);
    return cut;
  }
}
