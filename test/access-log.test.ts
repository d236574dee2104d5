/**
 * The access log: pino JSON lines read back. A sample of requests at log.accessLogSampleRate, every 5xx
 * whatever the rate ("errors always"), with the fields an operator greps for.
 */
import t from 'tap';
import { request, Agent } from 'undici';
import { startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml } from './helpers/canaryd.js';
import { startAdminSidecar, type TapTest } from './helpers/admin.js';

const dispatcher = new Agent({ connections: 16 });
t.teardown(() => dispatcher.close());

async function hit(url: string, headers: Record<string, string> = {}): Promise<void> {
  const r = await request(url, { dispatcher, headers });
  await r.body.dump();
}

async function setup(t: TapTest, rate: number) {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const yaml = configYaml(
    base.url,
    can.url,
    'routing: { canaryWeight: 0, rules: [{ name: beta, match: { header: { x-beta: "1" } }, to: canary }] }',
  ).replace('log: { level: silent }', `log: { level: info, accessLogSampleRate: ${rate} }`);
  const s = await startAdminSidecar(yaml);
  t.teardown(async () => (await s.stop(), await base.close(), await can.close()));
  return { s, access: () => s.lines.filter((l) => l.event === 'access') };
}

t.test('rate 1 logs every request with its fields', async (t) => {
  const { s, access } = await setup(t, 1);
  for (let i = 0; i < 20; i++) await hit(`${s.url}/items/${i}?q=${i}`);
  await hit(`${s.url}/beta`, { 'x-beta': '1' });
  const lines = access();
  t.equal(lines.length, 21);
  t.match(lines[0], { level: 30, msg: 'request', version: 'baseline', status: 200, method: 'GET', url: '/items/0?q=0' });
  t.type(lines[0].ms, 'number');
  t.match(lines[20], { version: 'canary', rule: 'beta', url: '/beta' });
  t.notOk('rule' in lines[0], 'no rule field when weights decided');
});

t.test('rate 0 logs no successful request but every 5xx', async (t) => {
  const { s, access } = await setup(t, 0);
  for (let i = 0; i < 10; i++) await hit(`${s.url}/ok`);
  for (let i = 0; i < 3; i++) await hit(`${s.url}/status/503`);
  const lines = access();
  t.equal(lines.length, 3, 'only the 5xx');
  t.ok(lines.every((l) => l.status === 503));
});

t.test('a fractional rate samples within binomial bounds', async (t) => {
  const { s, access } = await setup(t, 0.2);
  const n = 1000;
  for (let i = 0; i < n; i += 50) await Promise.all(Array.from({ length: 50 }, () => hit(`${s.url}/x`)));
  const k = access().length;
  const sd = Math.sqrt(n * 0.2 * 0.8); // ~12.6
  t.ok(Math.abs(k - 200) < 5 * sd, `${k} of ${n} logged at rate 0.2 (expected 200 ± ${Math.round(5 * sd)})`);
});
