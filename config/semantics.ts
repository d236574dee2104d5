/** Checks a schema cannot express: one-of choices, CIDR syntax, admin exposure without a token. */
import { isIP } from 'node:net';
import type { Config } from './schema.js';
import { faultsProblems } from './sections/faults.js';
import { dependenciesProblems } from './sections/dependencies.js';
import { listenSettings, tlsProblems } from './sections/tls.js';
import { flagProblems } from './sections/flags.js';
import { CHECK_NAMES } from './sections/check-names.js';
import { didYouMean } from './suggest.js';
import { webhookProblems } from './sections/webhooks.js';
import { prometheusProblems } from './sections/prometheus.js';

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\./.test(h);
}

export function splitHostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  return { host: addr.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(addr.slice(i + 1)) };
}

export function validCidr(s: string): boolean {
  const [ip, bits, extra] = s.split('/');
  if (extra !== undefined) return false;
  const fam = isIP(ip);
  if (fam === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d+$/.test(bits)) return false;
  return Number(bits) <= (fam === 4 ? 32 : 128);
}

/** Off loopback the admin needs a real secret: a token (>= 32 bytes) or a token file; never tokenless. */
export const MIN_TOKEN_BYTES = 32;
function adminProblems(c: Config): string[] {
  const out: string[] = [];
  const a = c.admin;
  if (a.token !== '' && a.tokenFile !== '') out.push('admin.tokenFile: set admin.token or admin.tokenFile, not both');
  if (isLoopbackHost(splitHostPort(a.listen).host)) return out;
  if (a.token === '' && a.tokenFile === '') out.push(`admin.token: required when admin.listen (${a.listen}) is not a loopback address`);
  const bytes = Buffer.byteLength(a.token);
  if (a.token !== '' && bytes < MIN_TOKEN_BYTES) out.push(`admin.token: must be at least ${MIN_TOKEN_BYTES} bytes when admin.listen (${a.listen}) is not a loopback address, got ${bytes}`);
  if (a.allowUnauthenticated) out.push(`admin.allowUnauthenticated: only allowed when admin.listen is a loopback address, got ${a.listen}`);
  return out;
}

export function semanticProblems(c: Config, env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  if (c.fleet) {
    const url = c.fleet.redis || env.CANARYD_REDIS_URL || '';
    if (url === '') out.push('fleet.redis: empty and CANARYD_REDIS_URL is not set; give the Redis URL');
    else if (!/^rediss?:\/\//.test(url)) out.push(`fleet.redis: must be a redis:// or rediss:// URL, got ${JSON.stringify(url.replace(/\/\/[^@/]*@/, '//***@'))}`);
  }
  for (const key of ['listen', 'admin.listen'] as const) {
    const addr = key === 'listen' ? listenSettings(c.listen).address : c.admin.listen;
    const { port } = splitHostPort(addr);
    if (port > 65535) out.push(`${key}: port must be <= 65535, got ${port}`);
  }
  for (const v of ['baseline', 'canary'] as const) {
    try {
      new URL(c.upstreams[v].url);
    } catch {
      out.push(`upstreams.${v}.url: must be a valid URL, got ${JSON.stringify(c.upstreams[v].url)}`);
    }
  }
  const sticky = c.routing.sticky;
  if (sticky && (sticky.header === undefined) === (sticky.cookie === undefined)) {
    out.push('routing.sticky: set exactly one of header or cookie');
  }
  const names = new Set<string>();
  c.routing.rules.forEach((r, i) => {
    if (names.has(r.name)) out.push(`routing.rules[${i}].name: duplicate rule name ${JSON.stringify(r.name)}`);
    names.add(r.name);
    r.match.ip?.forEach((ip, j) => {
      if (!validCidr(ip)) out.push(`routing.rules[${i}].match.ip[${j}]: must be an IP or CIDR, got ${JSON.stringify(ip)}`);
    });
  });
  c.proxy.trustProxy.forEach((ip, j) => {
    if (!validCidr(ip)) out.push(`proxy.trustProxy[${j}]: must be an IP or CIDR, got ${JSON.stringify(ip)}`);
  });
  c.rollout.steps.forEach((w, i) => {
    if (i > 0 && w <= c.rollout.steps[i - 1]) out.push(`rollout.steps[${i}]: steps must rise, got ${w} after ${c.rollout.steps[i - 1]}`);
  });
  const steps = c.rollout.steps;
  if (steps.length > 0 && steps[steps.length - 1] !== 100) out.push(`rollout.steps[${steps.length - 1}]: the last step must be 100 (a rollout ends with all traffic on the canary), got ${steps[steps.length - 1]}`);
  for (const key of ['interval', 'analysisInterval'] as const) {
    if (c.rollout[key] === 0) out.push(`rollout.${key}: must be more than 0, got 0`);
  }
  c.rollout.critical.forEach((name, i) => {
    if ((CHECK_NAMES as readonly string[]).includes(name)) return;
    const guess = didYouMean(name, CHECK_NAMES);
    out.push(`rollout.critical[${i}]: no check is named ${JSON.stringify(name)}${guess ? `, did you mean ${guess}?` : ` (checks: ${CHECK_NAMES.join(', ')})`}`);
  });
  if (c.rollout.scoring.marginal > c.rollout.scoring.pass) out.push(`rollout.scoring.marginal: must be <= rollout.scoring.pass (${c.rollout.scoring.pass}), got ${c.rollout.scoring.marginal}`);
  const hooks = new Set<string>();
  c.rollout.webhooks.forEach((h, i) => {
    if (hooks.has(h.name)) out.push(`rollout.webhooks[${i}].name: duplicate webhook name ${JSON.stringify(h.name)}`);
    hooks.add(h.name);
  });
  out.push(...adminProblems(c));
  out.push(...faultsProblems(c, env)); // faults
  out.push(...dependenciesProblems(c));
  out.push(...tlsProblems(c.listen, c.upstreams));
  out.push(...flagProblems(c.flags, validCidr)); // flags declared in the file
  out.push(...webhookProblems(c.rollout.webhooks)); // webhook delivery
  out.push(...prometheusProblems(c, env));
  return out;
}
