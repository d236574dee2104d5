/**
 * The data-plane listener in front of the HTTP/1.1 and HTTP/2 servers, so both protocols share one port:
 *   - over TLS, ALPN decides (RFC 7301): "h2" goes to the HTTP/2 server, "http/1.1" or no ALPN to HTTP/1.1;
 *   - in clear, the first bytes decide: the HTTP/2 connection preface (RFC 9113 §3.4, "prior knowledge")
 *     goes to HTTP/2, anything else to HTTP/1.1. h2c by Upgrade (RFC 7540 §3.2) was removed by RFC 9113
 *     and is not offered.
 * Neither server listens itself; each gets its connections by a 'connection' event, which is how Node's own
 * https and http2 servers hand sockets over. The bytes read to decide are given back in order: the HTTP/2
 * session reads what is buffered on the socket when it starts; the HTTP/1.1 parser gets the first chunk as
 * a 'data' event in the same tick, before it takes over the socket's reads.
 */
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import {
  createServer as createTlsServer,
  type Server as TlsServer,
  type SecureContextOptions,
  type TLSSocket,
  type TlsOptions,
} from 'node:tls';
import type { EventEmitter } from 'node:events';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** How long a clear-text connection may stay silent before its protocol is known. */
const SNIFF_TIMEOUT_MS = 60_000;

export interface ListenerTargets {
  http1: EventEmitter;
  /** null: HTTP/2 is off, every connection is HTTP/1.1 */
  http2: EventEmitter | null;
  /** a TLS handshake failed (bad client certificate, wrong protocol): counted, the socket is gone */
  onTlsError?: (err: Error) => void;
  /**
   * Asked once per connection before any byte of it is parsed (the per-client connection limit): false
   * destroys it unanswered. Here, not on the servers' 'connection' events, because by then the HTTP/1.1
   * parser is attached and the sniffed first chunk would still be parsed and answered (and HTTP/2
   * connections would not be counted at all).
   */
  admit?: (s: Socket) => boolean;
}

export class FrontListener {
  readonly server: NetServer | TlsServer;
  readonly #targets: ListenerTargets;
  /** connections whose protocol is not known yet, with when each was accepted */
  readonly #undecided = new Map<Socket, number>();

  constructor(targets: ListenerTargets, tls: TlsOptions | null) {
    this.#targets = targets;
    if (tls !== null) {
      const server = createTlsServer(tls, (s: TLSSocket) => this.#dispatchTls(s));
      server.on('tlsClientError', (err: Error, s: TLSSocket) => {
        targets.onTlsError?.(err);
        s.destroy();
      });
      this.server = server;
    } else {
      this.server = createNetServer({ noDelay: true }, (s) => {
        if (!this.#admitted(s)) return;
        if (targets.http2 === null) targets.http1.emit('connection', s);
        else this.#sniff(s);
      });
    }
  }

  /** New handshakes use the new certificate; established connections keep theirs. */
  setSecureContext(ctx: SecureContextOptions): void {
    (this.server as TlsServer).setSecureContext(ctx);
  }

  #admitted(s: Socket): boolean {
    if (this.#targets.admit === undefined || this.#targets.admit(s)) return true;
    s.destroy();
    return false;
  }

  #dispatchTls(s: TLSSocket): void {
    if (!this.#admitted(s)) return;
    if (s.alpnProtocol === 'h2' && this.#targets.http2 !== null) this.#targets.http2.emit('connection', s);
    else this.#targets.http1.emit('connection', s);
  }

  #sniff(s: Socket): void {
    let head: Buffer | null = null;
    const undecided = this.#undecided;
    undecided.set(s, performance.now());
    const onClose = () => undecided.delete(s);
    const onTimeout = () => s.destroy();
    const onData = (chunk: Buffer) => {
      head = head === null ? chunk : Buffer.concat([head, chunk]);
      const n = Math.min(head.length, PREFACE.length);
      const h2 = head.compare(PREFACE, 0, n, 0, n) === 0;
      if (h2 && head.length < PREFACE.length) return; // a prefix of the preface so far: wait for the rest
      s.removeListener('data', onData);
      s.removeListener('close', onClose);
      s.removeListener('timeout', onTimeout);
      s.setTimeout(0);
      undecided.delete(s);
      if (h2) {
        s.pause();
        s.unshift(head);
        this.#targets.http2!.emit('connection', s);
      } else {
        this.#targets.http1.emit('connection', s);
        s.emit('data', head);
      }
    };
    s.on('data', onData);
    s.once('close', onClose);
    s.setTimeout(SNIFF_TIMEOUT_MS, onTimeout);
  }

  /**
   * Drain: a connection whose protocol is not known yet (no byte received) gets `graceMs` from its accept
   * to send its first request, like a fresh HTTP/1.1 connection (drain.ts); then it is closed.
   */
  closeUndecided(graceMs: number): void {
    const t = performance.now();
    for (const [s, at] of this.#undecided) setTimeout(() => s.destroy(), Math.max(0, at + graceMs - t)).unref();
  }

  destroyUndecided(): void {
    for (const s of this.#undecided.keys()) s.destroy();
    this.#undecided.clear();
  }

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    const server = this.server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const a = server.address();
        resolve(typeof a === 'object' && a ? { host: a.address, port: a.port } : { host, port });
      });
    });
  }

  close(cb?: () => void): void {
    this.server.close(() => cb?.());
  }
}
