/**
 * Config of HTTP/2 and TLS: the data-plane listener (`listen` as a string, or `{ address, tls }`), HTTP/2
 * stream limits, and the TLS settings of upstreams and of the admin listener. Defaults inside a union
 * branch are ignored by ajv, so the listener's TLS defaults are applied in listenSettings() instead.
 */
import { accessSync, constants } from 'node:fs';
import { Type } from '@sinclair/typebox';
import { Duration, StrictObject } from './types.js';

const ADDRESS_PATTERN = '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]*):\\d{1,5}$';

/** Server-side TLS: PEM files, re-read when they change (no restart, open connections keep their session). */
export const ServerTls = Type.Object(
  {
    cert: Type.String({ minLength: 1, description: 'PEM certificate chain file' }),
    key: Type.String({ minLength: 1, description: 'PEM private key file' }),
    ca: Type.Optional(Type.String({ minLength: 1, description: 'PEM CA bundle that client certificates must chain to' })),
    clientAuth: Type.Optional(
      Type.Union([Type.Literal('none'), Type.Literal('request'), Type.Literal('require')], {
        description: 'Client certificates: none (default), request (verified when sent), require',
      }),
    ),
  },
  { additionalProperties: false, description: 'TLS on this listener: PEM files, re-read when they change' },
);

export const ListenSchema = Type.Union(
  [
    Type.String({ pattern: ADDRESS_PATTERN }),
    Type.Object(
      { address: Type.String({ pattern: ADDRESS_PATTERN, description: 'host:port' }), tls: Type.Optional(ServerTls) },
      { additionalProperties: false },
    ),
  ],
  {
    default: '127.0.0.1:8080',
    description: 'Data-plane listen address ("host:port"), or { address, tls: { cert, key, ca?, clientAuth? } }',
  },
);

/** TLS towards an upstream (https:// URLs). */
export const UpstreamTls = StrictObject(
  {
    ca: Type.Optional(
      Type.String({ minLength: 1, description: 'PEM CA bundle the upstream certificate must chain to (default: the system store)' }),
    ),
    cert: Type.Optional(Type.String({ minLength: 1, description: 'PEM client certificate for mTLS' })),
    key: Type.Optional(Type.String({ minLength: 1, description: 'PEM client key for mTLS' })),
    servername: Type.Optional(
      Type.String({ minLength: 1, description: 'SNI and the name checked in the certificate (default: the URL host)' }),
    ),
    rejectUnauthorized: Type.Boolean({ default: true, description: 'Verify the upstream certificate; false is logged at warn' }),
  },
  { description: 'TLS towards this upstream (https:// URLs): CA bundle, client certificate, SNI' },
);

export const http2Sections = {
  http2: StrictObject(
    {
      enabled: Type.Boolean({
        default: true,
        description: 'HTTP/2 on the listener: h2c prior knowledge in clear, h2 by ALPN on TLS; HTTP/1.1 on the same port',
      }),
      maxConcurrentStreams: Type.Integer({
        minimum: 1,
        maximum: 10_000,
        default: 100,
        description: 'SETTINGS_MAX_CONCURRENT_STREAMS per client connection',
      }),
      maxHeaderListBytes: Type.Integer({
        minimum: 1024,
        default: 16_384,
        description: 'SETTINGS_MAX_HEADER_LIST_SIZE; a larger header block is refused',
      }),
      resetFlood: StrictObject(
        {
          maxResets: Type.Integer({
            minimum: 1,
            default: 200,
            description: 'Streams a client may cancel within the window before its connection is closed (CVE-2023-44487)',
          }),
          window: Duration('1s', 'Window of the reset count'),
        },
        { description: 'Rapid-reset flood protection: a client cancelling streams in a loop is cut off' },
      ),
      idleTimeout: Duration('65s', 'An HTTP/2 connection with no stream open for this long is closed (GOAWAY)'),
    },
    { description: 'HTTP/2 on the data-plane listener' },
  ),
};

export interface ServerTlsSettings {
  cert: string;
  key: string;
  ca: string | null;
  clientAuth: 'none' | 'request' | 'require';
}

export interface ListenSettings {
  address: string;
  tls: ServerTlsSettings | null;
}

type ListenConfig =
  string | { address: string; tls?: { cert: string; key: string; ca?: string; clientAuth?: 'none' | 'request' | 'require' } };

type ServerTlsConfig = { cert: string; key: string; ca?: string; clientAuth?: 'none' | 'request' | 'require' };

/** A listener's `tls:` with its defaults applied (admin.tls, metrics.tls), null when absent. */
export function serverTlsSettings(t: ServerTlsConfig | undefined): ServerTlsSettings | null {
  return t === undefined ? null : { cert: t.cert, key: t.key, ca: t.ca ?? null, clientAuth: t.clientAuth ?? 'none' };
}

/** The listener config in one shape, defaults applied. */
export function listenSettings(listen: ListenConfig): ListenSettings {
  if (typeof listen === 'string') return { address: listen, tls: null };
  const t = listen.tls;
  return {
    address: listen.address,
    tls: t === undefined ? null : { cert: t.cert, key: t.key, ca: t.ca ?? null, clientAuth: t.clientAuth ?? 'none' },
  };
}

interface UpstreamTlsConfig {
  url: string;
  http2?: boolean;
  tls?: { ca?: string; cert?: string; key?: string };
}

function unreadable(path: string): string | null {
  try {
    accessSync(path, constants.R_OK);
    return null;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

/** Checks of the TLS keys: pairs that go together, and files that must be readable (read again at use). */
export function tlsProblems(
  listen: ListenConfig,
  upstreams: Record<'baseline' | 'canary', UpstreamTlsConfig>,
  listeners: Record<string, ServerTlsConfig | undefined> = {},
): string[] {
  const out: string[] = [];
  const servers: Record<string, ServerTlsSettings | null> = { listen: listenSettings(listen).tls };
  for (const [k, t] of Object.entries(listeners)) servers[k] = serverTlsSettings(t);
  for (const [k, t] of Object.entries(servers))
    if (t !== null && t.clientAuth !== 'none' && t.ca === null)
      out.push(`${k}.tls.ca: required when ${k}.tls.clientAuth is ${t.clientAuth}`);
  for (const v of ['baseline', 'canary'] as const) {
    const t = upstreams[v].tls;
    if (t === undefined) continue;
    if ((t.cert === undefined) !== (t.key === undefined))
      out.push(`upstreams.${v}.tls: cert and key go together (mTLS), got only ${t.cert === undefined ? 'key' : 'cert'}`);
    for (const k of ['ca', 'cert', 'key'] as const) {
      const f = t[k];
      if (f === undefined) continue;
      const why = unreadable(f);
      if (why !== null) out.push(`upstreams.${v}.tls.${k}: cannot read ${JSON.stringify(f)} (${why})`);
    }
  }
  return out;
}
