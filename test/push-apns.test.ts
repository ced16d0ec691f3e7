/**
 * Push through APNs, end to end on one backend (providerBackends): trigger over HTTP → worker → the push
 * fan-out → the APNs sender over HTTP/2 and TLS → a local APNs that verifies the ES256
 * provider token with the team's public key and checks the headers and payload as Apple does.
 * 410 Unregistered disables the device and is not retried; 503 is retried; one provider token
 * serves many pushes.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { exportPKCS8, generateKeyPair } from 'jose';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { builtinHandlers } from '../src/handlers.js';
import { makeLogger } from '../src/obs/log.js';
import { apnsFromConfig, makeApnsSender } from '../src/channels/push/apns.js';
import type { DeviceResult } from '../src/channels/push/fanout.js';
import { closeHerald, openHerald, pgSkipReason, providerBackends } from './helpers/db.js';
import { apiCaller, type Call } from './helpers/api.js';
import { triggerAndSettle } from './helpers/pipeline.js';
import { startApnsServer, type ApnsServer } from './helpers/apns-server.js';

const pgSkip = await pgSkipReason();
const KEY = 'apns-test-key-0123456789abcdef';
const TOPIC = 'com.example.tasks';
const token = (prefix: string) => prefix + randomBytes(32).toString('hex').slice(prefix.length);

describe('APNs settings', () => {
  it('need key, key id, team id and topic together', () => {
    const log = makeLogger('silent');
    assert.equal(apnsFromConfig({}, log), undefined);
    assert.throws(
      () => apnsFromConfig({ apnsKey: '-----BEGIN PRIVATE KEY-----' }, log),
      /HERALD_APNS_KEY_ID/,
    );
  });
});

for (const backend of await providerBackends()) {
  describe(`push over APNs on ${backend}`, { skip: backend === 'pg' ? pgSkip : undefined }, () => {
    let apns: ApnsServer;
    let herald: Herald;
    let call: Call;
    let app: Hono;
    const ann = [token('a1'), token('a2')];

    before(async () => {
      const keys = await generateKeyPair('ES256', { extractable: true });
      apns = await startApnsServer({
        teamId: 'TEAM123456',
        keyId: 'KEY1234567',
        topic: TOPIC,
        publicKey: keys.publicKey,
      });
      const sender = makeApnsSender({
        key: await exportPKCS8(keys.privateKey),
        keyId: 'KEY1234567',
        teamId: 'TEAM123456',
        topic: TOPIC,
        url: apns.url,
        ca: apns.ca,
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
      await call('PUT', '/v1/types/due', {
        channels: ['push'],
        priority: 'low',
        templates: { push: { title: 'Due: {{title}}', body: 'Tomorrow' } },
      });
      const devices: [string, string][] = [
        ['ann', ann[0]!],
        ['ann', ann[1]!],
        ['bob', token('dead')],
        ['carl', token('fa11')],
      ];
      for (const [id, t] of devices) {
        await call('PUT', `/v1/recipients/${id}`, {});
        assert.equal(
          (await call('POST', `/v1/recipients/${id}/devices`, { kind: 'apns', token: t })).status,
          201,
        );
      }
      await herald.worker({ handlers: builtinHandlers(herald), pollIntervalMs: 50 }).start();
    });
    after(async () => {
      await closeHerald(herald);
      await apns.close();
    });

    const push = (to: string) =>
      triggerAndSettle(herald, call, { type: 'due', to, data: { title: 'Taxes' } });

    it('sends an alert to every device over HTTP/2 with the headers Apple needs', async () => {
      const d = (await push('ann')).deliveries[0]!;
      assert.equal(d.status, 'sent');
      assert.equal(d.provider, 'apns');
      assert.equal(d.providerMessageId, d.id.toUpperCase(), 'apns-id is the delivery id');
      assert.deepEqual(
        (d.details as { devices: DeviceResult[] }).devices.map((x) => x.status),
        ['sent', 'sent'],
      );
      const reqs = apns.requests.slice(-2);
      assert.deepEqual(reqs.map((r) => r.path).sort(), ann.map((t) => `/3/device/${t}`).sort());
      for (const r of reqs) {
        assert.equal(r.headers['apns-topic'], TOPIC);
        assert.equal(r.headers['apns-push-type'], 'alert');
        assert.equal(r.headers['apns-priority'], '5', 'a low-priority type');
        const expiration = Number(r.headers['apns-expiration']);
        assert.ok(expiration > Date.now() / 1000 && expiration < Date.now() / 1000 + 2 * 86_400);
        assert.deepEqual(r.body, {
          aps: { alert: { title: 'Due: Taxes', body: 'Tomorrow' }, sound: 'default' },
        });
      }
      assert.equal(apns.tokens.size, 1, 'one provider token for both');
    });

    it('disables a device APNs calls Unregistered, without retrying', async () => {
      const d = (await push('bob')).deliveries[0]!;
      assert.deepEqual([d.status, d.reason, d.attempts], ['failed', 'permanent_error', 1]);
      assert.match(d.error ?? '', /410 Unregistered/);
      const devices = (await (await call('GET', '/v1/recipients/bob/devices')).json()) as {
        active: boolean;
      }[];
      assert.deepEqual(
        devices.map((x) => x.active),
        [false],
      );
    });

    it('retries a 503', async () => {
      const d = (await push('carl')).deliveries[0]!;
      assert.deepEqual([d.status, d.reason, d.attempts], ['failed', 'retries_exhausted', 2]);
      assert.deepEqual(
        d.events.map((e) => e.status),
        ['queued', 'retrying', 'failed'],
      );
    });
  });
}
