/** The Web Push sender against a local push service that checks VAPID and decrypts the payload. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HeraldError } from '../src/errors.js';
import { makeLogger } from '../src/obs/log.js';
import { resolveConfig } from '../src/config.js';
import { isProviderError, ProviderError } from '../src/channels/provider.js';
import {
  WEB_PUSH_MAX_PAYLOAD_BYTES,
  WebPushAnswerError,
  classifyWebPushError,
  generateVapidKeys,
  makeWebPushProvider,
  parseRetryAfter,
  webPushFromConfig,
  webPushTopic,
  type WebPushProvider,
} from '../src/channels/push/webpush.js';
import { startPushService, type PushService } from './helpers/push-service.js';
import { makeEgress } from '../src/net/egress.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const log = makeLogger('silent');
const vapid = generateVapidKeys();
const subject = 'mailto:ops@herald.example';
/** The local push service is on loopback, which the egress guard lets through only when told. */
const egress = makeEgress({ allow: ['127.0.0.1/32'] });

/** Rejects with a ProviderError; returns it for more checks. */
async function providerError(p: Promise<unknown>): Promise<ProviderError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ProviderError, `expected a ProviderError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the send to fail');
}

describe('Web Push sender', () => {
  let service: PushService;
  let push: WebPushProvider;

  before(async () => {
    service = await startPushService();
    push = makeWebPushProvider({
      vapidPublicKey: vapid.publicKey,
      vapidPrivateKey: vapid.privateKey,
      subject,
      log,
      allowHttp: true,
      egress,
    });
  });
  after(() => service.close());

  it('sends an encrypted payload the browser decrypts, with VAPID the service verifies', async () => {
    const { subscription } = service.subscribe(vapid.publicKey);
    const payload = { title: 'Zahlung fällig', body: '42 € bis Montag 🙂', url: '/invoices/7' };
    const result = await push.sendToSubscription(subscription, payload, {
      ttl: 600,
      urgency: 'high',
      topic: 'invoice-7',
    });
    assert.equal(result.status, 201);
    assert.match(result.messageId, new RegExp(`^${service.origin}/m/[0-9a-f-]{36}$`));
    const got = service.received.at(-1);
    assert.ok(got);
    assert.equal(got.endpoint, subscription.endpoint);
    assert.deepEqual(JSON.parse(got.plaintext), payload);
    assert.equal(got.headers.ttl, '600');
    assert.equal(got.headers.urgency, 'high');
    assert.equal(got.headers.topic, 'invoice-7');
    assert.equal(got.headers['content-encoding'], 'aes128gcm');
    assert.equal(got.claims.aud, service.origin);
    assert.equal(got.claims.sub, subject);
  });

  it('the device-sender form sends the rendered content with the delivery id', async () => {
    const { subscription } = service.subscribe(vapid.publicKey);
    const { messageId } = await push.send(
      { subscription },
      { deliveryId: 'd_42', content: { title: 'Hi', body: 'there' }, priority: 'normal' },
    );
    assert.ok(messageId.startsWith(`${service.origin}/m/`));
    const got = service.received.at(-1);
    assert.deepEqual(JSON.parse(got?.plaintext ?? ''), {
      title: 'Hi',
      body: 'there',
      deliveryId: 'd_42',
    });
    assert.equal(got?.headers.ttl, '86400');
    assert.equal(got?.headers.urgency, 'normal');
    assert.equal(got?.headers.topic, undefined);

    // urgent → Urgency: high; a collapse id that is no topic is hashed into one.
    await push.send(
      { subscription },
      {
        deliveryId: 'd_43',
        content: { title: 'Now' },
        priority: 'urgent',
        collapseId: 'order:7/status',
      },
    );
    const next = service.received.at(-1);
    assert.equal(next?.headers.urgency, 'high');
    assert.equal(next?.headers.topic, webPushTopic('order:7/status'));
    assert.match(webPushTopic('order:7/status'), /^[A-Za-z0-9_-]{32}$/);
    assert.equal(webPushTopic('order-7'), 'order-7');
  });

  it('a forged VAPID key (signed with another private key) is refused 401: permanent', async () => {
    const { subscription } = service.subscribe(vapid.publicKey);
    const forger = makeWebPushProvider({
      vapidPublicKey: vapid.publicKey,
      vapidPrivateKey: generateVapidKeys().privateKey,
      subject,
      log,
      allowHttp: true,
      egress,
    });
    const before = service.received.length;
    const err = await providerError(forger.sendToSubscription(subscription, { title: 'x' }));
    assert.equal(err.kind, 'permanent');
    assert.equal(err.providerCode, '401');
    assert.match(err.message, /HERALD_VAPID_PRIVATE_KEY/);
    assert.deepEqual(service.refused.at(-1), {
      status: 401,
      reason: 'the JWT signature does not verify with k',
    });
    assert.equal(service.received.length, before);
  });

  it('another server key than the subscription was made with is refused 403: permanent', async () => {
    const { subscription } = service.subscribe(generateVapidKeys().publicKey);
    const err = await providerError(push.sendToSubscription(subscription, { title: 'x' }));
    assert.equal(err.kind, 'permanent');
    assert.equal(err.providerCode, '403');
  });

  it('the service checks what it decrypts: a body for another browser is refused', async () => {
    const a = service.subscribe(vapid.publicKey).subscription;
    const b = service.subscribe(vapid.publicKey).subscription;
    // Encrypted for a, delivered to b: b's private key cannot open it.
    const misrouted = makeWebPushProvider({
      vapidPublicKey: vapid.publicKey,
      vapidPrivateKey: vapid.privateKey,
      subject,
      log,
      allowHttp: true,
      egress: { request: (_url, init) => egress.request(b.endpoint, init) },
    });
    const err = await providerError(misrouted.sendToSubscription(a, { title: 'x' }));
    assert.equal(err.kind, 'permanent');
    assert.equal(err.providerCode, '400');
    assert.deepEqual(service.refused.at(-1), {
      status: 400,
      reason: 'the payload does not decrypt',
    });
  });

  it('410 and 404: permanent, providerCode gone; the answer text is not in the error', async () => {
    for (const status of [410, 404]) {
      const { subscription } = service.subscribe(vapid.publicKey);
      service.answer(subscription.endpoint, { status, body: 'push subscription has expired' });
      const err = await providerError(push.sendToSubscription(subscription, { title: 'x' }));
      assert.equal(err.kind, 'permanent');
      assert.equal(err.providerCode, 'gone');
      assert.equal(err.message, `the push service answered ${status}`);
    }
  });

  it('429: rate_limited after Retry-After', async () => {
    const { subscription } = service.subscribe(vapid.publicKey);
    service.answer(subscription.endpoint, { status: 429, headers: { 'Retry-After': '17' } });
    const err = await providerError(push.sendToSubscription(subscription, { title: 'x' }));
    assert.equal(err.kind, 'rate_limited');
    assert.equal(err.retryAfterMs, 17_000);
    // Once the service takes it again, the same subscription works.
    service.answer(subscription.endpoint, undefined);
    assert.equal((await push.sendToSubscription(subscription, { title: 'x' })).status, 201);
  });

  it('500: transient; no service listening: transient', async () => {
    const { subscription } = service.subscribe(vapid.publicKey);
    service.answer(subscription.endpoint, { status: 500 });
    const err = await providerError(push.sendToSubscription(subscription, { title: 'x' }));
    assert.equal(err.kind, 'transient');
    assert.equal(err.providerCode, '500');
    const closed = { ...subscription, endpoint: 'http://127.0.0.1:9/push/nobody' };
    const down = await providerError(push.sendToSubscription(closed, { title: 'x' }));
    assert.equal(down.kind, 'transient');
  });

  it('no answer within timeoutMs: transient timeout', async () => {
    const { subscription } = service.subscribe(vapid.publicKey);
    const silent = makeWebPushProvider({
      vapidPublicKey: vapid.publicKey,
      vapidPrivateKey: vapid.privateKey,
      subject,
      log,
      allowHttp: true,
      timeoutMs: 50,
      egress,
    });
    // A push service that takes the request and never answers: only the timeout ends it.
    const mute = createServer(() => undefined);
    await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(mute.address() as AddressInfo).port}/push/mute`;
    try {
      const err = await providerError(
        silent.sendToSubscription({ ...subscription, endpoint }, { title: 'x' }),
      );
      assert.deepEqual([err.kind, err.providerCode], ['transient', 'egress_unreachable']);
    } finally {
      mute.closeAllConnections();
      await new Promise((r) => mute.close(r));
    }
  });

  it('a payload over 4 KB is refused before sending; the largest one that fits goes', async () => {
    const { subscription } = service.subscribe(vapid.publicKey);
    const sent = service.received.length + service.refused.length;
    const big = { body: 'x'.repeat(4096) };
    const err = await providerError(push.sendToSubscription(subscription, big));
    assert.equal(err.kind, 'permanent');
    assert.equal(err.providerCode, 'payload_too_large');
    assert.equal(service.received.length + service.refused.length, sent);
    // {"body":"..."} is 11 bytes of JSON around the text.
    const fits = { body: 'é'.repeat((WEB_PUSH_MAX_PAYLOAD_BYTES - 11) / 2) };
    assert.equal(Buffer.byteLength(JSON.stringify(fits)), WEB_PUSH_MAX_PAYLOAD_BYTES);
    assert.equal((await push.sendToSubscription(subscription, fits)).status, 201);
    assert.deepEqual(JSON.parse(service.received.at(-1)?.plaintext ?? ''), fits);
  });

  it('bad subscriptions are permanent; https is required unless allowed', async () => {
    const strict = makeWebPushProvider({
      vapidPublicKey: vapid.publicKey,
      vapidPrivateKey: vapid.privateKey,
      subject,
      log,
    });
    const { subscription } = service.subscribe(vapid.publicKey);
    const err = await providerError(strict.sendToSubscription(subscription, { title: 'x' }));
    assert.equal(err.providerCode, 'bad_subscription');
    const noKeys = await providerError(
      push.send(
        { subscription: { endpoint: subscription.endpoint } },
        { deliveryId: 'd_1', content: { title: 'x' } },
      ),
    );
    assert.equal(noKeys.kind, 'permanent');
    assert.equal(noKeys.providerCode, 'bad_subscription');
  });
});

describe('Web Push classification', () => {
  const kind = (status: number, retryAfter: string | null = null) => {
    const e = classifyWebPushError(new WebPushAnswerError(status, retryAfter));
    return [e.kind, e.providerCode, e.retryAfterMs];
  };

  it('maps each answer once', () => {
    assert.deepEqual(kind(404), ['permanent', 'gone', undefined]);
    assert.deepEqual(kind(410), ['permanent', 'gone', undefined]);
    assert.deepEqual(kind(413), ['permanent', 'payload_too_large', undefined]);
    assert.deepEqual(kind(429, '3'), ['rate_limited', '429', 3000]);
    assert.deepEqual(kind(429), ['rate_limited', '429', 60_000]);
    for (const s of [400, 401, 403]) assert.equal(kind(s)[0], 'permanent');
    assert.equal(kind(408)[0], 'transient');
    for (const s of [500, 502, 503]) assert.equal(kind(s)[0], 'transient');
    const net = classifyWebPushError(
      Object.assign(new TypeError('fetch failed'), {
        cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      }),
    );
    // What no answer was (refused here, filtered elsewhere) is not told: one code for all.
    assert.deepEqual([net.kind, net.providerCode], ['transient', 'egress_unreachable']);
    assert.doesNotMatch(net.message, /ECONNREFUSED/);
    assert.ok(isProviderError(net, 'transient'));
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('120', now), 120_000);
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now), 30_000);
    assert.equal(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(null, now), undefined);
  });
});

describe('Web Push configuration', () => {
  const env = (vars: Record<string, string>) => resolveConfig({ env: vars, noFile: true });

  it('is off without VAPID keys', () => {
    assert.equal(webPushFromConfig(env({}), log), undefined);
  });

  it('is on with the three HERALD_VAPID_* settings', () => {
    const config = env({
      HERALD_VAPID_PUBLIC_KEY: vapid.publicKey,
      HERALD_VAPID_PRIVATE_KEY: vapid.privateKey,
      HERALD_VAPID_SUBJECT: subject,
    });
    assert.equal(webPushFromConfig(config, log)?.name, 'webpush');
  });

  it('fails fast on a partial, malformed or mismatched setup', () => {
    assert.throws(
      () => webPushFromConfig(env({ HERALD_VAPID_PUBLIC_KEY: vapid.publicKey }), log),
      (e: unknown) => e instanceof HeraldError && /HERALD_VAPID_PRIVATE_KEY/.test(e.message),
    );
    assert.throws(
      () => env({ HERALD_VAPID_SUBJECT: 'ops@example.com' }),
      /vapidSubject \(HERALD_VAPID_SUBJECT\)/,
    );
    assert.throws(
      () =>
        webPushFromConfig(
          env({
            HERALD_VAPID_PUBLIC_KEY: vapid.publicKey,
            HERALD_VAPID_PRIVATE_KEY: generateVapidKeys().privateKey,
            HERALD_VAPID_SUBJECT: subject,
          }),
          log,
        ),
      /is not the public key of HERALD_VAPID_PRIVATE_KEY/,
    );
  });

  it('generates key pairs of the right sizes', () => {
    for (let i = 0; i < 50; i++) {
      const k = generateVapidKeys();
      assert.equal(Buffer.from(k.publicKey, 'base64url').length, 65);
      assert.equal(Buffer.from(k.privateKey, 'base64url').length, 32);
    }
  });
});
