/**
 * Provider failover, on both backends: email through SendGrid (a local SendGrid that is down
 * for some addresses) with SMTP (a real SMTP server process) as the fallback. After
 * `delivery.failoverAfter` failed attempts of the primary the fallback sends; a permanent
 * refusal does not fail over; a type's own fallback wins over the configured one (when this
 * process has it); a configured fallback that is not set up is refused at start.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import { makeProviders } from '../src/channels/registry.js';
import { parseConfig } from '../src/config.js';
import { builtinHandlers } from '../src/handlers.js';
import { makeApp } from '../src/http/app.js';
import type { Herald } from '../src/index.js';
import { makeLogger } from '../src/obs/log.js';
import { apiCaller, type Call } from './helpers/api.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason } from './helpers/db.js';
import type { HttpService } from './helpers/http-service.js';
import { triggerAndSettle } from './helpers/pipeline.js';
import { startPostmarkServer } from './helpers/postmark-server.js';
import { startSendGridServer } from './helpers/sendgrid-server.js';
import { startSmtpSink, type SmtpSink } from './helpers/smtp-sink.js';

const pgSkip = await pgSkipReason();
const KEY = 'failover-test-server-key-0123456789';
const SG_KEY = 'SG.failover-test-key';
const PM_TOKEN = 'failover-test-postmark-token';

const receipt = {
  channels: ['email'],
  templates: { email: { subject: 'Receipt {{n}}', text: 'Thanks, receipt {{n}}' } },
};

for (const backend of BACKENDS) {
  describe(
    `provider failover on ${backend}`,
    { skip: backend === 'pg' ? pgSkip : undefined },
    () => {
      let herald: Herald;
      let app: Hono;
      let call: Call;
      let sendgrid: HttpService;
      let postmark: HttpService;
      let sink: SmtpSink;

      before(async () => {
        sendgrid = await startSendGridServer({
          apiKey: SG_KEY,
          unavailable: /^down/,
          permanent: /^refused/,
        });
        postmark = await startPostmarkServer({ serverToken: PM_TOKEN });
        sink = await startSmtpSink();
        herald = await openHerald(backend, {
          apiKey: KEY,
          logLevel: 'silent',
          sendgridApiKey: SG_KEY,
          sendgridUrl: sendgrid.url,
          smtpUrl: sink.url,
          postmarkServerToken: PM_TOKEN,
          postmarkUrl: postmark.url,
          emailProvider: 'sendgrid',
          fallback: { email: 'smtp' },
          delivery: { maxAttempts: 6, failoverAfter: 2 },
          backoff: { baseMs: 10, capMs: 20 },
        });
        app = makeApp(herald);
        call = apiCaller(app, KEY);
        await herald.worker({ handlers: builtinHandlers(herald), pollIntervalMs: 20 }).start();
        assert.equal((await call('PUT', '/v1/types/receipt', receipt)).status, 201);
      });
      after(async () => {
        await closeHerald(herald);
        await sendgrid.close();
        await postmark.close();
        await sink.close();
      });

      async function sendTo(id: string, email: string, type = 'receipt') {
        await call('PUT', `/v1/recipients/${id}`, { email });
        const n = await triggerAndSettle(herald, call, { type, to: id, data: { n: 7 } });
        return n.deliveries[0]!;
      }

      it('sends through the primary while it works', async () => {
        const d = await sendTo('ann', 'ann@example.com');
        assert.equal(d.status, 'sent');
        assert.equal(d.provider, 'sendgrid');
        assert.equal(sendgrid.requestsFor('ann@example.com').length, 1);
      });

      it('fails over to SMTP after two failed attempts of SendGrid', async () => {
        const d = await sendTo('bob', 'down-bob@example.com');
        assert.equal(d.status, 'sent');
        assert.equal(d.provider, 'smtp');
        assert.equal(sendgrid.requestsFor('down-bob@example.com').length, 2);
        assert.deepEqual(
          d.events.map((e) => e.status),
          ['queued', 'retrying', 'retrying', 'sent'],
        );
        const mail = (await sink.waitForMessages(1)).find((m) =>
          m.envelope.rcptTo.includes('down-bob@example.com'),
        );
        assert.equal(mail?.parsed.subject, 'Receipt 7');
      });

      it('does not fail over a permanent refusal', async () => {
        const d = await sendTo('cy', 'refused-cy@example.com');
        assert.equal(d.status, 'failed');
        assert.equal(d.reason, 'permanent_error');
        assert.equal(d.provider, 'sendgrid');
        assert.ok(
          !sink.messages().some((m) => m.envelope.rcptTo.includes('refused-cy@example.com')),
        );
      });

      it("takes a type's own fallback over the configured one", async () => {
        const own = { ...receipt, fallback: { email: 'postmark' } };
        assert.equal((await call('PUT', '/v1/types/own', own)).status, 201);
        const d = await sendTo('dee', 'down-dee@example.com', 'own');
        assert.equal(d.status, 'sent');
        assert.equal(d.provider, 'postmark');
        assert.equal(postmark.requestsFor('down-dee@example.com').length, 1);
        assert.ok(!sink.messages().some((m) => m.envelope.rcptTo.includes('down-dee@example.com')));
        // Only email, SMS and WhatsApp have several providers to fall back between.
        const bad = await call('PUT', '/v1/types/bad', { ...receipt, fallback: { push: 'apns' } });
        assert.equal(bad.status, 400);
      });

      it("uses the configured fallback when the type's is not configured here", async () => {
        const other = { ...receipt, fallback: { email: 'resend' } };
        assert.equal((await call('PUT', '/v1/types/other', other)).status, 201);
        const d = await sendTo('eve', 'down-eve@example.com', 'other');
        assert.equal(d.status, 'sent');
        assert.equal(d.provider, 'smtp');
        assert.equal(sendgrid.requestsFor('down-eve@example.com').length, 2);
      });
    },
  );
}

describe('failover configuration', () => {
  const log = makeLogger('silent');
  it('refuses a fallback that is not configured, and names it', () => {
    const config = parseConfig({ smtpUrl: 'smtp://127.0.0.1:2525', fallback: { email: 'ses' } });
    assert.throws(
      () => makeProviders(config, log),
      /email fallback is ses, which is not configured/,
    );
  });
  it('takes the other configured provider as the primary when a fallback is set', async () => {
    const config = parseConfig({
      smtpUrl: 'smtp://127.0.0.1:2525',
      sendgridApiKey: 'SG.x',
      fallback: { email: 'smtp' },
    });
    const providers = makeProviders(config, log);
    assert.equal(providers.get('email')?.name, 'sendgrid');
    assert.equal(providers.named('email', 'smtp')?.name, 'smtp');
    await providers.close();
  });
  it('reads rate limits from the environment form', () => {
    assert.deepEqual(parseConfig({ rateLimits: 'twilio=50, ses=14' }).rateLimits, {
      twilio: 50,
      ses: 14,
    });
    assert.throws(() => parseConfig({ rateLimits: 'twilio' }), /rateLimits/);
    assert.throws(() => parseConfig({ rateLimits: 'Twilio=5' }), /rateLimits/);
  });
});
