/**
 * The fleet's one Redis client (ioredis lives here and nowhere else), its key names and its Lua scripts.
 *
 * Keys, all under `<prefix>:{<service>}:` (the braces are a Redis Cluster hash tag: every key of one
 * service lands in one slot, so the scripts below may touch several of them):
 *   replicas        hash   replica id -> heartbeat JSON {at, proxy, admin, weight, leader, pid}
 *   leader          string the lease holder's replica id, SET NX PX <leaseTtl>, renewed by the holder
 *   fence           string the fencing token: INCR'd on every new lease; a state write carries it
 *   state           hash   seq (bumped on every write), fence, doc:<name> -> JSON (rollout.json, weights.json...)
 *   audit           stream one entry {r: JSON} per audit line, written in the same script as the state
 *   evidence:<id>   list   a replica's per-second window aggregates (JSON), trimmed, expiring
 *   commands        list   operator commands sent to the leader by any replica
 *   channel events  pub/sub: "state <seq>", "command", "reply <json>"
 *
 * The data plane never waits on this client: every call is made from a timer (fleet/coordinator.ts),
 * the offline queue is off so a call while Redis is down fails at once instead of piling up.
 */
import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';

export interface FleetConnection {
  url: string;
  username?: string;
  password?: string;
  tls?: { caFile?: string; servername?: string; rejectUnauthorized?: boolean };
}

export function fleetKeys(prefix: string, service: string) {
  const base = `${prefix}:{${service}}:`;
  return {
    replicas: base + 'replicas',
    leader: base + 'leader',
    fence: base + 'fence',
    state: base + 'state',
    audit: base + 'audit',
    evidence: (replica: string) => `${base}evidence:${replica}`,
    commands: base + 'commands',
    channel: base + 'events',
  };
}
export type FleetKeys = ReturnType<typeof fleetKeys>;

/**
 * Take the lease if it is free, renew it if it is ours. KEYS: leader, fence. ARGV: id, ttl ms, our token.
 * Returns our (new or kept) token, or 0 when another replica holds the lease.
 */
const LEASE = `
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(ARGV[3])
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0`;

/**
 * A fenced state write: refused (0) unless ARGV[1] is the current fencing token. KEYS: fence, state,
 * audit, channel... ARGV: token, at, #docs, then name/json pairs, then audit lines. Returns the new seq.
 * Docs, audit entries and the publish are one atomic step: a follower never sees a state without its audit.
 */
const FENCED_WRITE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
redis.call('HSET', KEYS[2], 'fence', ARGV[1], 'at', ARGV[2])
local ndocs = tonumber(ARGV[3])
local i = 4
for d = 1, ndocs do
  redis.call('HSET', KEYS[2], 'doc:' .. ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i <= #ARGV do
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', '10000', '*', 'r', ARGV[i])
  i = i + 1
end
redis.call('PUBLISH', KEYS[4], 'state ' .. seq)
return seq`;

export type FleetRedis = Redis & {
  fleetLease(leader: string, fence: string, id: string, ttlMs: number, token: string): Promise<number>;
  fleetWrite(fence: string, state: string, audit: string, channel: string, ...args: string[]): Promise<number>;
};

function options(c: FleetConnection, forSubscriber: boolean): RedisOptions {
  return {
    username: c.username || undefined,
    password: c.password || undefined,
    tls: c.tls
      ? {
          ca: c.tls.caFile ? readFileSync(c.tls.caFile) : undefined,
          servername: c.tls.servername,
          rejectUnauthorized: c.tls.rejectUnauthorized ?? true,
        }
      : undefined,
    lazyConnect: true,
    connectTimeout: 1000,
    // fail fast while Redis is down: the coordinator retries on its own beat, nothing queues up
    enableOfflineQueue: forSubscriber,
    maxRetriesPerRequest: forSubscriber ? null : 0,
    retryStrategy: (times) => Math.min(100 * times, 1000),
    // a replica must not crash or log per retry when Redis goes away; the coordinator reports it once
    reconnectOnError: () => false,
  };
}

export function connectRedis(c: FleetConnection, forSubscriber = false): FleetRedis {
  const r = new Redis(c.url, options(c, forSubscriber)) as FleetRedis;
  r.on('error', () => {
    /* reported by the coordinator from failed calls; ioredis reconnects by itself */
  });
  if (!forSubscriber) {
    r.defineCommand('fleetLease', { numberOfKeys: 2, lua: LEASE });
    r.defineCommand('fleetWrite', { numberOfKeys: 4, lua: FENCED_WRITE });
  }
  return r;
}
