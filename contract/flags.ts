/**
 * /api/v1/flags: a flag, the create and update bodies, the check query and its answer. admin/flags/model.ts
 * keeps the rules the schema cannot say (kind-specific fields, IP syntax) and maps a flag to a routing rule.
 */
import { StringEnum, Type, VersionName, type Static } from './common.js';

export const FLAG_KINDS = ['boolean', 'percentage', 'userList', 'ipList'] as const;
export const FlagKind = StringEnum(FLAG_KINDS);
export type FlagKind = Static<typeof FlagKind>;

export const FLAG_KEY_PATTERN = '^[a-z0-9][a-z0-9._-]{0,63}$';

export const FlagMatch = Type.Object(
  {
    path: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'path prefix ("/api/") or glob ("/api/*/items")' })),
    method: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z]{1,16}$' }), { minItems: 1, maxItems: 16 })),
    /** header name -> accepted values ("*" = present) */
    // additionalProperties, not TypeBox's Record (patternProperties, which OpenAPI 3.0 lacks)
    header: Type.Optional(
      Type.Unsafe<Record<string, string[]>>({
        type: 'object',
        maxProperties: 16,
        additionalProperties: Type.Array(Type.String({ maxLength: 256 }), { minItems: 1, maxItems: 64 }),
      }),
    ),
  },
  { additionalProperties: false, minProperties: 1, description: 'narrows the flag to matching requests (all given conditions must hold)' },
);
export type FlagMatch = Static<typeof FlagMatch>;

const fields = {
  description: Type.String({ maxLength: 500 }),
  kind: FlagKind,
  enabled: Type.Boolean(),
  version: VersionName,
  percentage: Type.Number({ minimum: 0, maximum: 100 }),
  users: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { minItems: 1, maxItems: 10_000 }),
  ips: Type.Array(Type.String({ minLength: 2, maxLength: 64 }), { minItems: 1, maxItems: 1_000 }),
  match: FlagMatch,
};

export const FlagView = Type.Object({
  key: Type.String(),
  description: fields.description,
  kind: fields.kind,
  enabled: fields.enabled,
  /** where matching requests go */
  version: fields.version,
  percentage: Type.Optional(fields.percentage),
  users: Type.Optional(fields.users),
  ips: Type.Optional(fields.ips),
  match: Type.Optional(fields.match),
  archived: Type.Boolean(),
  createdAt: Type.Integer({ description: 'epoch ms' }),
  updatedAt: Type.Integer({ description: 'epoch ms' }),
  archivedAt: Type.Optional(Type.Integer({ description: 'epoch ms' })),
  /** why the flag last changed state when not by an operator (e.g. "reconcile") */
  note: Type.Optional(Type.String()),
  source: Type.Optional(StringEnum(['file', 'api'], { description: 'file: declared in the config file; api: made at runtime' })),
});
export type Flag = Static<typeof FlagView>;

export const CreateFlagBody = Type.Object(
  {
    key: Type.String({ pattern: FLAG_KEY_PATTERN, description: 'lowercase name, e.g. "beta-users"' }),
    description: Type.Optional(fields.description),
    kind: fields.kind,
    enabled: Type.Optional(fields.enabled),
    version: Type.Optional(fields.version),
    percentage: Type.Optional(fields.percentage),
    users: Type.Optional(fields.users),
    ips: Type.Optional(fields.ips),
    match: Type.Optional(fields.match),
  },
  { additionalProperties: false },
);
export type CreateFlagBody = Static<typeof CreateFlagBody>;

export const UpdateFlagBody = Type.Partial(Type.Object(fields), { additionalProperties: false, minProperties: 1 });
export type UpdateFlagBody = Static<typeof UpdateFlagBody>;

export const FlagKeyParams = Type.Object({ key: Type.String({ pattern: FLAG_KEY_PATTERN }) });
export type FlagKeyParams = Static<typeof FlagKeyParams>;

export const FlagListQuery = Type.Object(
  { archived: Type.Optional(Type.Boolean({ description: 'include archived flags' })) },
  { additionalProperties: false },
);
export type FlagListQuery = Static<typeof FlagListQuery>;
export const FlagList = Type.Object({ flags: Type.Array(FlagView) });
export type FlagList = Static<typeof FlagList>;

export const FlagCheckQuery = Type.Object(
  {
    userId: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    ip: Type.Optional(Type.String({ minLength: 2, maxLength: 64, description: 'client IPv4 or IPv6 address' })),
    path: Type.Optional(
      Type.String({ pattern: '^/', maxLength: 2048, description: 'request path (for flags with match.path); default /' }),
    ),
    method: Type.Optional(Type.String({ pattern: '^[A-Za-z]{1,16}$' })),
  },
  { additionalProperties: false },
);
export type FlagCheckQuery = Static<typeof FlagCheckQuery>;

export const FlagCheckResult = Type.Object({
  key: Type.String(),
  kind: FlagKind,
  /** the flag's target version */
  flagVersion: VersionName,
  /** switched on and not archived */
  active: Type.Boolean(),
  /** the attributes satisfy the flag's condition (whether or not it is on) */
  matches: Type.Boolean(),
  enabled: Type.Boolean({ description: 'the flag is on for these attributes' }),
  reason: Type.String(),
  route: Type.Object({
    version: Type.Unsafe<'baseline' | 'canary' | null>({
      type: 'string',
      nullable: true,
      description: 'version a request with these attributes reaches; null when a weighted coin decides',
    }),
    decidedBy: StringEnum(['rule', 'flag', 'weights']),
    rule: Type.Unsafe<string | null>({ type: 'string', nullable: true }),
    canaryChance: Type.Optional(Type.Number({ description: 'chance of canary when a weighted coin decides' })),
  }),
});
export type FlagCheckResult = Static<typeof FlagCheckResult>;
