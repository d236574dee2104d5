/**
 * WebSocket (and other HTTP/1.1 Upgrade) proxying to the version routing picked: the upgrade request is
 * re-sent to the upstream over a fresh TCP connection with rewritten headers (Upgrade/Connection kept),
 * then bytes are piped both ways untouched. The upstream's answer (101 or a refusal) reaches the client as is,
 * except that the version header is added to the status block. The connect and headers timeouts apply as for
 * plain requests (504); once upgraded, the tunnel has no idle timeout (WebSockets idle by design).
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { IncomingMessage } from 'node:http';
import type { Outcome } from '../core/index.js';
import { upstreamRequestHeaders } from './headers.js';
import type { Timeouts, Upstream } from './upstream.js';

export function proxyUpgrade(
  req: IncomingMessage,
  client: Socket,
  head: Buffer,
  upstream: Upstream,
  clientIp: string,
  versionHeader: string | null,
  timeouts: Pick<Timeouts, 'connect' | 'headers'>,
  done: (status: number, outcome: Outcome) => void,
): void {
  let reported = false;
  const report = (status: number, outcome: Outcome) => {
    if (!reported) {
      reported = true;
      done(status, outcome);
    }
  };
  const headers = upstreamRequestHeaders(req.rawHeaders, { clientIp, proto: 'http', upgrade: true, requireHost: req.httpVersionMinor >= 1 });
  if (headers === null) {
    client.end(rawAnswer(400, 'Bad Request', 'CANARYD_ERR_BAD_REQUEST', 'Host header missing, repeated or invalid (RFC 9112 §3.2)'));
    return;
  }
  let text = `${req.method} ${upstream.basePath}${req.url} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  text += '\r\n';

  // an https:// upstream gets the tunnel over TLS, with the same CA, client certificate and SNI as requests
  const up = upstream.tls === null ? connect({ host: upstream.host, port: upstream.port }) : tlsConnect({ host: upstream.host, port: upstream.port, ...upstream.tls });
  up.setNoDelay(true);
  client.setNoDelay(true);
  const fail = (err: NodeJS.ErrnoException) => {
    clearTimeout(timer);
    if (reported) return;
    const [status, reason, code, outcome]: [number, string, string, Outcome] =
      err.code === 'ECONNREFUSED'
        ? [502, 'Bad Gateway', 'CANARYD_ERR_UPSTREAM_REFUSED', 'refused']
        : err.code === 'ETIMEDOUT'
          ? [504, 'Gateway Timeout', 'CANARYD_ERR_UPSTREAM_TIMEOUT', 'timeout']
          : [502, 'Bad Gateway', 'CANARYD_ERR_UPSTREAM_RESET', 'reset'];
    if (client.writable) client.end(rawAnswer(status, reason, code, `upstream upgrade failed (${err.code ?? err.message})`));
    report(status, outcome);
    up.destroy();
  };
  const timeout = (what: string) => () => fail(Object.assign(new Error(`${what} timeout`), { code: 'ETIMEDOUT' }));
  let timer = setTimeout(timeout('connect'), timeouts.connect);
  let piped = false;
  up.once('error', fail);
  up.once('connect', () => {
    clearTimeout(timer);
    timer = setTimeout(timeout('headers'), timeouts.headers);
    up.write(text);
    if (head.length > 0) up.write(head);
    // Read the status block, add the version header, then pipe raw.
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) {
        if (buf.length > 65_536) up.destroy(new Error('upstream status block too large'));
        return;
      }
      up.off('data', onData);
      clearTimeout(timer);
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(buf.subarray(0, 16).toString('latin1'))?.[1] ?? 502);
      const block = buf.subarray(0, end).toString('latin1') + (versionHeader ? `\r\nx-canaryd-version: ${versionHeader}` : '') + '\r\n\r\n';
      client.write(block);
      const rest = buf.subarray(end + 4);
      if (rest.length > 0) client.write(rest);
      report(status, 'ok');
      piped = true;
      up.pipe(client);
      client.pipe(up);
    };
    up.on('data', onData);
  });
  const closeBoth = () => {
    up.destroy();
    client.destroy();
  };
  client.on('error', closeBoth);
  client.on('close', () => {
    clearTimeout(timer);
    up.destroy();
    report(499, 'client_abort');
  });
  up.on('close', () => client.end());
  up.on('error', () => {
    if (piped) client.destroy(); // before that, fail() answers the client and ends it
  });
}

function rawAnswer(status: number, reason: string, code: string, message: string): string {
  const body = JSON.stringify({ error: code, message });
  return `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}
