/**
 * HTTP/2 request fields to the HTTP/1.1-shaped list the upstream request is built from (RFC 9113 §8.3):
 * pseudo-header fields go (":method" and ":path" travel as the request's method and target), ":authority"
 * becomes Host (§8.3.1: when both are present they must name the same authority). A request carrying a
 * connection-specific field (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade) or a TE
 * other than "trailers" is malformed (§8.2.2); nghttp2 already resets such a stream, this is the second
 * line, so no such field can ever be forwarded. `te: trailers` is reported apart: an HTTP/2 upstream gets it
 * (gRPC needs it), an HTTP/1.1 one does not (headers.ts).
 */

export interface H2RequestFields {
  raw: string[];
  /** the client sent `te: trailers` */
  teTrailers: boolean;
}

const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** The fields, or a string saying why the request is malformed. Field names arrive lowercase in HTTP/2. */
export function h2RequestFields(raw: readonly string[]): H2RequestFields | string {
  const out: string[] = [];
  let authority: string | null = null;
  let host: string | null = null;
  let teTrailers = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    if (name.charCodeAt(0) === 58 /* : */) {
      if (name === ':authority') authority = value;
      continue;
    }
    if (CONNECTION_SPECIFIC.has(name)) return `connection-specific field ${name} in an HTTP/2 request (RFC 9113 §8.2.2)`;
    if (name === 'te') {
      if (value.trim().toLowerCase() !== 'trailers') return `te other than "trailers" in an HTTP/2 request (RFC 9113 §8.2.2)`;
      teTrailers = true;
      continue;
    }
    if (name === 'host') {
      if (host !== null) return 'more than one host field';
      host = value;
      continue;
    }
    out.push(name, value);
  }
  if (authority !== null && host !== null && authority !== host)
    return `host ${JSON.stringify(host)} differs from :authority ${JSON.stringify(authority)} (RFC 9113 §8.3.1)`;
  const h = authority ?? host;
  if (h !== null) out.unshift('host', h);
  return { raw: out, teTrailers };
}
