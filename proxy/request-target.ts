/** Request targets (RFC 9112 §3.2) and the raw answers canaryd writes on a socket no response object owns. */

/**
 * An absolute-form request target (RFC 9112 §3.2.2) split into its authority and the origin-form to forward
 * (an empty path becomes "/", §3.2.1). Null when `url` is not an http(s) absolute URI with an authority.
 */
export function splitAbsoluteForm(url: string): { authority: string; originForm: string } | null {
  const lower = url.slice(0, 8).toLowerCase();
  const from = lower.startsWith('http://') ? 7 : lower.startsWith('https://') ? 8 : -1;
  if (from < 0) return null;
  let end = from;
  while (end < url.length) {
    const c = url.charCodeAt(end);
    if (c === 47 /* / */ || c === 63 /* ? */ || c === 35 /* # */) break;
    end++;
  }
  const authority = url.slice(from, end);
  if (authority === '' || authority.includes('@')) return null; // userinfo is deprecated in http(s) URIs (RFC 9110 §4.2.4)
  const rest = url.slice(end);
  if (rest.includes('#')) return null;
  return { authority, originForm: rest === '' ? '/' : rest.charCodeAt(0) === 63 ? `/${rest}` : rest };
}

/** What canaryd answers to OPTIONS * itself: undici can only send origin-form targets, and the question is about canaryd. */
export const OPTIONS_ALLOW = 'GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS';

/** A complete JSON error response with Connection: close, for sockets outside a ServerResponse. */
export function rawErrorResponse(status: number, reason: string, code: string, message: string, extra = ''): string {
  const body = JSON.stringify({ error: code, message });
  return `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-canaryd-error: ${code}\r\n${extra}connection: close\r\n\r\n${body}`;
}
