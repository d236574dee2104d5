/**
 * The flag check: "is flag K on for a request with these attributes, and where would that request go?".
 * It answers from the real TrafficSplitter (its pick() on a synthetic request carrying the user id and IP),
 * so the answer cannot drift from what the proxy does: config rules, then flags, then sticky weights.
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { CanarydError, type VersionName } from '../../core/index.js';
import { STICKY_BUCKETS, stickyBucket, USER_ID_HEADER, type RouteChoice } from '../../proxy/index.js';
import { flagTest, RULE_PREFIX, type Flag } from './model.js';

export interface RouteProbe {
  pick(req: IncomingMessage, clientIp: string): RouteChoice;
  userOf(req: IncomingMessage): string | undefined;
  stickyKey(req: IncomingMessage): string | undefined;
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

function syntheticRequest(input: CheckInput, sticky: { header?: string; cookie?: string } | undefined): IncomingMessage {
  // no prototype: a sticky header named like an Object.prototype member is set as a plain key
  const headers: Record<string, string> = Object.create(null);
  if (input.userId !== undefined) {
    headers[USER_ID_HEADER] = input.userId;
    if (sticky?.header) headers[sticky.header.toLowerCase()] = input.userId;
    if (sticky?.cookie) headers.cookie = `${sticky.cookie}=${input.userId}`;
  }
  return { method: (input.method ?? 'GET').toUpperCase(), url: input.path ?? '/', headers } as unknown as IncomingMessage;
}

function why(f: Flag, matches: boolean, user: string | undefined, ip: string): string {
  switch (f.kind) {
    case 'boolean':
      return matches ? 'boolean flag: every request matching it' : 'the request does not match the flag\'s match conditions';
    case 'percentage': {
      if (user === undefined) return 'no user id: percentage flags only match requests that carry one';
      const bucket = stickyBucket(`${f.key}/${user}`);
      const threshold = Math.round((f.percentage ?? 0) * (STICKY_BUCKETS / 100));
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

export function checkFlag(flag: Flag, input: CheckInput, probe: RouteProbe, sticky: { header?: string; cookie?: string } | undefined): CheckResult {
  if (input.ip !== undefined && isIP(input.ip) === 0) {
    throw new CanarydError('CANARYD_ERR_BAD_REQUEST', `query.ip: must be an IPv4 or IPv6 address, got ${JSON.stringify(input.ip)}`);
  }
  const req = syntheticRequest(input, sticky);
  const ip = input.ip ?? '';
  const user = probe.userOf(req);
  const path = input.path ?? '/';
  const matches = flagTest(flag)(req, ip, path, user);
  const active = flag.enabled && !flag.archived;
  let reason = why(flag, matches, user, ip);
  if (flag.archived) reason = `flag is archived (${reason})`;
  else if (!flag.enabled) reason = `flag is off (${reason})`;
  const choice = probe.pick(req, ip);
  const w = probe.getWeights().canary;
  let route: CheckResult['route'];
  if (choice.rule !== null) {
    route = { version: choice.version, decidedBy: choice.rule.startsWith(RULE_PREFIX) ? 'flag' : 'rule', rule: choice.rule };
  } else if (probe.stickyKey(req) !== undefined || w <= 0 || w >= 100) {
    route = { version: choice.version, decidedBy: 'weights', rule: null };
  } else {
    route = { version: null, decidedBy: 'weights', rule: null, canaryChance: w / 100 };
  }
  return { key: flag.key, kind: flag.kind, flagVersion: flag.version, active, matches, enabled: active && matches, reason, route };
}
