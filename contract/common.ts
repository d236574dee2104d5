/**
 * Shared pieces of the admin API contract. Every schema here is TypeBox, so one definition gives the
 * route's JSON schema (validation, serialisation, OpenAPI) and its TypeScript type (Static<>).
 *
 * The API documents itself as OpenAPI 3.0, so a value that may be null is `nullable: true` on its schema
 * (3.0's keyword), never a union with `type: null` (3.1's).
 */
import { Type, type Static, type TObject, type TProperties, type TSchema, type TUnsafe } from '@sinclair/typebox';

export { Type, type Static, type TSchema };

/** The schema of `s`, also allowing null (OpenAPI 3.0 style). */
export function Nullable<T extends TSchema>(s: T): TUnsafe<Static<T> | null> {
  return Type.Unsafe<Static<T> | null>({ ...s, nullable: true });
}

/** An object whose named fields are typed and whose other fields pass through (responses owned elsewhere). */
export function Open<P extends TProperties>(properties: P, opts: { description?: string } = {}): TObject<P> {
  return Type.Object(properties, { additionalProperties: true, ...opts });
}

/**
 * A string from a fixed list, as `enum` (not TypeBox's anyOf of literals): a bad value then reads
 * "must be one of ..." in the API's validation message, and OpenAPI tools show a plain enum.
 */
export function StringEnum<const V extends readonly string[]>(
  values: V,
  opts: { description?: string; default?: V[number] } = {},
): TUnsafe<V[number]> {
  return Type.Unsafe<V[number]>({ type: 'string', enum: [...values], ...opts });
}

export const VersionName = StringEnum(['baseline', 'canary']);
export type VersionName = Static<typeof VersionName>;

export const ReasonBody = Type.Object(
  { reason: Type.Optional(Type.String({ maxLength: 500, description: 'recorded in the audit log' })) },
  { additionalProperties: false },
);
export type ReasonBody = Static<typeof ReasonBody>;

export const LimitQuery = (max: number) =>
  Type.Object({ limit: Type.Integer({ minimum: 1, maximum: max, default: 100 }) }, { additionalProperties: false });
export type LimitQuery = { limit: number };

/** An open record: an object whose shape another room owns (reports, audit entries). */
export const AnyRecord = Type.Object({}, { additionalProperties: true });
export type AnyRecord = Static<typeof AnyRecord>;

/** The body of every 4xx/5xx answer. */
export const ErrorBody = Type.Object({
  error: Type.String({ description: 'stable code, e.g. CANARYD_ERR_BAD_REQUEST (docs/errors.md)' }),
  message: Type.String(),
  details: Type.Optional(Type.Unknown({ description: 'structured detail, e.g. the list of problems' })),
});
export type ErrorBody = Static<typeof ErrorBody>;
