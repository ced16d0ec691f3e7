/**
 * The console as an operator uses it, in real headless Chromium against a served Herald with
 * its worker and a real SMTP server: sign in (by keyboard), see the overview's charts, find a
 * notification by a `data` value, open its timeline, see the rendered email in its sandboxed
 * frame, retry the failed email once its cause is fixed and watch it turn sent, retry all dead
 * jobs that match a filter (and only those), run a schedule now and see it succeed. A page
 * without a session goes to sign-in, and so does one with a forged or expired cookie. The
 * browser logs no error (a CSP violation would be one). Screenshots of every page go to
 * test-results/admin-browser/.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Herald } from '../src/index.js';
import { builtinHandlers } from '../src/handlers.js';
import { serveHerald } from '../src/http/server.js';
import { PermanentError } from '../src/queue/errors.js';
import { browserSkipReason, launchBrowser } from './helpers/browser.js';
import { closeHerald, openHerald, pgSkipReason, waitFor } from './helpers/db.js';
import { startSmtpSink, type SmtpSink } from './helpers/smtp-sink.js';

const skip = browserSkipReason();
const KEY = 'admin-browser-server-key-0123456789';
const ADMIN = 'admin-browser-admin-key-0123456789';
/** Generous: Chromium, Herald and the SMTP server share two busy cores. */
const WAIT = 60_000;
const SHOTS = join(process.cwd(), 'test-results', 'admin-browser');

describe('the console in Chromium', { skip }, () => {
  let herald: Herald;
  let sink: SmtpSink;
  let server: { port: number; close(): Promise<void> };
  let base: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  let exportBroken = true;
  const exported: string[] = [];

  async function api(method: string, path: string, body?: unknown): Promise<Response> {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${await res.clone().text()}`);
    return res;
  }

  const shot = (name: string) =>
    page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    sink = await startSmtpSink({ reject: /^bounce-/ });
    const backend = (await pgSkipReason()) ? 'pglite' : 'pg';
    herald = await openHerald(backend, {
      apiKey: KEY,
      adminKey: ADMIN,
      smtpUrl: sink.url,
      emailFrom: 'Acme <no-reply@acme.test>',
      delivery: { maxAttempts: 1 },
    });
    await herald
      .worker({
        pollIntervalMs: 50,
        handlers: {
          ...builtinHandlers(herald),
          'report.export': (p: { name: string }) => {
            if (exportBroken) throw new PermanentError('export broken: the bucket is read-only');
            exported.push(p.name);
          },
          'cleanup.old': () => {
            throw new PermanentError('export broken too, but another kind');
          },
        },
      })
      .start();
    server = await serveHerald(herald, 0, '127.0.0.1');
    base = `http://127.0.0.1:${server.port}`;

    await api('PUT', '/v1/types/order_shipped', {
      channels: ['email', 'inapp'],
      templates: {
        email: {
          subject: 'Order {{orderId}} shipped',
          html: '<h1 style="color:#1f5fbf">Order {{orderId}} is on its way</h1><p>Hi {{recipient.id}}</p>',
          text: 'Order {{orderId}} is on its way',
        },
        inapp: { title: 'Order {{orderId}} shipped', body: 'On its way' },
      },
    });
    await api('PUT', '/v1/recipients/ada', { email: 'bounce-ada@example.com' });
    await api('PUT', '/v1/recipients/bob', { email: 'bob@example.com' });
    for (const [to, orderId] of [
      ['bob', 'A-1041'],
      ['ada', 'A-1042'],
      ['bob', 'A-1043'],
    ] as const)
      await api('POST', '/v1/notifications', { type: 'order_shipped', to, data: { orderId } });
    for (const name of ['jan', 'feb', 'mar'])
      await herald.queue.enqueue({ kind: 'report.export', payload: { name }, maxAttempts: 1 });
    await herald.queue.enqueue({ kind: 'cleanup.old', maxAttempts: 1 });
    await herald.schedules.put('weekly-digest', {
      cron: '0 9 * * 1',
      task: 'notify',
      payload: { type: 'order_shipped', to: 'bob', data: { orderId: 'W-1' } },
    });
    // Ada's email bounced (550), bob's two went; the four jobs are dead.
    await waitFor(
      async () => (await herald.deadLetters.list({})).total === 4,
      WAIT,
      'the dead jobs',
    );
    await sink.waitForMessages(2, WAIT);

    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page: ${e.message}`));
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`);
    });
    page.on('dialog', (d) => void d.accept());
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    if (herald) await closeHerald(herald);
    await sink?.close();
  });

  it('sends a page without a session to sign-in, and signs in by keyboard', async () => {
    await page.goto(`${base}/admin/notifications`);
    assert.equal(new URL(page.url()).pathname, '/admin/sign-in');
    await shot('01-sign-in');
    // The key field has the focus; Enter submits.
    await page.keyboard.type(ADMIN);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${base}/admin/notifications`);
    // The first Tab reaches the skip link, which moves to the content.
    await page.keyboard.press('Tab');
    assert.equal(await page.locator(':focus').innerText(), 'Skip to content');
    await page.keyboard.press('Enter');
    assert.equal(new URL(page.url()).hash, '#main');
  });

  it('draws the overview charts', async () => {
    await page.goto(`${base}/admin`);
    await page.waitForSelector('[data-chart="byChannel"] .uplot', { timeout: WAIT });
    assert.equal(await page.locator('.uplot').count(), 4);
    assert.match(await page.locator('.cards').innerText(), /4\s+dead jobs/);
    // This process's worker pool, heard from just now.
    assert.match(await page.locator('h2:has-text("Processes") + table').innerText(), /worker/);
    await shot('02-overview');
  });

  it('finds a notification by a data value and shows its timeline and email', async () => {
    await page.goto(`${base}/admin/notifications`);
    await page.getByLabel('Data key').fill('orderId');
    await page.getByLabel('Data value').fill('A-1042');
    await page.getByLabel('Data value').press('Enter');
    await page.waitForURL(/value=A-1042/);
    const rows = page.locator('tbody tr');
    assert.equal(await rows.count(), 1);
    assert.match(await rows.innerText(), /ada/);
    await shot('03-notifications');
    await rows.locator('a').first().click();
    await page.waitForURL(/\/admin\/notifications\/[0-9a-f-]{36}$/);
    const email = page.locator('[data-delivery][data-status="failed"]');
    assert.match(await email.innerText(), /email/);
    assert.match(await email.innerText(), /550/, "the SMTP server's answer");
    const frame = page.frameLocator('iframe.email');
    await frame.locator('h1').waitFor({ timeout: WAIT });
    assert.equal(await frame.locator('h1').innerText(), 'Order A-1042 is on its way');
    assert.match(await page.locator('main').innerText(), /email as sent/);
    assert.match(await page.locator('pre.json').first().innerText(), /"orderId": "A-1042"/);
    await shot('04-timeline');
    await page.locator('iframe.email').scrollIntoViewIfNeeded();
    await page.locator('iframe.email').screenshot({ path: join(SHOTS, '04-timeline-email.png') });
  });

  it('retries the failed email once its cause is fixed, and it turns sent', async () => {
    await api('PUT', '/v1/recipients/ada', { email: 'ada@example.com' });
    await page.getByRole('button', { name: 'Retry email' }).click();
    await page.waitForSelector('p.notice', { timeout: WAIT });
    // The page reloads itself while a delivery is queued.
    await page.waitForSelector('[data-delivery][data-status="sent"] >> text=email', {
      timeout: WAIT,
    });
    const mail = await sink.waitForMessages(3, WAIT);
    assert.ok(mail.some((m) => m.envelope.rcptTo.includes('ada@example.com')));
    await shot('05-retried');
  });

  it('retries all dead jobs that match a filter, and only those', async () => {
    await page.goto(`${base}/admin/jobs`);
    await page.getByLabel('Kind').selectOption('report.export');
    await page.getByLabel('Error contains').fill('export broken');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/kind=report.export/);
    assert.equal(await page.locator('.match-count').innerText(), '3');
    await shot('06-dead-letters');
    exportBroken = false;
    await page.getByRole('button', { name: 'Retry all 3 matching' }).click();
    assert.equal(await page.locator('p.notice').innerText(), 'Dead jobs queued again: 3.');
    await waitFor(() => exported.length === 3, WAIT, 'the replayed exports');
    assert.deepEqual([...exported].sort(), ['feb', 'jan', 'mar']);
    const left = await herald.deadLetters.list({});
    assert.deepEqual(
      left.items.map((j) => j.kind),
      ['cleanup.old'],
    );
  });

  it('runs a schedule now and shows its run succeed', async () => {
    await page.goto(`${base}/admin/schedules`);
    await page.getByRole('button', { name: 'Run weekly-digest now' }).click();
    assert.equal(
      await page.locator('p.notice').innerText(),
      'The schedule runs now: a worker takes the run.',
    );
    await page.waitForSelector('[data-schedule="weekly-digest"] .last-run >> text=succeeded', {
      timeout: WAIT,
    });
    await shot('07-schedules');
  });

  it('shows a recipient and previews a type', async () => {
    await page.goto(`${base}/admin/recipients`);
    await page.getByLabel('Id or email starts with').fill('ad');
    await page.getByLabel('Id or email starts with').press('Enter');
    await page.getByRole('link', { name: 'ada', exact: true }).click();
    await page.waitForURL(`${base}/admin/recipients/ada`);
    assert.match(await page.locator('main').innerText(), /ada@example\.com/);
    await shot('08-recipient');
    await page.goto(`${base}/admin/types`);
    await shot('09-types');
    await page.getByRole('link', { name: 'order_shipped' }).click();
    await page.getByLabel('Sample data (JSON)').fill('{"orderId": "P-7"}');
    await page.getByRole('button', { name: 'Preview' }).click();
    const frame = page.frameLocator('iframe.email');
    await frame.locator('h1').waitFor({ timeout: WAIT });
    assert.equal(await frame.locator('h1').innerText(), 'Order P-7 is on its way');
    await shot('10-type-preview');
  });

  it('refuses a forged or expired cookie, sending the page to sign-in', async () => {
    const other = await browser.newContext();
    try {
      await other.addCookies([
        { name: 'herald_admin', value: 'forged.cookie', url: `${base}/admin` },
      ]);
      const p = await other.newPage();
      await p.goto(`${base}/admin/jobs`);
      assert.equal(new URL(p.url()).pathname, '/admin/sign-in');
    } finally {
      await other.close();
    }
    await herald.db.query(
      `UPDATE "${herald.config.schema}".admin_sessions SET expires_at = now() - interval '1 second'`,
    );
    await page.goto(`${base}/admin/jobs`);
    assert.equal(new URL(page.url()).pathname, '/admin/sign-in');
    assert.deepEqual(problems, [], 'no console errors');
  });
});
