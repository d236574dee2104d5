/**
 * The OpenAPI document at /api/v1/openapi.json: version 3, every registered route present with its
 * schema (body, query, path parameters, error responses, bearer security on mutations) — including routes a
 * plugin of another area registers through AdminDeps.plugins, which also get the auth policy.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { registeredRoutes } from '../admin/index.js';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml } from './helpers/canaryd.js';
import { call, startAdminSidecar } from './helpers/admin.js';
import { servedOpenapi } from './helpers/openapi.js';

const TOKEN = 'openapi-token';

/** Stands in for a route plugin of another area (rollout, faults): plain fastify, no auth code of its own. */
function examplePlugin(app: FastifyInstance): void {
  app.post(
    '/api/v1/example/things',
    {
      schema: {
        summary: 'example',
        body: { type: 'object', required: ['n'], additionalProperties: false, properties: { n: { type: 'integer', maximum: 9 } } },
      },
    },
    async () => ({ ok: true }),
  );
  app.get(
    '/api/v1/example/things/:id',
    { schema: { params: { type: 'object', properties: { id: { type: 'string' } } } } },
    async (req) => ({ id: (req.params as { id: string }).id }),
  );
}

t.test('the OpenAPI document lists every route with its schema', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const yaml = configYaml(base.url, can.url).replace(
    'admin: { listen: "127.0.0.1:0" }',
    `admin: { listen: "127.0.0.1:0", token: "${TOKEN}" }`,
  );
  const s = await startAdminSidecar(yaml, { adminPlugins: [examplePlugin] });
  t.teardown(async () => (await s.stop(), await base.close(), await can.close()));

  const r = await call(s.app, 'GET', '/api/v1/openapi.json');
  t.equal(r.status, 200);
  const doc = r.json;
  t.match(doc.openapi, /^3\.\d+\.\d+$/, 'OpenAPI 3');
  t.equal(doc.info.title, 'canaryd admin API');
  t.same(doc.components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer', description: 'admin.token' });
  t.ok(doc.components.schemas.ErrorBody, 'the shared error body schema is a component');

  // every $ref resolves inside the document
  const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/([^"]+)"/g)].map((m) => m[1]);
  for (const ref of new Set(refs))
    t.ok(
      ref.split('/').reduce((o: any, k) => o?.[k], doc),
      `$ref #/${ref} resolves`,
    );

  const routes = registeredRoutes(s.app).filter((rt) => !(rt.schema as any)?.hide);
  const apiRoutes = routes.flatMap((rt) =>
    (Array.isArray(rt.method) ? rt.method : [rt.method]).filter((m) => m !== 'HEAD').map((m) => ({ m, rt })),
  );
  t.ok(apiRoutes.length >= 18, `at least 18 documented operations (${apiRoutes.length})`);
  for (const { m, rt } of apiRoutes) {
    const path = rt.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const op = doc.paths[path]?.[m.toLowerCase()];
    const name = `${m} ${rt.url}`;
    if (!t.ok(op, `${name} is in the document`)) continue;
    const schema = (rt.schema ?? {}) as Record<string, any>;
    t.ok(Object.keys(op.responses ?? {}).length > 0, `${name} documents its responses`);
    if (schema.body) t.ok(op.requestBody?.content?.['application/json']?.schema, `${name} has its request body schema`);
    for (const part of ['querystring', 'params'] as const) {
      for (const prop of Object.keys(schema[part]?.properties ?? {})) {
        const where = part === 'params' ? 'path' : 'query';
        t.ok(
          (op.parameters ?? []).some((p: any) => p.name === prop && p.in === where && p.schema),
          `${name} documents ${where} parameter ${prop}`,
        );
      }
    }
    if (rt.url.startsWith('/api/v1/')) {
      t.equal(
        op.responses['4XX']?.content?.['application/json']?.schema?.$ref,
        '#/components/schemas/ErrorBody',
        `${name} documents its error body`,
      );
      if (m !== 'GET') t.same(op.security, [{ bearerAuth: [] }], `${name} needs the bearer token`);
    }
  }
  for (const path of [
    '/api/v1/flags/{key}/check',
    '/api/v1/config/drift',
    '/api/v1/config/reload',
    '/api/v1/events',
    '/api/v1/example/things',
  ])
    t.ok(doc.paths[path], `${path} documented`);
  t.notOk(doc.paths['/'], 'dashboard assets are not API operations');

  // the plugin's routes got the policy: token on the mutation, validation messages naming the field
  const no = await call(s.app, 'POST', '/api/v1/example/things', { body: { n: 1 } });
  t.equal(no.status, 401, "another area's mutating route needs the token without doing anything");
  const bad = await call(s.app, 'POST', '/api/v1/example/things', { body: { n: 12 }, token: TOKEN });
  t.equal(bad.status, 400);
  t.equal(bad.json.message, 'body.n: must be <= 9, got 12');
  t.equal((await call(s.app, 'GET', '/api/v1/example/things/abc')).json.id, 'abc');
});

/** The keywords of an OpenAPI 3.0 Schema Object (3.0.3 §4.7.24), plus x- extensions. */
const SCHEMA_KEYWORDS = new Set([
  'title',
  'multipleOf',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'uniqueItems',
  'maxProperties',
  'minProperties',
  'required',
  'enum',
  'type',
  'allOf',
  'oneOf',
  'anyOf',
  'not',
  'items',
  'properties',
  'additionalProperties',
  'description',
  'format',
  'default',
  'nullable',
  'discriminator',
  'readOnly',
  'writeOnly',
  'xml',
  'externalDocs',
  'example',
  'deprecated',
  '$ref',
]);
const TYPES_30 = new Set(['string', 'number', 'integer', 'boolean', 'array', 'object']);

/** Problems of one schema (and the schemas inside it) as OpenAPI 3.0 sees them. */
function schemaProblems(s: any, at: string, out: string[]): void {
  if (s === null || typeof s !== 'object' || Array.isArray(s)) return void out.push(`${at}: a schema must be an object`);
  for (const [k, v] of Object.entries(s)) {
    if (!SCHEMA_KEYWORDS.has(k) && !k.startsWith('x-')) out.push(`${at}.${k}: not an OpenAPI 3.0 schema keyword`);
    if ((k === 'exclusiveMinimum' || k === 'exclusiveMaximum') && typeof v !== 'boolean')
      out.push(`${at}.${k}: must be a boolean in 3.0, got ${JSON.stringify(v)}`);
  }
  if (s.type !== undefined && !(typeof s.type === 'string' && TYPES_30.has(s.type)))
    out.push(`${at}.type: ${JSON.stringify(s.type)} is not a 3.0 type`);
  if (s.exclusiveMinimum === true && typeof s.minimum !== 'number') out.push(`${at}: exclusiveMinimum without minimum`);
  for (const k of ['items', 'not']) if (s[k] !== undefined) schemaProblems(s[k], `${at}.${k}`, out);
  if (s.additionalProperties !== undefined && typeof s.additionalProperties !== 'boolean')
    schemaProblems(s.additionalProperties, `${at}.additionalProperties`, out);
  for (const [k, v] of Object.entries(s.properties ?? {})) schemaProblems(v, `${at}.properties.${k}`, out);
  for (const k of ['allOf', 'oneOf', 'anyOf']) (s[k] ?? []).forEach((v: unknown, i: number) => schemaProblems(v, `${at}.${k}[${i}]`, out));
}

function openapi30Problems(doc: any): string[] {
  const out: string[] = [];
  if (!/^3\.0\.\d+$/.test(doc.openapi)) out.push(`openapi: ${doc.openapi} is not 3.0.x`);
  for (const [name, s] of Object.entries(doc.components?.schemas ?? {})) schemaProblems(s, `components.schemas.${name}`, out);
  const ids = new Map<string, string>();
  for (const [path, ops] of Object.entries<any>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(ops)) {
      const where = `${method.toUpperCase()} ${path}`;
      if (typeof op.operationId !== 'string' || op.operationId === '') out.push(`${where}: no operationId`);
      else if (ids.has(op.operationId)) out.push(`${where}: operationId ${op.operationId} also names ${ids.get(op.operationId)}`);
      else ids.set(op.operationId, where);
      (op.parameters ?? []).forEach((p: any, i: number) => schemaProblems(p.schema, `${where} parameters[${i}].schema`, out));
      for (const [type, c] of Object.entries<any>(op.requestBody?.content ?? {}))
        schemaProblems(c.schema, `${where} requestBody.${type}`, out);
      for (const [status, r] of Object.entries<any>(op.responses ?? {})) {
        for (const [type, c] of Object.entries<any>(r.content ?? {})) schemaProblems(c.schema, `${where} responses.${status}.${type}`, out);
      }
    }
  }
  return out;
}

t.test('docs/openapi.json is the document the server serves, and it is valid OpenAPI 3.0', async (t) => {
  const served: any = await servedOpenapi();
  const file = JSON.parse(readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8'));
  t.same(file, served, 'docs/openapi.json matches GET /api/v1/openapi.json (regenerate with: npm run openapi)');
  t.same(openapi30Problems(served), [], 'only OpenAPI 3.0 keywords, boolean exclusive bounds, one unique operationId per operation');
  const plan = served.paths['/api/v1/rollout/plan'].post.requestBody.content['application/json'].schema;
  t.same(
    [plan.properties.rate.minimum, plan.properties.rate.exclusiveMinimum],
    [0, true],
    'a JSON Schema exclusiveMinimum: 0 is published as minimum 0, exclusiveMinimum true',
  );
  t.equal(served.paths['/api/v1/flags/{key}/check'].get.operationId, 'getFlagsKeyCheck');
  t.ok(served.paths['/api/v1/fleet'] && served.paths['/api/v1/fleet/audit'], 'fleet-mode routes are in the one document');

  // the checker itself finds each kind of 3.1-ism it is there for
  const bad = {
    openapi: '3.1.0',
    paths: {
      '/x': {
        get: {
          responses: {
            200: {
              content: {
                'application/json': { schema: { type: ['string', 'null'], properties: { n: { exclusiveMinimum: 0 } }, const: 1 } },
              },
            },
          },
        },
      },
    },
  };
  t.same(openapi30Problems(bad).length, 5, `a 3.1 document is refused: ${openapi30Problems(bad).join('; ')}`);
});
