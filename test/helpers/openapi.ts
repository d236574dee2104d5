/**
 * The OpenAPI document a canaryd serves, as docs/openapi.json holds it: a canaryd with an admin token
 * (so reads are documented with their security too) and every route group it always has.
 * `npm run openapi` writes it to docs/openapi.json; test/admin-openapi.test.ts compares the two.
 */
import { startEchoUpstream } from './echo-upstream.js';
import { configYaml } from './canaryd.js';
import { startAdminSidecar } from './admin.js';

export const OPENAPI_TOKEN = 'openapi-document-token';

export async function servedOpenapi(): Promise<unknown> {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const yaml = configYaml(base.url, can.url).replace(
    'admin: { listen: "127.0.0.1:0" }',
    `admin: { listen: "127.0.0.1:0", token: "${OPENAPI_TOKEN}" }`,
  );
  const s = await startAdminSidecar(yaml);
  try {
    const r = await s.app.inject({ method: 'GET', url: '/api/v1/openapi.json', headers: { authorization: `Bearer ${OPENAPI_TOKEN}` } });
    if (r.statusCode !== 200) throw new Error(`GET /api/v1/openapi.json: ${r.statusCode} ${r.body}`);
    return r.json();
  } finally {
    await s.stop();
    await base.close();
    await can.close();
  }
}
