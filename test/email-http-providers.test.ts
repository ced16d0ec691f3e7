/**
 * The HTTPS email providers (Resend, SendGrid, Postmark) against local servers that check each
 * request as the real service does and answer in its documented shapes (test/helpers/*-server.ts).
 * For each, on one backend (providerBackends): the whole pipeline (trigger over HTTP → worker → provider → server) with the exact
 * request the service received, and what its permanent, transient and rate-limited answers do
 * to a delivery; then the provider alone: bad credentials, timeouts, refused connections.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { resolveConfig } from '../src/config.js';
import { makeLogger } from '../src/obs/log.js';
import { ProviderError, type EmailMessage, type Provider } from '../src/channels/provider.js';
import { parseRetryAfter } from '../src/channels/http.js';
import { makeResendProvider, resendFromConfig } from '../src/channels/email/resend.js';
import { makeSendGridProvider, sendgridFromConfig } from '../src/channels/email/sendgrid.js';
import { makePostmarkProvider, postmarkFromConfig } from '../src/channels/email/postmark.js';
import { pgSkipReason, providerBackends } from './helpers/db.js';
import type { Faults, HttpService, RecordedRequest } from './helpers/http-service.js';
import { EMAIL_FROM, startEmailPipeline } from './helpers/email-pipeline.js';
import { startResendServer } from './helpers/resend-server.js';
import { startSendGridServer } from './helpers/sendgrid-server.js';
import { startPostmarkServer } from './helpers/postmark-server.js';

const log = makeLogger('silent');
const pgSkip = await pgSkipReason();
const FROM = EMAIL_FROM; // the pipeline harness's sender
const UNSUBSCRIBE = /^<https:\/\/herald\.acme\.test\/v1\/unsubscribe\?token=[\w-]+\.[\w-]+>$/;

const FAULTS: Faults = {
  permanent: /^bounce@/,
  unavailable: /^down@/,
  flaky: /^flaky@/,
  rateLimited: /^busy@/,
  hang: /^hang@/,
};

interface Case {
  name: 'resend' | 'sendgrid' | 'postmark';
  secret: string;
  start(faults: Faults): Promise<HttpService>;
  /** The provider as the configuration builds it. */
  fromConfig(url: string): Provider | undefined;
  /** The provider with a wrong key, built directly. */
  wrongKey(url: string, timeoutMs?: number): Provider;
  /** Checks the exact request of the marketing email to `to` of delivery `deliveryId`. */
  assertRequest(req: RecordedRequest, to: string, deliveryId: string): void;
  /** The message id the service gave in its answer. */
  idIn(req: RecordedRequest): string;
  /** The providerCode of a permanent refusal, a wrong key. */
  permanentCode: string;
  wrongKeyCode: string;
}

/** The List-Unsubscribe value of a request (checked), so the rest can be compared exactly. */
function unsubscribeOf(headers: Record<string, string> | undefined): string {
  const value = headers?.['List-Unsubscribe'] ?? '';
  assert.match(value, UNSUBSCRIBE);
  return value;
}

const CASES: Case[] = [
  {
    name: 'resend',
    secret: 're_123456789_abcdefghijklmnop',
    start: (faults) => startResendServer({ apiKey: 're_123456789_abcdefghijklmnop', ...faults }),
    fromConfig: (url) =>
      resendFromConfig(
        { resendApiKey: 're_123456789_abcdefghijklmnop', resendUrl: url, emailFrom: FROM },
        log,
      ),
    wrongKey: (url, timeoutMs) =>
      makeResendProvider({ apiKey: 're_wrong', url, log, ...(timeoutMs ? { timeoutMs } : {}) }),
    assertRequest(req, to, deliveryId) {
      assert.equal(req.method, 'POST');
      assert.equal(req.path, '/emails');
      assert.equal(req.headers.authorization, 'Bearer re_123456789_abcdefghijklmnop');
      assert.equal(req.headers['content-type'], 'application/json');
      assert.equal(req.headers['idempotency-key'], deliveryId);
      const body = req.json as { headers?: Record<string, string> };
      const lu = unsubscribeOf(body.headers);
      assert.deepEqual(body, {
        from: FROM,
        to: [to],
        subject: 'News for nell',
        html: '<p>Hello nell</p>',
        text: 'Hello nell',
        headers: { 'List-Unsubscribe': lu, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
        tags: [{ name: 'herald_delivery_id', value: deliveryId }],
      });
    },
    idIn: (req) => (req.reply?.body as { id: string }).id,
    permanentCode: 'validation_error',
    wrongKeyCode: 'invalid_api_key',
  },
  {
    name: 'sendgrid',
    secret: 'SG.test-key.0123456789',
    start: (faults) => startSendGridServer({ apiKey: 'SG.test-key.0123456789', ...faults }),
    fromConfig: (url) =>
      sendgridFromConfig(
        { sendgridApiKey: 'SG.test-key.0123456789', sendgridUrl: url, emailFrom: FROM },
        log,
      ),
    wrongKey: (url, timeoutMs) =>
      makeSendGridProvider({ apiKey: 'SG.wrong', url, log, ...(timeoutMs ? { timeoutMs } : {}) }),
    assertRequest(req, to, deliveryId) {
      assert.equal(req.method, 'POST');
      assert.equal(req.path, '/v3/mail/send');
      assert.equal(req.headers.authorization, 'Bearer SG.test-key.0123456789');
      assert.equal(req.headers['content-type'], 'application/json');
      const body = req.json as { headers?: Record<string, string> };
      const lu = unsubscribeOf(body.headers);
      assert.deepEqual(body, {
        personalizations: [{ to: [{ email: to }] }],
        from: { email: 'no-reply@acme.test', name: 'Acme Billing' },
        subject: 'News for nell',
        content: [
          { type: 'text/plain', value: 'Hello nell' },
          { type: 'text/html', value: '<p>Hello nell</p>' },
        ],
        headers: { 'List-Unsubscribe': lu, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
        custom_args: { herald_delivery_id: deliveryId },
      });
    },
    idIn: (req) => req.reply?.headers?.['x-message-id'] ?? '',
    permanentCode: '400/personalizations.0.to.0.email',
    wrongKeyCode: '401',
  },
  {
    name: 'postmark',
    secret: 'server-token-0000-1111',
    start: (faults) => startPostmarkServer({ serverToken: 'server-token-0000-1111', ...faults }),
    fromConfig: (url) =>
      postmarkFromConfig(
        {
          postmarkServerToken: 'server-token-0000-1111',
          postmarkUrl: url,
          postmarkBroadcastStream: 'broadcast',
          emailFrom: FROM,
        },
        log,
      ),
    wrongKey: (url, timeoutMs) =>
      makePostmarkProvider({ serverToken: 'wrong', url, log, ...(timeoutMs ? { timeoutMs } : {}) }),
    assertRequest(req, to, deliveryId) {
      assert.equal(req.method, 'POST');
      assert.equal(req.path, '/email');
      assert.equal(req.headers['x-postmark-server-token'], 'server-token-0000-1111');
      assert.equal(req.headers['content-type'], 'application/json');
      assert.equal(req.headers.accept, 'application/json');
      const body = req.json as { Headers?: { Name: string; Value: string }[] };
      const lu = unsubscribeOf(
        Object.fromEntries((body.Headers ?? []).map((h) => [h.Name, h.Value])),
      );
      assert.deepEqual(body, {
        From: FROM,
        To: to,
        Subject: 'News for nell',
        HtmlBody: '<p>Hello nell</p>',
        TextBody: 'Hello nell',
        Headers: [
          { Name: 'List-Unsubscribe', Value: lu },
          { Name: 'List-Unsubscribe-Post', Value: 'List-Unsubscribe=One-Click' },
        ],
        Metadata: { herald_delivery_id: deliveryId },
        MessageStream: 'broadcast',
      });
    },
    idIn: (req) => (req.reply?.body as { MessageID: string }).MessageID,
    permanentCode: '406',
    wrongKeyCode: '10',
  },
];

for (const c of CASES) {
  for (const backend of await providerBackends())
    describe(
      `email over ${c.name} through the pipeline on ${backend}`,
      { skip: backend === 'pg' ? pgSkip : undefined },
      () => {
        let server: HttpService;
        let sendTo: Awaited<ReturnType<typeof startEmailPipeline>>['sendTo'];
        let closePipeline: () => Promise<void>;

        before(async () => {
          server = await c.start(FAULTS);
          const provider = c.fromConfig(server.url);
          assert.ok(provider);
          ({ sendTo, close: closePipeline } = await startEmailPipeline(backend, provider, {
            maxAttempts: 3,
          }));
        });
        after(async () => {
          await closePipeline();
          await server.close();
        });

        it('sends marketing email as the service expects, List-Unsubscribe included, and keeps its id', async () => {
          const d = await sendTo('nell', 'nell@example.com', 'newsletter');
          assert.equal(d.status, 'sent', d.error ?? '');
          assert.equal(d.provider, c.name);
          assert.equal(d.attempts, 1);
          const [req] = server.requestsFor('nell@example.com');
          assert.ok(req);
          c.assertRequest(req, 'nell@example.com', d.id);
          assert.ok(c.idIn(req));
          assert.equal(d.providerMessageId, c.idIn(req));
        });

        it('fails at once on a permanent refusal, keeping the service message and code', async () => {
          const d = await sendTo('bo', 'bounce@example.com');
          assert.equal(d.status, 'failed');
          assert.equal(d.reason, 'permanent_error');
          assert.equal(d.attempts, 1);
          assert.equal(server.requestsFor('bounce@example.com').length, 1);
          assert.match(d.error ?? '', new RegExp(`^${c.name}: `));
          assert.ok(
            d.error?.includes(c.permanentCode.replace(/^400\//, '')),
            `${d.error} names ${c.permanentCode}`,
          );
        });

        it('retries a transient failure and then sends', async () => {
          const d = await sendTo('fl', 'flaky@example.com');
          assert.equal(d.status, 'sent', d.error ?? '');
          assert.equal(d.attempts, 2);
          assert.deepEqual(
            d.events.map((e) => e.status),
            ['queued', 'retrying', 'sent'],
          );
          const reqs = server.requestsFor('flaky@example.com');
          assert.equal(reqs.length, 2);
          assert.equal(d.providerMessageId, c.idIn(reqs[1]!));
          if (c.name === 'resend') {
            assert.equal(reqs[0]!.headers['idempotency-key'], d.id);
            assert.equal(
              reqs[1]!.headers['idempotency-key'],
              d.id,
              'the same key on every attempt',
            );
          }
        });

        it('gives up after maxAttempts when the service stays unavailable', async () => {
          const d = await sendTo('dn', 'down@example.com');
          assert.equal(d.status, 'failed');
          assert.equal(d.reason, 'retries_exhausted');
          assert.equal(d.attempts, 3);
          assert.equal(server.requestsFor('down@example.com').length, 3);
          assert.match(d.error ?? '', /5\d\d/);
        });

        it('waits as long as the rate-limit answer says, then sends', async () => {
          const d = await sendTo('bz', 'busy@example.com');
          assert.equal(d.status, 'sent', d.error ?? '');
          assert.deepEqual(
            d.events.map((e) => e.status),
            ['queued', 'retrying', 'sent'],
          );
          const [first, second] = server.requestsFor('busy@example.com');
          assert.equal(first?.reply?.status, 429);
          assert.ok(second);
          // Retry-After 1 s (Resend), X-RateLimit-Reset (SendGrid), an HTTP date 2 s ahead (Postmark).
          assert.ok(second.at - first.at >= 900, `waited ${second.at - first.at} ms`);
        });
      },
    );

  describe(`the ${c.name} provider alone`, () => {
    let server: HttpService;
    before(async () => {
      server = await c.start(FAULTS);
    });
    after(() => server.close());

    const email = (to: string): EmailMessage => ({
      channel: 'email',
      deliveryId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
      from: FROM,
      to,
      subject: 'Hi',
      text: 'Hello',
      headers: {},
    });

    it('takes a wrong key as transient (no message lost until it is fixed), with the service code', async () => {
      const err = await c
        .wrongKey(server.url)
        .send(email('ann@example.com'))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      assert.ok(err instanceof ProviderError);
      assert.equal(err.kind, 'transient');
      assert.equal(err.providerCode, c.wrongKeyCode);
      assert.equal(server.requests.at(-1)?.reply?.status, c.name === 'resend' ? 403 : 401);
    });

    it('answers a request without required fields in the service shape', async () => {
      const res = await fetch(
        server.url +
          (c.name === 'resend' ? '/emails' : c.name === 'sendgrid' ? '/v3/mail/send' : '/email'),
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json',
            authorization: `Bearer ${c.secret}`,
            'x-postmark-server-token': c.secret,
          },
          body: '{}',
        },
      );
      const body: unknown = await res.json();
      if (c.name === 'resend') {
        assert.equal(res.status, 422);
        assert.deepEqual(body, {
          statusCode: 422,
          name: 'missing_required_field',
          message: 'Missing `from` field.',
        });
      } else if (c.name === 'sendgrid') {
        assert.equal(res.status, 400);
        assert.equal(
          (body as { errors: { field: string }[] }).errors[0]?.field,
          'personalizations',
        );
      } else {
        assert.equal(res.status, 422);
        assert.deepEqual(body, { ErrorCode: 300, Message: "Invalid 'From' address: ''." });
      }
    });

    it('treats no answer in time as transient', async () => {
      const p =
        c.name === 'resend'
          ? makeResendProvider({ apiKey: c.secret, url: server.url, log, timeoutMs: 150 })
          : c.name === 'sendgrid'
            ? makeSendGridProvider({ apiKey: c.secret, url: server.url, log, timeoutMs: 150 })
            : makePostmarkProvider({ serverToken: c.secret, url: server.url, log, timeoutMs: 150 });
      const err = await p.send(email('hang@example.com')).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof ProviderError);
      assert.equal(err.kind, 'transient');
      assert.equal(err.providerCode, 'timeout');
    });

    it('treats a refused connection as transient', async () => {
      const closed = await c.start({});
      await closed.close();
      const err = await c
        .wrongKey(closed.url)
        .send(email('ann@example.com'))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      assert.ok(err instanceof ProviderError);
      assert.equal(err.kind, 'transient');
      assert.equal(err.providerCode, 'ECONNREFUSED');
    });
  });
}

describe('HTTP email provider settings', () => {
  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-11-24T12:00:00Z');
    assert.equal(parseRetryAfter('7', now), 7000);
    assert.equal(parseRetryAfter('Tue, 24 Nov 2026 12:00:30 GMT', now), 30_000);
    assert.equal(parseRetryAfter('Tue, 24 Nov 2026 11:00:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(null, now), undefined);
  });

  it('maps the environment to each provider, and no key means no provider', () => {
    const config = resolveConfig({
      noFile: true,
      env: {
        HERALD_RESEND_API_KEY: 're_x',
        HERALD_RESEND_URL: 'http://127.0.0.1:9/',
        HERALD_SENDGRID_API_KEY: 'SG.x',
        HERALD_SENDGRID_URL: 'https://api.eu.sendgrid.com',
        HERALD_POSTMARK_SERVER_TOKEN: 'pm',
        HERALD_POSTMARK_URL: 'http://127.0.0.1:9',
        HERALD_POSTMARK_MESSAGE_STREAM: 'outbound',
        HERALD_POSTMARK_BROADCAST_STREAM: 'broadcast',
      },
    });
    assert.equal(config.resendApiKey, 're_x');
    assert.equal(config.sendgridUrl, 'https://api.eu.sendgrid.com');
    assert.equal(config.postmarkBroadcastStream, 'broadcast');
    assert.equal(resendFromConfig(config, log)?.name, 'resend');
    assert.equal(sendgridFromConfig(config, log)?.name, 'sendgrid');
    assert.equal(postmarkFromConfig(config, log)?.channel, 'email');
    const none = resolveConfig({ noFile: true, env: {} });
    assert.equal(resendFromConfig(none, log), undefined);
    assert.equal(sendgridFromConfig(none, log), undefined);
    assert.equal(postmarkFromConfig(none, log), undefined);
  });
});
