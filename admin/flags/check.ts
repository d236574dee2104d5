/**
 * The flag check: "is flag K on for a request with these attributes, and where would that request go?".
 * It answers from the real TrafficSplitter, whose pick() takes a request's attributes as well as a live
 * request, and from the flag compiled by the router's own compiler (proxy/rules.ts): the answer cannot
 * drift from what the proxy does (config rules, then flags, then sticky weights).
 */
import { isIP } from 'node:net';
import { CanarydError, type HeaderBag, type VersionName } from '../../core/index.js';
import {
  compileRule,
  stickyBucket,
  stickyThreshold,
  STICKY_BUCKETS,
  USER_ID_HEADER,
  type RequestAttributes,
  type RouteChoice,
} from '../../proxy/index.js';
import { flagRule, RULE_PREFIX, type Flag } from './model.js';

/** The part of the TrafficSplitter the check asks. */
export interface RouteProbe {
  pick(attrs: RequestAttributes): RouteChoice;
  userOf(headers: HeaderBag): string | undefined;
  readonly sticky: boolean;
  getWeights(): { canary: number };
}

export interface CheckInput {
  userId?: string;
  ip?: string;
  path?: string;
  method?: string;
}

export interface CheckResult {
  key: string;
  kind: Flag['kind'];
  /** the flag's target version */
  flagVersion: VersionName;
  /** switched on and not archived */
  active: boolean;
  /** the attributes satisfy the flag's condition (whether or not it is on) */
  matches: boolean;
  /** the flag is on for these attributes: active && matches */
  enabled: boolean;
  reason: string;
  route: {
    /** null when a weighted coin decides (no sticky key) */
    version: VersionName | null;
    decidedBy: 'rule' | 'flag' | 'weights';
    rule: string | null;
    /** chance of canary when a weighted coin decides */
    canaryChance?: number;
  };
}

/** The headers a request from this user carries: the id where the proxy looks for it. */
function userHeaders(userId: string | undefined, sticky: { header?: string; cookie?: string } | undefined): HeaderBag {
  // no prototype: a sticky header named like an Object.prototype member is set as a plain key
  const headers: Record<string, string> = Object.create(null);
  if (userId !== undefined) {
    headers[USER_ID_HEADER] = userId;
    if (sticky?.header) headers[sticky.header.toLowerCase()] = userId;
    if (sticky?.cookie) headers.cookie = `${sticky.cookie}=${userId}`;
  }
  return headers;
}

function why(f: Flag, matches: boolean, user: string | undefined, ip: string): string {
  switch (f.kind) {
    case 'boolean':
      return matches ? 'boolean flag: every request matching it' : "the request does not match the flag's match conditions";
    case 'percentage': {
      if (user === undefined) return 'no user id: percentage flags only match requests that carry one';
      const bucket = stickyBucket(`${f.key}/${user}`);
      const threshold = stickyThreshold(f.percentage ?? 0);
      return `user ${JSON.stringify(user)} hashes to bucket ${bucket} of ${STICKY_BUCKETS}; the flag takes buckets < ${threshold} (${f.percentage} %)`;
    }
    case 'userList':
      if (user === undefined) return 'no user id: user-list flags only match requests that carry one';
      return matches ? `user ${JSON.stringify(user)} is in the list` : `user ${JSON.stringify(user)} is not in the list`;
    case 'ipList':
      if (ip === '') return 'no ip given: ip-list flags match on the client IP';
      return matches ? `ip ${ip} is in the list` : `ip ${ip} is not in the list`;
  }
}

export function checkFlag(
  flag: Flag,
  input: CheckInput,
  probe: RouteProbe,
  sticky: { header?: string; cookie?: string } | undefined,
): CheckResult {
  if (input.ip !== undefined && isIP(input.ip) === 0) {
    throw new CanarydError('CANARYD_ERR_BAD_REQUEST', `query.ip: must be an IPv4 or IPv6 address, got ${JSON.stringify(input.ip)}`);
  }
  const headers = userHeaders(input.userId, sticky);
  const ip = input.ip ?? '';
  const user = probe.userOf(headers);
  const path = input.path ?? '/';
  const method = (input.method ?? 'GET').toUpperCase();
  const matches = compileRule(flagRule(flag)).test(headers, ip, path, method, user);
  const active = flag.enabled && !flag.archived;
  let reason = why(flag, matches, user, ip);
  if (flag.archived) reason = `flag is archived (${reason})`;
  else if (!flag.enabled) reason = `flag is off (${reason})`;
  const choice = probe.pick({ headers, ip, path, method, userKey: user });
  const w = probe.getWeights().canary;
  let route: CheckResult['route'];
  if (choice.rule !== null) {
    route = { version: choice.version, decidedBy: choice.rule.startsWith(RULE_PREFIX) ? 'flag' : 'rule', rule: choice.rule };
  } else if ((probe.sticky && user !== undefined) || w <= 0 || w >= 100) {
    route = { version: choice.version, decidedBy: 'weights', rule: null };
  } else {
    route = { version: null, decidedBy: 'weights', rule: null, canaryChance: w / 100 };
  }
  return { key: flag.key, kind: flag.kind, flagVersion: flag.version, active, matches, enabled: active && matches, reason, route };
}
