/**
 * The dashboard's view of the admin API: same-origin fetch with the bearer token from sessionStorage
 * (never localStorage: it leaves with the tab), and the WebSocket event stream with the token offered as a
 * "bearer.<base64url>" subprotocol (browsers cannot set headers on a WebSocket). Routes of engines that are
 * not there (404) are reported as missing rather than as errors.
 */
import type { CanarydEvent, ErrorBody, HelloMessage } from '../../../contract/index.js';

const TOKEN_KEY = 'canaryd.adminToken';

export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/**
 * A link may hand the tab its token in the fragment (`/#token=...`, printed by `npm run demo`): fragments
 * are never sent to a server or written to access logs. It is moved into sessionStorage and wiped from the
 * address bar and history at once.
 */
export function adoptTokenFromUrl(): void {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!m) return;
  setToken(decodeURIComponent(m[1]));
  history.replaceState(null, '', location.pathname + location.search);
}

/** An answer: the contract's type when ok, else the error body (null when there was none). */
export type ApiResult<T> =
  | { status: number; ok: true; body: T; missing: false }
  | {
      status: number;
      ok: false;
      body: Partial<ErrorBody> | null;
      /** the route does not exist on this canaryd (e.g. no rollout controller) */
      missing: boolean;
    };

export async function api<T>(method: string, path: string, body?: unknown): Promise<ApiResult<T>> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = getToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch (e) {
    return { status: 0, ok: false, body: { error: 'NETWORK', message: String(e) }, missing: false };
  }
  let parsed: unknown = null;
  const text = await res.text();
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { message: text };
  }
  // the admin API serialises each answer through the contract's schema for it
  if (res.ok) return { status: res.status, ok: true, body: parsed as T, missing: false };
  const err = parsed as Partial<ErrorBody> | null;
  const missing = res.status === 404 && err?.error === 'CANARYD_ERR_NOT_FOUND' && String(err?.message ?? '').startsWith('no route');
  return { status: res.status, ok: false, body: err, missing };
}

function base64url(s: string): string {
  const bytes = new TextEncoder().encode(s);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export interface EventStream {
  close(): void;
}

/** Connects to /api/v1/events and reconnects with backoff, resuming after the last seq seen. */
export function openEvents(onEvent: (e: CanarydEvent | HelloMessage) => void, onState: (up: boolean) => void): EventStream {
  let ws: WebSocket | null = null;
  let lastSeq = -1;
  let delay = 500;
  let closed = false;
  let timer: number | undefined;
  const connect = () => {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = lastSeq >= 0 ? `?since=${lastSeq}` : '';
    const token = getToken();
    const protocols = token ? ['canaryd.v1', `bearer.${base64url(token)}`] : ['canaryd.v1'];
    ws = new WebSocket(`${proto}//${location.host}/api/v1/events${q}`, protocols);
    ws.onopen = () => {
      delay = 500;
      onState(true);
    };
    ws.onmessage = (m) => {
      let e: CanarydEvent | HelloMessage;
      try {
        e = JSON.parse(String(m.data)) as CanarydEvent | HelloMessage;
      } catch {
        return;
      }
      if (e.type !== 'hello' && e.type !== 'snapshot' && typeof e.seq === 'number') lastSeq = Math.max(lastSeq, e.seq);
      if (e.type === 'hello' && lastSeq < 0) lastSeq = 0;
      onEvent(e);
    };
    ws.onclose = () => {
      onState(false);
      if (closed) return;
      timer = window.setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10_000);
    };
  };
  connect();
  return {
    close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      ws?.close();
    },
  };
}
