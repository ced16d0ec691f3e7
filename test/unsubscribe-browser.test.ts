/**
 * The unsubscribe link as a person sees it, in real headless Chromium over the real HTTP
 * server: opening the link shows the type and a button and changes nothing (mail scanners and
 * previews open links too); the button unsubscribes; an altered or forged link shows the
 * "not valid" page with status 400 and changes nothing. The pages load nothing from elsewhere
 * and the browser reports no errors.
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

const TYPE = 'weekly_news';
const newsletter = {
  category: 'marketing',
  channels: ['email'],
  templates: {
    email: {
      subject: 'News',
      html: '<p>News</p><p><a href="{{unsubscribeUrl}}">Unsubscribe</a></p>',
      text: 'News. Unsubscribe: {{unsubscribeUrl}}',
    },
  },
};

/** Another character at position `i` of `s` (base64url, so the token keeps its shape). */
function alterAt(s: string, i: number): string {
  const ch = s[i] === 'A' ? 'B' : 'A';
  return s.slice(0, i) + ch + s.slice(i + 1);
}

describe('the unsubscribe page in Chromium', { skip }, () => {
  let herald: Herald;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let base: string;
  const problems: string[] = [];
  const elsewhere: string[] = [];
  /** Pages opened on purpose with a bad token: the browser reports their 400, rightly. */
  const refused = new Set<string>();

  /** The link of the email for `recipientId`, on the running server. */
  async function link(recipientId: string): Promise<string> {
    const target = { recipientId, type: TYPE };
    // The link the email carries (herald.unsubscribe.url; its token holds its expiry, so two
    // links made a second apart differ), at this server's port.
    const token = new URL(await herald.unsubscribe.url(target)).searchParams.get('token') ?? '';
    assert.deepEqual(await herald.unsubscribe.verify(token), target);
    return `${base}/v1/unsubscribe?token=${token}`;
  }

  /** Every table's rows, to show that nothing changed. */
  async function everything(): Promise<string> {
    const s = `"${herald.config.schema}"`;
    const { rows } = await herald.db.query<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables
       WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name`,
      [herald.config.schema],
    );
    const parts = rows.map(
      ({
        name,
      }) => `SELECT '${name}' AS name, coalesce(string_agg(x::text, '|' ORDER BY x::text), '') AS rows
                     FROM ${s}."${name}" x`,
    );
    const { rows: state } = await herald.db.query<{ name: string; rows: string }>(
      parts.join(' UNION ALL '),
    );
    return JSON.stringify(state);
  }

  before(async () => {
    herald = await openHerald('pglite');
    await herald.types.put(TYPE, newsletter);
    for (const id of ['ann', 'bob']) {
      await herald.recipients.upsert(id, { email: `${id}@example.com` });
      await herald.preferences.put(id, {
        consent: { marketing: true },
        quietHours: { start: '22:00', end: '07:00' },
      });
    }
    server = await startServer(makeApp(herald), 0, '127.0.0.1');
    base = `http://127.0.0.1:${server.port}`;
    browser = await launchBrowser();
    page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() !== 'error' && m.type() !== 'warning') return;
      const expected = m.text().includes('status of 400') && refused.has(m.location().url);
      if (!expected) problems.push(`console: ${m.text()} (${m.location().url})`);
    });
    page.on('pageerror', (err) => problems.push(`page: ${err.message}`));
    page.on('request', (req) => {
      if (!req.url().startsWith(`${base}/`) && !req.url().startsWith('data:'))
        elsewhere.push(req.url());
    });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    if (herald) await closeHerald(herald);
  });

  it('opening the link shows the type and a button, and unsubscribes nobody', async () => {
    const url = await link('ann');
    const before = await everything();
    const res = await page.goto(url, { waitUntil: 'load' });
    assert.equal(res?.status(), 200);
    assert.equal(await page.title(), 'Unsubscribe');
    assert.equal(await page.locator('h1').textContent(), 'Unsubscribe');
    assert.match((await page.locator('p').first().textContent()) ?? '', /weekly news/);
    const button = page.getByRole('button', { name: 'Unsubscribe' });
    assert.ok(await button.isVisible());
    assert.equal(await everything(), before, 'GET changed nothing');
    assert.deepEqual((await herald.preferences.get('ann')).types, {});
  });

  it('the button unsubscribes from that type, and keeps the rest of the preferences', async () => {
    const [res] = await Promise.all([
      page.waitForNavigation({ waitUntil: 'load' }),
      page.getByRole('button', { name: 'Unsubscribe' }).click(),
    ]);
    assert.equal(res?.status(), 200);
    assert.equal(res?.request().method(), 'POST');
    assert.equal(await page.title(), 'Unsubscribed');
    assert.equal(await page.locator('h1').textContent(), 'You are unsubscribed');
    assert.match((await page.locator('p').first().textContent()) ?? '', /weekly news/);
    const prefs = await herald.preferences.get('ann');
    assert.deepEqual(prefs.types, { [TYPE]: false });
    assert.equal(prefs.consent.marketing, true);
    assert.deepEqual(prefs.quietHours, { start: '22:00', end: '07:00' });
    assert.deepEqual((await herald.preferences.get('bob')).types, {}, 'only ann');
  });

  it('an altered or forged link shows "not valid" with status 400, and changes nothing', async () => {
    const good = new URL(await link('bob'));
    const token = good.searchParams.get('token') ?? '';
    const [body, sig] = token.split('.') as [string, string];
    const forgedBody = Buffer.from(JSON.stringify({ r: 'bob', t: 'other_news' })).toString(
      'base64url',
    );
    const bad = [
      alterAt(token, Math.floor(body.length / 2)),
      `${body}.${alterAt(sig, Math.floor(sig.length / 2))}`,
      `${forgedBody}.${sig}`,
      token.slice(0, -3),
      body,
      '',
    ];
    const before = await everything();
    for (const t of bad) {
      const url = `${base}/v1/unsubscribe?token=${t}`;
      refused.add(url);
      const res = await page.goto(url, { waitUntil: 'load' });
      assert.equal(res?.status(), 400, t);
      assert.equal(await page.title(), 'Link not valid');
      assert.equal(await page.locator('h1').textContent(), 'This link is not valid');
      assert.equal(await page.getByRole('button').count(), 0, 'nothing to click');
    }
    // The page's own button, its form pointed at an altered token.
    await page.goto(good.toString(), { waitUntil: 'load' });
    refused.add(`${base}/v1/unsubscribe?token=${bad[1]}`);
    await page
      .locator('form')
      .evaluate(
        (form: { setAttribute(name: string, value: string): void }, action: string) =>
          form.setAttribute('action', action),
        `?token=${bad[1]}`,
      );
    const [res] = await Promise.all([
      page.waitForNavigation({ waitUntil: 'load' }),
      page.getByRole('button', { name: 'Unsubscribe' }).click(),
    ]);
    assert.equal(res?.status(), 400);
    assert.equal(res?.request().method(), 'POST');
    assert.equal(await page.locator('h1').textContent(), 'This link is not valid');
    assert.equal(await everything(), before, 'nothing changed');
    assert.deepEqual((await herald.preferences.get('bob')).types, {});
  });

  it('loaded nothing from elsewhere and logged no errors', async () => {
    assert.deepEqual(elsewhere, []);
    assert.deepEqual(problems, []);
    // Nothing in the markup points elsewhere either (a stylesheet, a font, a tracking pixel).
    await page.goto(await link('bob'), { waitUntil: 'load' });
    const refs = await page
      .locator('[src], [href], [action]')
      .evaluateAll((els: { getAttribute(name: string): string | null }[]) =>
        els.map((e) => e.getAttribute('src') ?? e.getAttribute('href') ?? e.getAttribute('action')),
      );
    // data: URLs (the empty icon) stay inside the page.
    for (const ref of refs.filter((r) => !r?.startsWith('data:')))
      assert.equal(new URL(ref ?? '', page.url()).origin, new URL(base).origin, String(ref));
  });
});
