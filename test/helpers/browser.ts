/**
 * For the dashboard tests: Debian's chromium through playwright-core (never a downloaded browser), with a
 * throwaway profile and a list of the page's console errors and page errors; and bounded background
 * traffic through the proxy from many sticky users.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { TapTest } from './admin.js';

export interface Browser {
  browser: BrowserContext;
  page: Page;
  /** console errors (other than 404s of absent engines) and page errors seen so far */
  problems: string[];
}

export async function launchChromium(t: TapTest): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'canaryd-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 1300 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
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
  const problems: string[] = [];
  const watch = (page: Page) => {
    page.on('console', (m) => {
      if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of 404/.test(m.text()))
        problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  };
  const page = browser.pages()[0] ?? (await browser.newPage());
  watch(page);
  return { browser, page, problems };
}

/** Bounded load until the test ends: 20 requests every 100 ms for at most 60 s, from 200 sticky users. */
export function sendLoad(t: TapTest, proxyUrl: string): { sent(): number } {
  const dispatcher = new Agent({ connections: 16 });
  let sending = true;
  let sent = 0;
  const load = (async () => {
    const deadline = Date.now() + 60_000;
    while (sending && Date.now() < deadline) {
      await Promise.all(
        Array.from({ length: 20 }, () =>
          request(`${proxyUrl}/api/items/${sent % 20}`, { dispatcher, headers: { 'x-user-id': `u-${sent++ % 200}` } }).then(
            (r) => r.body.dump(),
            () => {},
          ),
        ),
      );
      await new Promise((r) => setTimeout(r, 100)); // pacing the load, not waiting for anything
    }
  })();
  t.teardown(async () => {
    sending = false;
    await load;
    await dispatcher.close();
  });
  return { sent: () => sent };
}
