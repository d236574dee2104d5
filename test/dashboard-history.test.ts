/**
 * The dashboard opened mid-rollout, in Debian's chromium against a real Sidecar with real sample upstreams
 * and live traffic: the charts are not empty at load — the first points drawn already cover the seconds
 * the server kept before the page opened (GET /api/v1/history) — and continue from the live stream with the
 * same seconds as the server's history, no gap and no duplicate, also after the event stream is cut for
 * several seconds (a playwright WebSocket route) and reconnects; the canary-weight chart shows the current
 * weight and the decisions as markers whose hover tooltip shows the decision's reason; the analysis panel
 * leads with the report's plain-language summary, its statistical detail in a closed <details>.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { startSampleUpstream } from '../demo/upstream.js';
import { configYaml } from './helpers/canaryd.js';
import { call, startAdminSidecar, until } from './helpers/admin.js';
import { launchChromium, sendLoad } from './helpers/browser.js';
import type { WebSocketRoute } from 'playwright-core';

const TOKEN = 'dash-history-token';
// page.evaluate callbacks run in the browser; the test build has no DOM lib
declare const document: any;

t.before(() => {
  const build = spawnSync(process.execPath, ['scripts/build-dashboard.mjs'], { encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`dashboard build failed: ${build.stderr}`);
});

t.test('opened mid-rollout: backfilled charts, weight chart with decision markers, plain reason first', async (t) => {
  const base = await startSampleUpstream({ name: 'baseline', latencyMs: 5, errorRate: 0.01 });
  const can = await startSampleUpstream({ name: 'canary', latencyMs: 15, errorRate: 0.1 });
  // dryRun: the engine judges (and records its decisions) but never moves the weight, so the weight is steady
  const yaml = configYaml(
    base.url,
    can.url,
    'routing: { canaryWeight: 0, sticky: { header: x-user-id } }\nrollout: { dryRun: true }',
  ).replace('admin: { listen: "127.0.0.1:0" }', `admin: { listen: "127.0.0.1:0", token: "${TOKEN}" }`);
  const s = await startAdminSidecar(yaml);
  t.teardown(async () => (await s.stop(), await base.close(), await can.close()));
  const load = sendLoad(t, s.url);

  const started = await call(s.app, 'POST', '/api/v1/rollout/start', { token: TOKEN, body: { reason: 'history test' } });
  t.equal(started.status, 200, 'rollout started');
  const weight = started.json.canaryWeight;
  // some seconds of the rollout's traffic, counted by the server: 8 kept points at the rollout's weight with canary traffic
  const kept = async () => {
    const r = await call(s.app, 'GET', '/api/v1/history?seconds=300');
    return r.json.points as any[];
  };
  const before = await until(
    '8 seconds of rollout traffic in the history',
    async () => {
      const pts = await kept();
      return pts.filter((p) => p.canaryWeight === weight && p.versions.canary.rps > 0).length >= 8 ? pts : null;
    },
    30_000,
    200,
  );
  await until('an analysis report', async () => (await call(s.app, 'GET', '/api/v1/analysis')).status === 200, 20_000, 200);

  const { page, problems } = await launchChromium(t);
  // the event stream goes through a route the test can cut (a real drop, seen by the page as a close)
  let blocked = false;
  let stream: WebSocketRoute | null = null;
  await page.routeWebSocket(/\/api\/v1\/events/, (ws) => {
    if (blocked) return ws.close();
    ws.connectToServer();
    stream = ws;
  });
  await page.goto(`${s.adminUrl}/`);
  // the first non-empty state of the rate chart, read in the page as soon as it is drawn
  const atLoad = Number(
    await (
      await page.waitForFunction(
        () => {
          const n = Number(document.getElementById('chart-rate')?.dataset.points ?? 0);
          return n > 0 ? n : null;
        },
        null,
        { timeout: 20_000, polling: 'raf' },
      )
    ).jsonValue(),
  );
  t.ok(
    atLoad >= before.length - 1,
    `at load the rate chart already has ${atLoad} points (the server had kept ${before.length} before the page opened; live alone starts at 1)`,
  );
  const weightAtLoad = Number(await page.evaluate(() => document.getElementById('chart-weight').dataset.points ?? 0));
  t.ok(weightAtLoad >= before.length - 1, `the weight chart too (${weightAtLoad} points)`);

  // then live: the seconds drawn are the seconds the server kept, each once
  const seen = await until(
    'the page to draw 3 more live seconds',
    async () => {
      const c = await page.evaluate(() => ({ ...document.getElementById('chart-rate').dataset }));
      return Number(c.points) >= atLoad + 3 ? c : null;
    },
    20_000,
    200,
  );
  const server = (await kept()).filter((p) => p.to / 1000 >= Number(seen.first) && p.to / 1000 <= Number(seen.lastX));
  t.ok(
    Math.abs(Number(seen.points) - server.length) <= 1,
    `the page has ${seen.points} points for seconds ${seen.first}..${seen.lastX}, the server kept ${server.length}: no gap, no duplicate`,
  );
  t.ok(Number(seen.points) <= Number(seen.lastX) - Number(seen.first) + 1, 'at most one point a second');

  // a drop of several seconds: after the reconnect the page fills the gap from the history
  blocked = true;
  await (stream as WebSocketRoute | null)?.close();
  await page.waitForFunction(() => document.getElementById('conn')?.textContent === 'offline', null, { timeout: 10_000 });
  const cut = await until(
    'the server to keep 4 seconds the page has not seen',
    async () => {
      const pts = await kept();
      const drawn = Number(await page.evaluate(() => document.getElementById('chart-rate').dataset.lastX));
      return pts.filter((p) => p.to / 1000 > drawn).length >= 4 ? pts[pts.length - 1].to / 1000 : null;
    },
    20_000,
    200,
  );
  blocked = false;
  const after = await until(
    'the page to reconnect and draw past the gap',
    async () => {
      const c = await page.evaluate(() => ({
        conn: document.getElementById('conn').textContent,
        ...document.getElementById('chart-rate').dataset,
      }));
      return c.conn === 'live' && Number(c.lastX) > cut ? c : null;
    },
    30_000,
    200,
  );
  const serverAfter = (await kept()).filter((p) => p.to / 1000 >= Number(after.first) && p.to / 1000 <= Number(after.lastX));
  t.ok(
    Math.abs(Number(after.points) - serverAfter.length) <= 1,
    `after the drop the page has ${after.points} points for ${after.first}..${after.lastX}, the server kept ${serverAfter.length}: the gap is filled`,
  );

  // the weight chart: the current weight and the decisions as markers
  const status = (await call(s.app, 'GET', '/api/v1/status')).json;
  await page.waitForFunction((w) => document.getElementById('chart-weight')?.dataset.last === String(w), status.weights.canary, {
    timeout: 20_000,
  });
  t.pass(`the weight chart shows the current weight (${status.weights.canary} %)`);
  await page.waitForFunction(() => Number(document.getElementById('chart-weight')?.dataset.markers ?? 0) >= 1, null, { timeout: 20_000 });
  const markers = page.locator('#chart-weight .marker:not([hidden])');
  const count = await markers.count();
  t.ok(count >= 1, `${count} decision markers drawn`);
  t.equal(await page.locator('#weight-tip').isVisible(), false, 'no tooltip before hovering');
  // hover the newest marker with the real mouse: the tooltip names what the top element under it is
  const box = (await markers.nth(count - 1).boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.locator('#weight-tip').waitFor({ state: 'visible', timeout: 10_000 });
  const tip = await page.evaluate(() => {
    const el = document.getElementById('weight-tip');
    return { at: Number(el.dataset.at), action: el.dataset.action, text: el.textContent };
  });
  const decisions: any[] = (await call(s.app, 'GET', '/api/v1/decisions?limit=500')).json.decisions;
  const decided = decisions.find((d) => d.at === tip.at && d.action === tip.action);
  t.ok(decided, `the hovered marker is a recorded decision (${tip.action} at ${tip.at})`);
  t.ok(decided && decided.reasons[0] && tip.text.includes(decided.reasons[0]), `its tooltip shows the reason: ${tip.text}`);
  const startMarker = decisions.find((d) => d.source === 'manual' && d.action === 'PROMOTE');
  t.ok(
    startMarker && (await page.locator(`#chart-weight .marker[data-at="${startMarker.at}"][data-action="PROMOTE"]`).count()) === 1,
    'the operator start (a manual PROMOTE) is marked',
  );
  await page.mouse.move(5, 5);
  await page.locator('#weight-tip').waitFor({ state: 'hidden', timeout: 10_000 });

  // the analysis: the plain reason first, the statistics folded away
  const shown = await until(
    'the page to show the current report summary',
    async () => {
      const report = (await call(s.app, 'GET', '/api/v1/analysis')).json;
      const text = await page.locator('#analysis-reason').textContent();
      return report.summary && text === report.summary ? report : null;
    },
    20_000,
    200,
  );
  const view = await page.evaluate(() => {
    const section = document.getElementById('analysis');
    const detail = document.getElementById('analysis-detail');
    const lines = String(section.innerText)
      .split('\n')
      .map((l: string) => l.trim())
      .filter(Boolean);
    const heading = String(section.querySelector('h2').innerText)
      .split('\n')
      .filter((l: string) => l.trim()).length;
    return { lines, heading, tag: detail.tagName, open: detail.open, rows: detail.querySelectorAll('tbody tr').length };
  });
  t.match(view.lines[0], /^Analysis/, 'the heading');
  t.equal(view.lines[view.heading], shown.summary, `then, first, the plain reason: ${shown.summary}`);
  t.equal(view.tag, 'DETAILS');
  t.equal(view.open, false, 'the statistical detail is folded away');
  t.ok(view.rows >= 3, `${view.rows} checks inside it`);
  t.equal(await page.locator('#checks tbody tr').first().isVisible(), false, 'the checks are not visible until unfolded');
  t.notOk(
    view.lines.some((l: string) => l.startsWith(shown.checks[0].name)),
    'no check row in the visible text',
  );
  await page.click('#analysis-detail-summary');
  t.equal(await page.locator('#checks tbody tr').first().isVisible(), true, 'unfolded on click');

  mkdirSync('test-artifacts', { recursive: true });
  await page.screenshot({ path: 'test-artifacts/dashboard-mid-rollout.png', fullPage: true });
  t.same(problems, [], 'no console errors or CSP violations');
  t.ok(load.sent() > 0, `${load.sent()} requests sent through the proxy`);
});
