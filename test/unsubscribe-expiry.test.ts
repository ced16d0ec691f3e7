/**
 * Unsubscribe links expire (HERALD_UNSUBSCRIBE_TTL_DAYS, default 90): an expired link changes
 * nothing (preferences and consent stay) and says what to do, as a page (GET, and the page's
 * button) and as problem+json `link_expired` for a mail client's one-click POST; a fresh link
 * still shows its page and unsubscribes in one click; links made before expiry existed (no `e`)
 * are honoured until LEGACY_UNTIL and refused from then on.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { LEGACY_UNTIL } from '../src/notify/unsubscribe.js';
import { closeHerald, openHerald } from './helpers/db.js';
import type { Problem } from './helpers/api.js';

const SECRET = 'unsubscribe-expiry-test-secret-0123456789';
const TYPE = 'weekly_news';
const DAY = 86_400_000;
const oneClick = (accept?: string) => ({
  method: 'POST',
  headers: {
    'content-type': 'application/x-www-form-urlencoded',
    ...(accept ? { accept } : {}),
  },
  body: 'List-Unsubscribe=One-Click',
});

describe('unsubscribe links expire', () => {
  let herald: Herald;
  let app: Hono;
  before(async () => {
    herald = await openHerald('pglite', { unsubscribeSecret: SECRET });
    app = makeApp(herald);
    for (const id of ['ann', 'bob']) {
      await herald.recipients.upsert(id, { email: `${id}@example.com` });
      await herald.preferences.put(id, { consent: { marketing: true } });
    }
  });
  after(async () => {
    await closeHerald(herald);
  });

  const path = async (recipientId: string, madeAt?: Date) =>
    `/v1/unsubscribe?token=${await herald.unsubscribe.token({ recipientId, type: TYPE }, madeAt)}`;

  async function unchanged(recipientId: string): Promise<void> {
    const prefs = await herald.preferences.get(recipientId);
    assert.deepEqual(prefs.types, {}, 'still subscribed');
    assert.equal(prefs.consent.marketing, true, 'consent unchanged');
  }

  it('an expired link changes nothing and says what to do, page and one-click', async () => {
    const old = await path('ann', new Date(Date.now() - 91 * DAY));
    const page = await app.request(old);
    assert.equal(page.status, 410);
    const html = await page.text();
    assert.match(html, /<h1>This link has expired<\/h1>/);
    assert.match(html, /Nothing was changed/);
    assert.match(html, /link in a newer email/);
    assert.match(html, /notification settings in the app/);
    assert.doesNotMatch(html, /<button/, 'nothing to click');

    // A mail client's RFC 8058 one-click POST: problem+json.
    const mailClient = await app.request(old, oneClick());
    assert.equal(mailClient.status, 410);
    assert.match(mailClient.headers.get('content-type') ?? '', /application\/problem\+json/);
    const body = (await mailClient.json()) as Problem;
    assert.equal(body.code, 'link_expired');
    assert.match(body.detail, /newer email.*settings in the app/);

    // The page's button in a browser (asks for HTML): the page again.
    const browser = await app.request(old, oneClick('text/html,application/xhtml+xml'));
    assert.equal(browser.status, 410);
    assert.match(await browser.text(), /This link has expired/);
    await unchanged('ann');
  });

  it('a fresh link still shows its page and unsubscribes in one click', async () => {
    const fresh = await path('bob', new Date(Date.now() - 89 * DAY));
    const page = await app.request(fresh);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<button type="submit">Unsubscribe<\/button>/);
    await unchanged('bob');
    const res = await app.request(fresh, oneClick());
    assert.equal(res.status, 200);
    const prefs = await herald.preferences.get('bob');
    assert.deepEqual(prefs.types, { [TYPE]: false });
    assert.equal(prefs.consent.marketing, true);
  });

  it('an altered link says what to do, and a mail client gets invalid_token', async () => {
    const good = await path('ann');
    const altered = good.slice(0, -2) + (good.endsWith('AA') ? 'BB' : 'AA');
    const page = await app.request(altered);
    assert.equal(page.status, 400);
    assert.match(await page.text(), /not valid.*Nothing was changed.*newer email/s);
    const res = await app.request(altered, oneClick());
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as Problem).code, 'invalid_token');
    await unchanged('ann');
  });

  it('links made before expiry existed are honoured until LEGACY_UNTIL, then refused', async () => {
    const body = Buffer.from(JSON.stringify({ r: 'ann', t: TYPE })).toString('base64url');
    const legacy = `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`;
    const target = await herald.unsubscribe.verify(legacy, new Date(LEGACY_UNTIL.getTime() - 1));
    assert.deepEqual(target, { recipientId: 'ann', type: TYPE });
    await assert.rejects(herald.unsubscribe.verify(legacy, LEGACY_UNTIL), { code: 'link_expired' });
    // A signed expiry that is not a number is not a link Herald made.
    const odd = Buffer.from(JSON.stringify({ r: 'ann', t: TYPE, e: 'never' })).toString(
      'base64url',
    );
    const oddToken = `${odd}.${createHmac('sha256', SECRET).update(odd).digest('base64url')}`;
    await assert.rejects(herald.unsubscribe.verify(oddToken), { code: 'invalid_token' });
    await unchanged('ann');
  });

  it('HERALD_UNSUBSCRIBE_TTL_DAYS sets the lifetime (at least 30 days)', async () => {
    const short = await openHerald('pglite', { unsubscribeSecret: SECRET, unsubscribeTtlDays: 30 });
    try {
      const made = (days: number) =>
        short.unsubscribe.token(
          { recipientId: 'ann', type: TYPE },
          new Date(Date.now() - days * DAY),
        );
      await assert.rejects(short.unsubscribe.verify(await made(31)), { code: 'link_expired' });
      assert.equal((await short.unsubscribe.verify(await made(29))).recipientId, 'ann');
    } finally {
      await closeHerald(short);
    }
    await assert.rejects(openHerald('pglite', { unsubscribeTtlDays: 7 }), /unsubscribeTtlDays/);
  });
});
