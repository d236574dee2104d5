/**
 * The OpenAPI document as published (GET /api/v1/openapi.json, docs/openapi.json): @fastify/swagger's
 * output from the registered routes, made valid OpenAPI 3.0. JSON Schema (and so TypeBox and the route
 * schemas) writes `exclusiveMinimum: 0`; OpenAPI 3.0 takes its older form, `minimum: 0` with
 * `exclusiveMinimum: true`. Every operation has an operationId (server.ts derives one per route).
 */
import type { FastifyInstance } from 'fastify';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** JSON Schema's numeric exclusive bounds -> OpenAPI 3.0's boolean ones, everywhere in the document. */
export function toOpenApi30(node: Json): Json {
  if (Array.isArray(node)) return node.map(toOpenApi30);
  if (node === null || typeof node !== 'object') return node;
  const out: { [k: string]: Json } = {};
  for (const [k, v] of Object.entries(node)) out[k] = toOpenApi30(v);
  for (const [exclusive, bound] of [
    ['exclusiveMinimum', 'minimum'],
    ['exclusiveMaximum', 'maximum'],
  ] as const) {
    const v = out[exclusive];
    if (typeof v === 'number') {
      out[bound] = v;
      out[exclusive] = true;
    }
  }
  return out;
}

export function openapiDocument(app: FastifyInstance): Json {
  return toOpenApi30(app.swagger() as unknown as Json);
}

/** GET /api/v1/flags/:key/check -> "getFlagsKeyCheck": method, then the path after /api/v1 in camel case. */
export function operationIdOf(method: string, url: string): string {
  const words = url
    .replace(/^\/api\/v1\//, '/')
    .split(/[/:._{}-]+/)
    .filter((w) => w !== '');
  const name = words.map((w) => w[0].toUpperCase() + w.slice(1)).join('');
  return method.toLowerCase() + (name || 'Root');
}
