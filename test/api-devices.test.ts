/**
 * Devices through HTTP on both backends: APNs and FCM tokens and Web Push subscriptions
 * (with a real P-256 key), re-registration, moving a token to another recipient, removal,
 * validation field by field, and erasure with the recipient.
 */
import assert from 'node:assert/strict';
import { createECDH, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason } from './helpers/db.js';
import { apiCaller, type Call, type Problem } from './helpers/api.js';

const pgSkip = await pgSkipReason();

function webPushSubscription(endpoint: string) {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return {
    endpoint,
    expirationTime: null,
    keys: {
      p256dh: ecdh.getPublicKey().toString('base64url'),
      auth: randomBytes(16).toString('base64url'),
    },
  };
}

const apnsToken = 'a'.repeat(64);
const fcmToken = 'fcm-token-' + 'x'.repeat(140);

for (const backend of BACKENDS) {
  describe(`devices API on ${backend}`, { skip: backend === 'pg' ? pgSkip : undefined }, () => {
    let herald: Herald;
    let app: Hono;
    before(async () => {
      herald = await openHerald(backend, { apiKey: 'devices-test-key-0123456789' });
      app = makeApp(herald);
      await herald.recipients.upsert('u-1', {});
      await herald.recipients.upsert('u-2', {});
    });
    after(async () => {
      await closeHerald(herald);
    });
    const call = (...args: Parameters<Call>) =>
      apiCaller(app, 'devices-test-key-0123456789')(...args);

    it('registers APNs, FCM and Web Push addresses; again is 200; a token moves to its new owner', async () => {
      const sub = webPushSubscription('https://push.example.net/send/abc');
      assert.equal(
        (await call('POST', '/v1/recipients/u-1/devices', { kind: 'apns', token: apnsToken }))
          .status,
        201,
      );
      assert.equal(
        (await call('POST', '/v1/recipients/u-1/devices', { kind: 'fcm', token: fcmToken })).status,
        201,
      );
      const wp = await call('POST', '/v1/recipients/u-1/devices', {
        kind: 'webpush',
        subscription: sub,
      });
      assert.equal(wp.status, 201);
      assert.deepEqual(((await wp.json()) as { subscription: unknown }).subscription, sub);
      assert.equal(
        (await call('POST', '/v1/recipients/u-1/devices', { kind: 'apns', token: apnsToken }))
          .status,
        200,
      );
      const list = (await (await call('GET', '/v1/recipients/u-1/devices')).json()) as {
        kind: string;
      }[];
      assert.deepEqual(
        list.map((d) => d.kind),
        ['apns', 'fcm', 'webpush'],
      );
      // The phone changed hands: the same token registered for u-2 now belongs to u-2 only.
      assert.equal(
        (await call('POST', '/v1/recipients/u-2/devices', { kind: 'fcm', token: fcmToken })).status,
        200,
      );
      const after1 = (await (await call('GET', '/v1/recipients/u-1/devices')).json()) as {
        kind: string;
      }[];
      assert.deepEqual(
        after1.map((d) => d.kind),
        ['apns', 'webpush'],
      );
    });

    it('unregisters by token or endpoint', async () => {
      assert.equal(
        (await call('DELETE', '/v1/recipients/u-1/devices', { kind: 'apns', token: apnsToken }))
          .status,
        204,
      );
      assert.equal(
        (await call('DELETE', '/v1/recipients/u-1/devices', { kind: 'apns', token: apnsToken }))
          .status,
        404,
      );
      const byEndpoint = {
        kind: 'webpush',
        subscription: { endpoint: 'https://push.example.net/send/abc' },
      };
      assert.equal((await call('DELETE', '/v1/recipients/u-1/devices', byEndpoint)).status, 204);
      assert.deepEqual(await (await call('GET', '/v1/recipients/u-1/devices')).json(), []);
    });

    it('refuses bad addresses field by field and unknown recipients, writing nothing', async () => {
      const bad = async (body: unknown) => {
        const res = await call('POST', '/v1/recipients/u-1/devices', body);
        assert.equal(res.status, 400, JSON.stringify(body));
        return (((await res.json()) as Problem).errors ?? []).map((e) => e.field);
      };
      assert.deepEqual(await bad({ kind: 'apns', token: 'not hex' }), ['token']);
      assert.deepEqual(await bad({ kind: 'pager', token: 'x' }), ['kind']);
      const sub = webPushSubscription('http://insecure.example.net/x');
      sub.keys.auth = randomBytes(8).toString('base64url');
      assert.deepEqual((await bad({ kind: 'webpush', subscription: sub })).sort(), [
        'subscription.endpoint',
        'subscription.keys.auth',
      ]);
      const missing = await call('POST', '/v1/recipients/nobody/devices', {
        kind: 'apns',
        token: apnsToken,
      });
      assert.equal(missing.status, 404);
      assert.deepEqual(await (await call('GET', '/v1/recipients/u-1/devices')).json(), []);
    });

    it('erasing the recipient erases their devices', async () => {
      assert.equal((await call('DELETE', '/v1/recipients/u-2')).status, 204);
      const { rows } = await herald.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM "${herald.config.schema}".devices`,
      );
      assert.equal(Number(rows[0]?.n), 0);
    });
  });
}
