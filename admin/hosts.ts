/**
 * The admin's Host allowlist, against DNS rebinding: a page on evil.example whose name is re-pointed at
 * 127.0.0.1 talks to the admin "same-origin", so the Origin check cannot see it; only the Host header still
 * says evil.example. Allowed by default:
 *  - IP literals (127.0.0.1, [::1], a pod IP from a kubelet probe or a Prometheus scrape): rebinding needs
 *    a name the attacker controls, a request addressed to an IP is not one;
 *  - `localhost` and `*.localhost` (RFC 6761: browsers resolve them to loopback themselves);
 *  - the host name of `admin.listen`, if it is a name;
 *  - each `admin.allowedHosts` entry: an exact name, `*.example.com` (any subdomain), or `*` (any Host:
 *    the check is off — only behind something else that checks Host).
 * Requests without a Host header (HTTP/1.0 tools) are not browsers and pass.
 */
import { isIP } from 'node:net';

/** The host part of a Host header, lower-case, without port, brackets or a trailing dot. */
export function hostOf(header: string): string {
  let h = header.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    h = end > 0 ? h.slice(1, end) : h;
  } else {
    const colon = h.lastIndexOf(':');
    if (colon >= 0 && h.indexOf(':') === colon) h = h.slice(0, colon);
  }
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

export type HostCheck = (hostHeader: string | undefined) => boolean;

export function hostAllowlist(listenHost: string, allowedHosts: readonly string[]): HostCheck {
  const exact = new Set<string>(['localhost']);
  const suffixes: string[] = ['.localhost'];
  let any = false;
  const listen = hostOf(listenHost.includes(':') && !listenHost.startsWith('[') && isIP(listenHost) === 6 ? `[${listenHost}]` : listenHost);
  if (listen && isIP(listen) === 0) exact.add(listen);
  for (const entry of allowedHosts) {
    const e = entry.trim().toLowerCase();
    if (e === '*') any = true;
    else if (e.startsWith('*.')) suffixes.push(e.slice(1));
    else exact.add(hostOf(e));
  }
  return (header) => {
    if (any || header === undefined) return true;
    const h = hostOf(header);
    if (isIP(h) !== 0 || exact.has(h)) return true;
    for (const s of suffixes) if (h.endsWith(s)) return true;
    return false;
  };
}
