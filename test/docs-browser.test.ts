/**
 * The /docs reference page in real headless Chromium over the real HTTP server: it renders,
 * lists the operations, the filter box narrows them, it fetches nothing from elsewhere, and
 * the browser reports no errors (a CSP hash out of date would show up here).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { startServer, type RunningServer } from '../src/http/server.js';
import { browserSkipReason, launchBrowser } from './helpers/browser.js';
import { closeHerald, openHerald } from './helpers/db.js';

const skip = browserSkipReason();

describe('/docs in Chromium', { skip }, () => {
  let herald: Herald;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let base: string;
  const problems: string[] = [];
  const elsewhere: string[] = [];

  before(async () => {
    herald = await openHerald('pglite');
    server = await startServer(makeApp(herald), 0, '127.0.0.1');
    base = `http://127.0.0.1:${server.port}`;
    browser = await launchBrowser();
    page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page: ${err.message}`));
    page.on('request', (req) => {
      if (!req.url().startsWith(base) && !req.url().startsWith('data:')) elsewhere.push(req.url());
    });
    const res = await page.goto(`${base}/docs`, { waitUntil: 'load' });
    assert.equal(res?.status(), 200);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    if (herald) await closeHerald(herald);
  });

  const visibleNav = () => page.locator('nav li:visible').allTextContents();

  it('renders the reference with every operation in the nav', async () => {
    assert.match(await page.title(), /^Herald API reference/);
    assert.equal(await page.locator('h1').textContent(), 'Herald API reference');
    const nav = await visibleNav();
    assert.ok(nav.includes('PUT /v1/recipients/{id}'), nav.join('\n'));
    assert.ok(nav.includes('POST /v1/notifications'), nav.join('\n'));
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as {
      paths: Record<string, object>;
    };
    const count = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
    assert.equal(nav.length, count);
    // An operation shows its auth, its body's fields and its error codes.
    const op = page.locator('#op-upsertRecipient');
    assert.ok(await op.isVisible());
    const text = (await op.textContent()) ?? '';
    for (const expected of ['Auth: API key', 'timezone', 'validation_failed', 'unauthorized'])
      assert.ok(text.includes(expected), `${expected} missing from the operation`);
  });

  it('the filter box narrows the list, and clearing it brings everything back', async () => {
    const all = await visibleNav();
    await page.locator('#filter').fill('preferences');
    const some = await visibleNav();
    assert.ok(some.length > 0 && some.length < all.length, some.join('\n'));
    assert.ok(
      some.every((s) => s.includes('preferences')),
      some.join('\n'),
    );
    assert.equal(await page.locator('#op-upsertRecipient').isVisible(), false);
    assert.equal(await page.locator('#op-putPreferences').isVisible(), true);
    // Words narrow together: method and path.
    await page.locator('#filter').fill('put /v1/me/');
    assert.deepEqual(await visibleNav(), ['PUT /v1/me/preferences']);
    await page.locator('#filter').fill('no-such-operation');
    assert.deepEqual(await visibleNav(), []);
    await page.locator('#filter').fill('');
    assert.equal((await visibleNav()).length, all.length);
  });

  it('a nav link goes to its operation', async () => {
    await page.locator('#filter').fill('');
    await page.locator('nav a[href="#op-getType"]').click();
    assert.ok(page.url().endsWith('#op-getType'));
    assert.ok(await page.locator('#op-getType').isVisible());
  });

  it('fetched nothing from elsewhere and logged no errors', () => {
    assert.deepEqual(elsewhere, []);
    assert.deepEqual(problems, []);
  });
});
