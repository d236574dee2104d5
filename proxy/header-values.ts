/**
 * The two header values canaryd checks on every request: Host (a 400 when invalid, RFC 9112 §3.2) and
 * W3C traceparent (dropped when invalid; tracing/ parses it too). Used by proxy/headers.ts; no allocation
 * per check.
 */
/** Host validation (RFC 9112 §3.2, RFC 3986 §3.2.2): uri-host [ ":" port ]. */
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

// W3C Trace Context (https://www.w3.org/TR/trace-context/ §3.2)
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
