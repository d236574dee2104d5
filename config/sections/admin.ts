/** Config section of the admin API and dashboard. */
import { Type } from '@sinclair/typebox';
import { ListenAddress, StrictObject } from './types.js';

export const adminSections = {
  admin: StrictObject({
    listen: ListenAddress('127.0.0.1:9901', 'Admin API, dashboard and /metrics'),
    token: Type.String({ default: '', description: 'Bearer token for mutating routes; required off loopback' }),
    authReads: Type.Boolean({ default: false, description: 'Require the token on read routes too' }),
    reconcile: StrictObject({
      policy: Type.Union([Type.Literal('report'), Type.Literal('revert')], { default: 'report' }),
      interval: Type.Unsafe<number>({ type: ['string', 'number'], duration: true, default: '30s' }),
    }),
  }),
};
