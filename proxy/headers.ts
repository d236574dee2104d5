/**
 * Header rewriting between client and upstream (RFC 9110 §7.6.1): hop-by-hop fields are dropped —
 * Connection and every field it names, Keep-Alive, TE, Transfer-Encoding, Upgrade (outside upgrades),
 * Proxy-Connection, Proxy-Authenticate/-Authorization — X-Forwarded-For/-Proto/-Host are appended, Via is
 * added (§7.6.3), and a valid W3C traceparent is passed on (or replaced by the tracing stage's). Works on Node's rawHeaders (a flat
 * [name, value, ...] array) so case and repeated fields (Set-Cookie, Cookie) are kept as sent.
 *
 * TE is dropped entirely, "trailers" included: RFC 9110 §10.1.4 requires a sender of TE to name it in
 * Connection, and undici writes its own Connection field. Upstreams send trailers on chunked responses
 * anyway (Node, Go, Envoy do), and canaryd forwards them.
 *
 * The request side also validates Host (RFC 9112 §3.2: more than one Host, an invalid Host, or none on an
 * HTTP/1.1 request is a 400) in the same pass, so the hot path reads the headers once.
 */
import { connectionOptions, connectionTokens, Req, requestField, Res, responseField } from './header-fields.js';
import { isValidHost, isValidTraceparent } from './header-values.js';

export { isValidTraceparent } from './header-values.js';

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
  /**
   * The traceparent to forward instead of the received one (the tracing stage's: its span is the parent, its
   * sampling decision the flag). null: a valid received traceparent is passed on as it came, none is made up.
   */
  traceparent?: string | null;
}

/**
 * Upstream request headers as a flat array for undici, or null when the request's Host is missing (HTTP/1.1),
 * repeated or invalid (RFC 9112 §3.2: the caller answers 400). Host is passed through as the client sent it
 * (virtual hosting keeps working), like Envoy and unlike nginx's default. An invalid (or repeated) traceparent
 * is dropped, and tracestate goes with an invalid one (W3C trace-context §3.3.1.1: a tracestate is only
 * meaningful beside the traceparent it came with). Without tracing none is created: a made-up one with the
 * sampled flag set forced every downstream parent-based sampler to record every request, and one with it
 * unset would stop them recording any; with no traceparent the app's own sampler decides, as it would
 * without canaryd (Envoy does the same). With tracing on, `ctx.traceparent` is forwarded instead.
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
        if (haveTrace || !isValidTraceparent(value)) continue; // invalid or repeated: dropped
        haveTrace = true;
        if (ctx.traceparent) continue; // the tracing stage's goes at the end instead
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
  if (!haveTrace && traceState) dropField(out, 'tracestate');
  // last, so the tracing stage finds it at once when it rewrites the parent span id per upstream attempt
  if (ctx.traceparent) out.push('traceparent', ctx.traceparent);
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

/** Flat field pairs as an object with lowercase names (res.writeEarlyHints, an HTTP/2 stream's respond). */
export function headersObject(raw: ReadonlyArray<Buffer | string>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toString('latin1').toLowerCase();
    const v = raw[i + 1].toString('latin1');
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}
