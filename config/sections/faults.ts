/** Config section of fault injection. Owned by the faults work. */
import { Type } from '@sinclair/typebox';
import { StrictObject } from './types.js';

export const faultSections = {
  faults: StrictObject({
    enabled: Type.Boolean({ default: false }),
  }),
};
