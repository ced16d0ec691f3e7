/**
 * The webhook channel end to end: a trigger over HTTP, a worker, the webhook provider, and a
 * local receiver that verifies Herald-Signature with its own code, as docs/channels.md tells
 * receivers to (helpers/webhook-receiver.ts). The exact request; the type's URL and the
 * recipient's (which wins); no URL; 410, 500 and 429 answers; the same Herald-Delivery-Id on a
 * retry; a tampered body, a wrong secret and a stale timestamp refused; the recipient fields.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { isProviderError } from '../src/channels/provider.js';
import {
  classifyWebhookError,
  makeWebhookProvider,
  webhookFromConfig,
} from '../src/channels/webhook/webhook.js';
import { resolveConfig } from '../src/config.js';
import { makeLogger } from '../src/obs/log.js';
import { BACKENDS, pgSkipReason } from './helpers/db.js';
import { startHookPipeline, statusesOf } from './helpers/hook-pipeline.js';
import {
  startWebhookReceiver,
  verifyHeraldSignature,
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

for (const backend of BACKENDS) {
  describe(`webhook channel on ${backend}`, { skip: backend === 'pg' ? pgSkip : undefined }, () => {
    let receiver: WebhookReceiver;
    let pipeline: Awaited<ReturnType<typeof startHookPipeline>>;

    before(async () => {
      receiver = await startWebhookReceiver({ secret: SECRET });
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
      assert.equal(req.headers['herald-delivery-id'], d.id);
      const signature = String(req.headers['herald-signature']);
      assert.match(signature, /^t=\d+,v1=[0-9a-f]{64}$/);
      assert.equal(signature.slice(2, signature.indexOf(',')), req.headers['herald-timestamp']);
      assert.ok(Math.abs(Number(req.headers['herald-timestamp']) - Date.now() / 1000) < 30);
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
      for (const name of ['gone', 'down', 'busy'])
        await pipeline.put(`/v1/recipients/${name}`, { webhookUrl: receiver.url(`/${name}`) });
      const [gone, down, busy] = (
        await Promise.all(['gone', 'down', 'busy'].map((name) => pipeline.deliver('bare', name)))
      ).map((r) => r.delivery);

      assert.equal(gone!.status, 'failed');
      assert.equal(gone!.reason, 'permanent_error');
      assert.equal(gone!.attempts, 1);
      assert.match(gone!.error ?? '', /webhook 410: this endpoint was removed/);
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

      // Every attempt: the same delivery id in the header and the body, freshly signed.
      for (const [path, d] of [
        ['/down', down!],
        ['/busy', busy!],
      ] as const) {
        const attempts = receiver.at(path);
        assert.equal(attempts.length, 2, path);
        for (const a of attempts) {
          assert.equal(a.refused, null);
          assert.equal(a.headers['herald-delivery-id'], d.id);
          assert.equal((a.json as { id: string }).id, d.id);
        }
        assert.equal(attempts[0]!.raw, attempts[1]!.raw, 'the body is the same on a retry');
      }
    });

    it('the receiver refuses a tampered body, another secret and a stale timestamp', async () => {
      const original = receiver.at('/type-hook')[0]!;
      const replay = (raw: string) =>
        fetch(receiver.url('/replayed'), {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'herald-delivery-id': String(original.headers['herald-delivery-id']),
            'herald-signature': String(original.headers['herald-signature']),
          },
          body: raw,
        });
      const tampered = await replay(original.raw.replace('Order A-1', 'Order A-9'));
      assert.equal(tampered.status, 401);
      assert.equal(receiver.at('/replayed').at(-1)?.refused, 'signature mismatch');
      // The untouched body verifies, and the receiver knows it has it already.
      assert.equal((await replay(original.raw)).status, 200);
      assert.equal(receiver.at('/replayed').at(-1)?.duplicate, true);

      // Through the pipeline: a receiver with another secret, one whose clock is 6 minutes on.
      const other = await startWebhookReceiver({ secret: `${SECRET}-rotated` });
      const ahead = await startWebhookReceiver({
        secret: SECRET,
        now: () => Date.now() + 6 * 60_000,
      });
      try {
        await pipeline.put('/v1/recipients/other', { webhookUrl: other.url('/h') });
        await pipeline.put('/v1/recipients/ahead', { webhookUrl: ahead.url('/h') });
        for (const [name, server, why] of [
          ['other', other, 'signature mismatch'],
          ['ahead', ahead, 'timestamp outside the window'],
        ] as const) {
          const { delivery: d } = await pipeline.deliver('bare', name);
          assert.equal(d.status, 'failed', name);
          assert.equal(d.reason, 'permanent_error');
          assert.match(d.error ?? '', /webhook 401/);
          assert.equal(server.at('/h')[0]?.refused, why);
        }
      } finally {
        await other.close();
        await ahead.close();
      }
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
    receiver = await startWebhookReceiver({ secret: SECRET });
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
    } finally {
      await plain.close();
    }
  });

  it('does not follow a redirect, to another host or any', async () => {
    const elsewhere = await startWebhookReceiver({ secret: SECRET });
    try {
      receiver.script('/moved', {
        status: 307,
        headers: { location: elsewhere.url('/catch') },
        body: '',
      });
      const provider = makeWebhookProvider({ secret: SECRET, log });
      await assert.rejects(provider.send(message(receiver.url('/moved'))), (err) => {
        assert.ok(isProviderError(err, 'permanent'));
        assert.match(err.message, /307: redirected to .*\/catch, not followed/);
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
      const provider = makeWebhookProvider({ secret: SECRET, log, timeoutMs: 200 });
      await assert.rejects(provider.send(message(`http://127.0.0.1:${port}/h`)), (err) => {
        assert.ok(isProviderError(err, 'transient'));
        assert.match(err.message, /no answer in time/);
        return true;
      });
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const closedPort = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      await assert.rejects(provider.send(message(`http://127.0.0.1:${closedPort}/h`)), (err) => {
        assert.ok(isProviderError(err, 'transient'));
        assert.equal(err.providerCode, 'ECONNREFUSED');
        return true;
      });
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

  it('the docs’ verification refuses what it should', () => {
    const now = 1_800_000_000;
    const raw = '{"id":"d"}';
    const good = `t=${now},v1=${'0'.repeat(64)}`;
    assert.equal(verifyHeraldSignature(SECRET, undefined, raw, now), 'no Herald-Signature header');
    assert.equal(verifyHeraldSignature(SECRET, 'v1=abc', raw, now), 'malformed Herald-Signature');
    assert.equal(verifyHeraldSignature(SECRET, good, raw, now), 'signature mismatch');
    assert.equal(
      verifyHeraldSignature(SECRET, good, raw, now + 301),
      'timestamp outside the window',
    );
  });
});
