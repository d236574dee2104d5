/**
 * Matchers compiled once from config, used per request: CIDR sets, path globs, cookie lookup.
 * Nothing here allocates per call except the cookie value it returns.
 */
import { isIP } from 'node:net';

interface V4Range {
  kind: 4;
  net: number;
  mask: number;
}
interface V6Range {
  kind: 6;
  net: bigint;
  mask: bigint;
}

function v4ToInt(ip: string): number {
  const p = ip.split('.');
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}

function v6ToBigInt(ip: string): bigint {
  let s = ip;
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4tail) {
    const n = v4ToInt(v4tail[1]);
    s = s.slice(0, -v4tail[1].length) + ((n >>> 16).toString(16) + ':' + (n & 0xffff).toString(16));
  }
  const [head, tail] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail !== undefined ? 8 - h.length - t.length : 0;
  const parts = [...h, ...Array(fill).fill('0'), ...t];
  let v = 0n;
  for (const p of parts) v = (v << 16n) | BigInt(parseInt(p || '0', 16));
  return v;
}

/** A set of IPs/CIDRs, v4 and v6. IPv4-mapped IPv6 peers (::ffff:1.2.3.4) match v4 entries. */
export class CidrSet {
  #v4: V4Range[] = [];
  #v6: V6Range[] = [];
  constructor(entries: readonly string[]) {
    for (const e of entries) {
      const [ip, bitsStr] = e.split('/');
      const fam = isIP(ip);
      if (fam === 4) {
        const bits = bitsStr === undefined ? 32 : Number(bitsStr);
        const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
        this.#v4.push({ kind: 4, net: (v4ToInt(ip) & mask) >>> 0, mask });
      } else if (fam === 6) {
        const bits = BigInt(bitsStr === undefined ? 128 : Number(bitsStr));
        const mask = bits === 0n ? 0n : ((1n << 128n) - 1n) ^ ((1n << (128n - bits)) - 1n);
        this.#v6.push({ kind: 6, net: v6ToBigInt(ip) & mask, mask });
      } else {
        throw new Error(`not an IP or CIDR: ${e}`);
      }
    }
  }
  get size(): number {
    return this.#v4.length + this.#v6.length;
  }
  has(ip: string | undefined): boolean {
    if (!ip) return false;
    let addr = ip;
    if (addr.startsWith('::ffff:') && addr.includes('.')) addr = addr.slice(7);
    if (isIP(addr) === 4) {
      const n = v4ToInt(addr);
      for (const r of this.#v4) if ((n & r.mask) >>> 0 === r.net) return true;
      return false;
    }
    if (this.#v6.length === 0 || isIP(addr) !== 6) return false;
    const n = v6ToBigInt(addr);
    for (const r of this.#v6) if ((n & r.mask) === r.net) return true;
    return false;
  }
}

/**
 * A path matcher: a glob when the pattern has * or ?, else a prefix. In globs "*" stays inside one path
 * segment, "**" crosses segments, "?" is one character. Matching is on the path without the query.
 */
export function compilePathMatcher(pattern: string): (path: string) => boolean {
  if (!/[*?]/.test(pattern)) return (path) => path.startsWith(pattern);
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        re += '.*';
        i++;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  const rx = new RegExp(re + '$');
  return (path) => rx.test(path);
}

/** Value of one cookie from a Cookie header (RFC 6265 §5.4 shape), without parsing the others. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  let from = 0;
  while (from < header.length) {
    let end = header.indexOf(';', from);
    if (end === -1) end = header.length;
    let start = from;
    while (start < end && header.charCodeAt(start) === 32) start++;
    const eq = header.indexOf('=', start);
    if (eq !== -1 && eq < end && eq - start === name.length && header.startsWith(name, start)) {
      let v = header.slice(eq + 1, end).trim();
      if (v.length >= 2 && v[0] === '"' && v[v.length - 1] === '"') v = v.slice(1, -1);
      return v;
    }
    from = end + 1;
  }
  return undefined;
}

/** The path part of a request target (no query). */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
