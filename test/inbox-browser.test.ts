/**
 * `<herald-inbox>` as a person uses it, in real headless Chromium: the example app
 * (examples/inbox-app) serves the page and signs the tokens, and passes /herald/... on to a real
 * Herald (its HTTP server with the WebSocket, serveHerald) with the builtin worker sending.
 * A notification triggered on the server appears live and the badge counts it; a click marks
 * it read (the badge drops, the REST count agrees) and a second tab sees the read live; the
 * page comes back by itself after Herald restarts on the same port and database, and shows
 * what was sent after; the bell works from the keyboard; older pages load by cursor as the
 * panel fills; the browser logs no errors.
 * Screenshots go to test-results/inbox-browser/.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Herald } from '../src/index.js';
import { builtinHandlers } from '../src/handlers.js';
import { serveHerald } from '../src/http/server.js';
import { recipientToken } from './helpers/api.js';
import { browserSkipReason, launchBrowser } from './helpers/browser.js';
import {
  closeHerald,
  freshSchema,
  openHerald,
  pgSkipReason,
  waitFor,
  type Backend,
} from './helpers/db.js';

const skip = browserSkipReason();
const KEY = 'inbox-browser-test-key-0123456789';
const SECRET = 'an-inbox-browser-jwt-secret-of-32-chars';
/** Generous: Chromium and two Herald starts share two busy cores with other work. */
const WAIT = 60_000;
const SHOTS = join(process.cwd(), 'test-results', 'inbox-browser');

interface InboxApp {
  url: string;
  close(): Promise<void>;
}
type StartInboxApp = (options: {
  port: number;
  heraldUrl: string;
  secret: string;
}) => Promise<InboxApp>;

describe('<herald-inbox> in Chromium', { skip }, () => {
  // PostgreSQL in a schema of its own when it is there, else PGlite in a folder: either way
  // the restarted Herald finds the first one's data.
  let backend: Backend;
  const schema = freshSchema('inbox_browser');
  let dataDir: string | undefined;
  let herald: Herald;
  let server: { port: number; close(): Promise<void> };
  let base: string;
  let app: InboxApp;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let second: Page;
  const problems: string[] = [];
  const elsewhere: string[] = [];
  /** While Herald is down, failed connections are expected (and logged by Chromium). */
  let restarting = false;

  /** Herald with its worker and HTTP server on `port` (0: any). */
  async function startHerald(port: number): Promise<void> {
    herald = await openHerald(backend, {
      apiKey: KEY,
      jwtSecret: SECRET,
      ...(backend === 'pg' ? { schema } : { dataDir }),
    });
    await herald.worker({ handlers: builtinHandlers(herald), pollIntervalMs: 50 }).start();
    server = await serveHerald(herald, port, '127.0.0.1');
    base = `http://127.0.0.1:${server.port}`;
  }

  async function api(method: string, path: string, body?: unknown): Promise<Response> {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${await res.clone().text()}`);
    return res;
  }
  const trigger = (n: number) =>
    api('POST', '/v1/notifications', { type: 'note', to: 'ann', data: { n } });

  async function restUnread(): Promise<number> {
    const res = await fetch(`${base}/v1/me/unread-count`, {
      headers: { authorization: `Bearer ${await recipientToken('ann', SECRET)}` },
    });
    return ((await res.json()) as { count: number }).count;
  }

  // What the person sees, read through the shadow DOM (Playwright's CSS pierces it).
  const badge = async (p: Page) => {
    const b = p.locator('herald-inbox .badge');
    return (await b.isVisible()) ? ((await b.textContent()) ?? '') : '';
  };
  const untilBadge = (p: Page, text: string) =>
    waitFor(async () => (await badge(p)) === text, WAIT, `the badge to show "${text}"`);
  const item = (p: Page, title: string) =>
    p.locator('herald-inbox .item', { has: p.locator('.title', { hasText: title }) });
  const status = (p: Page) =>
    p.locator('herald-inbox').evaluate((el: { client?: { status: string } }) => el.client?.status);
  const untilLive = (p: Page) =>
    waitFor(async () => (await status(p)) === 'live', WAIT, 'the inbox to be live');
  const focusedClass = (p: Page) =>
    p
      .locator('herald-inbox')
      .evaluate(
        (el: { shadowRoot: { activeElement: { className: string } | null } | null }) =>
          el.shadowRoot?.activeElement?.className ?? '',
      );
  const shot = (p: Page, name: string) => p.screenshot({ path: join(SHOTS, `${name}.png`) });

  function watch(p: Page): void {
    p.on('console', (m) => {
      if (m.type() !== 'error' && m.type() !== 'warning') return;
      // Chromium's own lines about the connections that fail while Herald is away.
      const expected =
        restarting && /WebSocket connection to|status of 502|ERR_CONNECTION_REFUSED/.test(m.text());
      if (!expected) problems.push(`console: ${m.text()} (${m.location().url})`);
    });
    p.on('pageerror', (err) => problems.push(`page: ${err.message}`));
    p.on('request', (req) => {
      if (!req.url().startsWith(`${app.url}/`)) elsewhere.push(req.url());
    });
  }

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    backend = (await pgSkipReason()) ? 'pglite' : 'pg';
    if (backend === 'pglite') dataDir = mkdtempSync(join(tmpdir(), 'herald-inbox-browser-'));
    await startHerald(0);
    await api('PUT', '/v1/types/note', {
      channels: ['inapp'],
      templates: { inapp: { title: 'Note {{n}}', body: 'Body of note {{n}}' } },
    });
    await api('PUT', '/v1/recipients/ann', {});
    const { startInboxApp } = (await import(
      new URL('../examples/inbox-app/server.js', import.meta.url).href
    )) as { startInboxApp: StartInboxApp };
    app = await startInboxApp({ port: 0, heraldUrl: base, secret: SECRET });
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 900, height: 600 } });
    page = await context.newPage();
    watch(page);
  });
  after(async () => {
    await browser?.close();
    await app?.close();
    await server?.close();
    if (herald) await closeHerald(herald);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('Herald serves the client scripts: public, cached, CORS *', async () => {
    for (const file of ['herald.js', 'herald-inbox.js']) {
      const res = await fetch(`${base}/client/${file}`);
      assert.equal(res.status, 200, file);
      assert.equal(res.headers.get('content-type'), 'text/javascript; charset=utf-8');
      assert.equal(res.headers.get('access-control-allow-origin'), '*');
      assert.match(res.headers.get('cache-control') ?? '', /max-age=\d+/);
      const etag = res.headers.get('etag') ?? '';
      assert.ok(etag, 'an ETag');
      assert.match(await res.text(), /^\/\*\*|^import|^export/m);
      const again = await fetch(`${base}/client/${file}`, { headers: { 'if-none-match': etag } });
      assert.equal(again.status, 304);
    }
    assert.equal((await fetch(`${base}/client/nope.js`)).status, 404);
    assert.equal((await fetch(`${base}/client/..%2Fhttp%2Fapp.js`)).status, 404);
  });

  it('the page shows the bell, live, with no badge while nothing is unread', async () => {
    const res = await page.goto(app.url, { waitUntil: 'load' });
    assert.equal(res?.status(), 200);
    await untilLive(page);
    assert.equal(await badge(page), '');
    assert.equal(await page.locator('herald-inbox .bell').getAttribute('aria-expanded'), 'false');
  });

  it('from the keyboard: Tab reaches the bell, Enter opens the panel, Escape closes it', async () => {
    await page.keyboard.press('Tab');
    assert.equal(await focusedClass(page), 'bell');
    await page.keyboard.press('Enter');
    const bell = page.locator('herald-inbox .bell');
    await waitFor(async () => (await bell.getAttribute('aria-expanded')) === 'true', WAIT, 'open');
    const empty = page.locator('herald-inbox .empty');
    await empty.waitFor({ state: 'visible', timeout: WAIT });
    assert.equal(await empty.textContent(), 'No notifications yet');
    await shot(page, '1-empty');
    await page.keyboard.press('Escape');
    assert.equal(await bell.getAttribute('aria-expanded'), 'false');
    assert.equal(await page.locator('herald-inbox .panel').isVisible(), false);
    assert.equal(await focusedClass(page), 'bell', 'focus back on the bell');
    await page.keyboard.press('Enter'); // open again for what follows
    await page.locator('herald-inbox .panel').waitFor({ state: 'visible', timeout: WAIT });
  });

  it('a notification triggered on the server appears live, and the badge counts', async () => {
    await trigger(1);
    await item(page, 'Note 1').waitFor({ timeout: WAIT });
    await untilBadge(page, '1');
    await trigger(2);
    await item(page, 'Note 2').waitFor({ timeout: WAIT });
    await untilBadge(page, '2');
    assert.deepEqual(await page.locator('herald-inbox .item .title').allTextContents(), [
      'Unread: Note 2',
      'Unread: Note 1',
    ]);
    assert.equal(
      await page.locator('herald-inbox [role=status]').textContent(),
      '2 unread notifications',
    );
    assert.equal(await page.locator('herald-inbox .empty').isVisible(), false);
    await shot(page, '2-live');
  });

  it('a click marks read: the badge drops, the REST count agrees, and a second tab sees it live', async () => {
    second = await context.newPage();
    watch(second);
    await second.goto(app.url, { waitUntil: 'load' });
    await untilLive(second);
    await untilBadge(second, '2');
    await second.locator('herald-inbox .bell').click();
    await item(second, 'Note 1').waitFor({ timeout: WAIT });
    assert.match((await item(second, 'Note 1').getAttribute('class')) ?? '', /\bunread\b/);

    await item(page, 'Note 1').click();
    await untilBadge(page, '1');
    await waitFor(async () => (await restUnread()) === 1, WAIT, 'the REST count to be 1');
    await untilBadge(second, '1');
    await waitFor(
      async () => /\bread\b/.test((await item(second, 'Note 1').getAttribute('class')) ?? ''),
      WAIT,
      'the second tab to show Note 1 read',
    );
    assert.match((await item(second, 'Note 2').getAttribute('class')) ?? '', /\bunread\b/);
    await shot(second, '3-second-tab');
  });

  it('comes back after Herald restarts, and shows what was sent after', async () => {
    const port = server.port;
    restarting = true;
    await server.close();
    await herald.close();
    await waitFor(async () => (await status(page)) !== 'live', WAIT, 'the page to see it go');
    await startHerald(port);
    await untilLive(page);
    await untilLive(second);
    restarting = false;
    await trigger(3);
    await item(page, 'Note 3').waitFor({ timeout: WAIT });
    await item(second, 'Note 3').waitFor({ timeout: WAIT });
    await untilBadge(page, '2');
    await untilBadge(second, '2');
    await shot(page, '4-after-restart');

    // From the keyboard again: down from the bell to the newest item, Enter marks it read.
    await page.locator('herald-inbox .bell').focus();
    await page.keyboard.press('ArrowDown');
    assert.match(await focusedClass(page), /\bitem\b/);
    await page.keyboard.press('Enter');
    await untilBadge(page, '1');
    await untilBadge(second, '1');
    await waitFor(async () => (await restUnread()) === 1, WAIT, 'the REST count to be 1');
    assert.equal(await item(page, 'Note 3').count(), 1, 'each item once');
  });

  it('loads older pages with the cursor as the panel fills, each item once', async () => {
    const pages: string[] = [];
    const onRequest = (req: { url(): string }) => {
      if (req.url().includes('/v1/me/notifications?')) pages.push(req.url());
    };
    second.on('request', onRequest);
    await second
      .locator('herald-inbox')
      .evaluate((el: { setAttribute(n: string, v: string): void }) =>
        el.setAttribute('page-size', '1'),
      );
    // One item a page: the first page leaves room, so the next loads, until the last.
    await waitFor(
      () => pages.filter((u) => u.includes('cursor=')).length >= 2,
      WAIT,
      'the older pages',
    );
    await waitFor(
      async () => (await second.locator('herald-inbox .item').count()) === 3,
      WAIT,
      'every item',
    );
    second.off('request', onRequest);
    assert.deepEqual(await second.locator('herald-inbox .item .title').allTextContents(), [
      'Note 3',
      'Unread: Note 2',
      'Note 1',
    ]);
    assert.ok(
      pages.every((u) => u.includes('limit=1')),
      pages.join('\n'),
    );
  });

  it('logged no errors and loaded nothing from elsewhere', () => {
    assert.deepEqual(problems, []);
    assert.deepEqual(elsewhere, []);
  });
});
