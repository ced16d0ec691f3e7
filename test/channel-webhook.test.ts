/**
 * The webhook channel end to end: a trigger over HTTP, a worker, the webhook provider, and a
 * local receiver that verifies Herald's Standard Webhooks signature with the `standardwebhooks`
 * library and the destination's key read from the API, as docs/channels.md tells receivers to
 * (helpers/webhook-receiver.ts). The exact request; the type's URL and the recipient's (which
 * wins); no URL; 410, 500 and 429 answers; the same webhook-id on a retry; a tampered body, a
 * wrong secret, a stale timestamp and another receiver's key refused; the signing-key API and
 * rotation; the recipient fields.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { isProviderError } from '../src/channels/provider.js';
import {
  classifyWebhookError,
  makeWebhookProvider,
  webhookFromConfig,
} from '../src/channels/webhook/webhook.js';
import { destinationSigningKey } from '../src/channels/webhook/keys.js';
import { resolveConfig } from '../src/config.js';
import { makeApp } from '../src/http/app.js';
import { makeLogger } from '../src/obs/log.js';
import { makeEgress } from '../src/net/egress.js';
import { pgSkipReason, providerBackends } from './helpers/db.js';
import { startHookPipeline, statusesOf } from './helpers/hook-pipeline.js';
import {
  startWebhookReceiver,
  verifyStandardWebhook,
  type WebhookReceiver,
} from './helpers/webhook-receiver.js';

const pgSkip = await pgSkipReason();
const SECRET = 'webhook-test-secret-0123456789abcdef';
const VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;
const log = makeLogger('silent');
/** The receivers run on loopback, which the egress guard lets through only when told. */
const egress = makeEgress({ allow: ['127.0.0.1/32'] });

for (const backend of await providerBackends()) {
  describe(`webhook channel on ${backend}`, { skip: backend === 'pg' ? pgSkip : undefined }, () => {
    let receiver: WebhookReceiver;
    let pipeline: Awaited<ReturnType<typeof startHookPipeline>>;

    /** The signing key the app reads for `owner` (a recipient or type path) and `path`. */
    async function trustKeyOf(owner: string, path: string): Promise<string> {
      const res = await pipeline.call('GET', `${owner}/webhook-signing-key`);
      assert.equal(res.status, 200, await res.clone().text());
      const { url, signingKey } = (await res.json()) as { url: string; signingKey: string };
      assert.equal(url, receiver.url(path));
      receiver.trust(path, signingKey);
      return signingKey;
    }

    before(async () => {
      receiver = await startWebhookReceiver();
      pipeline = await startHookPipeline(backend, { webhookSecret: SECRET });
      await pipeline.put('/v1/types/order-shipped', {
        channels: ['webhook'],
        templates: {
          webhook: { title: 'Order {{order}} shipped', body: '{{carrier}} brings it {{day}}' },
        },
        webhook: { url: receiver.url('/type-hook') },
      });
      // No template and no URL: the body carries the data; recipients need their own URL.
      await pipeline.put('/v1/types/bare', { channels: ['webhook'], templates: {} });
      await trustKeyOf('/v1/types/order-shipped', '/type-hook');
    });
    after(async () => {
      await pipeline?.close();
      await receiver?.close();
    });

    it('posts the signed JSON the docs describe to the type’s URL', async () => {
      await pipeline.put('/v1/recipients/ann', { email: 'ann@example.com' });
      const data = { order: 'A-1', carrier: 'DHL & <Express> "now"', day: 'Tuesday' };
      const { notification: n, delivery: d } = await pipeline.deliver('order-shipped', 'ann', data);
      assert.equal(d.status, 'sent', d.error ?? '');
      assert.equal(d.provider, 'webhook');
      assert.equal(d.providerMessageId, d.id);
      assert.equal(d.address, receiver.url('/type-hook'));

      const [req, ...more] = receiver.at('/type-hook');
      assert.ok(req);
      assert.equal(more.length, 0);
      assert.equal(req.method, 'POST');
      assert.equal(req.refused, null);
      assert.equal(req.headers['content-type'], 'application/json');
      assert.equal(req.headers['user-agent'], `Herald/${VERSION}`);
      // Standard Webhooks headers only: the old Herald-* headers are gone.
      assert.equal(req.headers['webhook-id'], d.id);
      assert.match(String(req.headers['webhook-signature']), /^v1,[A-Za-z0-9+/]{43}=$/);
      assert.ok(Math.abs(Number(req.headers['webhook-timestamp']) - Date.now() / 1000) < 30);
      for (const old of ['herald-signature', 'herald-timestamp', 'herald-delivery-id'])
        assert.equal(req.headers[old], undefined, old);
      // The fields in the documented order, compact JSON, nothing HTML-escaped.
      const body = req.json as Record<string, unknown>;
      assert.deepEqual(body, {
        id: d.id,
        notificationId: n.id,
        type: 'order-shipped',
        recipient: { id: 'ann' },
        priority: 'normal',
        createdAt: n.createdAt,
        content: {
          title: 'Order A-1 shipped',
          body: 'DHL & <Express> "now" brings it Tuesday',
        },
        data,
      });
      assert.deepEqual(Object.keys(body), [
        'id',
        'notificationId',
        'type',
        'recipient',
        'priority',
        'createdAt',
        'content',
        'data',
      ]);
      assert.equal(req.raw, JSON.stringify(body));
      assert.ok(req.raw.includes('"body":"DHL & <Express> \\"now\\" brings it Tuesday"'));
    });

    it('the recipient’s URL wins over the type’s; the type needs none then', async () => {
      await pipeline.put('/v1/recipients/bob', { webhookUrl: receiver.url('/bob?token=abc') });
      await trustKeyOf('/v1/recipients/bob', '/bob?token=abc');
      const before = receiver.at('/type-hook').length;
      const { delivery: d } = await pipeline.deliver('order-shipped', 'bob', {
        order: 'B-2',
        carrier: 'UPS',
        day: 'today',
      });
      assert.equal(d.status, 'sent', d.error ?? '');
      // The address kept on the delivery leaves the query out.
      assert.equal(d.address, receiver.url('/bob'));
      assert.equal(receiver.at('/bob?token=abc').length, 1);
      assert.equal(receiver.at('/type-hook').length, before);

      const bare = await pipeline.deliver('bare', 'bob', { x: 1 });
      assert.equal(bare.delivery.status, 'sent', bare.delivery.error ?? '');
      const body = receiver.at('/bob?token=abc').at(-1)?.json as Record<string, unknown>;
      assert.deepEqual(body.content, {});
      assert.deepEqual(body.data, { x: 1 });
    });

    it('without a URL the delivery is skipped with no_address when triggered', async () => {
      await pipeline.put('/v1/recipients/cyd', { email: 'cyd@example.com' });
      const count = receiver.requests.length;
      const { delivery: d } = await pipeline.deliver('bare', 'cyd');
      assert.equal(d.status, 'skipped');
      assert.equal(d.reason, 'no_address');
      assert.equal(d.attempts, 0);
      assert.equal(receiver.requests.length, count);
    });

    it('410 is permanent, 500 is retried, 429 waits for Retry-After; a retry keeps the delivery id', async () => {
      receiver.script('/gone', { status: 410, body: 'this endpoint was removed' });
      receiver.script('/down', { status: 500, body: 'oops' }, { status: 503, body: 'busy' });
      receiver.script('/busy', { status: 429, headers: { 'retry-after': '1' }, body: 'slow down' });
      for (const name of ['gone', 'down', 'busy']) {
        await pipeline.put(`/v1/recipients/${name}`, { webhookUrl: receiver.url(`/${name}`) });
        await trustKeyOf(`/v1/recipients/${name}`, `/${name}`);
      }
      const [gone, down, busy] = (
        await Promise.all(['gone', 'down', 'busy'].map((name) => pipeline.deliver('bare', name)))
      ).map((r) => r.delivery);

      assert.equal(gone!.status, 'failed');
      assert.equal(gone!.reason, 'permanent_error');
      assert.equal(gone!.attempts, 1);
      assert.match(gone!.error ?? '', /webhook 410: the receiver refused the request/);
      // The receiver's own text is not copied into the delivery (it could be any server's).
      assert.doesNotMatch(gone!.error ?? '', /this endpoint was removed/);
      assert.equal(receiver.at('/gone').length, 1);

      assert.equal(down!.status, 'failed');
      assert.equal(down!.reason, 'retries_exhausted');
      assert.deepEqual(statusesOf(down!), ['queued', 'retrying', 'failed']);
      assert.match(down!.error ?? '', /webhook 503/);

      assert.equal(busy!.status, 'sent');
      assert.deepEqual(statusesOf(busy!), ['queued', 'retrying', 'sent']);
      assert.match(busy!.events[1]?.detail ?? '', /webhook 429/);
      const waited = Date.parse(busy!.events[2]!.at) - Date.parse(busy!.events[1]!.at);
      assert.ok(waited >= 900, `waited ${waited} ms after the rate limit`);

      // Every attempt: the same delivery id in webhook-id and the body, freshly signed.
      for (const [path, d] of [
        ['/down', down!],
        ['/busy', busy!],
      ] as const) {
        const attempts = receiver.at(path);
        assert.equal(attempts.length, 2, path);
        for (const a of attempts) {
          assert.equal(a.refused, null);
          assert.equal(a.headers['webhook-id'], d.id);
          assert.equal((a.json as { id: string }).id, d.id);
        }
        assert.equal(attempts[0]!.raw, attempts[1]!.raw, 'the body is the same on a retry');
      }
    });

    it('the receiver refuses a tampered body, another secret and a stale timestamp', async () => {
      const original = receiver.at('/type-hook')[0]!;
      // The same receiver at another path, holding /type-hook's key: a replay of that request.
      const key = await trustKeyOf('/v1/types/order-shipped', '/type-hook');
      receiver.trust('/replayed', key);
      const replay = (raw: string, headers: Record<string, string> = {}) =>
        fetch(receiver.url('/replayed'), {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'webhook-id': String(original.headers['webhook-id']),
            'webhook-timestamp': String(original.headers['webhook-timestamp']),
            'webhook-signature': String(original.headers['webhook-signature']),
            ...headers,
          },
          body: raw,
        });
      const tampered = await replay(original.raw.replace('Order A-1', 'Order A-9'));
      assert.equal(tampered.status, 401);
      assert.equal(receiver.at('/replayed').at(-1)?.refused, 'No matching signature found');
      // The untouched body verifies, and the receiver knows it has it already (webhook-id).
      assert.equal((await replay(original.raw)).status, 200);
      assert.equal(receiver.at('/replayed').at(-1)?.duplicate, true);
      // A stale timestamp, even signed with the right key, is refused.
      const staleAt = new Date(Date.now() - 10 * 60_000);
      const old = await replay(original.raw, {
        'webhook-id': 'msg_stale',
        'webhook-timestamp': String(Math.floor(staleAt.getTime() / 1000)),
        'webhook-signature': new Webhook(key).sign('msg_stale', staleAt, original.raw),
      });
      assert.equal(old.status, 401);
      assert.equal(receiver.at('/replayed').at(-1)?.refused, 'Message timestamp too old');

      // Through the pipeline: a Herald with another master secret signs with other keys.
      const other = await startHookPipeline('pglite', { webhookSecret: `${SECRET}-rotated` });
      try {
        await other.put('/v1/types/bare', { channels: ['webhook'], templates: {} });
        await other.put('/v1/recipients/other', { webhookUrl: receiver.url('/other') });
        await pipeline.put('/v1/recipients/other', { webhookUrl: receiver.url('/other') });
        await trustKeyOf('/v1/recipients/other', '/other');
        const { delivery: d } = await other.deliver('bare', 'other');
        assert.equal(d.status, 'failed');
        assert.equal(d.reason, 'permanent_error');
        assert.match(d.error ?? '', /webhook 401/);
        assert.equal(receiver.at('/other')[0]?.refused, 'No matching signature found');
      } finally {
        await other.close();
      }
    });

    it('each destination has its own key: a request signed for A does not verify with B’s key', async () => {
      await pipeline.put('/v1/recipients/rx-a', { webhookUrl: receiver.url('/rx-a') });
      await pipeline.put('/v1/recipients/rx-b', { webhookUrl: receiver.url('/rx-b') });
      const keyA = await trustKeyOf('/v1/recipients/rx-a', '/rx-a');
      const keyB = await trustKeyOf('/v1/recipients/rx-b', '/rx-b');
      assert.notEqual(keyA, keyB);
      const a = await pipeline.deliver('bare', 'rx-a', { to: 'a' });
      assert.equal(a.delivery.status, 'sent', a.delivery.error ?? '');
      const toA = receiver.at('/rx-a')[0]!;
      assert.equal(toA.refused, null);
      // What A received does not verify with B's key: A cannot pass it on to B...
      assert.equal(
        verifyStandardWebhook(keyB, toA.headers, toA.raw),
        'No matching signature found',
      );
      // ...nor sign its own request for B with the key it holds.
      const forged = '{"id":"forged","type":"bare","data":{"pay":"mallory"}}';
      const t = new Date();
      const res = await fetch(receiver.url('/rx-b'), {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': 'forged',
          'webhook-timestamp': String(Math.floor(t.getTime() / 1000)),
          'webhook-signature': new Webhook(keyA).sign('forged', t, forged),
        },
        body: forged,
      });
      assert.equal(res.status, 401);
      // B's receiver given A's key refuses Herald's real request to B.
      receiver.trust('/rx-b', keyA);
      const b = await pipeline.deliver('bare', 'rx-b', { to: 'b' });
      assert.equal(b.delivery.status, 'failed');
      assert.match(b.delivery.error ?? '', /webhook 401/);
    });

    it('the signing-key API: per URL, canonical, no-store; 404 without a URL', async () => {
      const { call } = pipeline;
      await pipeline.put('/v1/recipients/kay', { webhookUrl: 'https://hooks.example.com/kay' });
      const res = await call('GET', '/v1/recipients/kay/webhook-signing-key');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const first = (await res.json()) as { url: string; signingKey: string };
      assert.equal(first.url, 'https://hooks.example.com/kay');
      assert.match(first.signingKey, /^whsec_[A-Za-z0-9+/]{43}=$/);
      // The key depends on the URL only through its canonical form.
      assert.equal(
        first.signingKey,
        destinationSigningKey(SECRET, 'HTTPS://HOOKS.example.com/kay'),
      );
      await pipeline.put('/v1/recipients/kay', { webhookUrl: 'https://hooks.example.com/kay2' });
      const moved = (await (
        await call('GET', '/v1/recipients/kay/webhook-signing-key')
      ).json()) as {
        signingKey: string;
      };
      assert.notEqual(moved.signingKey, first.signingKey, 'a new URL has a new key');
      await pipeline.put('/v1/recipients/nourl', { email: 'n@example.com' });
      for (const path of [
        '/v1/recipients/nourl/webhook-signing-key',
        '/v1/recipients/nobody/webhook-signing-key',
        '/v1/types/bare/webhook-signing-key',
        '/v1/types/nope/webhook-signing-key',
      ]) {
        const r = await call('GET', path);
        assert.equal(r.status, 404, path);
        assert.equal(((await r.json()) as { code: string }).code, 'not_found');
      }
      // The key is a secret: the server realm only.
      const anonymous = await makeApp(pipeline.herald).request(
        '/v1/recipients/kay/webhook-signing-key',
      );
      assert.equal(anonymous.status, 401);
    });

    it('recipients: https or loopback http URLs; GET answers them, null clears, erase removes', async () => {
      const { call } = pipeline;
      const saved = await pipeline.put('/v1/recipients/dee', {
        webhookUrl: 'https://hooks.example.com/herald',
        slackWebhookUrl: 'https://hooks.slack.com/services/T000/B000/XXXX',
      });
      assert.equal(saved.webhookUrl, 'https://hooks.example.com/herald');
      for (const ok of ['http://127.0.0.1:9000/h', 'http://localhost/h', 'http://[::1]:8080/h'])
        assert.equal((await pipeline.put('/v1/recipients/dee', { webhookUrl: ok })).webhookUrl, ok);
      for (const bad of [
        'http://hooks.example.com/herald',
        'http://10.0.0.1/h',
        'ftp://example.com/h',
        'https://user:pw@example.com/h',
        'not a url',
      ]) {
        const res = await call('PUT', '/v1/recipients/dee', { slackWebhookUrl: bad });
        assert.equal(res.status, 400, bad);
        const problem = (await res.json()) as { errors: { field: string }[] };
        assert.deepEqual(
          problem.errors.map((e) => e.field),
          ['slackWebhookUrl'],
          bad,
        );
      }
      const got = (await (await call('GET', '/v1/recipients/dee')).json()) as Record<
        string,
        unknown
      >;
      assert.equal(got.webhookUrl, 'http://[::1]:8080/h');
      assert.equal(got.slackWebhookUrl, 'https://hooks.slack.com/services/T000/B000/XXXX');
      const cleared = await pipeline.put('/v1/recipients/dee', { webhookUrl: null });
      assert.equal(cleared.webhookUrl, null);
      assert.equal(cleared.slackWebhookUrl, 'https://hooks.slack.com/services/T000/B000/XXXX');
      assert.equal((await call('DELETE', '/v1/recipients/dee')).status, 204);
      const again = await pipeline.put('/v1/recipients/dee', { email: 'dee@example.com' });
      assert.equal(again.webhookUrl, null);
      assert.equal(again.slackWebhookUrl, null);

      // A type's URL is checked the same way.
      const res = await call('PUT', '/v1/types/bad-hook', {
        channels: ['webhook'],
        templates: {},
        webhook: { url: 'http://example.com/h' },
      });
      assert.equal(res.status, 400);
    });
  });
}

describe('webhook provider without the pipeline', () => {
  let receiver: WebhookReceiver;
  before(async () => {
    receiver = await startWebhookReceiver();
  });
  after(async () => {
    await receiver.close();
  });
  const message = (url: string) =>
    ({
      channel: 'webhook',
      deliveryId: '0190a0b0-0000-7000-8000-000000000001',
      url,
      notificationId: '0190a0b0-0000-7000-8000-000000000002',
      type: 't',
      recipientId: 'r',
      priority: 'high',
      createdAt: '2026-01-02T03:04:05.000Z',
      content: { title: 'x' },
      data: {},
    }) as const;

  it('is configured only with a secret of 32 characters or more', () => {
    assert.equal(webhookFromConfig(resolveConfig({ env: {}, noFile: true }), log), undefined);
    const config = resolveConfig({ env: { HERALD_WEBHOOK_SECRET: SECRET }, noFile: true });
    assert.equal(config.webhookSecret, SECRET);
    assert.equal(webhookFromConfig(config, log)?.name, 'webhook');
    assert.throws(
      () => resolveConfig({ env: { HERALD_WEBHOOK_SECRET: 'short' }, noFile: true }),
      /webhookSecret \(HERALD_WEBHOOK_SECRET\)/,
    );
  });

  it('without the secret a trigger says no_provider', async () => {
    const plain = await startHookPipeline('pglite');
    try {
      await plain.put('/v1/types/bare', { channels: ['webhook'], templates: {} });
      await plain.put('/v1/recipients/r', { webhookUrl: receiver.url('/none') });
      const { delivery: d } = await plain.deliver('bare', 'r');
      assert.equal(d.status, 'skipped');
      assert.equal(d.reason, 'no_provider');
      // No key to read either: the API says which setting to set.
      const res = await plain.call('GET', '/v1/recipients/r/webhook-signing-key');
      assert.equal(res.status, 409);
      const problem = (await res.json()) as { code: string; detail: string };
      assert.equal(problem.code, 'conflict');
      assert.match(problem.detail, /set HERALD_WEBHOOK_SECRET/);
    } finally {
      await plain.close();
    }
  });

  it('does not follow a redirect, to another host or any', async () => {
    const elsewhere = await startWebhookReceiver();
    try {
      receiver.trust('/moved', destinationSigningKey(SECRET, receiver.url('/moved')));
      receiver.script('/moved', {
        status: 307,
        headers: { location: elsewhere.url('/catch') },
        body: '',
      });
      const provider = makeWebhookProvider({ secret: SECRET, log, egress });
      await assert.rejects(provider.send(message(receiver.url('/moved'))), (err) => {
        assert.ok(isProviderError(err, 'permanent'));
        assert.equal(err.providerCode, 'egress_redirect');
        assert.match(
          err.message,
          /redirect, which is not followed: set the final URL \(HTTP 307\)/,
        );
        assert.doesNotMatch(err.message, /catch/); // the Location is not read back
        return true;
      });
      assert.equal(elsewhere.requests.length, 0);
    } finally {
      await elsewhere.close();
    }
  });

  it('a hanging receiver and a refused connection are transient; a bad URL fails before any request', async () => {
    const hang = createServer(() => undefined);
    await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve));
    try {
      const port = (hang.address() as AddressInfo).port;
      const provider = makeWebhookProvider({ secret: SECRET, log, timeoutMs: 200, egress });
      // A hanging receiver and a closed port fail alike: error text is no port scanner.
      const same = (err: unknown) => {
        assert.ok(isProviderError(err, 'transient'));
        assert.equal(err.providerCode, 'egress_unreachable');
        assert.match(err.message, /^webhook: no answer from the URL/);
        return true;
      };
      await assert.rejects(provider.send(message(`http://127.0.0.1:${port}/h`)), same);
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const closedPort = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      await assert.rejects(provider.send(message(`http://127.0.0.1:${closedPort}/h`)), same);
      await assert.rejects(provider.send(message('http://example.com/h')), (err) =>
        isProviderError(err, 'permanent'),
      );
    } finally {
      hang.closeAllConnections();
      hang.close();
    }
  });

  it('classifies answers: 408 and 5xx transient, 429 rate-limited, other 4xx permanent', () => {
    const answer = (status: number, headers: Record<string, string> = {}) => ({
      status,
      headers: new Headers(headers),
      json: undefined,
      text: '',
    });
    assert.equal(classifyWebhookError(answer(408)).kind, 'transient');
    assert.equal(classifyWebhookError(answer(502)).kind, 'transient');
    for (const s of [400, 401, 403, 404, 409, 410, 422])
      assert.equal(classifyWebhookError(answer(s)).kind, 'permanent', String(s));
    const limited = classifyWebhookError(answer(429, { 'retry-after': '7' }));
    assert.equal(limited.kind, 'rate_limited');
    assert.equal(limited.retryAfterMs, 7_000);
    assert.equal(classifyWebhookError(answer(429)).retryAfterMs, 60_000);
  });

  it('rotation: with "new old" in the setting, receivers holding either key verify', async () => {
    const next = 'webhook-test-secret-next-0123456789abcdef';
    const url = receiver.url('/rotating');
    const provider = makeWebhookProvider({ secret: `${next} ${SECRET}`, log, egress });
    for (const [label, key] of [
      ['old', destinationSigningKey(SECRET, url)],
      ['new', destinationSigningKey(next, url)],
    ] as const) {
      receiver.trust('/rotating', key);
      await provider.send(message(url));
      const req = receiver.at('/rotating').at(-1)!;
      assert.equal(req.refused, null, label);
      assert.equal(String(req.headers['webhook-signature']).split(' ').length, 2);
    }
    // The API answers the current (first) secret's key.
    assert.equal(destinationSigningKey(`${next} ${SECRET}`, url), destinationSigningKey(next, url));
  });
});
