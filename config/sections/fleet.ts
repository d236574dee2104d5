/**
 * Config section of fleet mode (docs/fleet.md): N replicas of one service coordinated through Redis.
 * Absent: the embedded single-process mode, file state only, no Redis needed.
 */
import { Type } from '@sinclair/typebox';
import { Duration } from './types.js';

export const fleetSections = {
  fleet: Type.Optional(
    Type.Object(
      {
        redis: Type.String({
          default: '',
          description: 'redis:// or rediss:// (TLS) URL; empty: the CANARYD_REDIS_URL environment variable',
        }),
        service: Type.String({
          pattern: '^[A-Za-z0-9._-]{1,64}$',
          description: 'the service this fleet serves: replicas with the same service share one rollout',
        }),
        username: Type.String({ default: '', description: 'Redis ACL user (AUTH username password)' }),
        password: Type.String({ default: '', description: 'Redis password; use ${CANARYD_REDIS_PASSWORD}' }),
        tls: Type.Optional(
          Type.Object(
            {
              caFile: Type.Optional(Type.String({ description: 'PEM file of the CA that signed the Redis certificate' })),
              servername: Type.Optional(Type.String({ description: 'SNI / certificate name, when it differs from the URL host' })),
              rejectUnauthorized: Type.Boolean({ default: true, description: 'Verify the Redis server certificate' }),
            },
            { additionalProperties: false, description: 'TLS to Redis (also turned on by a rediss:// URL)' },
          ),
        ),
        replica: Type.String({ default: '', pattern: '^[A-Za-z0-9._:-]{0,128}$', description: 'this replica id; empty: hostname-pid' }),
        keyPrefix: Type.String({ default: 'canaryd', pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'prefix of every Redis key' }),
        leaseTtl: Duration('3s', 'leader lease: a dead leader is replaced within this (plus one heartbeat)'),
        heartbeat: Duration('1s', 'heartbeat, evidence publish, lease renewal and reconcile period'),
        evidenceKeep: Duration('30m', 'how long per-second windows stay in Redis for the leader (at least one rollout step)'),
        commandTimeout: Duration('3s', 'how long an admin write on a follower waits for the leader'),
      },
      { additionalProperties: false, description: 'fleet mode over Redis (docs/fleet.md); absent: one process, file state' },
    ),
  ),
};
