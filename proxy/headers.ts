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

/**
 * Header names are classified by length first, then compared byte by byte ignoring ASCII case: no
 * toLowerCase() string per header on the hot path (RFC 9110 §5.1: field names are case-insensitive).
 * `lower` must be lowercase letters and '-'; `c | 0x20` folds A-Z onto a-z and leaves '-' as it is.
 */
function nameIs(name: string, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) if ((name.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

function bufferIs(name: Buffer, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) if ((name[i] | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** What the request side does with a field. */
const enum Req {
  Keep,
  /** hop-by-hop: Connection, Keep-Alive, TE, Transfer-Encoding, Upgrade, Proxy-*, plus two of our own below */
  Drop,
  /** Connection and Upgrade: dropped, except on a WebSocket upgrade */
  UpgradeField,
  ForwardedFor,
  ForwardedProto,
  ForwardedHost,
  Via,
  Host,
  Traceparent,
  Tracestate,
}

/**
 * Request side. Dropped beside the RFC's list: Trailer (undici cannot send request trailers, so the
 * announcement goes too) and Expect (canaryd answers 100-continue itself, like Envoy's default; undici
 * does not send Expect).
 */
function requestField(name: string): Req {
  switch (name.length) {
    case 2:
      return nameIs(name, 'te') ? Req.Drop : Req.Keep;
    case 3:
      return nameIs(name, 'via') ? Req.Via : Req.Keep;
    case 4:
      return nameIs(name, 'host') ? Req.Host : Req.Keep;
    case 6:
      return nameIs(name, 'expect') ? Req.Drop : Req.Keep;
    case 7:
      return nameIs(name, 'upgrade') ? Req.UpgradeField : nameIs(name, 'trailer') ? Req.Drop : Req.Keep;
    case 10:
      return nameIs(name, 'connection') ? Req.UpgradeField : nameIs(name, 'keep-alive') ? Req.Drop : nameIs(name, 'tracestate') ? Req.Tracestate : Req.Keep;
    case 11:
      return nameIs(name, 'traceparent') ? Req.Traceparent : Req.Keep;
    case 14:
      return nameIs(name, 'http2-settings') ? Req.Drop : Req.Keep; // h2c's, hop-by-hop (RFC 7540 §3.2.1)
    case 15:
      return nameIs(name, 'x-forwarded-for') ? Req.ForwardedFor : Req.Keep;
    case 16:
      return nameIs(name, 'proxy-connection') ? Req.Drop : nameIs(name, 'x-forwarded-host') ? Req.ForwardedHost : Req.Keep;
    case 17:
      return nameIs(name, 'transfer-encoding') ? Req.Drop : nameIs(name, 'x-forwarded-proto') ? Req.ForwardedProto : Req.Keep;
    case 18:
      return nameIs(name, 'proxy-authenticate') ? Req.Drop : Req.Keep;
    case 19:
      return nameIs(name, 'proxy-authorization') ? Req.Drop : Req.Keep;
    default:
      return Req.Keep;
  }
}

/** What the response side does with a field. Trailer is kept (response trailers are forwarded). */
const enum Res {
  Keep,
  Drop,
  Connection,
  Via,
  Trailer,
  ContentLength,
}

function responseField(name: Buffer): Res {
  switch (name.length) {
    case 2:
      return bufferIs(name, 'te') ? Res.Drop : Res.Keep;
    case 3:
      return bufferIs(name, 'via') ? Res.Via : Res.Keep;
    case 7:
      return bufferIs(name, 'upgrade') ? Res.Drop : bufferIs(name, 'trailer') ? Res.Trailer : Res.Keep;
    case 10:
      return bufferIs(name, 'connection') ? Res.Connection : bufferIs(name, 'keep-alive') ? Res.Drop : Res.Keep;
    case 14:
      return bufferIs(name, 'content-length') ? Res.ContentLength : Res.Keep;
    case 16:
      return bufferIs(name, 'proxy-connection') ? Res.Drop : Res.Keep;
    case 17:
      return bufferIs(name, 'transfer-encoding') ? Res.Drop : Res.Keep;
    case 18:
      return bufferIs(name, 'proxy-authenticate') ? Res.Drop : Res.Keep;
    default:
      return Res.Keep;
  }
}

/** The field names a Connection value lists (RFC 9110 §7.6.1), lowercased; null when it names none besides close/keep-alive. */
function connectionOptions(value: string, into: Set<string> | null): Set<string> | null {
  if ((value.length === 10 && nameIs(value, 'keep-alive')) || (value.length === 5 && nameIs(value, 'close'))) return into;
  for (const t of value.split(',')) {
    const name = t.trim().toLowerCase();
    if (name && name !== 'close' && name !== 'keep-alive') (into ??= new Set()).add(name);
  }
  return into;
}

function connectionTokens(raw: readonly string[]): Set<string> | null {
  let tokens: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) if (raw[i].length === 10 && nameIs(raw[i], 'connection')) tokens = connectionOptions(raw[i + 1], tokens);
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

/** Random ids, hex-encoded 256 at a time: a new traceparent is then two substrings and a concatenation. */
const IDS_PER_FILL = 256;
const idBytes = Buffer.allocUnsafe(24 * IDS_PER_FILL);
let idHex = '';
let idPos = IDS_PER_FILL;

/** A new W3C traceparent (version 00, sampled flag set). */
export function newTraceparent(): string {
  if (idPos === IDS_PER_FILL) {
    randomFillSync(idBytes);
    idHex = idBytes.toString('hex');
    idPos = 0;
  }
  const at = idPos++ * 48;
  // an all-zero trace-id or parent-id is invalid (§3.2.2.3/4); 2^-64 odds, but checking costs nothing
  if ((idHex.startsWith('00000000', at) && isAllZero(idHex, at, at + 32)) || (idHex.startsWith('00000000', at + 32) && isAllZero(idHex, at + 32, at + 48))) return newTraceparent();
  return `00-${idHex.slice(at, at + 32)}-${idHex.slice(at + 32, at + 48)}-01`;
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
    const value = raw[i + 1];
    const kind = requestField(name);
    if (named !== null && kind !== Req.UpgradeField && named.has(name.toLowerCase())) continue;
    switch (kind) {
      case Req.Keep:
        break;
      case Req.Drop:
        continue;
      case Req.UpgradeField:
        if (ctx.upgrade) break;
        continue;
      case Req.ForwardedFor:
        xff = xff === null ? value : `${xff}, ${value}`;
        continue;
      case Req.Via:
        via = via === null ? value : `${via}, ${value}`;
        continue;
      case Req.ForwardedProto:
        haveProto = true;
        break;
      case Req.ForwardedHost:
        haveXHost = true;
        break;
      case Req.Host:
        if (host !== null || !isValidHost(value)) return null;
        host = value;
        if (ctx.authority) {
          out.push(name, ctx.authority);
          continue;
        }
        break;
      case Req.Traceparent:
        if (haveTrace || !isValidTraceparent(value)) continue; // invalid or repeated: replaced below
        haveTrace = true;
        break;
      case Req.Tracestate:
        traceState = true;
        break;
    }
    out.push(name, value);
  }
  if (host === null) {
    if (ctx.requireHost) return null;
    if (ctx.authority) out.push('host', ctx.authority);
  }
  out.push('x-forwarded-for', xff === null ? ctx.clientIp : `${xff}, ${ctx.clientIp}`);
  if (!haveProto) out.push('x-forwarded-proto', ctx.proto);
  if (!haveXHost && host !== null) out.push('x-forwarded-host', ctx.authority || host);
  out.push('via', via === null ? VIA : `${via}, ${VIA}`);
  if (!haveTrace) {
    if (traceState) dropField(out, 'tracestate');
    out.push('traceparent', newTraceparent());
  }
  return out;
}

const VIA = '1.1 canaryd';

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
    const kind = responseField(raw[i]);
    switch (kind) {
      case Res.Drop:
        continue;
      case Res.Connection:
        named = connectionOptions(raw[i + 1].toString('latin1'), named);
        continue;
      case Res.Via:
        via = via === null ? raw[i + 1].toString('latin1') : `${via}, ${raw[i + 1].toString('latin1')}`;
        continue;
      case Res.Trailer:
        trailer = true;
        break;
      case Res.ContentLength:
        length = true;
        break;
    }
    out.push(raw[i].toString('latin1'), raw[i + 1].toString('latin1'));
  }
  // fields named by Connection are hop-by-hop too (RFC 9110 §7.6.1); rare, so a second pass only then
  if (named !== null) for (const n of named) dropField(out, n);
  if (trailer && (!chunked || length)) dropField(out, 'trailer');
  out.push('via', via === null ? VIA : `${via}, ${VIA}`);
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
