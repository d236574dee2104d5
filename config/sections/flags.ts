/**
 * Feature flags declared in the config file (`flags:`). The file is the source of truth for the flags it
 * declares: they are created or updated on start and on every reload, and drift reports (and `revert`
 * undoes) API changes to them. Flags made through the API and absent from the file stay as they are and are
 * reported as runtime-only, not as drift. Same fields as the admin API's flags (docs/admin.md).
 */
import { Type, type Static } from '@sinclair/typebox';
import { VersionNameSchema } from './types.js';

export const FLAG_KEY_PATTERN_TEXT = '^[a-z0-9][a-z0-9._-]{0,63}$';
const KIND_FIELD = { boolean: undefined, percentage: 'percentage', userList: 'users', ipList: 'ips' } as const;

export const FileFlag = Type.Object(
  {
    key: Type.String({ pattern: FLAG_KEY_PATTERN_TEXT, description: 'Lowercase flag name, e.g. "beta-users"' }),
    description: Type.String({ maxLength: 500, default: '', description: 'What the flag is for' }),
    kind: Type.Union([Type.Literal('boolean'), Type.Literal('percentage'), Type.Literal('userList'), Type.Literal('ipList')], {
      description: 'boolean: every matching request; percentage: a share of users; userList / ipList: listed users or client IPs',
    }),
    enabled: Type.Boolean({ default: false, description: 'Whether the flag routes requests' }),
    version: Type.Union([VersionNameSchema], { default: 'canary', description: 'Where matching requests go' }),
    percentage: Type.Optional(Type.Number({ minimum: 0, maximum: 100, description: 'kind percentage: share of users, hashed per user' })),
    users: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 256 }), {
        minItems: 1,
        maxItems: 10_000,
        description: 'kind userList: user ids (the sticky key)',
      }),
    ),
    ips: Type.Optional(
      Type.Array(Type.String({ minLength: 2, maxLength: 64 }), {
        minItems: 1,
        maxItems: 1_000,
        description: 'kind ipList: client IPs or CIDRs',
      }),
    ),
    match: Type.Optional(
      Type.Object(
        {
          path: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'path prefix ("/api/") or glob' })),
          method: Type.Optional(
            Type.Array(Type.String({ pattern: '^[A-Za-z]{1,16}$' }), { minItems: 1, maxItems: 16, description: 'HTTP methods' }),
          ),
          header: Type.Optional(
            Type.Record(Type.String(), Type.Array(Type.String({ maxLength: 256 }), { minItems: 1, maxItems: 64 }), {
              description: 'header name -> accepted values ("*" = present)',
            }),
          ),
        },
        { additionalProperties: false, minProperties: 1, description: 'Narrows the flag to matching requests (all conditions must hold)' },
      ),
    ),
  },
  { additionalProperties: false },
);
export type FileFlagConfig = Static<typeof FileFlag>;

export const flagSections = {
  flags: Type.Array(FileFlag, { default: [], description: 'Feature flags the file declares (the file is their source of truth)' }),
};

/** Checks the schema cannot express: one field per kind, CIDR syntax, unique keys. */
export function flagProblems(flags: readonly FileFlagConfig[], validCidr: (s: string) => boolean): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  flags.forEach((f, i) => {
    const at = `flags[${i}]`;
    if (seen.has(f.key)) out.push(`${at}.key: ${JSON.stringify(f.key)} is declared twice`);
    seen.add(f.key);
    const needed = KIND_FIELD[f.kind];
    for (const field of ['percentage', 'users', 'ips'] as const) {
      if (field === needed && f[field] === undefined) out.push(`${at}.${field}: is required for kind "${f.kind}"`);
      if (field !== needed && f[field] !== undefined) out.push(`${at}.${field}: does not apply to kind "${f.kind}"`);
    }
    f.ips?.forEach((ip, j) => {
      if (!validCidr(ip)) out.push(`${at}.ips[${j}]: must be an IP or CIDR, got ${JSON.stringify(ip)}`);
    });
  });
  return out;
}
