/**
 * Header rewriting between client and upstream (RFC 9110 §7.6.1): hop-by-hop fields are dropped —
 * Connection and every field it names, Keep-Alive, TE, Transfer-Encoding, Upgrade (outside upgrades),
 * Proxy-Connection, Proxy-Authenticate/-Authorization — X-Forwarded-For/-Proto/-Host are appended, Via is
 * added (§7.6.3), and a W3C traceparent is passed on or created. Works on Node's rawHeaders (a flat
 * [name, value, ...] array) so case and repeated fields (Set-Cookie, Cookie) are kept as sent.
 *
 * TE is dropped entirely, "trailers" included: RFC 9110 §10.1.4 requires a sender of TE to name it in
 * Connection, and undici writes its own Connection field. Upstreams send trailers on chunked responses
 * anyway (Node, Go, Envoy do), and canaryd forwards them.
 *
 * The request side also validates Host (RFC 9112 §3.2: more than one Host, an invalid Host, or none on an
 * HTTP/1.1 request is a 400) in the same pass, so the hot path reads the headers once.
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
  'expect', // canaryd answers 100-continue itself, like Envoy's default (undici does not send Expect)
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
  /**
   * The authority of an absolute-form request target: it replaces the received Host (RFC 9112 §3.2.2:
   * "a proxy ... MUST generate a new Host field value based on the received request-target").
   */
  authority?: string | null;
  /** HTTP/1.1 requests must carry Host (RFC 9112 §3.2); HTTP/1.0 ones may omit it */
  requireHost?: boolean;
}

// --- Host validation (RFC 9112 §3.2, RFC 3986 §3.2.2): uri-host [ ":" port ] ---
/** Characters allowed in a Host value: reg-name (unreserved, pct-encoded, sub-delims), IP-literal brackets, ':' */
const HOST_CHAR = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%:[]") HOST_CHAR[c.charCodeAt(0)] = 1;

export function isValidHost(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c >= 128 || HOST_CHAR[c] === 0) return false;
  }
  return true;
}

// --- W3C Trace Context (https://www.w3.org/TR/trace-context/ §3.2) ---
function isLowerHex(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

function isAllZero(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) !== 48) return false;
  return true;
}

/**
 * version "-" trace-id "-" parent-id "-" flags, all lowercase hex. Version ff is invalid; 00 is exactly 55
 * characters; a higher (future) version may carry more fields after a "-" (§3.2.4). All-zero ids are invalid.
 */
export function isValidTraceparent(v: string): boolean {
  if (v.length < 55) return false;
  if (v.charCodeAt(2) !== 45 || v.charCodeAt(35) !== 45 || v.charCodeAt(52) !== 45) return false;
  if (!isLowerHex(v, 0, 2) || v.startsWith('ff')) return false;
  if (v.length > 55 && (v.startsWith('00') || v.charCodeAt(55) !== 45)) return false;
  if (!isLowerHex(v, 3, 35) || !isLowerHex(v, 36, 52) || !isLowerHex(v, 53, 55)) return false;
  return !isAllZero(v, 3, 35) && !isAllZero(v, 36, 52);
}

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
  // a zero id is invalid (§3.2.2.3/4); 2^-64 odds, but a new pool entry costs nothing
  if (isAllZero(s, 0, 32) || isAllZero(s, 32, 48)) return newTraceparent();
  return `00-${s.slice(0, 32)}-${s.slice(32, 48)}-01`;
}

/**
 * Upstream request headers as a flat array for undici, or null when the request's Host is missing (HTTP/1.1),
 * repeated or invalid (RFC 9112 §3.2: the caller answers 400). Host is passed through as the client sent it
 * (virtual hosting keeps working), like Envoy and unlike nginx's default. A traceparent that is missing or
 * invalid is replaced by a new one, and tracestate goes with the invalid one (W3C trace-context §3.3.1.1: a
 * tracestate is only meaningful beside the traceparent it came with).
 */
export function upstreamRequestHeaders(raw: readonly string[], ctx: ForwardContext): string[] | null {
  const named = connectionTokens(raw);
  const out: string[] = [];
  let xff: string | null = null;
  let haveProto = false;
  let haveXHost = false;
  let host: string | null = null;
  let via: string | null = null;
  let haveTrace = false;
  let traceState = false;
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
        if (host !== null || !isValidHost(raw[i + 1])) return null;
        host = raw[i + 1];
        if (ctx.authority) {
          out.push(name, ctx.authority);
          continue;
        }
        break;
      case 'traceparent':
        if (haveTrace || !isValidTraceparent(raw[i + 1])) continue; // invalid or repeated: replaced below
        haveTrace = true;
        break;
      case 'tracestate':
        traceState = true;
        break;
    }
    out.push(name, raw[i + 1]);
  }
  if (host === null) {
    if (ctx.requireHost) return null;
    if (ctx.authority) out.push('host', ctx.authority);
  }
  out.push('x-forwarded-for', xff === null ? ctx.clientIp : `${xff}, ${ctx.clientIp}`);
  if (!haveProto) out.push('x-forwarded-proto', ctx.proto);
  if (!haveXHost && host !== null) out.push('x-forwarded-host', ctx.authority || host);
  out.push('via', via === null ? '1.1 canaryd' : `${via}, 1.1 canaryd`);
  if (!haveTrace) {
    if (traceState) dropField(out, 'tracestate');
    out.push('traceparent', newTraceparent());
  }
  return out;
}

/** Removes every `name` field (lowercase) from a flat header array, in place. Rare paths only. */
function dropField(out: string[], name: string): void {
  let w = 0;
  for (let r = 0; r < out.length; r += 2) {
    if (out[r].toLowerCase() === name) continue;
    out[w++] = out[r];
    out[w++] = out[r + 1];
  }
  out.length = w;
}

/**
 * Response headers for the client from undici's raw Buffer pairs: hop-by-hop dropped, Via appended, the
 * version header added. Returns a flat array that res.writeHead accepts as-is. `chunked` says whether the
 * client response can use chunked framing (HTTP/1.1 client, a body allowed); when it cannot, or when the
 * upstream sent Content-Length, trailers cannot follow, so the Trailer announcement goes too (RFC 9110 §6.6.2;
 * Node refuses to write one on a response that is not chunked).
 */
export function clientResponseHeaders(raw: Buffer[], versionHeader: string | null, chunked = true): string[] {
  const out: string[] = [];
  let named: Set<string> | null = null;
  let via: string | null = null;
  let trailer = false;
  let length = false;
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
    if (lower === 'trailer') trailer = true;
    else if (lower === 'content-length') length = true;
    out.push(name, raw[i + 1].toString('latin1'));
  }
  if (trailer && (!chunked || length)) dropField(out, 'trailer');
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

/** Headers of an informational (1xx) response as an object, for res.writeEarlyHints. */
export function headersObject(raw: Buffer[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toString('latin1').toLowerCase();
    const v = raw[i + 1].toString('latin1');
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}
