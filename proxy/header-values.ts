/**
 * The two header values canaryd checks on every request: Host (a 400 when invalid, RFC 9112 §3.2) and
 * W3C traceparent (replaced when invalid or missing), plus the generator of new traceparents. Used by
 * proxy/headers.ts; no allocation per check.
 */
import { randomFillSync } from 'node:crypto';

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
  if (
    (idHex.startsWith('00000000', at) && isAllZero(idHex, at, at + 32)) ||
    (idHex.startsWith('00000000', at + 32) && isAllZero(idHex, at + 32, at + 48))
  )
    return newTraceparent();
  return `00-${idHex.slice(at, at + 32)}-${idHex.slice(at + 32, at + 48)}-01`;
}
