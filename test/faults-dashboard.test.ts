/**
 * The dashboard's "Active faults" panel renders the fault engine's shapes (GET /api/v1/faults), in Debian's
 * chromium against a real canaryd: an active rule with its kind, probability, match and count, and the
 * halted state (with its reason) after the kill switch.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { configYaml } from './helpers/canaryd.js';
import { call, startAdminSidecar } from './helpers/admin.js';
import { startEchoUpstream } from './helpers/echo-upstream.js';

declare const document: any;

t.test('the faults panel shows active rules, then the halted state', async (t) => {
  const build = spawnSync(process.execPath, ['scripts/build-dashboard.mjs'], { encoding: 'utf8' });
  t.equal(build.status, 0, build.stderr);
  const base = await startEchoUpstream('baseline');
  const can = await startEchoUpstream('canary');
  const s = await startAdminSidecar(configYaml(base.url, can.url, 'faults: { enabled: true, maxErrorRate: 1 }\n'));
  t.teardown(async () => (await s.stop(), await base.close(), await can.close()));
  await call(s.app, 'POST', '/api/v1/faults', {
    body: { name: 'canary-503', probability: 0.3, match: { version: 'canary', path: '/api/*' }, abort: { status: 503 } },
  });
  await call(s.app, 'POST', '/api/v1/faults', { body: { name: 'parked', probability: 1, enabled: false, delay: { ms: 5 } } });

  const profile = mkdtempSync(join(tmpdir(), 'canaryd-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  t.teardown(async () => {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  });
  const page = browser.pages()[0] ?? (await browser.newPage());
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${s.adminUrl}/`);
  await page.waitForFunction(() => /canary-503/.test(document.getElementById('faults')?.textContent ?? ''), null, { timeout: 15_000 });
  const text = await page.locator('#faults').textContent();
  t.match(text, /abort canary-503 p=0\.300 \{"version":"canary","path":"\/api\/\*"\} · 0 injected/);
  t.notMatch(text, /parked/, 'disabled rules are not listed as active');
  await call(s.app, 'DELETE', '/api/v1/faults?reason=game%20day%20over');
  await page.waitForFunction(() => /halted/.test(document.getElementById('faults')?.textContent ?? ''), null, { timeout: 15_000 });
  t.match(await page.locator('#faults').textContent(), /^halted game day over$/, 'halted, with the reason, and no rule shown active');
  t.same(errors, []);
});
