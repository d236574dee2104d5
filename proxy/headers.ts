/**
 * Header rewriting between client and upstream (RFC 9110 §7.6.1): hop-by-hop fields are dropped —
 * Connection and every field it names, Keep-Alive, TE, Transfer-Encoding, Upgrade (outside upgrades),
 * Proxy-Connection, Proxy-Authenticate/-Authorization — X-Forwarded-For/-Proto/-Host are appended, Via is
 * added (§7.6.3), and a W3C traceparent is passed on or created. Works on Node's rawHeaders (a flat
 * [name, value, ...] array) so case and repeated fields (Set-Cookie, Cookie) are kept as sent.
 */
import { randomFillSync } from 'node:crypto';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'te',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'trailer', // request side: undici cannot send request trailers, so the announcement must go too
  'expect', // canaryd answers 100-continue itself (undici does not forward Expect)
]);

/** Response side keeps Trailer (we forward response trailers) but drops the rest. */
const HOP_BY_HOP_RESPONSE = new Set(['connection', 'keep-alive', 'te', 'transfer-encoding', 'upgrade', 'proxy-connection', 'proxy-authenticate']);

function connectionTokens(raw: readonly string[]): Set<string> | null {
  let tokens: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 10 && raw[i].toLowerCase() === 'connection') {
      for (const t of raw[i + 1].split(',')) {
        const name = t.trim().toLowerCase();
        if (name && name !== 'close' && name !== 'keep-alive') (tokens ??= new Set()).add(name);
      }
    }
  }
  return tokens;
}

export interface ForwardContext {
  clientIp: string;
  proto: 'http' | 'https';
  /** keep Upgrade/Connection: upgrade (WebSocket) */
  upgrade?: boolean;
}

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const idPool = Buffer.allocUnsafe(24 * 256);
let idPos = idPool.length;

/** A new W3C traceparent (version 00, sampled flag set). Ids come from a refilled pool of random bytes. */
export function newTraceparent(): string {
  if (idPos + 24 > idPool.length) {
    randomFillSync(idPool);
    idPos = 0;
  }
  const s = idPool.toString('hex', idPos, idPos + 24);
  idPos += 24;
  return `00-${s.slice(0, 32)}-${s.slice(32, 48)}-01`;
}

/**
 * Upstream request headers as a flat array for undici. Host is passed through as the client sent it
 * (virtual hosting keeps working), like Envoy and unlike nginx's default.
 */
export function upstreamRequestHeaders(raw: readonly string[], ctx: ForwardContext): string[] {
  const named = connectionTokens(raw);
  const out: string[] = [];
  let xff: string | null = null;
  let haveProto = false;
  let haveXHost = false;
  let host: string | null = null;
  let via: string | null = null;
  let haveTrace = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || (named !== null && named.has(lower))) {
      if (ctx.upgrade && (lower === 'upgrade' || lower === 'connection')) out.push(name, raw[i + 1]);
      continue;
    }
    switch (lower) {
      case 'x-forwarded-for':
        xff = xff === null ? raw[i + 1] : `${xff}, ${raw[i + 1]}`;
        continue;
      case 'via':
        via = via === null ? raw[i + 1] : `${via}, ${raw[i + 1]}`;
        continue;
      case 'x-forwarded-proto':
        haveProto = true;
        break;
      case 'x-forwarded-host':
        haveXHost = true;
        break;
      case 'host':
        host = raw[i + 1];
        break;
      case 'traceparent':
        if (!TRACEPARENT.test(raw[i + 1])) continue; // invalid: replaced below (W3C trace-context §4.3)
        haveTrace = true;
        break;
    }
    out.push(name, raw[i + 1]);
  }
  out.push('x-forwarded-for', xff === null ? ctx.clientIp : `${xff}, ${ctx.clientIp}`);
  if (!haveProto) out.push('x-forwarded-proto', ctx.proto);
  if (!haveXHost && host !== null) out.push('x-forwarded-host', host);
  out.push('via', via === null ? '1.1 canaryd' : `${via}, 1.1 canaryd`);
  if (!haveTrace) out.push('traceparent', newTraceparent());
  return out;
}

/**
 * Response headers for the client from undici's raw Buffer pairs: hop-by-hop dropped, Via appended, the
 * version header added. Returns a flat array that res.writeHead accepts as-is.
 */
export function clientResponseHeaders(raw: Buffer[], versionHeader: string | null): string[] {
  const out: string[] = [];
  let named: Set<string> | null = null;
  let via: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i].toString('latin1').toLowerCase();
    if (lower === 'connection') {
      for (const t of raw[i + 1].toString('latin1').split(',')) {
        const n = t.trim().toLowerCase();
        if (n) (named ??= new Set()).add(n);
      }
    }
  }
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toString('latin1');
    const lower = name.toLowerCase();
    if (HOP_BY_HOP_RESPONSE.has(lower) || (named !== null && named.has(lower))) continue;
    if (lower === 'via') {
      via = via === null ? raw[i + 1].toString('latin1') : `${via}, ${raw[i + 1].toString('latin1')}`;
      continue;
    }
    out.push(name, raw[i + 1].toString('latin1'));
  }
  out.push('via', via === null ? '1.1 canaryd' : `${via}, 1.1 canaryd`);
  if (versionHeader !== null) out.push('x-canaryd-version', versionHeader);
  return out;
}

/** Trailers from undici's raw Buffer pairs, as an object for res.addTrailers. */
export function trailersObject(raw: ReadonlyArray<Buffer | string> | null | undefined): Record<string, string> | null {
  if (!raw || raw.length === 0) return null;
  const out: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) out[raw[i].toString('latin1')] = raw[i + 1].toString('latin1');
  return out;
}
