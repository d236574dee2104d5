/**
 * How header rewriting (proxy/headers.ts) classifies a field name, request side and response side, and the
 * field names a Connection header lists (RFC 9110 §7.6.1). Split out of headers.ts so each file reads in one
 * sitting; the hot path still classifies each name with one switch on its length.
 */
/**
 * Header names are classified by length first, then compared byte by byte ignoring ASCII case: no
 * toLowerCase() string per header on the hot path (RFC 9110 §5.1: field names are case-insensitive).
 * `lower` must be lowercase letters and '-'; `c | 0x20` folds A-Z onto a-z and leaves '-' as it is.
 */
export function nameIs(name: string, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) if ((name.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

export function bufferIs(name: Buffer, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) if ((name[i] | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** What the request side does with a field. */
export const enum Req {
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
export function requestField(name: string): Req {
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
      return nameIs(name, 'connection')
        ? Req.UpgradeField
        : nameIs(name, 'keep-alive')
          ? Req.Drop
          : nameIs(name, 'tracestate')
            ? Req.Tracestate
            : Req.Keep;
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
export const enum Res {
  Keep,
  Drop,
  Connection,
  Via,
  Trailer,
  ContentLength,
}

export function responseField(name: Buffer): Res {
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
export function connectionOptions(value: string, into: Set<string> | null): Set<string> | null {
  if ((value.length === 10 && nameIs(value, 'keep-alive')) || (value.length === 5 && nameIs(value, 'close'))) return into;
  for (const t of value.split(',')) {
    const name = t.trim().toLowerCase();
    if (name && name !== 'close' && name !== 'keep-alive') (into ??= new Set()).add(name);
  }
  return into;
}

export function connectionTokens(raw: readonly string[]): Set<string> | null {
  let tokens: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2)
    if (raw[i].length === 10 && nameIs(raw[i], 'connection')) tokens = connectionOptions(raw[i + 1], tokens);
  return tokens;
}
