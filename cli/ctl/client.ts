/**
 * The admin API client of `canaryd ctl`: node:http / node:https with the bearer token, JSON both ways, and
 * one error type carrying the HTTP status and the API's error code, so commands print a clear message and
 * exit non-zero. An https:// admin (admin.tls) is verified against --ca (else the system store), with a
 * client certificate when given. The event stream uses the `ws` package (node 20 has no WebSocket client).
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import WebSocket from 'ws';
import type { CanarydEvent, ErrorBody, HelloMessage } from '../../contract/index.js';

export class CtlError extends Error {
  constructor(
    message: string,
    /** HTTP status, 0 when canaryd could not be reached */
    readonly status: number,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

export interface ClientOptions {
  admin: string;
  token?: string;
  timeoutMs?: number;
  /** PEM files for an https:// admin: the CA its certificate chains to, a client certificate and key */
  tls?: { ca?: string; cert?: string; key?: string };
}

/** Node's certificate verify codes, said plainly, with what to do. */
function tlsHint(code: string | undefined): string {
  switch (code) {
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_GET_ISSUER_CERT':
      return ` (the admin's TLS certificate is not signed by a trusted CA: pass --ca FILE or set CANARYD_ADMIN_CA)`;
    case 'CERT_HAS_EXPIRED':
      return " (the admin's TLS certificate has expired)";
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return " (the admin's TLS certificate does not name this host)";
    case 'EPROTO':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return ' (TLS error: is the admin https://, and does the URL say so?)';
    case 'ECONNRESET':
      return ' (connection reset: an admin with admin.tls.clientAuth require needs --cert and --key)';
    default:
      return '';
  }
}

function readPem(path: string | undefined, flag: string): Buffer | undefined {
  if (path === undefined || path === '') return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`${flag}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

export class AdminClient {
  readonly base: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;
  readonly #tls: { ca?: Buffer; cert?: Buffer; key?: Buffer };

  /** Throws when a --ca/--cert/--key file cannot be read. */
  constructor(o: ClientOptions) {
    this.base = o.admin.replace(/\/+$/, '');
    this.#token = o.token || undefined;
    this.#timeoutMs = o.timeoutMs ?? 15_000;
    const t = o.tls ?? {};
    this.#tls = {};
    const ca = readPem(t.ca, '--ca');
    const cert = readPem(t.cert, '--cert');
    const key = readPem(t.key, '--key');
    if (ca) this.#tls.ca = ca;
    if (cert) this.#tls.cert = cert;
    if (key) this.#tls.key = key;
  }

  /** One HTTP exchange; rejects with the socket's error (its `code`), or a TimeoutError. */
  #send(
    method: string,
    url: string,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<{ status: number; text: string; statusText: string }> {
    return new Promise((resolve, reject) => {
      const u = new URL(url);
      const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(u, { method, headers, ...(u.protocol === 'https:' ? this.#tls : {}) }, (res: IncomingMessage) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, statusText: res.statusMessage ?? '' }));
        res.on('error', reject);
      });
      req.setTimeout(this.#timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { name: 'TimeoutError' })));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** The answer as the contract types it (contract/): the admin API serialises it through the same schema. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: { status: number; text: string; statusText: string };
    try {
      res = await this.#send(method, `${this.base}${path}`, headers, body === undefined ? undefined : JSON.stringify(body));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const why = err.name === 'TimeoutError' ? `no answer in ${this.#timeoutMs} ms` : `${err.code ?? err.message}${tlsHint(err.code)}`;
      throw new CtlError(`cannot reach the canaryd admin API at ${this.base}: ${why}`, 0);
    }
    const text = res.text;
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (res.status < 200 || res.status > 299) {
      const err = (json ?? {}) as Partial<ErrorBody>;
      const code = typeof err.error === 'string' ? err.error : null;
      let msg = typeof err.message === 'string' ? err.message : text.slice(0, 200) || res.statusText;
      if (res.status === 401) msg += ' (pass --token or set CANARYD_ADMIN_TOKEN)';
      if (res.status === 404 && code === 'CANARYD_ERR_NOT_FOUND' && msg.startsWith('no route'))
        msg += ' (this canaryd does not have that feature)';
      throw new CtlError(`${method} ${path}: ${res.status}${code ? ` ${code}` : ''}: ${msg}`, res.status, code);
    }
    return json as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  /** Opens the live event stream; resolves once open, rejects with a CtlError if refused. */
  events(onEvent: (e: CanarydEvent | HelloMessage) => void, onClose: () => void): Promise<{ close(): void }> {
    const url = `${this.base.replace(/^http/, 'ws')}/api/v1/events`;
    const ws = new WebSocket(url, ['canaryd.v1'], { headers: this.#token ? { authorization: `Bearer ${this.#token}` } : {}, ...this.#tls });
    let opened = false;
    return new Promise((resolve, reject) => {
      ws.once('open', () => {
        opened = true;
        resolve({ close: () => ws.close() });
      });
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => {
          let msg = body;
          try {
            msg = JSON.parse(body).message;
          } catch {
            /* not JSON */
          }
          reject(
            new CtlError(
              `event stream refused: ${res.statusCode}: ${msg}${res.statusCode === 401 ? ' (pass --token or set CANARYD_ADMIN_TOKEN)' : ''}`,
              res.statusCode ?? 0,
            ),
          );
        });
      });
      ws.on('error', (e) => {
        if (!opened) reject(new CtlError(`cannot open the event stream at ${url}: ${(e as NodeJS.ErrnoException).code ?? e.message}`, 0));
      });
      ws.on('message', (data) => {
        try {
          onEvent(JSON.parse(String(data)));
        } catch {
          /* ignore malformed */
        }
      });
      ws.on('close', onClose);
    });
  }
}
