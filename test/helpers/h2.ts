/**
 * Helpers for the HTTP/2 and TLS tests: a node:http2 request that collects status, headers, body and
 * trailers; a raw HTTP/2 client that writes frames byte by byte (to send what node:http2 itself refuses to
 * send, such as connection-specific fields); and certificates made with openssl for each test.
 */
import { connect as h2connect, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { tempDir } from './canaryd.js';

export interface H2Answer {
  status: number;
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders | null;
  body: string;
}

export function h2request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: string | Buffer): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined });
    let h: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders | null = null;
    const chunks: Buffer[] = [];
    req.on('response', (r) => (h = r));
    req.on('trailers', (tr) => (trailers = tr));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status: Number(h[':status']), headers: h, trailers, body: Buffer.concat(chunks).toString() }));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
  });
}

export function h2session(url: string, opts: Parameters<typeof h2connect>[1] = {}): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = h2connect(url, opts);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

// ---- raw frames (RFC 9113 §4.1) and HPACK literals without indexing or Huffman (RFC 7541 §6.2.2) ----
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

function hpackInt(n: number, prefixBits: number, first = 0): number[] {
  const max = (1 << prefixBits) - 1;
  if (n < max) return [first | n];
  const out = [first | max];
  n -= max;
  while (n >= 128) {
    out.push((n % 128) + 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

export function hpackLiterals(fields: Array<[string, string]>): Buffer {
  const out: number[] = [];
  for (const [name, value] of fields) {
    out.push(
      0x00,
      ...hpackInt(name.length, 7),
      ...Buffer.from(name, 'latin1'),
      ...hpackInt(value.length, 7),
      ...Buffer.from(value, 'latin1'),
    );
  }
  return Buffer.from(out);
}

export interface RawFrame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** A raw HTTP/2 connection: sends the preface and an empty SETTINGS, collects every frame received. */
export class RawH2 {
  readonly socket: Socket;
  readonly frames: RawFrame[] = [];
  readonly closed: Promise<void>;
  #buf = Buffer.alloc(0);
  #waiters: Array<() => void> = [];

  constructor(port: number) {
    this.socket = netConnect(port, '127.0.0.1');
    this.socket.write(Buffer.concat([PREFACE, frame(4, 0, 0, Buffer.alloc(0))]));
    this.socket.on('data', (c: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, c]);
      while (this.#buf.length >= 9) {
        const len = this.#buf.readUIntBE(0, 3);
        if (this.#buf.length < 9 + len) break;
        const f = {
          type: this.#buf[3],
          flags: this.#buf[4],
          stream: this.#buf.readUInt32BE(5) & 0x7fffffff,
          payload: this.#buf.subarray(9, 9 + len),
        };
        this.#buf = this.#buf.subarray(9 + len);
        this.frames.push(f);
        if (f.type === 4 && (f.flags & 1) === 0) this.socket.write(frame(4, 1, 0, Buffer.alloc(0))); // ACK their SETTINGS
      }
      for (const w of this.#waiters.splice(0)) w();
    });
    this.socket.on('error', () => undefined);
    this.closed = new Promise((r) => this.socket.once('close', () => r()));
  }

  headers(stream: number, fields: Array<[string, string]>, endStream = true): void {
    this.socket.write(frame(1, 0x4 | (endStream ? 0x1 : 0), stream, hpackLiterals(fields)));
  }

  /** Resolves with the first frame on `stream` of one of `types` (HEADERS 1, RST_STREAM 3, GOAWAY 7). */
  async waitFor(pred: (f: RawFrame) => boolean): Promise<RawFrame> {
    for (;;) {
      const f = this.frames.find(pred);
      if (f) return f;
      if (this.socket.destroyed) throw new Error('connection closed before the frame came');
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        this.socket.once('close', r);
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

// ---- certificates ----
export interface TestPki {
  dir: string;
  caCert: string;
  caKey: string;
  /** issues a leaf certificate signed by this CA; `days` < 0 makes an expired one */
  issue(name: string, opts?: { cn?: string; san?: string; days?: number; client?: boolean }): { cert: string; key: string };
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

export function makePki(label = 'ca'): TestPki {
  const dir = tempDir('canaryd-pki-');
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      `${label}.key`,
      '-out',
      `${label}.pem`,
      '-days',
      '2',
      '-subj',
      `/CN=${label}`,
    ],
    dir,
  );
  const pki: TestPki = {
    dir,
    caCert: join(dir, `${label}.pem`),
    caKey: join(dir, `${label}.key`),
    issue(name, opts = {}) {
      const cn = opts.cn ?? 'localhost';
      const ext = join(dir, `${name}.ext`);
      const san = opts.san ?? 'DNS:localhost,IP:127.0.0.1';
      execFileSync('sh', [
        '-c',
        `printf 'subjectAltName=${san}\\nextendedKeyUsage=${opts.client ? 'clientAuth' : 'serverAuth'}\\n' > ${ext}`,
      ]);
      openssl(
        [
          'req',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-keyout',
          `${name}.key`,
          '-out',
          `${name}.csr`,
          '-subj',
          `/CN=${cn}`,
        ],
        dir,
      );
      // days < 0: notAfter before notBefore (= now), so the certificate is already expired
      openssl(
        [
          'x509',
          '-req',
          '-in',
          `${name}.csr`,
          '-CA',
          pki.caCert,
          '-CAkey',
          pki.caKey,
          '-CAcreateserial',
          '-out',
          `${name}.pem`,
          '-days',
          String(opts.days ?? 2),
          '-extfile',
          ext,
        ],
        dir,
      );
      return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
    },
  };
  return pki;
}
