/**
 * The data-plane server: accepts client requests (node:http), picks a version, lets fault injection take
 * over if a rule matches, forwards through the version's undici pool, records one Observation per request,
 * and drains on shutdown. Settings are compiled once per config change; the per-request path does no I/O
 * besides the proxying.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { GRPC_SERVER_ERROR_MASK, type Observation, type VersionName } from '../core/index.js';
import { bufferBody } from './body-buffer.js';
import { RequestSweeper, SWEEP_MS } from './deadline.js';
import { CanarydResponse, Exchange, type ExchangeHost, type RequestBody } from './exchange.js';
import { upstreamRequestHeaders } from './headers.js';
import { ConnectionTracker, FRESH_GRACE_MS, type DrainTimes } from './drain.js';
import { ClientLimits, type ProxyLimits } from './limits.js';
import { CidrSet } from './match.js';
import { OPTIONS_ALLOW, rawErrorResponse, splitAbsoluteForm } from './request-target.js';
import { StageChain, type ExchangeFailure, type ProxyStage } from './stages.js';
import type { TrafficSplitter } from './router.js';
import { Upstream, type Timeouts, type UpstreamTarget } from './upstream.js';
import { afterPendingResponse, chooseProtocol, proxyUpgrade, serveWithoutUpgrade, upgradePolicy } from './upgrade.js';
import { parseGrpcTimeout } from './grpc.js';
import { h2RequestFields } from './h2/headers.js';
import { FrontListener } from './h2/listener.js';
import { Http2Front, type Http2Limits } from './h2/server.js';
import { CertificateWatcher, serverTlsOptions, type ServerTlsFiles } from './tls/context.js';
import { OutlierDetector, type OutlierChange, type OutlierErrorKind, type OutlierSettings } from './outlier/index.js';

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
  /** protocols an Upgrade may switch to (proxy.upgrades); h2c never */
  upgrades: readonly string[];
  limits: ProxyLimits;
  /** outlier ejection of the upstreams (proxy/outlier) */
  outlier: OutlierSettings;
  /** shutdown.settle and shutdown.idleGrace */
  drain: Omit<DrainTimes, 'deadline'>;
}

/** Why a connection or request was turned away by a limit (counted and logged by the composition root). */
export type RejectReason = 'max_connections' | 'client_connections' | 'client_inflight' | 'first_byte_timeout';

export interface ProxyServerOptions {
  settings: ProxySettings;
  splitter: TrafficSplitter;
  /** the stages of the request path, in order (proxy/stages.ts); more join with addStage() */
  stages?: readonly ProxyStage[];
  /** a TLS or HTTP/2 event worth a log line (certificate reloaded or refused, reset flood) */
  onEvent?: (level: 'info' | 'warn', event: string, detail: Record<string, unknown>) => void;
  /** a limit turned a connection or request away */
  onReject?: (reason: RejectReason) => void;
  /** an upstream was ejected, is probing or was re-admitted (called on the request path: defer any I/O) */
  onOutlier?: (change: OutlierChange) => void;
  /** a request was refused by its upstream's pending limit (upstreams.*.maxPending) */
  onOverflow?: (version: VersionName) => void;
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
  #stages: ProxyStage[] = [];
  #chain = new StageChain([]);
  #splitter: TrafficSplitter;
  #upstreams!: Record<VersionName, Upstream>;
  #trusted: CidrSet | null = null;
  #inflight = 0;
  #draining = false;
  #connections: ConnectionTracker;
  #settings!: ProxySettings;
  readonly #h2: Http2Front;
  #front: FrontListener | null = null;
  #certWatcher: CertificateWatcher | null = null;
  #proto: 'http' | 'https' = 'http';
  #onEvent: NonNullable<ProxyServerOptions['onEvent']>;
  #upgrades: ReadonlySet<string> = new Set();
  readonly #limits = new ClientLimits();
  readonly #sweeper: RequestSweeper;
  #sweepTimer: NodeJS.Timeout | null = null;
  #onReject: (reason: RejectReason) => void;
  #onOverflow: (version: VersionName) => void;
  /** the upstreams' health (outlier ejection): fed where each exchange ends, consulted where it is routed */
  readonly outlier: OutlierDetector;

  constructor(opts: ProxyServerOptions) {
    this.#splitter = opts.splitter;
    this.outlier = new OutlierDetector(opts.settings.outlier, opts.onOutlier);
    this.#onOverflow = opts.onOverflow ?? (() => undefined);
    for (const stage of opts.stages ?? []) this.addStage(stage);
    this.#onReject = opts.onReject ?? (() => undefined);
    this.#sweeper = new RequestSweeper({ requestMs: 0, clientBodyMs: 0, minBodyRate: 0, queueTimeoutMs: 0 });
    this.server = createServer(
      {
        ServerResponse: CanarydResponse as unknown as typeof import('node:http').ServerResponse,
        maxHeaderSize: opts.settings.maxHeaderBytes,
        keepAliveTimeout: 65_000, // above common load-balancer idle timeouts (ALB 60 s), so the LB closes first
        requestTimeout: 0, // bodies: proxy/deadline.ts (idle, min rate, total from arrival)
        headersTimeout: opts.settings.timeouts.clientHeaders, // a request head, from its first byte
        connectionsCheckingInterval: 1000, // so an expired head is cut within ~1 s, not Node's 30 s
        requireHostHeader: false, // checked in handle(), so the 400 carries canaryd's JSON body like every other
      },
      (req, res) => this.handle(req, res as unknown as CanarydResponse),
    );
    this.server.on('drop', () => this.#onReject('max_connections'));
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
        err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'Request Header Fields Too Large']
          : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? [408, 'Request Timeout']
            : [400, 'Bad Request'];
      socket.end(rawErrorResponse(status, reason, 'CANARYD_ERR_BAD_REQUEST', `malformed request: ${err.code ?? err.message}`));
    });
    // A reverse proxy is no tunnel: CONNECT gets 405 with the Allow field RFC 9110 §15.5.6 requires.
    this.server.on('connect', (_req: IncomingMessage, socket: Socket) => {
      socket.end(
        rawErrorResponse(
          405,
          'Method Not Allowed',
          'CANARYD_ERR_METHOD_NOT_ALLOWED',
          'CONNECT is not supported: canaryd is a reverse proxy',
          `allow: ${OPTIONS_ALLOW}\r\n`,
        ),
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
    this.#upgrades = upgradePolicy(settings.upgrades);
    const { limits, timeouts } = settings;
    this.server.maxConnections = limits.maxConnections;
    if (this.#front !== null) this.#front.server.maxConnections = limits.maxConnections; // the listener that accepts
    this.server.headersTimeout = timeouts.clientHeaders;
    this.#limits.inflightLimit = limits.perClient.inflight;
    this.#limits.connectionLimit = limits.perClient.connections;
    this.#sweeper.settings = {
      requestMs: timeouts.request,
      clientBodyMs: timeouts.clientBody,
      minBodyRate: limits.minBodyRate,
      queueTimeoutMs: limits.queue.timeout,
    };
    this.#trusted = settings.trustProxy.length > 0 ? new CidrSet(settings.trustProxy) : null;
    if (prev !== undefined) this.#h2.configure(settings.http2);
    this.#limits.trusted = this.#trusted;
    const same = (v: VersionName) =>
      prev !== undefined &&
      prev.upstreams[v].url === settings.upstreams[v].url &&
      prev.upstreams[v].connections === settings.upstreams[v].connections &&
      prev.upstreams[v].http2 === settings.upstreams[v].http2 &&
      JSON.stringify(prev.upstreams[v].tls) === JSON.stringify(settings.upstreams[v].tls) &&
      (['connect', 'headers', 'body'] as const).every((k) => prev.timeouts[k] === settings.timeouts[k]);
    this.#upstreams = {
      baseline: old && same('baseline') ? old.baseline : new Upstream('baseline', settings.upstreams.baseline, settings.timeouts),
      canary: old && same('canary') ? old.canary : new Upstream('canary', settings.upstreams.canary, settings.timeouts),
    };
    for (const v of ['baseline', 'canary'] as const) this.#upstreams[v].queueSize = settings.upstreams[v].maxPending ?? limits.queue.size;
    if (prev !== undefined) this.outlier.configure(settings.outlier);
    if (old) for (const v of ['baseline', 'canary'] as const) if (old[v] !== this.#upstreams[v]) void old[v].close();
    for (const v of ['baseline', 'canary'] as const) {
      const u = this.#upstreams[v];
      if ((old === undefined || old[v] !== u) && u.tls !== null && !u.tls.rejectUnauthorized) {
        this.#onEvent('warn', 'upstream_tls_unverified', {
          version: v,
          url: settings.upstreams[v].url,
          key: `upstreams.${v}.tls.rejectUnauthorized`,
        });
      }
    }
  }

  /** Adds a stage at the end of the chain; the chain is compiled again now and whenever the stage asks. */
  addStage(stage: ProxyStage): void {
    this.#stages.push(stage);
    stage.bind?.(() => this.#compileChain());
    this.#compileChain();
  }

  #compileChain(): void {
    this.#chain = new StageChain(this.#stages);
  }

  /** The active stages, in order. */
  get stages(): readonly string[] {
    return this.#chain.names;
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
    const chain = (ex.chain = this.#chain);
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
        ex.respondError(
          400,
          'CANARYD_ERR_BAD_REQUEST',
          `request target must be origin-form or absolute-form, got ${JSON.stringify(url.slice(0, 100))}`,
          false,
        );
        ex.finishLocal(400, 'bad_request');
        return;
      }
    }
    const clientIp = this.clientIp(req);
    if (!this.#limits.enter(clientIp)) {
      ex.respondError(
        429,
        'CANARYD_ERR_CLIENT_LIMIT',
        `${this.#limits.inflightLimit} requests of this client are in flight already (limits.perClient.inflight)`,
        false,
      );
      ex.finishLocal(429, 'bad_request');
      this.#onReject('client_inflight');
      return;
    }
    ex.clientKey = clientIp;
    for (let i = 0; i < chain.prepare.length; i++) chain.prepare[i].prepare!(ex);
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
    const headers = upstreamRequestHeaders(raw, {
      clientIp,
      proto: this.#proto,
      authority,
      requireHost: !ex.h2 && req.httpVersionMinor >= 1,
      traceparent: ex.traceparent,
    });
    if (headers === null) {
      ex.respondError(400, 'CANARYD_ERR_BAD_REQUEST', 'Host header missing, repeated or invalid (RFC 9112 §3.2)', false);
      ex.finishLocal(400, 'bad_request');
      return;
    }
    if (ex.grpc) {
      // grpc-timeout is the call's deadline, counted from arrival like timeouts.request, which bounds it
      const t = parseGrpcTimeout(req.headers['grpc-timeout']);
      if (t > 0 && t < this.#settings.timeouts.request) ex.deadlineMs = t;
    }
    const choice = this.#splitter.pick(req, clientIp);
    // an ejected canary's requests go to the baseline (proxy/outlier): the weight itself is not touched
    ex.version = this.outlier.route(choice.version);
    ex.rule = choice.rule;
    // an HTTP/2 request has a body unless its HEADERS frame ended the stream (RFC 9113 §8.1)
    const hasBody = ex.h2 ? !(req as unknown as { stream: { endAfterHeaders: boolean } }).stream.endAfterHeaders : !isBodyless(req);
    this.#sweeper.add(ex, hasBody);
    const limit = this.#settings.limits.bufferBodyBytes;
    if (hasBody && limit > 0) {
      // read the body's first `limit` bytes before taking an upstream connection (proxy/body-buffer.ts)
      bufferBody(req, limit, (body) => {
        if (!ex.done) this.#route(ex, url, headers, body);
      });
      return;
    }
    this.#route(ex, url, headers, hasBody ? req : null);
  }

  #route(ex: Exchange, url: string, headers: string[], body: RequestBody): void {
    ex.path = url;
    ex.upstreamHeaders = headers;
    ex.body = body;
    this.proceed(ex);
  }

  /** ExchangeHost: the route stages from ex.stage on (one may take the exchange over), then the upstream. */
  proceed(ex: Exchange): void {
    if (ex.done) return;
    const route = ex.chain!.route;
    while (ex.stage < route.length) if (route[ex.stage++].route!(ex)) return;
    ex.forward(this.#upstreams[ex.version]);
  }

  #observe(o: Observation, ex: Exchange | null, failure?: ExchangeFailure): void {
    // the current chain, not the one the exchange arrived with: a stage sees what ends while it is on
    const stages = this.#chain.observe;
    for (let i = 0; i < stages.length; i++) stages[i].observe!(o, ex, failure);
  }

  finished(ex: Exchange, o: Observation, failure?: ExchangeFailure): void {
    this.#inflight--;
    this.#sweeper.delete(ex);
    if (ex.clientKey !== null) this.#limits.leave(ex.clientKey);
    if (ex.overflowed) this.#onOverflow(ex.version);
    else if (!o.faulted) this.#health(o, ex.dispatched, failure);
    // Answered by canaryd before routing (malformed request, OPTIONS *): no version served it, so it is not
    // an observation of either — a burst of bad requests must not move baseline's numbers in an analysis.
    if (o.outcome !== 'bad_request') this.#observe(o, ex, failure);
  }

  /**
   * What an exchange's ending says about its upstream (outlier ejection). Only exchanges the upstream took
   * part in count: not faults, not the pending limit's 503, not client aborts, not a pool closed by a config
   * change; a request deadline (504) counts as a timeout once the request was sent.
   */
  #health(o: Observation, dispatched: boolean, failure: ExchangeFailure | undefined): void {
    let kind: OutlierErrorKind | null;
    switch (o.outcome) {
      case 'ok':
        // a gRPC call answers 200 whatever its outcome: the server-side codes are its 5xx (Envoy maps
        // UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS to 5xx for outlier detection)
        {
          const g = o.grpcStatus ?? -1;
          kind = o.status >= 500 || (g > 0 && (GRPC_SERVER_ERROR_MASK >> g) & 1) ? '5xx' : null;
        }
        break;
      case 'refused':
        if (failure?.err === undefined || failure.code === 'CANARYD_ERR_UPSTREAM_UNAVAILABLE') return;
        kind = 'connect';
        break;
      case 'reset':
        if (failure?.err === undefined) return;
        kind = 'reset';
        break;
      case 'timeout':
        if (failure?.err === undefined && !dispatched) return;
        kind = 'timeout';
        break;
      default:
        return;
    }
    this.outlier.record(o.version, kind);
  }

  #upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    afterPendingResponse(socket, () => this.#upgradeNow(req, socket, head));
  }

  #upgradeNow(req: IncomingMessage, socket: Socket, head: Buffer): void {
    if (socket.destroyed) return;
    if (this.#draining) {
      socket.end(rawErrorResponse(503, 'Service Unavailable', 'CANARYD_ERR_SHUTTING_DOWN', 'canaryd is draining'));
      return;
    }
    this.#connections.served(socket); // the first-byte timeout is for connections that never sent a request
    const protocol = chooseProtocol(req.headers.upgrade, this.#upgrades);
    if (protocol === null) {
      serveWithoutUpgrade(this.server, req, socket, head); // h2c and every protocol not in proxy.upgrades
      return;
    }
    const clientIp = this.clientIp(req);
    const version = this.outlier.route(this.#splitter.pick(req, clientIp).version);
    const started = performance.now();
    proxyUpgrade({
      server: this.server,
      req,
      client: socket,
      head,
      protocol,
      upstream: this.#upstreams[version],
      clientIp,
      versionHeader: this.versionHeader ? version : null,
      timeouts: this.#settings.timeouts,
      draining: () => this.#draining,
      tunnelled: (s) => this.#connections.tunnel(s),
      done: (status, outcome) => {
        const o: Observation = { version, status, durationMs: performance.now() - started, outcome, faulted: false };
        this.#observe(o, null);
        this.#health(o, true, outcome === 'ok' ? undefined : { err: outcome }); // an upgrade's failures come from its upstream
      },
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
        // per-client connection limit before any parsing, for both protocols; a refused one is never tracked
        admit: (socket) => this.#limits.accept(socket) || (this.#onReject('client_connections'), false),
      },
      tls,
    );
    this.#front = front;
    this.#connections.acceptOn(front);
    front.server.maxConnections = s.limits.maxConnections;
    front.server.on('drop', () => this.#onReject('max_connections'));
    const addr = await front.listen(host, port);
    this.#startSweeps();
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

  /** One timer for every deadline: requests (proxy/deadline.ts) and connections that never sent a request. */
  #startSweeps(): void {
    if (this.#sweepTimer !== null) return;
    this.#sweepTimer = setInterval(() => {
      const now = performance.now();
      this.#sweeper.sweep(now);
      const idle = this.#connections.closeSilent(now, this.#settings.timeouts.clientHeaders);
      for (let i = 0; i < idle; i++) this.#onReject('first_byte_timeout');
    }, SWEEP_MS);
    this.#sweepTimer.unref();
  }

  /**
   * Graceful drain (proxy/drain.ts): keep accepting for `shutdown.settle` while /readyz says not ready,
   * then stop accepting at a quiet moment; responses carry Connection: close; idle keep-alive connections
   * close once idle `shutdown.idleGrace`; what is left is cut at the deadline. Resolves with the number of
   * requests cut: they are answered 503 (or their connection closed) and counted for neither version.
   */
  async drain(deadlineMs: number, settleMs = this.#settings.drain.settle): Promise<number> {
    this.#draining = true;
    this.#certWatcher?.close();
    this.#h2.drain();
    this.#front?.closeUndecided(Math.min(FRESH_GRACE_MS, deadlineMs));
    const cut = await this.#connections.drain(
      { deadline: deadlineMs, settle: settleMs, idleGrace: this.#settings.drain.idleGrace },
      () => this.#inflight,
      () => this.#sweeper.cutAll(503, 'CANARYD_ERR_SHUTTING_DOWN', `cut at shutdown.drainTimeout (${deadlineMs} ms)`),
    );
    if (this.#sweepTimer !== null) clearInterval(this.#sweepTimer);
    this.#sweepTimer = null;
    this.#front?.destroyUndecided();
    this.#h2.destroyAll();
    // Every client exchange has ended; what may remain in the pools is shadow traffic, which must not hold
    // the exit up to a headers timeout: destroy, not close.
    await Promise.all([this.#upstreams.baseline.destroy(), this.#upstreams.canary.destroy()]);
    return cut;
  }
}
