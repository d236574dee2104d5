/**
 * Config section of the data plane's resource limits: what keeps slow, idle or greedy clients from taking
 * the service down (docs/proxy.md, "Limits"). Each limit answers with a status and an error code.
 */
import { Type } from '@sinclair/typebox';
import { Duration, Section, StrictObject } from './types.js';

export const limitSections = {
  limits: Section('Resource limits that protect the proxy from slow, idle and greedy clients', {
    maxConnections: Type.Integer({
      minimum: 0,
      default: 0,
      description:
        'Client connections the data plane holds at once; more are closed at accept (logged, counted). 0: derived from the fd limit, leaving room for upstream sockets and the admin listener',
    }),
    adminConnections: Type.Integer({
      minimum: 1,
      default: 64,
      description: 'Connections the admin listener holds at once: its own budget, so /healthz answers during a data-plane flood',
    }),
    minBodyRate: Type.Integer({
      minimum: 0,
      default: 1024,
      description: 'Request bodies must arrive at this many bytes/s on average after timeouts.clientBody: else 408. 0: off',
    }),
    bufferBodyBytes: Type.Integer({
      minimum: 0,
      maximum: 16_777_216,
      default: 65_536,
      description:
        'Request bodies up to this size are read in full before an upstream connection is taken, so a slow client never holds one. 0: always stream',
    }),
    queue: Section('The bounded admission queue in front of the upstream pools: past it, 503', {
      size: Type.Integer({
        minimum: 0,
        default: 256,
        description: 'Requests that may wait for a connection of one upstream once all its connections are busy; more get 503',
      }),
      timeout: Duration('5s', 'How long a request may wait for an upstream connection: then 503'),
    }),
    perClient: Section('Limits per client IP (peers in proxy.trustProxy are exempt)', {
      inflight: Type.Integer({
        minimum: 0,
        default: 512,
        description: 'Requests in flight per client IP; more get 429. 0: off. Not applied to peers in proxy.trustProxy',
      }),
      connections: Type.Integer({
        minimum: 0,
        default: 1024,
        description: 'Connections per client IP; more are closed at accept. 0: off. Not applied to peers in proxy.trustProxy',
      }),
    }),
  }),
};
