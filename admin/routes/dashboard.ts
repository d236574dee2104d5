/**
 * Serves the dashboard at the admin root: one page and its bundle, built offline by esbuild from
 * admin/dashboard/web/ into dist/admin/dashboard/web/ (scripts/build-dashboard.mjs, part of `npm run
 * build`). Files are read once at start and served from memory with their content type, an ETag and a
 * strict Content-Security-Policy: nothing but our own script, styles and same-origin fetch/WebSocket.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';

export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/assets/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/assets/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
  '/assets/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

export function defaultDashboardDir(): string {
  return fileURLToPath(new URL('../dashboard/web/', import.meta.url));
}

function load(dir: string): Map<string, Asset> | null {
  const out = new Map<string, Asset>();
  for (const [route, { file, type }] of Object.entries(FILES)) {
    const p = join(dir, file);
    if (!existsSync(p)) return null;
    const body = readFileSync(p);
    out.set(route, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  return out;
}

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', DASHBOARD_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('cache-control', 'no-cache');
}

export const dashboardRoutes: FastifyPluginAsync<{ dir?: string }> = async (app, opts) => {
  const dir = opts.dir ?? defaultDashboardDir();
  const assets = load(dir);
  const serve = (route: string) => async (req: FastifyRequest, reply: FastifyReply) => {
    const a = assets?.get(route);
    if (!a) {
      return secure(reply)
        .status(503)
        .type('text/plain; charset=utf-8')
        .send(`dashboard not built (no ${FILES[route].file} in ${dir}): run npm run build\n`);
    }
    secure(reply).header('etag', a.etag).type(a.type);
    if (req.headers['if-none-match'] === a.etag) return reply.status(304).send();
    return reply.send(a.body);
  };
  for (const route of Object.keys(FILES)) app.get(route, { schema: { hide: true } }, serve(route));
  app.get('/favicon.ico', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/assets/favicon.svg', 301));
};
