/**
 * The OpenAPI document at /api/v1/openapi.json: version 3, every registered route present with its
 * schema (body, query, path parameters, error responses, bearer security on mutations) — including routes a
 * plugin of another area registers through AdminDeps.plugins, which also get the auth policy.
 */
import t from 'tap';
import type { FastifyInstance } from 'fastify';
import { registeredRoutes } from '../admin/index.js';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml } from './helpers/canaryd.js';
import { call, startAdminSidecar } from './helpers/admin.js';

const TOKEN = 'openapi-token';

/** Stands in for a route plugin of another area (rollout, faults): plain fastify, no auth code of its own. */
function examplePlugin(app: FastifyInstance): void {
  app.post(
    '/api/v1/example/things',
    { schema: { summary: 'example', body: { type: 'object', required: ['n'], additionalProperties: false, properties: { n: { type: 'integer', maximum: 9 } } } } },
    async () => ({ ok: true }),
  );
  app.get('/api/v1/example/things/:id', { schema: { params: { type: 'object', properties: { id: { type: 'string' } } } } }, async (req) => ({ id: (req.params as { id: string }).id }));
}

t.test('the OpenAPI document lists every route with its schema', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const yaml = configYaml(base.url, can.url).replace('admin: { listen: "127.0.0.1:0" }', `admin: { listen: "127.0.0.1:0", token: "${TOKEN}" }`);
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
  for (const ref of new Set(refs)) t.ok(ref.split('/').reduce((o: any, k) => o?.[k], doc), `$ref #/${ref} resolves`);

  const routes = registeredRoutes(s.app).filter((rt) => !(rt.schema as any)?.hide);
  const apiRoutes = routes.flatMap((rt) => (Array.isArray(rt.method) ? rt.method : [rt.method]).filter((m) => m !== 'HEAD').map((m) => ({ m, rt })));
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
        t.ok((op.parameters ?? []).some((p: any) => p.name === prop && p.in === where && p.schema), `${name} documents ${where} parameter ${prop}`);
      }
    }
    if (rt.url.startsWith('/api/v1/')) {
      t.equal(op.responses['4XX']?.content?.['application/json']?.schema?.$ref, '#/components/schemas/ErrorBody', `${name} documents its error body`);
      if (m !== 'GET') t.same(op.security, [{ bearerAuth: [] }], `${name} needs the bearer token`);
    }
  }
  for (const path of ['/api/v1/flags/{key}/check', '/api/v1/config/drift', '/api/v1/config/reload', '/api/v1/events', '/api/v1/example/things']) t.ok(doc.paths[path], `${path} documented`);
  t.notOk(doc.paths['/'], 'dashboard assets are not API operations');

  // the plugin's routes got the policy: token on the mutation, validation messages naming the field
  const no = await call(s.app, 'POST', '/api/v1/example/things', { body: { n: 1 } });
  t.equal(no.status, 401, "another area's mutating route needs the token without doing anything");
  const bad = await call(s.app, 'POST', '/api/v1/example/things', { body: { n: 12 }, token: TOKEN });
  t.equal(bad.status, 400);
  t.equal(bad.json.message, 'body.n: must be <= 9, got 12');
  t.equal((await call(s.app, 'GET', '/api/v1/example/things/abc')).json.id, 'abc');
});
