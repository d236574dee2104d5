/** Schema building blocks shared by every config section. */
import { Type, type TSchema, type TUnsafe } from '@sinclair/typebox';
import { GRPC_CODES } from '../../core/index.js';

/** A duration: "500ms", "2s", "1m" or a number of ms. Validation turns it into ms (see validate.ts). */
export function Duration(defaultValue: string, description?: string): TUnsafe<number> {
  return Type.Unsafe<number>({ type: ['string', 'number'], duration: true, default: defaultValue, description });
}

/** "host:port" (IPv6 in brackets). */
export const LISTEN_PATTERN = '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]*):\\d{1,5}$';
export function ListenAddress(defaultValue: string, description?: string) {
  return Type.String({ pattern: LISTEN_PATTERN, default: defaultValue, description });
}

export const VersionNameSchema = Type.Union([Type.Literal('baseline'), Type.Literal('canary')]);

/** Strict object: unknown keys are rejected, defaults fill in the rest. */
export function StrictObject<T extends Record<string, TSchema>>(props: T, opts: { description?: string } = {}) {
  return Type.Object(props, { additionalProperties: false, default: {}, ...opts });
}

/** A strict object with its description first, so a section reads as what it is before its keys. */
export function Section<T extends Record<string, TSchema>>(description: string, props: T) {
  return StrictObject(props, { description });
}

/** A gRPC status code: its number 0..16 or its name (core/grpc.ts). */
export function GrpcCode(description: string, defaultValue?: number | string) {
  return Type.Union([Type.Integer({ minimum: 0, maximum: 16 }), Type.Union(GRPC_CODES.map((n) => Type.Literal(n)))], {
    description,
    ...(defaultValue === undefined ? {} : { default: defaultValue }),
  });
}
