/**
 * Web Push end to end on one backend (providerBackends): trigger over HTTP → worker → the push fan-out → the
 * Web Push sender (VAPID, RFC 8291 encryption) → a local push service that verifies the VAPID
 * token and decrypts the payload with the subscription's private key. A 410 disables the
 * subscription and is not retried.
 *
 * The subscriptions point at the local service over http, which the devices API refuses (it
 * wants the https endpoints browsers give), so the test stores them directly.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { builtinHandlers } from '../src/handlers.js';
import { makeLogger } from '../src/obs/log.js';
import { generateVapidKeys, makeWebPushProvider } from '../src/channels/push/webpush.js';
import { makeEgress } from '../src/net/egress.js';
import { closeHerald, openHerald, pgSkipReason, providerBackends } from './helpers/db.js';
import { apiCaller, type Call } from './helpers/api.js';
import { triggerAndSettle } from './helpers/pipeline.js';
import { startPushService, type PushService } from './helpers/push-service.js';

const pgSkip = await pgSkipReason();
const KEY = 'webpush-test-key-0123456789abc';

for (const backend of await providerBackends()) {
  describe(
    `push over Web Push on ${backend}`,
    { skip: backend === 'pg' ? pgSkip : undefined },
    () => {
      let service: PushService;
      let herald: Herald;
      let call: Call;
      const vapid = generateVapidKeys();

      before(async () => {
        service = await startPushService();
        const sender = makeWebPushProvider({
          vapidPublicKey: vapid.publicKey,
          vapidPrivateKey: vapid.privateKey,
          subject: 'mailto:ops@example.com',
          log: makeLogger('warn'),
          allowHttp: true,
          // The local push service is on loopback: allowed explicitly.
          egress: makeEgress({ allow: ['127.0.0.1/32'] }),
        });
        herald = await openHerald(backend, { apiKey: KEY, pushSenders: [sender] });
        call = apiCaller(makeApp(herald), KEY);
        await call('PUT', '/v1/types/invoice', {
          channels: ['push'],
          priority: 'high',
          templates: { push: { title: 'Zahlung fällig: {{amount}}', body: 'bis {{day}} 🙂' } },
        });
        await herald.worker({ handlers: builtinHandlers(herald), pollIntervalMs: 50 }).start();
      });
      after(async () => {
        await closeHerald(herald);
        await service.close();
      });

      async function subscribed(recipient: string) {
        await call('PUT', `/v1/recipients/${recipient}`, {});
        const browser = service.subscribe(vapid.publicKey);
        await herald.db.query(
          `INSERT INTO "${herald.config.schema}".devices (recipient_id, kind, address, subscription)
         VALUES ($1, 'webpush', $2, $3::jsonb)`,
          [recipient, browser.subscription.endpoint, JSON.stringify(browser.subscription)],
        );
        return browser;
      }

      const push = (to: string) =>
        triggerAndSettle(herald, call, {
          type: 'invoice',
          to,
          data: { amount: '42 €', day: 'Montag' },
        });

      it('delivers a payload the browser decrypts', async () => {
        const browser = await subscribed('ann');
        const d = (await push('ann')).deliveries[0]!;
        assert.equal(d.status, 'sent');
        const got = service.received.at(-1);
        assert.ok(got);
        assert.equal(got.endpoint, browser.subscription.endpoint);
        const payload = JSON.parse(got.plaintext) as Record<string, string>;
        assert.equal(payload.title, 'Zahlung fällig: 42 €');
        assert.equal(payload.body, 'bis Montag 🙂');
        assert.equal(got.headers.urgency, 'high', 'a high-priority type');
        assert.equal(got.claims.sub, 'mailto:ops@example.com');
        assert.equal(d.providerMessageId?.startsWith(service.origin), true);
      });

      it('disables a subscription the push service calls gone (410)', async () => {
        const browser = await subscribed('bob');
        service.answer(browser.subscription.endpoint, { status: 410 });
        const d = (await push('bob')).deliveries[0]!;
        assert.deepEqual([d.status, d.reason, d.attempts], ['failed', 'permanent_error', 1]);
        const devices = (await (await call('GET', '/v1/recipients/bob/devices')).json()) as {
          active: boolean;
        }[];
        assert.deepEqual(
          devices.map((x) => x.active),
          [false],
        );
      });
    },
  );
}
