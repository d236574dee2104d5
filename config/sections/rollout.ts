/** Config section of the rollout controller and analysis engine. Owned by the analysis work. */
import { Type } from '@sinclair/typebox';
import { StrictObject } from './types.js';

export const rolloutSections = {
  rollout: StrictObject({
    autoStart: Type.Boolean({ default: false }),
  }),
};
