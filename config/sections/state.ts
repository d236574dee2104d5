/** Config section of the durable state under state.dir: its place and the audit log's size bounds. */
import { Type } from '@sinclair/typebox';
import { Section, StrictObject } from './types.js';

export const stateSections = {
  state: Section('Durable state: weights, rollout, audit trail', {
    dir: Type.String({ default: './.canaryd', description: 'Durable state and audit log' }),
    audit: Section('Size bounds of the audit log', {
      maxBytes: Type.Integer({
        minimum: 65_536,
        default: 33_554_432,
        description: 'audit.jsonl is rotated to audit.jsonl.1 when it reaches this size (default 32 MiB)',
      }),
      keep: Type.Integer({
        minimum: 0,
        maximum: 100,
        default: 5,
        description: 'rotated audit files kept (audit.jsonl.1 .. .N); the oldest is deleted',
      }),
    }),
  }),
};
