/**
 * The admin API client of `canaryd ctl`: node's fetch with the bearer token, JSON both ways, and one error
 * type carrying the HTTP status and the API's error code, so commands print a clear message and exit
 * non-zero. The event stream uses the `ws` package (node 20 has no WebSocket client).
 */
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
}

export class AdminClient {
  readonly base: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;

  constructor(o: ClientOptions) {
    this.base = o.admin.replace(/\/+$/, '');
    this.#token = o.token || undefined;
    this.#timeoutMs = o.timeoutMs ?? 15_000;
  }

  /** The answer as the contract types it (contract/): the admin API serialises it through the same schema. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      const why =
        err.name === 'TimeoutError' ? `no answer in ${this.#timeoutMs} ms` : (err.cause?.code ?? err.cause?.message ?? err.message);
      throw new CtlError(`cannot reach the canaryd admin API at ${this.base}: ${why}`, 0);
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (!res.ok) {
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
    const ws = new WebSocket(url, ['canaryd.v1'], { headers: this.#token ? { authorization: `Bearer ${this.#token}` } : {} });
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
