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
import { templateProblems } from '../core/index.js';

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
  if (a.token !== '' && bytes < MIN_TOKEN_BYTES)
    out.push(
      `admin.token: must be at least ${MIN_TOKEN_BYTES} bytes when admin.listen (${a.listen}) is not a loopback address, got ${bytes}`,
    );
  if (a.allowUnauthenticated) out.push(`admin.allowUnauthenticated: only allowed when admin.listen is a loopback address, got ${a.listen}`);
  return out;
}

export function semanticProblems(c: Config, env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  if (c.fleet) {
    const url = c.fleet.redis || env.CANARYD_REDIS_URL || '';
    if (url === '') out.push('fleet.redis: empty and CANARYD_REDIS_URL is not set; give the Redis URL');
    else if (!/^rediss?:\/\//.test(url))
      out.push(`fleet.redis: must be a redis:// or rediss:// URL, got ${JSON.stringify(url.replace(/\/\/[^@/]*@/, '//***@'))}`);
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
  if (steps.length > 0 && steps[steps.length - 1] !== 100)
    out.push(
      `rollout.steps[${steps.length - 1}]: the last step must be 100 (a rollout ends with all traffic on the canary), got ${steps[steps.length - 1]}`,
    );
  for (const key of ['interval', 'analysisInterval'] as const) {
    if (c.rollout[key] === 0) out.push(`rollout.${key}: must be more than 0, got 0`);
  }
  c.rollout.critical.forEach((name, i) => {
    if ((CHECK_NAMES as readonly string[]).includes(name)) return;
    const guess = didYouMean(name, CHECK_NAMES);
    out.push(
      `rollout.critical[${i}]: no check is named ${JSON.stringify(name)}${guess ? `, did you mean ${guess}?` : ` (checks: ${CHECK_NAMES.join(', ')})`}`,
    );
  });
  if (c.rollout.scoring.marginal > c.rollout.scoring.pass)
    out.push(`rollout.scoring.marginal: must be <= rollout.scoring.pass (${c.rollout.scoring.pass}), got ${c.rollout.scoring.marginal}`);
  const hooks = new Set<string>();
  c.rollout.webhooks.forEach((h, i) => {
    if (hooks.has(h.name)) out.push(`rollout.webhooks[${i}].name: duplicate webhook name ${JSON.stringify(h.name)}`);
    hooks.add(h.name);
  });
  out.push(...adminProblems(c));
  out.push(...faultsProblems(c, env)); // faults
  out.push(...dependenciesProblems(c));
  out.push(...tlsProblems(c.listen, c.upstreams, { admin: c.admin.tls, metrics: c.metrics.tls }));
  // each worker would eject on its own, unseen by the primary's status, /readyz and rollout (docs/proxy.md)
  if (c.outlier.enabled && c.workers !== 1)
    out.push(`outlier.enabled: not supported with workers (${c.workers}) in this build; use workers: 1 or turn outlier ejection off`);
  out.push(...flagProblems(c.flags, validCidr)); // flags declared in the file
  out.push(...webhookProblems(c.rollout.webhooks)); // webhook delivery
  out.push(...prometheusProblems(c, env));
  return out;
}

/** What the schema cannot say about the Prometheus checks and finops (config/sections/prometheus.ts); kept here so that section file needs no Config type and no import cycle runs through config/schema.ts. */
function prometheusProblems(c: Config, env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  const checks = c.rollout.metrics;
  if (checks.length > 0 && c.analysis.prometheus === undefined)
    out.push('rollout.metrics: needs analysis.prometheus.url (the Prometheus the checks query)');
  const names = new Set<string>();
  checks.forEach((m, i) => {
    const at = `rollout.metrics[${i}]`;
    if (names.has(m.name)) out.push(`${at}.name: duplicate check name ${JSON.stringify(m.name)}`);
    names.add(m.name);
    for (const p of templateProblems(m.query)) out.push(`${at}.query: ${p}`);
    const compare = m.compare !== undefined;
    if (compare === (m.thresholdRange !== undefined)) out.push(`${at}: set exactly one of thresholdRange or compare`);
    if (m.thresholdRange && m.thresholdRange.min === undefined && m.thresholdRange.max === undefined)
      out.push(`${at}.thresholdRange: set min, max or both`);
    if (m.thresholdRange?.min !== undefined && m.thresholdRange.max !== undefined && m.thresholdRange.min > m.thresholdRange.max) {
      out.push(`${at}.thresholdRange.min: must be <= max (${m.thresholdRange.max}), got ${m.thresholdRange.min}`);
    }
    if (compare && m.maxDegradation === undefined) out.push(`${at}.maxDegradation: required with compare: baseline`);
    if (compare && m.direction === undefined)
      out.push(`${at}.direction: required with compare: baseline (lower-is-better or higher-is-better)`);
    if (!compare && (m.maxDegradation !== undefined || m.direction !== undefined))
      out.push(`${at}: maxDegradation and direction apply to compare: baseline only`);
    if (m.interval !== undefined && m.interval < 1000) out.push(`${at}.interval: must be at least 1s, got ${m.interval} ms`);
  });
  if (c.finops.prices !== undefined && c.analysis.prometheus === undefined)
    out.push('finops.prices: needs analysis.prometheus.url (the costs are read from Prometheus)');
  if (c.finops.check.enabled && c.finops.prices === undefined) out.push('finops.check.enabled: needs finops.prices');
  for (const k of ['cpu', 'memory', 'requests'] as const)
    for (const p of templateProblems(c.finops.sources[k])) out.push(`finops.sources.${k}: ${p}`);
  if (c.finops.interval < 1000) out.push(`finops.interval: must be at least 1s, got ${c.finops.interval} ms`);
  const p = c.analysis.prometheus;
  if (p?.bearerTokenEnv !== undefined && env[p.bearerTokenEnv] === undefined)
    out.push(`analysis.prometheus.bearerTokenEnv: the environment variable ${p.bearerTokenEnv} is not set`);
  if (p?.bearerTokenEnv !== undefined && p.bearerTokenFile !== undefined)
    out.push('analysis.prometheus: set bearerTokenEnv or bearerTokenFile, not both');
  return out;
}
