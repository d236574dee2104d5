/**
 * The data-plane server: accepts client requests (node:http), picks a version, lets fault injection take
 * over if a rule matches, forwards through the version's undici pool, records one Observation per request,
 * and drains on shutdown. Settings are compiled once per config change; the per-request path does no I/O
 * besides the proxying.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Observation, VersionName } from '../core/index.js';
import { CanarydResponse, Exchange, type ExchangeHost } from './exchange.js';
import { upstreamRequestHeaders } from './headers.js';
import { CidrSet } from './match.js';
import type { Mirror } from './mirror.js';
import type { TrafficSplitter } from './router.js';
import { Upstream, type Timeouts, type UpstreamTarget } from './upstream.js';
import { proxyUpgrade } from './websocket.js';

export interface ProxySettings {
  upstreams: Record<VersionName, UpstreamTarget>;
  timeouts: Timeouts;
  versionHeader: boolean;
  retries: number;
  trustProxy: readonly string[];
  maxHeaderBytes: number;
}

/** Fault injection's seam: return true when it took the exchange over (it then forwards or answers itself). */
export interface RequestInterceptor {
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
}

function isBodyless(req: IncomingMessage): boolean {
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) return false;
  const cl = req.headers['content-length'];
  return cl === undefined || cl === '0';
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
  #drained: (() => void) | null = null;
  #settings!: ProxySettings;

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
      },
      (req, res) => this.handle(req, res as unknown as CanarydResponse),
    );
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.#upgrade(req, socket, head));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      // Malformed request line/headers (llhttp): answer 400 without touching any upstream.
      if (!socket.writable || (err as { code?: string }).code === 'ECONNRESET') {
        socket.destroy();
        return;
      }
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
      const body = JSON.stringify({ error: 'CANARYD_ERR_BAD_REQUEST', message: `malformed request: ${err.code ?? err.message}` });
      socket.end(
        `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
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
    const same = (v: VersionName) =>
      prev !== undefined &&
      prev.upstreams[v].url === settings.upstreams[v].url &&
      prev.upstreams[v].connections === settings.upstreams[v].connections &&
      JSON.stringify(prev.timeouts) === JSON.stringify(settings.timeouts);
    this.#upstreams = {
      baseline: old && same('baseline') ? old.baseline : new Upstream('baseline', settings.upstreams.baseline, settings.timeouts),
      canary: old && same('canary') ? old.canary : new Upstream('canary', settings.upstreams.canary, settings.timeouts),
    };
    if (old) for (const v of ['baseline', 'canary'] as const) if (old[v] !== this.#upstreams[v]) void old[v].close();
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
    if (this.#draining) res.shouldKeepAlive = false;
    let url = req.url ?? '';
    if (url.charCodeAt(0) !== 47 /* '/' */) {
      // RFC 9112 §3.2.2: accept absolute-form, forward origin-form; "*" only for OPTIONS.
      const abs = /^https?:\/\/[^/?#]+(\/[^#]*)?$/i.exec(url);
      if (abs) url = abs[1] && abs[1][0] === '/' ? abs[1] : `/${abs[1] ?? ''}`;
      else if (!(url === '*' && req.method === 'OPTIONS')) {
        ex.respondError(400, 'CANARYD_ERR_BAD_REQUEST', `request target must be origin-form or absolute-form, got ${JSON.stringify(url.slice(0, 100))}`);
        ex.finishLocal(400, 'bad_request');
        return;
      }
    }
    const clientIp = this.clientIp(req);
    const choice = this.#splitter.pick(req, clientIp);
    ex.version = choice.version;
    ex.rule = choice.rule;
    const hasBody = !isBodyless(req);
    const forward = () => {
      if (ex.done) return;
      ex.forward(this.#upstreams[ex.version], url, upstreamRequestHeaders(req.rawHeaders, { clientIp, proto: 'http' }), hasBody);
    };
    if (this.mirror !== null && ex.version === 'baseline') this.mirror.maybeShadow(req, url, clientIp, hasBody);
    if (this.interceptor !== null && this.interceptor.intercept(ex, forward)) return;
    forward();
  }

  finished(ex: Exchange, o: Observation, detail?: { err?: unknown; code?: string }): void {
    this.#inflight--;
    this.#onObservation(o, ex, detail);
    if (this.#draining && this.#inflight === 0) this.#drained?.();
  }

  #upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    if (this.#draining) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const clientIp = this.clientIp(req);
    const { version } = this.#splitter.pick(req, clientIp);
    const started = performance.now();
    proxyUpgrade(req, socket, head, this.#upstreams[version], clientIp, this.versionHeader ? version : null, (status, outcome) => {
      this.#onObservation({ version, status, durationMs: performance.now() - started, outcome, faulted: false }, null);
    });
  }

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const a = this.server.address();
        resolve(typeof a === 'object' && a ? { host: a.address, port: a.port } : { host, port });
      });
    });
  }

  /**
   * Graceful drain: stop accepting, let in-flight requests finish (responses carry Connection: close), then
   * close the rest at the deadline. Resolves with the number of requests cut at the deadline.
   */
  async drain(deadlineMs: number): Promise<number> {
    this.#draining = true;
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    this.server.closeIdleConnections();
    if (this.#inflight > 0) {
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
        const t = setTimeout(resolve, deadlineMs);
        t.unref();
      });
    }
    const cut = this.#inflight;
    this.server.closeAllConnections();
    await closed;
    await Promise.all([this.#upstreams.baseline.close(), this.#upstreams.canary.close()]);
    return cut;
  }
}
