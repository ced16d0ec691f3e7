/**
 * Postmark's webhooks (basic-auth credentials in the webhook URL, as Postmark documents) on
 * one backend (providerBackends). Each delivery is really sent through the pipeline to the local Postmark
 * (test/helpers/postmark-server.ts), so its records carry the MessageID Postmark gave and the
 * Metadata Herald sent. Statuses move forward; hard bounces and spam complaints suppress the
 * address so the next send is skipped; soft bounces are only recorded; a SubscriptionChange
 * suppresses; missing or wrong credentials are refused with nothing changed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeApp } from '../src/http/app.js';
import { makeLogger } from '../src/obs/log.js';
import { postmarkFromConfig } from '../src/channels/email/postmark.js';
import { closeHerald, openHerald, pgSkipReason, providerBackends } from './helpers/db.js';
import type { Problem } from './helpers/api.js';
import { EMAIL_FROM } from './helpers/email-pipeline.js';
import {
  assertSuppressesNextSend,
  deliveryRow,
  webhookPipeline,
} from './helpers/webhook-events.js';
import { startPostmarkServer } from './helpers/postmark-server.js';

const pgSkip = await pgSkipReason();
const TOKEN = 'postmark-webhook-test-token';
const USER = 'postmark';
const PASSWORD = 'a-long-random-webhook-password-0123';

/** As Postmark sends the credentials of `https://user:password@host/...`. */
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

for (const backend of await providerBackends()) {
  describe(
    `Postmark webhooks on ${backend}`,
    { skip: backend === 'pg' ? pgSkip : undefined },
    () => {
      const t = webhookPipeline(
        backend,
        () => startPostmarkServer({ serverToken: TOKEN }),
        (url) =>
          postmarkFromConfig(
            { postmarkServerToken: TOKEN, postmarkUrl: url, emailFrom: EMAIL_FROM },
            makeLogger('silent'),
          ),
        { postmarkWebhookUser: USER, postmarkWebhookPassword: PASSWORD },
      );

      /** An email really sent to `to` through Postmark: the delivery id and what Postmark knows. */
      async function sent(id: string, to: string) {
        const d = await t.pipeline.sendTo(id, to);
        assert.equal(d.status, 'sent', d.error ?? '');
        const req = t.server.requestsFor(to).at(-1)!;
        const answer = req.reply?.body as { MessageID: string };
        assert.equal(d.providerMessageId, answer.MessageID);
        const { Metadata, MessageStream } = req.json as {
          Metadata: Record<string, string>;
          MessageStream: string;
        };
        return { id: d.id, messageId: answer.MessageID, to, Metadata, MessageStream };
      }
      type Sent = Awaited<ReturnType<typeof sent>>;
      const common = (s: Sent) => ({
        MessageID: s.messageId,
        ServerID: 23,
        MessageStream: s.MessageStream,
        Tag: '',
        Metadata: s.Metadata,
      });
      // The records as Postmark's webhook documentation shows them.
      const records = {
        delivery: (s: Sent) => ({
          RecordType: 'Delivery',
          ...common(s),
          Recipient: s.to,
          DeliveredAt: new Date().toISOString(),
          Details: 'smtp;250 2.0.0 OK',
        }),
        open: (s: Sent) => ({
          RecordType: 'Open',
          ...common(s),
          FirstOpen: true,
          Client: { Name: 'Chrome 35.0.1916.153', Company: 'Google', Family: 'Chrome' },
          OS: { Name: 'OS X 10.7 Lion', Company: 'Apple Computer, Inc.', Family: 'OS X 10' },
          Platform: 'WebMail',
          UserAgent: 'Mozilla/5.0',
          ReadSeconds: 5,
          Geo: {},
          ReceivedAt: new Date().toISOString(),
          Recipient: s.to,
        }),
        click: (s: Sent) => ({
          RecordType: 'Click',
          ...common(s),
          ClickLocation: 'HTML',
          Platform: 'Desktop',
          UserAgent: 'Mozilla/5.0',
          OriginalLink: 'https://acme.test/receipts/7',
          Geo: {},
          ReceivedAt: new Date().toISOString(),
          Recipient: s.to,
        }),
        bounce: (s: Sent, Type = 'HardBounce', Inactive = true) => ({
          RecordType: 'Bounce',
          ...common(s),
          ID: 4323372036,
          Type,
          TypeCode: Type === 'HardBounce' ? 1 : 4096,
          Name: Type === 'HardBounce' ? 'Hard bounce' : 'Soft bounce',
          Description:
            'The server was unable to deliver your message (ex: unknown user, mailbox not found).',
          Details: 'smtp;550 5.1.1 The email account that you tried to reach does not exist.',
          Email: s.to,
          From: 'no-reply@acme.test',
          BouncedAt: new Date().toISOString(),
          DumpAvailable: true,
          Inactive,
          CanActivate: true,
          Subject: 'Receipt 7',
        }),
        spam: (s: Sent) => ({
          ...records.bounce(s, 'SpamComplaint'),
          RecordType: 'SpamComplaint',
          TypeCode: 100001,
          Name: 'Spam complaint',
        }),
        subscription: (s: Sent, SuppressSending: boolean, SuppressionReason: string) => ({
          RecordType: 'SubscriptionChange',
          ...common(s),
          ChangedAt: new Date().toISOString(),
          Recipient: s.to,
          Origin: 'Recipient',
          SuppressSending,
          SuppressionReason,
        }),
      };
      const post = (body: unknown, authorization: string | null = basic(USER, PASSWORD)) =>
        t.app.request('/v1/webhooks/postmark', {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(authorization === null ? {} : { authorization }),
          },
          body: typeof body === 'string' ? body : JSON.stringify(body),
        });
      const deliver = async (body: unknown) => {
        const res = await post(body);
        assert.equal(res.status, 200, await res.text());
      };
      const delivery = (id: string) => deliveryRow(t.herald, id);

      it('moves a sent delivery to delivered, opened and clicked, each record in its history', async () => {
        const s = await sent('ann', 'ann@example.com');
        await deliver(records.delivery(s));
        assert.equal((await delivery(s.id)).status, 'delivered');
        await deliver(records.open(s));
        await deliver(records.click(s));
        await deliver(records.open(s));
        const row = await delivery(s.id);
        assert.equal(row.status, 'clicked');
        assert.deepEqual(
          row.events.map((e) => [e.status, e.detail]),
          [
            ['queued', null],
            ['sent', 'postmark'],
            ['delivered', 'postmark: smtp;250 2.0.0 OK'],
            ['opened', 'postmark: opened'],
            ['clicked', 'postmark: https://acme.test/receipts/7'],
            ['opened', 'postmark: opened'],
          ],
        );
      });

      it('finds the delivery by MessageID when the Metadata is missing', async () => {
        const s = await sent('bea', 'bea@example.com');
        await deliver({ ...records.delivery(s), Metadata: {} });
        assert.equal((await delivery(s.id)).status, 'delivered');
      });

      it('refuses missing or wrong credentials, changing nothing', async () => {
        const s = await sent('cal', 'cal@example.com');
        const before = await delivery(s.id);
        const body = records.bounce(s);
        const cases: [string, string | null, number, string][] = [
          ['no Authorization', null, 401, 'unauthorized'],
          ['a bearer token', `Bearer ${PASSWORD}`, 401, 'unauthorized'],
          ['Basic without credentials', 'Basic ', 401, 'unauthorized'],
          [
            'the wrong password',
            basic(USER, 'a-long-random-webhook-password-0124'),
            403,
            'forbidden',
          ],
          ['the wrong user', basic('admin', PASSWORD), 403, 'forbidden'],
          ['the password as user', basic(PASSWORD, USER), 403, 'forbidden'],
          ['no password', basic(USER, ''), 403, 'forbidden'],
          [
            'no colon',
            `Basic ${Buffer.from(USER + PASSWORD).toString('base64')}`,
            403,
            'forbidden',
          ],
          ['a prefix of the password', basic(USER, PASSWORD.slice(0, -1)), 403, 'forbidden'],
        ];
        for (const [what, authorization, status, code] of cases) {
          const res = await post(body, authorization);
          assert.equal(res.status, status, what);
          assert.equal(((await res.json()) as Problem).code, code, what);
          if (status === 401) assert.match(res.headers.get('www-authenticate') ?? '', /^Basic /);
        }
        assert.deepEqual(await delivery(s.id), before);
        assert.equal(before.status, 'sent');
        assert.deepEqual(await t.herald.suppressions.list(), { items: [] });
        // The right credentials, but not JSON.
        assert.equal((await post('{not json')).status, 400);
        // The scheme's name is case-insensitive (RFC 9110).
        const res = await post(
          records.delivery(s),
          basic(USER, PASSWORD).replace('Basic', 'basic'),
        );
        assert.equal(res.status, 200);
      });

      it('a hard bounce suppresses the address: the next send is skipped', async () => {
        const s = await sent('dan', 'Dan@Example.com');
        await deliver(records.bounce(s));
        await assertSuppressesNextSend(t, {
          delivery: s.id,
          status: 'bounced',
          detail:
            'HardBounce: smtp;550 5.1.1 The email account that you tried to reach does not exist.',
          address: 'dan@example.com',
          reason: 'bounce',
          source: 'postmark',
        });
      });

      it('a soft bounce is recorded only; a spam complaint and a subscription change suppress', async () => {
        const s = await sent('eve', 'eve@example.com');
        await deliver(records.bounce(s, 'SoftBounce', false));
        await deliver(records.bounce(s, 'Transient', false));
        let row = await delivery(s.id);
        assert.equal(row.status, 'sent');
        assert.deepEqual(
          row.events.slice(-2).map((e) => e.status),
          ['soft_bounced', 'soft_bounced'],
        );
        assert.equal(
          (await t.herald.suppressions.isSuppressed('email', ['eve@example.com'])).size,
          0,
        );
        await deliver(records.spam(s));
        row = await delivery(s.id);
        assert.equal(row.status, 'complained');
        assert.equal(row.events.at(-1)!.detail, 'postmark: spam complaint');

        // A bounce record of type SpamComplaint is a complaint too.
        const g = await sent('gus', 'gus@example.com');
        await deliver(records.bounce(g, 'SpamComplaint'));
        assert.equal((await delivery(g.id)).status, 'complained');

        const f = await sent('fay', 'fay@example.com');
        // A reactivation says nothing to Herald; a suppression is the recipient's own.
        await deliver(records.subscription(f, false, 'ManualSuppression'));
        assert.equal(
          (await t.herald.suppressions.isSuppressed('email', ['fay@example.com'])).size,
          0,
        );
        await deliver(records.subscription(f, true, 'ManualSuppression'));
        assert.equal((await delivery(f.id)).status, 'sent', 'the delivery itself is unchanged');
        const { items } = await t.herald.suppressions.list();
        assert.deepEqual(
          items
            .filter((i) => i.address !== 'dan@example.com')
            .map((i) => [i.address, i.reason])
            .sort(),
          [
            ['eve@example.com', 'complaint'],
            ['fay@example.com', 'manual'],
            ['gus@example.com', 'complaint'],
          ],
        );
      });
    },
  );
}

describe('Postmark webhooks without credentials set', () => {
  it('answer 404 naming both settings', async () => {
    const herald = await openHerald('pglite', { apiKey: TOKEN, postmarkWebhookUser: USER });
    try {
      const res = await makeApp(herald).request('/v1/webhooks/postmark', {
        method: 'POST',
        headers: { authorization: basic(USER, PASSWORD) },
        body: '{}',
      });
      assert.equal(res.status, 404);
      const { detail } = (await res.json()) as Problem;
      assert.match(detail, /HERALD_POSTMARK_WEBHOOK_USER/);
      assert.match(detail, /HERALD_POSTMARK_WEBHOOK_PASSWORD/);
    } finally {
      await closeHerald(herald);
    }
  });

  it('refuse a password under 16 characters at start', async () => {
    await assert.rejects(
      openHerald('pglite', { postmarkWebhookUser: USER, postmarkWebhookPassword: 'short' }),
      /postmarkWebhookPassword/,
    );
  });
});
