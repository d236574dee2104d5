/**
 * Flags and routing rules are compiled by one compiler (proxy/rules.ts). A table of conditions and requests:
 * each condition is a config-file rule in one canaryd and the same condition as a flag in another; real
 * requests go through both proxies, and each must land where the table says — in both, so they agree.
 */
import t from 'tap';
import { request, Agent } from 'undici';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml } from './helpers/canaryd.js';
import { call, startAdminSidecar } from './helpers/admin.js';

const TOKEN = 'agree-token';
const dispatcher = new Agent({ connections: 8 });
t.teardown(() => dispatcher.close());

interface Condition {
  header?: Record<string, string[]>;
  path?: string;
  method?: string[];
  /** as a rule: match.ip; as a flag: kind ipList */
  ip?: string[];
}
interface Probe {
  path: string;
  method?: string;
  headers?: Record<string, string>;
  pinned: boolean;
}

const TABLE: Array<{ when: Condition; probes: Probe[] }> = [
  {
    when: { header: { 'x-beta': ['yes', 'sure'] } },
    probes: [
      { path: '/', headers: { 'x-beta': 'sure' }, pinned: true },
      { path: '/', headers: { 'x-beta': 'no' }, pinned: false },
      { path: '/', pinned: false },
    ],
  },
  {
    when: { header: { 'X-Beta': ['*'] } },
    probes: [
      { path: '/', headers: { 'x-beta': 'anything' }, pinned: true },
      { path: '/', pinned: false },
    ],
  },
  { when: { header: { constructor: ['*'] } }, probes: [{ path: '/', pinned: false }] },
  {
    when: { path: '/api/' },
    probes: [
      { path: '/api/items?x=1', pinned: true },
      { path: '/apix', pinned: false },
      { path: '/', pinned: false },
    ],
  },
  {
    when: { path: '/api/*/items' },
    probes: [
      { path: '/api/v1/items', pinned: true },
      { path: '/api/v1/x/items', pinned: false },
    ],
  },
  {
    when: { path: '/api/**/items' },
    probes: [
      { path: '/api/v1/x/items', pinned: true },
      { path: '/api/v1/x/item', pinned: false },
    ],
  },
  {
    when: { path: '/a?c' },
    probes: [
      { path: '/abc', pinned: true },
      { path: '/a/c', pinned: false },
    ],
  },
  {
    when: { method: ['post', 'PUT'] },
    probes: [
      { path: '/', method: 'POST', pinned: true },
      { path: '/', method: 'PUT', pinned: true },
      { path: '/', method: 'GET', pinned: false },
    ],
  },
  {
    when: { method: ['DELETE'], path: '/admin', header: { 'x-role': ['ops'] } },
    probes: [
      { path: '/admin/1', method: 'DELETE', headers: { 'x-role': 'ops' }, pinned: true },
      { path: '/admin/1', method: 'DELETE', pinned: false },
      { path: '/other', method: 'DELETE', headers: { 'x-role': 'ops' }, pinned: false },
    ],
  },
  { when: { ip: ['127.0.0.0/8'] }, probes: [{ path: '/', pinned: true }] },
  { when: { ip: ['10.0.0.0/8', '::2'] }, probes: [{ path: '/', pinned: false }] },
  {
    when: { ip: ['127.0.0.1'], path: '/ip' },
    probes: [
      { path: '/ip/x', pinned: true },
      { path: '/', pinned: false },
    ],
  },
];

/** Each row also matches only requests carrying its own x-row header, so rows never see each other's requests. */
const ROW = 'x-row';

function ruleOf(i: number, c: Condition): object {
  const match: Record<string, unknown> = { header: { ...c.header, [ROW]: String(i) } };
  if (c.path !== undefined) match.path = c.path;
  if (c.method) match.method = c.method;
  if (c.ip) match.ip = c.ip;
  return { name: `row-${i}`, match, to: 'canary' };
}

function flagOf(i: number, c: Condition): object {
  const match: Record<string, unknown> = { header: { ...c.header, [ROW]: [String(i)] } };
  if (c.path !== undefined) match.path = c.path;
  if (c.method) match.method = c.method;
  return c.ip
    ? { key: `row-${i}`, kind: 'ipList', ips: c.ip, enabled: true, match }
    : { key: `row-${i}`, kind: 'boolean', enabled: true, match };
}

async function versionAt(url: string, p: Probe, row: number): Promise<string> {
  const r = await request(`${url}${p.path}`, { method: p.method ?? 'GET', headers: { ...p.headers, [ROW]: String(row) }, dispatcher });
  await r.body.dump();
  return r.headers['x-canaryd-version'] as string;
}

t.test('a rule and a flag with the same condition send the same requests to the canary', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const withToken = (yaml: string) =>
    yaml.replace('admin: { listen: "127.0.0.1:0" }', `admin: { listen: "127.0.0.1:0", token: "${TOKEN}" }`);
  const rules = JSON.stringify(TABLE.map((row, i) => ruleOf(i, row.when)));
  const byRule = await startAdminSidecar(withToken(configYaml(base.url, can.url, `routing: { canaryWeight: 0, rules: ${rules} }`)));
  const byFlag = await startAdminSidecar(withToken(configYaml(base.url, can.url, 'routing: { canaryWeight: 0 }')));
  t.teardown(async () => (await byRule.stop(), await byFlag.stop(), await base.close(), await can.close()));

  for (const [i, row] of TABLE.entries()) {
    const made = await call(byFlag.app, 'POST', '/api/v1/flags', { body: flagOf(i, row.when), token: TOKEN });
    t.equal(made.status, 201, `flag row-${i} created`);
  }

  let probes = 0;
  for (const [i, row] of TABLE.entries()) {
    for (const p of row.probes) {
      const want = p.pinned ? 'canary' : 'baseline';
      const what = `${JSON.stringify(row.when)} <- ${p.method ?? 'GET'} ${p.path} ${JSON.stringify(p.headers ?? {})}`;
      t.equal(await versionAt(byRule.url, p, i), want, `rule: ${what}`);
      t.equal(await versionAt(byFlag.url, p, i), want, `flag: ${what}`);
      probes++;
    }
  }
  t.equal(
    probes,
    TABLE.reduce((n, r) => n + r.probes.length, 0),
  );
});
