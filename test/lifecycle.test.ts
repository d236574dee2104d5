import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { request, Agent } from 'undici';
import { seenAtLeast, startEchoUpstream } from './helpers/echo-upstream.js';
import { configYaml, spawnCanaryd } from './helpers/canaryd.js';

const dispatcher = new Agent({ connections: 32 });
t.teardown(() => dispatcher.close());

async function status(adminUrl: string): Promise<any> {
  const r = await request(`${adminUrl}/api/v1/status`, { dispatcher });
  return r.body.json();
}

t.test('hot reload: a valid file applies, an invalid one is rejected and the old config keeps serving', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const p = await spawnCanaryd(configYaml(base.url, can.url, 'routing: { canaryWeight: 10 }'));
  t.teardown(async () => {
    p.child.kill('SIGKILL');
    await base.close();
    await can.close();
  });
  t.equal((await status(p.adminUrl)).weights.canary, 10);

  // valid change through SIGHUP, with requests in flight that must not be dropped
  const slow = Array.from({ length: 10 }, () =>
    request(`${p.url}/slow?ms=400`, { dispatcher }).then(async (r) => (await r.body.dump(), r.statusCode)),
  );
  await seenAtLeast([base, can], 10); // all 10 are in flight at the upstreams before the reload
  writeFileSync(p.configPath, readFileSync(p.configPath, 'utf8').replace('canaryWeight: 10', 'canaryWeight: 40'));
  p.child.kill('SIGHUP');
  await p.waitForLog((l) => l.event === 'config_applied');
  t.same(await Promise.all(slow), Array(10).fill(200), 'in-flight requests finished through the reload');
  t.equal((await status(p.adminUrl)).weights.canary, 40, 'new weight applied');

  // invalid change: rejected with a clear log line naming the key; old config still serves
  writeFileSync(p.configPath, readFileSync(p.configPath, 'utf8').replace('canaryWeight: 40', 'canaryWeight: 400'));
  p.child.kill('SIGHUP');
  const rejected = await p.waitForLog((l) => l.event === 'config_rejected');
  t.match(String(rejected.msg), /routing\.canaryWeight: must be <= 100, got 400/);
  t.equal((await status(p.adminUrl)).weights.canary, 40, 'old config kept');
  const r = await request(`${p.url}/still`, { dispatcher });
  await r.body.dump();
  t.equal(r.statusCode, 200, 'still serving');

  // a file change (no signal) is picked up too
  const before = p.logs.filter((l) => l.event === 'config_applied').length;
  writeFileSync(p.configPath, readFileSync(p.configPath, 'utf8').replace('canaryWeight: 400', 'canaryWeight: 25'));
  await p.waitForLog((l) => l.event === 'config_applied' && p.logs.filter((x) => x.event === 'config_applied').length > before);
  t.equal((await status(p.adminUrl)).weights.canary, 25, 'file change applied without a signal');
});

t.test('SIGTERM drains: no in-flight request is lost, then exit 0', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const p = await spawnCanaryd(configYaml(base.url, can.url, 'routing: { canaryWeight: 50 }\nshutdown: { drainTimeout: 10s }'));
  t.teardown(async () => {
    p.child.kill('SIGKILL');
    await base.close();
    await can.close();
  });
  const inflight = Array.from({ length: 30 }, (_, i) =>
    request(`${p.url}/slow?ms=${300 + i * 10}`, { dispatcher }).then(async (r) => ({
      status: r.statusCode,
      body: (await r.body.json()) as { slow: boolean },
    })),
  );
  // SIGTERM once every request is in flight at the upstreams (a request still in the accept queue when the
  // listener closes is refused by the kernel, which is not what this test is about)
  await seenAtLeast([base, can], 30);
  t.equal(base.seen.length + can.seen.length, 30, 'all 30 requests reached an upstream before SIGTERM');
  p.child.kill('SIGTERM');
  const results = await Promise.all(inflight);
  t.equal(results.filter((r) => r.status === 200 && r.body.slow).length, 30, 'all 30 in-flight requests completed');
  t.equal(await p.exited, 0, 'exit code 0');
  await t.rejects(request(`${p.url}/after`, { dispatcher }), 'no longer accepting');
});

t.test('admin: mutating routes need the bearer token', async (t) => {
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const p = await spawnCanaryd(
    configYaml(base.url, can.url).replace('admin: { listen: "127.0.0.1:0" }', 'admin: { listen: "127.0.0.1:0", token: "${TEST_TOKEN}" }'),
    { TEST_TOKEN: 'tok-123' },
  );
  t.teardown(async () => {
    p.child.kill('SIGKILL');
    await base.close();
    await can.close();
  });
  const put = (auth?: string, body: unknown = { canary: 30 }) =>
    request(`${p.adminUrl}/api/v1/weights`, {
      method: 'PUT',
      dispatcher,
      headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
      body: JSON.stringify(body),
    }).then(async (r) => ({ status: r.statusCode, json: (await r.body.json()) as any }));
  const none = await put();
  t.equal(none.status, 401);
  t.equal(none.json.error, 'CANARYD_ERR_UNAUTHORIZED');
  t.equal((await put('Bearer wrong')).status, 401);
  const ok = await put('Bearer tok-123');
  t.equal(ok.status, 200);
  t.equal((await status(p.adminUrl)).weights.canary, 30);
  const bad = await put('Bearer tok-123', { canary: 150 });
  t.equal(bad.status, 400);
  t.match(bad.json.message, /canary/);
  const health = await request(`${p.adminUrl}/healthz`, { dispatcher });
  t.equal(health.statusCode, 200);
  await health.body.dump();
  const failed = p.logs.filter((l) => l.msg === 'admin auth failed');
  t.ok(failed.length >= 2, 'failed attempts are logged');
});
