/**
 * At-least-once without a second email where the provider deduplicates: a delivery's every
 * attempt carries its id as Resend's Idempotency-Key, so an attempt re-run after a crash or a
 * lost answer gets the first answer back and Resend sends nothing new. The local Resend server
 * (test/helpers/resend-server.ts) keeps keys as Resend documents and counts real emails.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeResendProvider } from '../src/channels/email/resend.js';
import { makeLogger } from '../src/obs/log.js';
import { startEmailPipeline } from './helpers/email-pipeline.js';
import { startResendServer, type ResendServer } from './helpers/resend-server.js';

const API_KEY = 're_idempotent_test_key_0123456789';
const log = makeLogger('silent');

describe('Resend: two attempts of one delivery, one email', () => {
  let server: ResendServer;
  before(async () => {
    server = await startResendServer({ apiKey: API_KEY, lostAnswer: /^lost@/ });
  });
  after(() => server.close());

  it('a re-run of the same delivery (a crashed worker) gets the first id, no second email', async () => {
    const provider = makeResendProvider({ apiKey: API_KEY, url: server.url, log });
    const message = {
      channel: 'email' as const,
      deliveryId: '7d0f5e7a-1b2c-4d3e-8f40-5a6b7c8d9e0f',
      from: 'Acme <no-reply@acme.test>',
      to: 'twice@example.com',
      subject: 'Receipt',
      text: 'Thanks',
      headers: {},
    };
    const first = await provider.send(message);
    const second = await provider.send(message);
    assert.equal(second.providerMessageId, first.providerMessageId);
    assert.equal(server.requestsFor('twice@example.com').length, 2);
    assert.deepEqual(
      server.emails().filter((e) => e.to === 'twice@example.com'),
      [{ id: first.providerMessageId, to: 'twice@example.com' }],
    );
  });

  it('an answer lost after Resend sent: the retry is answered with the same id, one email', async () => {
    const provider = makeResendProvider({
      apiKey: API_KEY,
      url: server.url,
      log,
      timeoutMs: 2_000,
    });
    const pipeline = await startEmailPipeline('pglite', provider, { maxAttempts: 3 });
    try {
      const d = await pipeline.sendTo('lost', 'lost@example.com');
      assert.equal(d.status, 'sent', d.error ?? '');
      // The first answer is lost, so there are at least two attempts; on a busy machine a retry
      // may time out too (2 s), which only adds attempts that carry the same key.
      assert.ok(d.attempts >= 2, `the first attempt timed out and was retried (${d.attempts})`);
      // Each attempt sends at most one request; one that timed out before its request was
      // read (a busy machine, CI saw it) reaches the server not at all.
      const requests = server.requestsFor('lost@example.com');
      assert.ok(
        requests.length >= 2 && requests.length <= d.attempts,
        `${requests.length} requests for ${d.attempts} attempts`,
      );
      for (const r of requests) assert.equal(r.headers['idempotency-key'], d.id);
      const emails = server.emails().filter((e) => e.to === 'lost@example.com');
      assert.equal(emails.length, 1, 'one email however many attempts');
      assert.equal(d.providerMessageId, emails[0]!.id);
    } finally {
      await pipeline.close();
    }
  });
});
