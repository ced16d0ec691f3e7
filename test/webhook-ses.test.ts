/**
 * Amazon SES events through SNS (POST /v1/webhooks/ses) on one backend (providerBackends). Each delivery is
 * really sent through the pipeline to the local SES (test/helpers/ses-server.ts, which checks
 * SigV4), so the events carry the MessageId SES gave. The SNS messages are signed here as SNS
 * signs them (test/helpers/sns-server.ts), with SignatureVersion 1 (SHA1withRSA) and 2
 * (SHA256withRSA), by an RSA key whose certificate a local HTTPS server serves over real TLS;
 * that server also answers SubscribeURL GETs, so a confirmation is seen to be fetched once, and
 * a forged one not at all. Statuses move forward; permanent bounces and complaints suppress
 * the address so the next send is skipped; forged, tampered, stale and unsigned messages, other
 * topics and certificates on other hosts are refused with nothing changed.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Hono } from 'hono';
import { makeApp } from '../src/http/app.js';
import { webhookRoutes } from '../src/http/webhook-routes.js';
import { makeLogger } from '../src/obs/log.js';
import { sesFromConfig } from '../src/channels/email/ses.js';
import {
  isSnsUrl,
  SNS_DEFAULT_CERT_HOST,
  snsStringToSign,
  type SnsMessage,
} from '../src/channels/email/sns.js';
import { closeHerald, openHerald, pgSkipReason, providerBackends } from './helpers/db.js';
import type { Problem } from './helpers/api.js';
import { EMAIL_FROM } from './helpers/email-pipeline.js';
import { startSesServer } from './helpers/ses-server.js';
import { signed, startSnsServer, type SnsFields, type SnsServer } from './helpers/sns-server.js';
import {
  assertSuppressesNextSend,
  deliveryRow,
  webhookPipeline,
} from './helpers/webhook-events.js';

const pgSkip = await pgSkipReason();
const REGION = 'eu-west-1';
const KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:ses-events';
const OTHER_TOPIC = 'arn:aws:sns:eu-west-1:999999999999:not-ours';
const API_KEY = 'ses-webhook-test-key-0123456789';

describe('SNS message checks', () => {
  it('take certificates only over https from SNS hosts', () => {
    const sns = new RegExp(SNS_DEFAULT_CERT_HOST);
    const pem = 'SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem';
    for (const url of [
      `https://sns.us-east-1.amazonaws.com/${pem}`,
      `https://sns.eu-west-1.amazonaws.com/${pem}`,
      `https://sns.cn-north-1.amazonaws.com.cn/${pem}`,
      `https://sns.us-east-1.amazonaws.com:443/${pem}`,
    ])
      assert.equal(isSnsUrl(url, sns), true, url);
    for (const url of [
      `http://sns.us-east-1.amazonaws.com/${pem}`,
      `https://sns.us-east-1.amazonaws.com.evil.example/${pem}`,
      `https://evil.example/sns.us-east-1.amazonaws.com/${pem}`,
      `https://xsns.us-east-1.amazonaws.com/${pem}`,
      `https://sns.us-east-1.amazonaws.com@evil.example/${pem}`,
      `https://user:pw@sns.us-east-1.amazonaws.com/${pem}`,
      `https://s3.amazonaws.com/${pem}`,
      'not a url',
    ])
      assert.equal(isSnsUrl(url, sns), false, url);
  });

  it('sign the fields AWS lists, in its order, Subject only when there is one', () => {
    const base = {
      MessageId: 'm-1',
      TopicArn: TOPIC,
      Message: 'hello\nworld',
      Timestamp: '2026-01-01T00:00:00.000Z',
      SignatureVersion: '2',
      Signature: 'x',
      SigningCertURL: 'https://sns.eu-west-1.amazonaws.com/x.pem',
      UnsubscribeURL: 'https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe',
    };
    const n: SnsMessage = { ...base, Type: 'Notification' };
    assert.equal(
      snsStringToSign(n),
      `Message\nhello\nworld\nMessageId\nm-1\nTimestamp\n2026-01-01T00:00:00.000Z\nTopicArn\n${TOPIC}\nType\nNotification\n`,
    );
    assert.match(
      snsStringToSign({ ...n, Subject: 'Hi' }),
      /^Message\n.*\nMessageId\nm-1\nSubject\nHi\nTimestamp\n/s,
    );
    assert.equal(
      snsStringToSign({
        ...base,
        Type: 'SubscriptionConfirmation',
        SubscribeURL: 'https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription',
        Token: 't',
        Subject: 'not signed',
      }),
      'Message\nhello\nworld\nMessageId\nm-1\nSubscribeURL\nhttps://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription\n' +
        `Timestamp\n2026-01-01T00:00:00.000Z\nToken\nt\nTopicArn\n${TOPIC}\nType\nSubscriptionConfirmation\n`,
    );
  });
});

for (const backend of await providerBackends()) {
  describe(
    `SES events over SNS on ${backend}`,
    { skip: backend === 'pg' ? pgSkip : undefined },
    () => {
      let sns: SnsServer;
      let app: Hono;
      const t = webhookPipeline(
        backend,
        () => startSesServer({ region: REGION, accessKeyId: KEY_ID, secretAccessKey: SECRET }),
        (url) =>
          sesFromConfig(
            {
              sesRegion: REGION,
              sesAccessKeyId: KEY_ID,
              sesSecretAccessKey: SECRET,
              sesUrl: url,
              emailFrom: EMAIL_FROM,
            },
            makeLogger('silent'),
          ),
        {
          sesSnsTopicArns: `${TOPIC}, arn:aws:sns:us-east-1:123456789012:other`,
          sesSnsCertHost: '^127\\.0\\.0\\.1$',
        },
      );
      before(async () => {
        sns = await startSnsServer();
        // The webhook routes as makeApp mounts them, trusting the local server's TLS certificate.
        app = new Hono().route('/v1/webhooks', webhookRoutes(t.herald, { snsCa: sns.ca }));
      });
      after(() => sns.close());

      /** An email really sent to `to` through SES: the delivery id and SES's MessageId. */
      async function sent(id: string, to: string) {
        const d = await t.pipeline.sendTo(id, to);
        assert.equal(d.status, 'sent', d.error ?? '');
        const req = t.server.requestsFor(to).at(-1)!;
        const answer = req.reply?.body as { MessageId: string };
        assert.equal(d.providerMessageId, answer.MessageId);
        return { id: d.id, messageId: answer.MessageId, to };
      }
      type Sent = Awaited<ReturnType<typeof sent>>;
      const now = () => new Date().toISOString();
      const mail = (s: Sent) => ({
        timestamp: now(),
        source: EMAIL_FROM,
        sourceArn: `arn:aws:ses:${REGION}:123456789012:identity/acme.test`,
        sendingAccountId: '123456789012',
        messageId: s.messageId,
        destination: [s.to],
        headersTruncated: false,
        headers: [{ name: 'To', value: s.to }],
        commonHeaders: { from: [EMAIL_FROM], to: [s.to], subject: 'Receipt 7' },
        tags: { 'ses:configuration-set': ['herald'], 'ses:source-ip': ['192.0.2.0'] },
      });
      // The records as SES's "Examples of event data that Amazon SES publishes to Amazon SNS" shows them.
      const records = {
        delivery: (s: Sent) => ({
          eventType: 'Delivery',
          mail: mail(s),
          delivery: {
            timestamp: now(),
            processingTimeMillis: 546,
            recipients: [s.to],
            smtpResponse: '250 2.6.0 Message received',
            reportingMTA: 'mta-out.example.com',
          },
        }),
        open: (s: Sent) => ({
          eventType: 'Open',
          mail: mail(s),
          open: { ipAddress: '192.0.2.1', timestamp: now(), userAgent: 'Mozilla/5.0' },
        }),
        click: (s: Sent) => ({
          eventType: 'Click',
          mail: mail(s),
          click: {
            ipAddress: '192.0.2.1',
            link: 'https://acme.test/receipts/7',
            linkTags: {},
            timestamp: now(),
            userAgent: 'Mozilla/5.0',
          },
        }),
        bounce: (s: Sent, bounceType = 'Permanent', bounceSubType = 'General') => ({
          eventType: 'Bounce',
          bounce: {
            bounceType,
            bounceSubType,
            bouncedRecipients: [
              {
                emailAddress: s.to,
                action: 'failed',
                status: '5.1.1',
                diagnosticCode: 'smtp; 550 5.1.1 user unknown',
              },
            ],
            timestamp: now(),
            feedbackId: '01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000',
            reportingMTA: 'dsn; mta.example.com',
          },
          mail: mail(s),
        }),
        complaint: (s: Sent) => ({
          eventType: 'Complaint',
          complaint: {
            complainedRecipients: [{ emailAddress: s.to }],
            timestamp: now(),
            feedbackId: '01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000',
            userAgent: 'Mozilla/5.0',
            complaintFeedbackType: 'abuse',
            arrivalDate: now(),
          },
          mail: mail(s),
        }),
        delay: (s: Sent) => ({
          eventType: 'DeliveryDelay',
          mail: mail(s),
          deliveryDelay: {
            timestamp: now(),
            delayType: 'MailboxFull',
            expirationTime: now(),
            delayedRecipients: [{ emailAddress: s.to, status: '4.2.2', diagnosticCode: 'full' }],
          },
        }),
        reject: (s: Sent) => ({
          eventType: 'Reject',
          mail: mail(s),
          reject: { reason: 'Bad content' },
        }),
      };

      interface Signing {
        version?: '1' | '2';
        key?: string;
        certUrl?: string;
        topic?: string;
        at?: Date;
      }
      /** An SNS Notification carrying `record`, signed. */
      const notification = (record: unknown, o: Signing = {}): SnsFields =>
        signed(
          {
            Type: 'Notification',
            MessageId: randomUUID(),
            TopicArn: o.topic ?? TOPIC,
            Message: JSON.stringify(record),
            Timestamp: (o.at ?? new Date()).toISOString(),
            UnsubscribeURL: `${sns.url}/?Action=Unsubscribe&SubscriptionArn=${TOPIC}:1`,
          },
          o.key ?? sns.key,
          o.certUrl ?? sns.certUrl,
          o.version,
        );
      const confirmation = (
        type: 'SubscriptionConfirmation' | 'UnsubscribeConfirmation',
        o: Signing & { subscribeHost?: string } = {},
      ): SnsFields => {
        const token = `2336412f37fb687f5d51e6e2425${randomUUID().replace(/-/g, '')}`;
        const topic = o.topic ?? TOPIC;
        return signed(
          {
            Type: type,
            MessageId: randomUUID(),
            Token: token,
            TopicArn: topic,
            Message: `You have chosen to subscribe to the topic ${topic}.\nTo confirm the subscription, visit the SubscribeURL included in this message.`,
            SubscribeURL: `${o.subscribeHost ?? sns.url}/?Action=ConfirmSubscription&TopicArn=${topic}&Token=${token}`,
            Timestamp: (o.at ?? new Date()).toISOString(),
          },
          o.key ?? sns.key,
          o.certUrl ?? sns.certUrl,
          o.version,
        );
      };
      const post = (
        fields: SnsFields | string,
        type: string | null = typeof fields === 'string' ? null : (fields.Type ?? null),
      ) =>
        app.request('/v1/webhooks/ses', {
          method: 'POST',
          headers: {
            'content-type': 'text/plain; charset=UTF-8',
            'user-agent': 'Amazon Simple Notification Service Agent',
            ...(type === null ? {} : { 'x-amz-sns-message-type': type }),
          },
          body: typeof fields === 'string' ? fields : JSON.stringify(fields),
        });
      const deliver = async (fields: SnsFields) => {
        const res = await post(fields);
        assert.equal(res.status, 204, await res.text());
      };
      const delivery = (id: string) => deliveryRow(t.herald, id);
      const confirmations = () =>
        sns.requests.filter((p) => p.includes('Action=ConfirmSubscription'));

      it('confirms a subscription to an allowed topic once, by GET of its SubscribeURL', async () => {
        for (const version of ['1', '2'] as const) {
          const before = confirmations().length;
          const m = confirmation('SubscriptionConfirmation', { version });
          assert.equal((await post(m)).status, 204);
          assert.deepEqual(confirmations().slice(before), [
            new URL(m.SubscribeURL!).pathname + new URL(m.SubscribeURL!).search,
          ]);
        }
        // Refused, and never fetched: forged, another topic, a SubscribeURL elsewhere.
        const before = confirmations().length;
        const refused: [string, SnsFields, number][] = [
          ['forged', confirmation('SubscriptionConfirmation', { key: sns.otherKey }), 403],
          ['another topic', confirmation('SubscriptionConfirmation', { topic: OTHER_TOPIC }), 403],
          [
            'a SubscribeURL on another host',
            confirmation('SubscriptionConfirmation', {
              subscribeHost: sns.url.replace('127.0.0.1', 'localhost'),
            }),
            403,
          ],
        ];
        for (const [what, m, status] of refused) assert.equal((await post(m)).status, status, what);
        assert.equal(confirmations().length, before);
        // An unsubscribe is acknowledged; nothing is fetched.
        assert.equal((await post(confirmation('UnsubscribeConfirmation'))).status, 204);
        assert.equal(confirmations().length, before);
      });

      it('moves a sent delivery to delivered, opened and clicked (SignatureVersion 1 and 2)', async () => {
        const s = await sent('ann', 'ann@example.com');
        await deliver(notification(records.delivery(s), { version: '1' }));
        assert.equal((await delivery(s.id)).status, 'delivered');
        await deliver(notification(records.open(s), { version: '2' }));
        await deliver(notification(records.click(s), { version: '1' }));
        await deliver(notification(records.open(s), { version: '2' }));
        const row = await delivery(s.id);
        assert.equal(row.status, 'clicked');
        assert.deepEqual(
          row.events.slice(2).map((e) => [e.status, e.detail]),
          [
            ['delivered', 'ses: 250 2.6.0 Message received'],
            ['opened', 'ses: opened'],
            ['clicked', 'ses: https://acme.test/receipts/7'],
            ['opened', 'ses: opened'],
          ],
        );
        // An identity's feedback notification (notificationType, no configuration set) as well.
        const b = await sent('bea', 'bea@example.com');
        const feedback = {
          ...records.delivery(b),
          eventType: undefined,
          notificationType: 'Delivery',
        };
        await deliver(notification(feedback));
        assert.equal((await delivery(b.id)).status, 'delivered');
        // The certificate was fetched once, then kept.
        assert.equal(sns.requests.filter((p) => p.endsWith('.pem')).length, 1);
      });

      it('refuses forged, tampered, stale, unsigned and misdirected messages, changing nothing', async () => {
        const s = await sent('cal', 'cal@example.com');
        const before = await delivery(s.id);
        const fetchedBefore = sns.requests.length;
        const record = records.bounce(s);
        const good = notification(record);
        const foreign = sns.url.replace('127.0.0.1', 'localhost');
        const cases: [string, SnsFields | string, string | null, number, string][] = [
          [
            'signed by another key',
            notification(record, { key: sns.otherKey }),
            'Notification',
            403,
            'forbidden',
          ],
          [
            'another key, v1',
            notification(record, { key: sns.otherKey, version: '1' }),
            'Notification',
            403,
            'forbidden',
          ],
          [
            'the Message changed',
            { ...good, Message: JSON.stringify(records.delivery(s)) },
            'Notification',
            403,
            'forbidden',
          ],
          ['a Subject added', { ...good, Subject: 'hi' }, 'Notification', 403, 'forbidden'],
          [
            'the version changed',
            { ...good, SignatureVersion: '1' },
            'Notification',
            403,
            'forbidden',
          ],
          [
            'an unknown version',
            { ...good, SignatureVersion: '3' },
            'Notification',
            403,
            'forbidden',
          ],
          [
            'two hours old',
            notification(record, { at: new Date(Date.now() - 2 * 3600_000) }),
            'Notification',
            403,
            'forbidden',
          ],
          [
            'ten minutes ahead',
            notification(record, { at: new Date(Date.now() + 10 * 60_000) }),
            'Notification',
            403,
            'forbidden',
          ],
          [
            'another topic',
            notification(record, { topic: OTHER_TOPIC }),
            'Notification',
            403,
            'forbidden',
          ],
          [
            'a certificate on another host',
            notification(record, { certUrl: `${foreign}/SimpleNotificationService-test.pem` }),
            'Notification',
            403,
            'forbidden',
          ],
          [
            'a certificate over http',
            notification(record, { certUrl: sns.certUrl.replace('https:', 'http:') }),
            'Notification',
            403,
            'forbidden',
          ],
          [
            'a certificate that is not .pem',
            notification(record, {
              certUrl: `${sns.url}/?cert=SimpleNotificationService-test.pem`,
            }),
            'Notification',
            403,
            'forbidden',
          ],
          ['no signature', { ...good, Signature: undefined }, 'Notification', 401, 'unauthorized'],
          [
            'no certificate URL',
            { ...good, SigningCertURL: undefined },
            'Notification',
            401,
            'unauthorized',
          ],
          ['no message type header', good, null, 400, 'validation_failed'],
          [
            'a header that is not its Type',
            good,
            'SubscriptionConfirmation',
            400,
            'validation_failed',
          ],
          ['not JSON', '{not json', 'Notification', 400, 'validation_failed'],
          ['not an SNS message', JSON.stringify(record), 'Notification', 400, 'validation_failed'],
        ];
        for (const [what, body, type, status, code] of cases) {
          const res = await post(body, type);
          assert.equal(res.status, status, what);
          assert.equal(((await res.json()) as Problem).code, code, what);
        }
        assert.deepEqual(await delivery(s.id), before);
        assert.equal(before.status, 'sent');
        assert.deepEqual(await t.herald.suppressions.list(), { items: [] });
        assert.equal(
          sns.requests.length,
          fetchedBefore,
          'no certificate was fetched for any of them',
        );

        // A certificate URL on the allowed host that does not answer 200: 502, so SNS retries; not kept.
        const missing = notification(record, { certUrl: `${sns.url}/missing.pem` });
        for (let i = 0; i < 2; i++) {
          const res = await post(missing);
          assert.equal(res.status, 502);
          assert.equal(((await res.json()) as Problem).code, 'provider_unreachable');
        }
        assert.equal(sns.requests.filter((p) => p === '/missing.pem').length, 2);
        // The TLS is real: trusting only Node's store, the local server's certificate is refused.
        const untrusting = new Hono().route('/v1/webhooks', webhookRoutes(t.herald));
        const res = await untrusting.request('/v1/webhooks/ses', {
          method: 'POST',
          headers: { 'x-amz-sns-message-type': 'Notification' },
          body: JSON.stringify(good),
        });
        assert.equal(res.status, 502);
        assert.match(
          ((await res.json()) as Problem).detail,
          /signing certificate: self[- ]signed certificate/,
        );
        assert.deepEqual(await delivery(s.id), before);
      });

      it('a permanent bounce suppresses the address: the next send is skipped', async () => {
        const s = await sent('dan', 'Dan@Example.com');
        await deliver(notification(records.bounce(s), { version: '1' }));
        await assertSuppressesNextSend(t, {
          delivery: s.id,
          status: 'bounced',
          detail: 'Permanent/General: smtp; 550 5.1.1 user unknown',
          address: 'dan@example.com',
          reason: 'bounce',
          source: 'ses',
        });
      });

      it('transient bounces and delays are recorded only; complaints suppress; rejects fail', async () => {
        const s = await sent('eve', 'eve@example.com');
        await deliver(notification(records.bounce(s, 'Transient', 'MailboxFull')));
        await deliver(notification(records.delay(s)));
        let row = await delivery(s.id);
        assert.equal(row.status, 'sent');
        assert.deepEqual(
          row.events.slice(-2).map((e) => [e.status, e.detail]),
          [
            ['soft_bounced', 'ses: Transient/MailboxFull: smtp; 550 5.1.1 user unknown'],
            ['delayed', 'ses: delayed: MailboxFull'],
          ],
        );
        assert.equal(
          (await t.herald.suppressions.isSuppressed('email', ['eve@example.com'])).size,
          0,
        );
        await deliver(notification(records.delivery(s)));
        await deliver(notification(records.complaint(s), { version: '1' }));
        row = await delivery(s.id);
        assert.equal(row.status, 'complained');
        assert.equal(row.events.at(-1)!.detail, 'ses: complaint: abuse');
        const { items } = await t.herald.suppressions.list();
        assert.ok(items.some((i) => i.address === 'eve@example.com' && i.reason === 'complaint'));

        const f = await sent('fay', 'fay@example.com');
        await deliver(notification(records.reject(f)));
        row = await delivery(f.id);
        assert.deepEqual(
          [row.status, row.events.at(-1)!.detail],
          ['failed', 'ses: rejected: Bad content'],
        );
      });
    },
  );
}

describe('SES events without topics set', () => {
  it('answer 404 naming the setting', async () => {
    const herald = await openHerald('pglite', { apiKey: API_KEY });
    try {
      const res = await makeApp(herald).request('/v1/webhooks/ses', {
        method: 'POST',
        headers: { 'x-amz-sns-message-type': 'Notification' },
        body: '{}',
      });
      assert.equal(res.status, 404);
      assert.match(((await res.json()) as Problem).detail, /HERALD_SES_SNS_TOPIC_ARNS/);
    } finally {
      await closeHerald(herald);
    }
  });

  it('refuse topics that are not SNS ARNs, and a host pattern that is not a regular expression', async () => {
    await assert.rejects(
      openHerald('pglite', { sesSnsTopicArns: 'ses-events' }),
      /sesSnsTopicArns/,
    );
    await assert.rejects(openHerald('pglite', { sesSnsTopicArns: ' , ' }), /sesSnsTopicArns/);
    await assert.rejects(
      openHerald('pglite', { sesSnsTopicArns: TOPIC, sesSnsCertHost: '^sns\\.(' }),
      /sesSnsCertHost/,
    );
  });
});
