/**
 * TLS material read from PEM files. The listener's certificate is re-read when its files change (polled
 * with fs.watchFile, which also sees the symlink swap Kubernetes does for mounted secrets) and applied with
 * tls.Server#setSecureContext: new handshakes get the new certificate, open connections keep the session
 * they have, nothing restarts. A file that cannot be read or does not parse keeps the old certificate and
 * is reported through `onError`.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createSecureContext, type SecureContextOptions, type TlsOptions } from 'node:tls';
import { CanarydError } from '../../core/index.js';

export interface ServerTlsFiles {
  cert: string;
  key: string;
  ca: string | null;
  clientAuth: 'none' | 'request' | 'require';
}

export interface UpstreamTlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  rejectUnauthorized: boolean;
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new CanarydError('CANARYD_ERR_TLS', `cannot read the ${what} file ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, {
      cause: e,
    });
  }
}

/**
 * Reads and checks a listener's files; throws CANARYD_ERR_TLS naming the key (`listen.tls`, `admin.tls`,
 * `metrics.tls`), the file and the reason.
 */
export function loadServerContext(files: ServerTlsFiles, key = 'listen.tls'): SecureContextOptions {
  const opts: SecureContextOptions = { cert: read(files.cert, `${key}.cert`), key: read(files.key, `${key}.key`) };
  if (files.ca !== null) opts.ca = read(files.ca, `${key}.ca`);
  try {
    createSecureContext(opts); // parses now, so a bad PEM or a key that does not match the certificate is named here
  } catch (e) {
    throw new CanarydError('CANARYD_ERR_TLS', `${key}: ${(e as Error).message}`, { cause: e });
  }
  return opts;
}

/** Options for tls.createServer (or https.createServer): the context plus client-certificate policy and ALPN. */
export function serverTlsOptions(files: ServerTlsFiles, alpn: string[], key = 'listen.tls'): TlsOptions {
  return {
    ...loadServerContext(files, key),
    requestCert: files.clientAuth !== 'none',
    rejectUnauthorized: files.clientAuth === 'require',
    ALPNProtocols: alpn,
    minVersion: 'TLSv1.2',
  };
}

/** Watches a listener's files and calls `apply` with a fresh context after a change (every TLS listener uses it). */
export class CertificateWatcher {
  readonly #files: string[];
  #timer: NodeJS.Timeout | null = null;
  readonly #onChange: () => void;

  constructor(
    files: ServerTlsFiles,
    apply: (ctx: SecureContextOptions) => void,
    onError: (err: unknown) => void,
    intervalMs = 1000,
    key = 'listen.tls',
  ) {
    this.#files = [files.cert, files.key, ...(files.ca !== null ? [files.ca] : [])];
    // a cert and its key are often written one after the other: settle briefly, then read both
    this.#onChange = () => {
      if (this.#timer !== null) clearTimeout(this.#timer);
      this.#timer = setTimeout(() => {
        this.#timer = null;
        try {
          apply(loadServerContext(files, key));
        } catch (e) {
          onError(e);
        }
      }, 100);
      this.#timer.unref();
    };
    for (const f of this.#files) watchFile(f, { interval: intervalMs, persistent: false }, this.#onChange);
  }

  close(): void {
    for (const f of this.#files) unwatchFile(f, this.#onChange);
    if (this.#timer !== null) clearTimeout(this.#timer);
  }
}

/** TLS options towards an upstream, files read once per configure. */
export function upstreamTlsOptions(
  version: string,
  t: UpstreamTlsFiles,
  host: string,
): { ca?: Buffer; cert?: Buffer; key?: Buffer; servername?: string; rejectUnauthorized: boolean } {
  const key = `upstreams.${version}.tls`;
  const out: { ca?: Buffer; cert?: Buffer; key?: Buffer; servername?: string; rejectUnauthorized: boolean } = {
    rejectUnauthorized: t.rejectUnauthorized,
  };
  if (t.ca !== undefined) out.ca = read(t.ca, `${key}.ca`);
  if (t.cert !== undefined) out.cert = read(t.cert, `${key}.cert`);
  if (t.key !== undefined) out.key = read(t.key, `${key}.key`);
  // SNI must be a host name, never an IP literal (RFC 6066 §3)
  const sni = t.servername ?? host;
  if (!/^[\d.]+$/.test(sni) && !sni.includes(':')) out.servername = sni;
  else if (t.servername !== undefined) out.servername = t.servername;
  return out;
}
