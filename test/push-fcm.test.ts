/**
 * Push through FCM HTTP v1, end to end on one backend (providerBackends): trigger over HTTP → worker → the push
 * fan-out → the FCM sender → a local server that checks the service account's OAuth assertion
 * and the send requests as Google does. Every active device gets the push; a token FCM calls
 * UNREGISTERED disables that device and is not retried; UNAVAILABLE is retried; an access
 * token is fetched once and again after a 401.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { exportPKCS8, generateKeyPair } from 'jose';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { builtinHandlers } from '../src/handlers.js';
import { makeLogger } from '../src/obs/log.js';
import { makeFcmSender, readServiceAccount } from '../src/channels/push/fcm.js';
import type { DeviceResult } from '../src/channels/push/fanout.js';
import type { SendResult } from '../src/notify/send.js';
import { closeHerald, openHerald, pgSkipReason, providerBackends } from './helpers/db.js';
import { apiCaller, type Call } from './helpers/api.js';
import { triggerAndSettle } from './helpers/pipeline.js';
import { startFcmServer, type FcmServer } from './helpers/fcm-server.js';

const pgSkip = await pgSkipReason();
const KEY = 'fcm-test-key-0123456789abcdef';

describe('FCM settings', () => {
  it('reads the service account from JSON text and names what is missing', () => {
    assert.throws(
      () => readServiceAccount('{"project_id": "p"}'),
      /HERALD_FCM_SERVICE_ACCOUNT has no private_key/,
    );
    assert.throws(() => readServiceAccount('{nope'), /is not JSON/);
    assert.throws(() => readServiceAccount('/nonexistent/key.json'), /cannot read/);
  });
});

for (const backend of await providerBackends()) {
  describe(`push over FCM on ${backend}`, { skip: backend === 'pg' ? pgSkip : undefined }, () => {
    let fcm: FcmServer;
    let herald: Herald;
    let app: Hono;
    let call: Call;

    before(async () => {
      const keys = await generateKeyPair('RS256', { extractable: true });
      const clientEmail = 'herald@herald-test.iam.gserviceaccount.com';
      fcm = await startFcmServer({
        projectId: 'herald-test',
        clientEmail,
        publicKey: keys.publicKey,
      });
      const sender = makeFcmSender({
        account: {
          project_id: 'herald-test',
          private_key_id: 'key-1',
          private_key: await exportPKCS8(keys.privateKey),
          client_email: clientEmail,
          token_uri: fcm.tokenUri,
        },
        url: fcm.url,
        log: makeLogger('warn'),
      });
      herald = await openHerald(backend, {
        apiKey: KEY,
        pushSenders: [sender],
        backoff: { baseMs: 10, capMs: 20 },
        delivery: { maxAttempts: 2 },
      });
      app = makeApp(herald);
      call = apiCaller(app, KEY);
      await call('PUT', '/v1/types/ping', {
        channels: ['push'],
        templates: { push: { title: 'Hi {{name}}', body: 'You have {{n}} tasks' } },
      });
      const devices: [string, string][] = [
        ['ann', 'fcm-token-ann-phone-000000001'],
        ['ann', 'fcm-token-ann-tablet-00000002'],
        ['bob', 'fcm-token-bob-unregistered-001'],
        ['carl', 'fcm-token-carl-unavailable-01'],
      ];
      for (const [id, token] of devices) {
        await call('PUT', `/v1/recipients/${id}`, {});
        assert.equal(
          (await call('POST', `/v1/recipients/${id}/devices`, { kind: 'fcm', token })).status,
          201,
        );
      }
      const worker = herald.worker({ handlers: builtinHandlers(herald), pollIntervalMs: 50 });
      await worker.start();
    });
    after(async () => {
      await closeHerald(herald);
      await fcm.close();
    });

    const push = (to: string) =>
      triggerAndSettle(herald, call, { type: 'ping', to, data: { name: to, n: 3 } });

    it('sends to every active device with one access token', async () => {
      const n = await push('ann');
      const d = n.deliveries[0]!;
      assert.equal(d.status, 'sent');
      assert.equal(d.provider, 'fcm');
      assert.match(d.providerMessageId ?? '', /^projects\/herald-test\/messages\//);
      const devices = (d.details as { devices: DeviceResult[] }).devices;
      assert.deepEqual(
        devices.map((x) => x.status),
        ['sent', 'sent'],
      );
      const sent = fcm.sends.slice(-2);
      assert.deepEqual(
        sent.map((s) => s.body),
        ['fcm-token-ann-phone-000000001', 'fcm-token-ann-tablet-00000002'].map((token) => ({
          message: { token, notification: { title: 'Hi ann', body: 'You have 3 tasks' } },
        })),
      );
      assert.ok(sent.every((s) => s.path === '/v1/projects/herald-test/messages:send'));
      assert.equal(fcm.tokensIssued(), 1);
    });

    it('disables a device FCM calls UNREGISTERED and does not retry it', async () => {
      const before = fcm.sends.length;
      const d = (await push('bob')).deliveries[0]!;
      assert.equal(d.status, 'failed');
      assert.equal(d.reason, 'permanent_error');
      assert.equal(d.attempts, 1);
      assert.match(d.error ?? '', /UNREGISTERED/);
      assert.equal(fcm.sends.length, before + 1);
      const devices = (await (await call('GET', '/v1/recipients/bob/devices')).json()) as {
        active: boolean;
      }[];
      assert.deepEqual(
        devices.map((x) => x.active),
        [false],
      );
      // With no active device left, the next push is skipped when triggered.
      const res = await call('POST', '/v1/notifications', {
        type: 'ping',
        to: 'bob',
        data: { name: 'b', n: 1 },
      });
      const next = ((await res.json()) as SendResult).notifications[0]!.deliveries[0]!;
      assert.deepEqual([next.status, next.reason], ['skipped', 'no_address']);
    });

    it('retries UNAVAILABLE, and fetches a new token after a 401', async () => {
      const d = (await push('carl')).deliveries[0]!;
      assert.equal(d.status, 'failed');
      assert.equal(d.reason, 'retries_exhausted');
      assert.equal(d.attempts, 2);
      assert.deepEqual(
        d.events.map((e) => e.status),
        ['queued', 'retrying', 'failed'],
      );

      fcm.revokeTokens();
      const tokens = fcm.tokensIssued();
      const again = (await push('ann')).deliveries[0]!;
      assert.equal(again.status, 'sent');
      assert.equal(again.attempts, 2, 'the first attempt met the 401');
      assert.equal(fcm.tokensIssued(), tokens + 1);
    });
  });
}
