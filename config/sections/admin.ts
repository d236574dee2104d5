/** Config section of the admin API and dashboard. */
import { Type } from '@sinclair/typebox';
import { ListenAddress, Section, StrictObject } from './types.js';
import { ServerTls } from './tls.js';

export const adminSections = {
  admin: Section("The admin API, the dashboard and the CLI's endpoint", {
    listen: ListenAddress('127.0.0.1:9901', 'Admin API, dashboard and /metrics'),
    tls: Type.Optional(
      Type.Object(ServerTls.properties, {
        additionalProperties: false,
        description: 'Serve the admin API over HTTPS: { cert, key, ca?, clientAuth? }, reloaded when the files change',
      }),
    ),
    token: Type.String({
      default: '',
      description:
        'Bearer token for mutating routes; required off loopback, and then at least 32 bytes. With no token, mutations are refused (see allowUnauthenticated)',
    }),
    tokenFile: Type.String({
      default: '',
      description:
        'Read the token from this file instead (e.g. a mounted Kubernetes Secret); re-read when it changes, so the Secret can rotate. Not with token',
    }),
    authReads: Type.Boolean({ default: false, description: 'Require the token on read routes too' }),
    allowUnauthenticated: Type.Boolean({
      default: false,
      description:
        'Allow mutating routes with no token configured. Loopback admin.listen only; any local process (in a pod: the app) can then steer canaryd',
    }),
    allowedHosts: Type.Array(Type.String({ minLength: 1, maxLength: 253, pattern: '^(\\*|(\\*\\.)?[A-Za-z0-9_.-]+)$' }), {
      default: [],
      maxItems: 64,
      description:
        'Host names the admin answers to, besides IP literals, localhost, *.localhost and the admin.listen host (DNS rebinding protection; others get 421). "*.example.com" allows subdomains; "*" turns the check off',
    }),
    reconcile: Section('Drift between the file and the runtime state (weights, flags, faults changed over the API)', {
      policy: Type.Union([Type.Literal('report'), Type.Literal('revert')], {
        default: 'report',
        description: 'report: drift is shown in status and the audit; revert: the file state is re-applied',
      }),
      interval: Type.Unsafe<number>({
        type: ['string', 'number'],
        duration: true,
        default: '30s',
        description: 'How often drift is checked',
      }),
    }),
  }),
};
