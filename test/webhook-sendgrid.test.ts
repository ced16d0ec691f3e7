/**
 * SendGrid's signed Event Webhook on one backend (providerBackends), with events signed by a generated P-256
 * key as SendGrid signs them: statuses move forward and each event lands in the delivery's
 * history; bounces and spam reports suppress the address, so the next trigger skips it; a
 * forged signature, a missing header or a stale timestamp is refused with nothing changed.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import type { SendResult } from '../src/notify/send.js';
import { closeHerald, openHerald, pgSkipReason, providerBackends } from './helpers/db.js';
import { apiCaller, type Call, type Problem } from './helpers/api.js';

const pgSkip = await pgSkipReason();
const KEY = 'sendgrid-webhook-test-key-0123456789';
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const PUBLIC_B64 = publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;

/** Headers as SendGrid sends them: base64 DER ECDSA signature of timestamp + body. */
function signed(body: string, at = Date.now(), key = privateKey): Record<string, string> {
  const ts = String(Math.floor(at / 1000));
  return {
    'content-type': 'application/json',
    'x-twilio-email-event-webhook-timestamp': ts,
    'x-twilio-email-event-webhook-signature': sign('sha256', Buffer.from(ts + body), key).toString(
      'base64',
    ),
  };
}

for (const backend of await providerBackends()) {
  describe(
    `SendGrid event webhook on ${backend}`,
    { skip: backend === 'pg' ? pgSkip : undefined },
    () => {
      let herald: Herald;
      let app: Hono;
      let call: Call;
      const s = () => `"${herald.config.schema}"`;

      /** A trigger to `to`, its email delivery marked sent as the worker would. */
      async function sentDelivery(to: string): Promise<string> {
        const res = await call('POST', '/v1/notifications', { type: 'mail', to });
        const d = ((await res.json()) as SendResult).notifications[0]!.deliveries[0]!;
        assert.equal(d.status, 'queued');
        await herald.db.query(`UPDATE ${s()}.deliveries SET status = 'sent' WHERE id = $1`, [d.id]);
        return d.id;
      }
      const delivery = async (id: string) =>
        (
          await herald.db.query<{ status: string; events: { status: string; detail: string }[] }>(
            `SELECT status, events FROM ${s()}.deliveries WHERE id = $1`,
            [id],
          )
        ).rows[0]!;
      const post = (body: string, headers: Record<string, string>) =>
        app.request('/v1/webhooks/sendgrid', { method: 'POST', headers, body });
      const event = (id: string, name: string, extra: Record<string, unknown> = {}) => ({
        email: 'Ann@Example.com',
        timestamp: Math.floor(Date.now() / 1000),
        event: name,
        sg_event_id: `e-${Math.random()}`,
        herald_delivery_id: id,
        ...extra,
      });

      before(async () => {
        herald = await openHerald(backend, {
          apiKey: KEY,
          sendgridWebhookPublicKey: PUBLIC_B64,
        });
        app = makeApp(herald);
        call = apiCaller(app, KEY);
        await call('PUT', '/v1/types/mail', {
          channels: ['email'],
          templates: { email: { subject: 'Hi', text: 'x' } },
        });
        await call('PUT', '/v1/recipients/ann', { email: 'ann@example.com' });
        await call('PUT', '/v1/recipients/bob', { email: 'bob@example.com' });
      });
      after(() => closeHerald(herald));

      it('moves a delivery to delivered, opened, clicked, whatever the order, with every event in its history', async () => {
        const id = await sentDelivery('bob');
        const t = Math.floor(Date.now() / 1000);
        const body = JSON.stringify([
          event(id, 'click', { timestamp: t + 2, url: 'https://example.com/x' }),
          event(id, 'processed', { timestamp: t - 1 }),
          event(id, 'delivered', { timestamp: t }),
          event(id, 'open', { timestamp: t + 1 }),
          event('not-a-uuid', 'delivered'),
          event('0192f0c2-7a4e-7000-8000-000000000000', 'delivered'),
        ]);
        const res = await post(body, signed(body));
        assert.equal(res.status, 204);
        const row = await delivery(id);
        assert.equal(row.status, 'clicked');
        assert.deepEqual(
          row.events.slice(-3).map((e) => e.status),
          ['delivered', 'opened', 'clicked'],
        );
        assert.equal(row.events.at(-1)!.detail, 'sendgrid: https://example.com/x');

        // A later open does not move it back, but is recorded.
        const more = JSON.stringify([event(id, 'open')]);
        assert.equal((await post(more, signed(more))).status, 204);
        const again = await delivery(id);
        assert.equal(again.status, 'clicked');
        assert.equal(again.events.at(-1)!.status, 'opened');
      });

      it('refuses forged, unsigned and stale requests, changing nothing', async () => {
        const id = await sentDelivery('bob');
        const body = JSON.stringify([
          event(id, 'bounce', { type: 'bounce', email: 'bob@example.com' }),
        ]);
        const good = signed(body);
        const cases: [Record<string, string>, number, string][] = [
          [signed(body, Date.now(), other), 403, 'forbidden'],
          [{ ...good, 'x-twilio-email-event-webhook-signature': 'AAAA' }, 403, 'forbidden'],
          [{ 'content-type': 'application/json' }, 401, 'unauthorized'],
          [{ ...good, 'x-twilio-email-event-webhook-signature': '' }, 401, 'unauthorized'],
          [signed(body, Date.now() - 11 * 60_000), 403, 'forbidden'],
          [signed(body, Date.now() + 11 * 60_000), 403, 'forbidden'],
          // Signed, but for another body.
          [signed(body.replace('bounce', 'delivered')), 403, 'forbidden'],
        ];
        for (const [headers, status, code] of cases) {
          const res = await post(body, headers);
          assert.equal(res.status, status, JSON.stringify(headers));
          assert.equal(((await res.json()) as Problem).code, code);
        }
        const row = await delivery(id);
        assert.equal(row.status, 'sent');
        assert.deepEqual(await herald.suppressions.list(), { items: [] });
      });

      it('bounces and spam reports suppress the address: the next trigger skips it', async () => {
        const bounced = await sentDelivery('ann');
        const body = JSON.stringify([
          event(bounced, 'bounce', { type: 'bounce', reason: '550 5.1.1 no such user' }),
        ]);
        assert.equal((await post(body, signed(body))).status, 204);
        const row = await delivery(bounced);
        assert.equal(row.status, 'bounced');
        assert.equal(row.events.at(-1)!.detail, 'sendgrid: 550 5.1.1 no such user');
        const { items } = await herald.suppressions.list();
        assert.deepEqual(
          items.map((i) => [i.channel, i.address, i.reason, i.source]),
          [['email', 'ann@example.com', 'bounce', 'sendgrid']],
        );
        const res = await call('POST', '/v1/notifications', { type: 'mail', to: 'ann' });
        const d = ((await res.json()) as SendResult).notifications[0]!.deliveries[0]!;
        assert.deepEqual([d.status, d.reason], ['skipped', 'suppressed']);

        // A blocked bounce is temporary: no status change, no suppression.
        const bob = await sentDelivery('bob');
        const blocked = JSON.stringify([
          event(bob, 'bounce', { type: 'blocked', email: 'bob@example.com' }),
        ]);
        assert.equal((await post(blocked, signed(blocked))).status, 204);
        assert.equal((await delivery(bob)).status, 'sent');

        const spam = JSON.stringify([event(bob, 'spamreport', { email: 'BOB@example.com' })]);
        assert.equal((await post(spam, signed(spam))).status, 204);
        assert.equal((await delivery(bob)).status, 'complained');
        assert.ok(
          (await herald.suppressions.isSuppressed('email', ['bob@example.com'])).size === 1,
        );
      });
    },
  );
}

describe('SendGrid event webhook without a key', () => {
  it('answers 404 and says which setting turns it on', async () => {
    const herald = await openHerald('pglite', { apiKey: KEY });
    try {
      const res = await makeApp(herald).request('/v1/webhooks/sendgrid', {
        method: 'POST',
        body: '[]',
      });
      assert.equal(res.status, 404);
      assert.match(((await res.json()) as Problem).detail, /HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY/);
    } finally {
      await closeHerald(herald);
    }
  });

  it('refuses to start with a key that is not an EC public key', async () => {
    const herald = await openHerald('pglite', {
      apiKey: KEY,
      sendgridWebhookPublicKey: 'bm9wZQ==',
    });
    try {
      assert.throws(() => makeApp(herald), /HERALD_SENDGRID_WEBHOOK_PUBLIC_KEY/);
    } finally {
      await closeHerald(herald);
    }
  });
});
