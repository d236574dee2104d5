/**
 * HTTP/1.1 Upgrade (RFC 9110 §7.8) without a tunnel around the proxy. Node hands every request that
 * carries `Connection: upgrade` to the 'upgrade' event with the socket detached from its parser; from
 * there on, whatever canaryd does not parse itself would reach the upstream untouched (no Via, no
 * X-Forwarded-For rewrite, no routing, no CL/TE checks). So:
 *   - only protocols in `proxy.upgrades` (default [websocket]) are offered to the upstream; `h2c` never is
 *     (HTTP2-Settings is dropped with it): an upgrade the policy does not allow is served as the ordinary
 *     HTTP/1.1 request it also is (a server MAY ignore Upgrade, §7.8), re-parsed by canaryd without it;
 *   - only a `101 Switching Protocols` whose Upgrade names the protocol offered becomes a byte tunnel, and
 *     the 101 gets Via and the version header;
 *   - any other answer is an ordinary response, written with Node's framing, and the connection goes back
 *     to canaryd's HTTP parser: the next request on it is parsed, rewritten and routed like every other.
 * The upstream request goes through node:http's client, whose parser (llhttp) frames the upstream's answer.
 */
import { request as httpRequest, ServerResponse, type ClientRequest, type IncomingMessage, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Outcome } from '../core/index.js';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js';
import { rawErrorResponse } from './request-target.js';
import type { Timeouts, Upstream } from './upstream.js';

/** Protocol names never offered to an upstream whatever the config says: h2c is the classic smuggling path. */
export const NEVER_UPGRADE: ReadonlySet<string> = new Set(['h2c']);

/** Compiled once per config: the lowercase protocol names an upgrade may switch to. */
export function upgradePolicy(protocols: readonly string[]): ReadonlySet<string> {
  const allowed = new Set<string>();
  for (const p of protocols) if (!NEVER_UPGRADE.has(p.toLowerCase())) allowed.add(p.toLowerCase());
  return allowed;
}

/** protocol-name of a `protocol-name ["/" protocol-version]` token, lowercased */
function protocolName(token: string): string {
  const t = token.trim();
  const slash = t.indexOf('/');
  return (slash < 0 ? t : t.slice(0, slash)).toLowerCase();
}

/** The first protocol of the client's Upgrade list the policy allows (as sent), or null. */
export function chooseProtocol(upgrade: string | undefined, allowed: ReadonlySet<string>): string | null {
  if (!upgrade || allowed.size === 0) return null;
  for (const token of upgrade.split(',')) if (allowed.has(protocolName(token))) return token.trim();
  return null;
}

type HttpSocket = Socket & { _httpMessage?: (ServerResponse & { finished?: boolean }) | null };

/**
 * Runs `fn` once the response in progress on `socket`, if any, has been written: an upgrade request
 * pipelined behind another request must not answer (or hand the socket over) before that one's response.
 */
export function afterPendingResponse(socket: Socket, fn: () => void): void {
  const pending = (socket as HttpSocket)._httpMessage;
  if (pending && !pending.writableFinished) {
    pending.once('finish', () => setImmediate(fn));
    pending.once('close', () => {
      if (!pending.writableFinished) socket.destroy();
    });
  } else fn();
}

const DROP_FOR_REPARSE = new Set(['upgrade', 'http2-settings']);

/**
 * Gives the connection back to the server's HTTP parser as if it had just been accepted, with `replay`
 * in front of whatever the client sent after it. Node's own connection listener attaches a fresh parser.
 */
export function reattach(server: Server, socket: Socket, replay: Buffer): void {
  if (replay.length > 0) socket.unshift(replay);
  server.emit('connection', socket);
}

/**
 * An upgrade the policy refuses: the same request without Upgrade (and HTTP2-Settings), re-parsed by the
 * server, so it is served, rewritten and routed as an ordinary request; its body, if any, follows in `head`.
 */
export function serveWithoutUpgrade(server: Server, req: IncomingMessage, socket: Socket, head: Buffer): void {
  const raw = req.rawHeaders;
  let text = `${req.method} ${req.url} HTTP/1.${req.httpVersionMinor === 0 ? 0 : 1}\r\n`;
  for (let i = 0; i < raw.length; i += 2) if (!DROP_FOR_REPARSE.has(raw[i].toLowerCase())) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
  reattach(server, socket, Buffer.concat([Buffer.from(`${text}\r\n`, 'latin1'), head]));
}

export interface UpgradeExchange {
  server: Server;
  req: IncomingMessage;
  client: Socket;
  head: Buffer;
  protocol: string;
  upstream: Upstream;
  clientIp: string;
  versionHeader: string | null;
  timeouts: Pick<Timeouts, 'connect' | 'headers'>;
  /** shutting down: a non-101 answer closes the connection instead of handing it back */
  draining: () => boolean;
  /** the upgrade has become a tunnel (the drain keeps it up to its deadline) */
  tunnelled: (client: Socket) => void;
  done: (status: number, outcome: Outcome) => void;
}

const latin1 = (raw: readonly string[]) => raw.map((s) => Buffer.from(s, 'latin1'));

/** Offers `protocol` to the upstream and acts on its answer (see the file comment). */
export function proxyUpgrade(x: UpgradeExchange): void {
  const { req, client } = x;
  let reported = false;
  const report = (status: number, outcome: Outcome) => {
    if (!reported) {
      reported = true;
      x.done(status, outcome);
    }
  };
  // Upgrade and Connection are rebuilt: only the chosen protocol is offered, and fields the client's
  // Connection named (HTTP2-Settings among them) go with the rest of the hop-by-hop set.
  const headers = upstreamRequestHeaders(req.rawHeaders, { clientIp: x.clientIp, proto: 'http', requireHost: req.httpVersionMinor >= 1 });
  if (headers === null) {
    client.end(rawErrorResponse(400, 'Bad Request', 'CANARYD_ERR_BAD_REQUEST', 'Host header missing, repeated or invalid (RFC 9112 §3.2)'));
    return;
  }
  headers.push('connection', 'Upgrade', 'upgrade', x.protocol);
  // an https:// upstream gets the upgrade over TLS, with the CA, client certificate and SNI of requests
  const request = x.upstream.tls === null ? httpRequest : httpsRequest;
  const up: ClientRequest = request({
    ...(x.upstream.tls ?? {}),
    host: x.upstream.host,
    port: x.upstream.port,
    method: req.method,
    path: x.upstream.basePath + req.url,
    headers,
    setHost: false,
    agent: false,
  });
  let timer: NodeJS.Timeout | null = null;
  const clear = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };
  const fail = (err: NodeJS.ErrnoException) => {
    clear();
    if (reported) return;
    const [status, reason, code, outcome]: [number, string, string, Outcome] =
      err.code === 'ECONNREFUSED'
        ? [502, 'Bad Gateway', 'CANARYD_ERR_UPSTREAM_REFUSED', 'refused']
        : err.code === 'ETIMEDOUT'
          ? [504, 'Gateway Timeout', 'CANARYD_ERR_UPSTREAM_TIMEOUT', 'timeout']
          : [502, 'Bad Gateway', 'CANARYD_ERR_UPSTREAM_RESET', 'reset'];
    if (client.writable) client.end(rawErrorResponse(status, reason, code, `upstream upgrade failed (${err.code ?? err.message})`));
    report(status, outcome);
    up.destroy();
  };
  const timeout = (what: string, ms: number) => {
    clear();
    timer = setTimeout(() => fail(Object.assign(new Error(`${what} timeout`), { code: 'ETIMEDOUT' })), ms);
  };
  timeout('connect', x.timeouts.connect);
  up.once('socket', (s: Socket) => {
    s.setNoDelay(true);
    s.once('connect', () => timeout('headers', x.timeouts.headers));
  });
  up.on('error', fail);
  const onClientClose = () => {
    clear();
    up.destroy();
    report(499, 'client_abort');
  };
  const onClientError = () => client.destroy();
  client.on('close', onClientClose);
  client.on('error', onClientError);

  up.once('upgrade', (res: IncomingMessage, upSocket: Socket, upHead: Buffer) => {
    clear();
    if (chooseProtocol(res.headers.upgrade, new Set([protocolName(x.protocol)])) === null) {
      upSocket.destroy();
      client.end(
        rawErrorResponse(
          502,
          'Bad Gateway',
          'CANARYD_ERR_UPSTREAM_PROTOCOL',
          `upstream switched to ${JSON.stringify(res.headers.upgrade ?? '')}, not the ${JSON.stringify(x.protocol)} the client asked for`,
        ),
      );
      report(502, 'reset');
      return;
    }
    // 101: Connection and Upgrade stay (they are the switch), Via and the version header are added
    const fields = clientResponseHeaders(latin1(res.rawHeaders), x.versionHeader, false);
    let block = `HTTP/1.1 101 ${res.statusMessage || 'Switching Protocols'}\r\nconnection: Upgrade\r\nupgrade: ${res.headers.upgrade}\r\n`;
    for (let i = 0; i < fields.length; i += 2) block += `${fields[i]}: ${fields[i + 1]}\r\n`;
    client.write(`${block}\r\n`);
    if (upHead.length > 0) client.write(upHead);
    if (x.head.length > 0) upSocket.write(x.head);
    report(101, 'ok');
    x.tunnelled(client);
    upSocket.setNoDelay(true);
    client.setNoDelay(true);
    upSocket.on('error', () => client.destroy());
    upSocket.on('close', () => client.end());
    client.on('close', () => upSocket.destroy());
    upSocket.pipe(client);
    client.pipe(upSocket);
  });

  // Any other answer: an ordinary response, then the connection is parsed by canaryd again.
  up.once('response', (res: IncomingMessage) => {
    clear();
    const out = new ServerResponse(req);
    out.assignSocket(client);
    const status = res.statusCode ?? 502;
    const chunked = req.httpVersionMinor >= 1 && req.method !== 'HEAD' && status !== 204 && status !== 304;
    const closing = x.draining() || req.httpVersionMinor < 1;
    out.shouldKeepAlive = !closing;
    out.writeHead(status, res.statusMessage, clientResponseHeaders(latin1(res.rawHeaders), x.versionHeader, chunked));
    res.on('error', () => client.destroy());
    res.pipe(out);
    out.once('finish', () => {
      up.destroy();
      report(status, 'ok');
      client.off('close', onClientClose);
      client.off('error', onClientError);
      out.detachSocket(client);
      if (closing || client.destroyed) client.end();
      else reattach(x.server, client, x.head);
    });
  });
  up.end();
}
