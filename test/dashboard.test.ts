/**
 * The dashboard: built offline by esbuild (no external URL anywhere), served with correct content types and
 * a strict CSP; and in Debian's chromium (playwright-core, never a downloaded browser) against a real
 * Sidecar with real sample upstreams: the page loads without CSP violations, the charts move with live
 * traffic the test sends, and the rollback button asks for the token and calls the rollout API — which
 * moves traffic to baseline once the rollout controller provides that route. A screenshot is kept in
 * test-artifacts/.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { request } from 'undici';
import { DASHBOARD_CSP } from '../admin/index.js';
import { startSampleUpstream } from '../demo/upstream.js';
import { configYaml } from './helpers/canaryd.js';
import { call, startAdminSidecar, until, type TapTest } from './helpers/admin.js';
import { launchChromium, sendLoad } from './helpers/browser.js';

const TOKEN = 'dash-token';
// page.evaluate callbacks run in the browser; the test build has no DOM lib
declare const document: any;
declare const sessionStorage: any;

t.before(() => {
  const build = spawnSync(process.execPath, ['scripts/build-dashboard.mjs'], { encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`dashboard build failed: ${build.stderr}`);
});

/** dryRun: the engine judges but never acts, so only the buttons move the rollout (no race with a rollback of its own). */
async function setup(t: TapTest) {
  const base = await startSampleUpstream({ name: 'baseline', latencyMs: 5, errorRate: 0.01 });
  const can = await startSampleUpstream({ name: 'canary', latencyMs: 15, errorRate: 0.1 });
  const yaml = configYaml(
    base.url,
    can.url,
    'routing: { canaryWeight: 40, sticky: { header: x-user-id } }\nrollout: { dryRun: true }',
  ).replace('admin: { listen: "127.0.0.1:0" }', `admin: { listen: "127.0.0.1:0", token: "${TOKEN}" }`);
  const s = await startAdminSidecar(yaml);
  t.teardown(async () => (await s.stop(), await base.close(), await can.close()));
  return s;
}

t.test('the browser code type-checks', async (t) => {
  const r = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'admin/dashboard/web'], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stdout + r.stderr);
});

t.test('assets: offline bundle, content types, strict CSP, ETag', async (t) => {
  const s = await setup(t);
  const page = await call(s.app, 'GET', '/');
  t.equal(page.status, 200);
  t.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  t.equal(page.headers['content-security-policy'], DASHBOARD_CSP);
  t.notMatch(DASHBOARD_CSP, /unsafe|\*|https?:/, 'no unsafe-inline/eval, wildcards or remote hosts');
  t.match(DASHBOARD_CSP, /default-src 'none'/);
  t.equal(page.headers['x-content-type-options'], 'nosniff');
  t.equal(page.headers['x-frame-options'], 'DENY');
  t.notMatch(page.body, /<script(?![^>]*\ssrc=)[^>]*>/, 'no inline script');
  t.notMatch(page.body, /\sstyle=|<style/, 'no inline style');
  const refs = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
  t.ok(refs.length >= 3 && refs.every((r) => r.startsWith('/assets/')), `only our own assets: ${refs.join(' ')}`);
  const js = await call(s.app, 'GET', '/assets/app.js');
  t.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
  t.equal(js.headers['content-security-policy'], DASHBOARD_CSP);
  t.ok(js.body.length > 20_000, 'the bundle includes uPlot');
  t.notMatch(js.body, /https?:\/\//, 'the bundle loads nothing from elsewhere');
  const css = await call(s.app, 'GET', '/assets/app.css');
  t.equal(css.headers['content-type'], 'text/css; charset=utf-8');
  t.match(css.body, /\.u-legend/, "uPlot's styles are bundled");
  const again = await call(s.app, 'GET', '/assets/app.js', { headers: { 'if-none-match': String(js.headers.etag) } });
  t.equal(again.status, 304, 'ETag revalidation');
  t.equal((await call(s.app, 'GET', '/assets/favicon.svg')).headers['content-type'], 'image/svg+xml');
});

t.test('in chromium: live charts move with traffic; rollback asks for the token and calls the rollout API', async (t) => {
  const s = await setup(t);
  const load = sendLoad(t, s.url);
  const { browser, page, problems } = await launchChromium(t);

  await page.goto(`${s.adminUrl}/`);
  await page.waitForFunction(() => document.getElementById('conn')?.textContent === 'live', null, { timeout: 10_000 });
  t.pass('the event stream is live');
  t.equal(await page.locator('#weight').textContent(), 'canary 40%');
  t.equal(await page.locator('#chart-rate canvas').count(), 1, 'uPlot drew a canvas');
  await page.waitForFunction(() => (document.getElementById('analysis-reason')?.textContent ?? '') !== '', null, { timeout: 10_000 });
  t.match(
    await page.locator('#analysis-reason').textContent(),
    /^no analysis yet/,
    'before any rollout the analysis panel says so (the engine is there, it has no report yet)',
  );

  const chart = async (id: string) =>
    page.evaluate(
      (id) => ({
        points: Number(document.getElementById(id)!.dataset.points ?? 0),
        last: JSON.parse(document.getElementById(id)!.dataset.last ?? '[]'),
      }),
      id,
    );
  const first = await until(
    'rate chart with traffic on both versions',
    async () => {
      const c = await chart('chart-rate');
      return c.points >= 2 && c.last[0] > 0 && c.last[1] > 0 ? c : null;
    },
    20_000,
    200,
  );
  const later = await until(
    'the rate chart to move on',
    async () => {
      const c = await chart('chart-rate');
      return c.points >= first.points + 2 ? c : null;
    },
    20_000,
    200,
  );
  t.ok(
    later.points > first.points,
    `rate chart grew from ${first.points} to ${later.points} points (last ${JSON.stringify(later.last)} req/s)`,
  );
  const lat = await chart('chart-latency');
  t.ok(lat.points >= later.points - 1 && typeof lat.last[4] === 'number', `latency chart has canary p95 ${lat.last[4]} ms`);
  t.ok((await chart('chart-errors')).points > 0, 'error chart has points');

  mkdirSync('test-artifacts', { recursive: true });
  await page.screenshot({ path: 'test-artifacts/dashboard.png', fullPage: true });

  // start: the page asks for the token, keeps it in sessionStorage, then POSTs to the rollout API
  const started = page.waitForRequest((r) => r.url().endsWith('/api/v1/rollout/start') && r.method() === 'POST');
  await page.click('#btn-start');
  await page.locator('#token-dialog').waitFor({ state: 'visible' });
  await page.fill('#token-input', TOKEN);
  await page.click('#token-save');
  await page.locator('#confirm-dialog').waitFor({ state: 'visible' });
  await page.fill('#confirm-reason', 'dashboard start');
  await page.click('#confirm-ok');
  t.same((await started).postDataJSON(), { reason: 'dashboard start' });
  await page.waitForFunction(() => /start: done/.test(document.getElementById('notice')?.textContent ?? ''), null, { timeout: 10_000 });
  t.equal((await call(s.app, 'GET', '/api/v1/status')).json.rollout.phase, 'progressing', 'the Start button started a rollout');

  // roll back: the token is already kept, so straight to the confirmation
  const posted = page.waitForRequest((r) => r.url().endsWith('/api/v1/rollout/rollback') && r.method() === 'POST');
  await page.click('#btn-rollback');
  await page.locator('#confirm-dialog').waitFor({ state: 'visible' });
  await page.fill('#confirm-reason', 'dashboard test');
  await page.click('#confirm-ok');
  const req = await posted;
  t.equal(req.headers().authorization, `Bearer ${TOKEN}`, 'the token is sent as a bearer header');
  t.same(req.postDataJSON(), { reason: 'dashboard test' });
  t.equal(await page.evaluate(() => sessionStorage.getItem('canaryd.adminToken')), TOKEN, 'token kept in sessionStorage');
  await page.waitForFunction(() => /rollback/.test(document.getElementById('notice')?.textContent ?? ''), null, { timeout: 10_000 });
  t.equal(
    (await call(s.app, 'GET', '/api/v1/status')).json.weights.canary,
    0,
    'traffic moved to baseline (canary weight 0 in /api/v1/status)',
  );
  const afterRollback = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      request(`${s.url}/after`, { headers: { 'x-user-id': `after-${i}` } }).then(
        async (r) => (await r.body.dump(), r.headers['x-canaryd-version']),
      ),
    ),
  );
  t.same([...new Set(afterRollback)], ['baseline'], 'every request after the click reaches baseline');
  await page.waitForFunction(() => document.getElementById('weight')?.textContent === 'canary 0%', null, { timeout: 10_000 });
  t.equal(await page.locator('#phase').textContent(), 'rollout rolledback', 'the page shows the phase');
  await page.screenshot({ path: 'test-artifacts/dashboard-after-rollback.png', fullPage: true });

  // admin.authReads: a fresh tab (empty sessionStorage) is asked for the token before it reads anything
  s.sidecar.applyConfig({ ...s.sidecar.config, admin: { ...s.sidecar.config.admin, authReads: true } }, 'test');
  const tab = await browser.newPage();
  tab.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`)); // its one refused read is a console error, expected
  const failuresBefore = s.lines.filter((l) => l.msg === 'admin auth failed').length;
  await tab.goto(`${s.adminUrl}/`);
  await tab.locator('#token-dialog').waitFor({ state: 'visible' });
  t.equal(await tab.locator('#conn').textContent(), 'offline', 'no stream before the token');
  t.ok(s.lines.filter((l) => l.msg === 'admin auth failed').length - failuresBefore <= 1, 'one refused read, no polling without the token');
  await tab.fill('#token-input', TOKEN);
  await tab.click('#token-save');
  await tab.waitForFunction(() => document.getElementById('conn')?.textContent === 'live', null, { timeout: 10_000 });
  t.pass('with the token the tab reads and streams');
  await tab.close();
  t.same(problems, [], 'no console errors or CSP violations');
  t.ok(load.sent() > 0, `${load.sent()} requests sent through the proxy`);
  t.ok(readFileSync('test-artifacts/dashboard.png').length > 10_000, 'screenshot kept in test-artifacts/dashboard.png');
});
