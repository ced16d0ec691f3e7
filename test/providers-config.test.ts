/**
 * Providers chosen from the configuration alone (no provider passed in code): an SMS goes
 * through the Twilio settings end to end, and two WhatsApp providers without a choice are a
 * clear error at start.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { builtinHandlers } from '../src/handlers.js';
import type { SendResult } from '../src/notify/send.js';
import { closeHerald, openHerald, waitFor } from './helpers/db.js';
import { apiCaller } from './helpers/api.js';
import { makeProviders } from '../src/channels/registry.js';
import { parseConfig, type HeraldConfigInput } from '../src/config.js';
import { makeLogger } from '../src/obs/log.js';
import { startTwilioServer, type TwilioServer } from './helpers/twilio-server.js';

const KEY = 'providers-config-key-0123456789';

describe('providers from the configuration', () => {
  let twilio: TwilioServer;
  before(async () => {
    twilio = await startTwilioServer();
  });
  after(() => twilio.close());

  it('sends SMS through Twilio when its settings are there', async () => {
    const herald: Herald = await openHerald('pglite', {
      apiKey: KEY,
      twilioAccountSid: twilio.accountSid,
      twilioAuthToken: twilio.authToken,
      twilioFrom: '+15005550006',
      twilioUrl: twilio.url,
    });
    try {
      const call = apiCaller(makeApp(herald), KEY);
      await call('PUT', '/v1/types/code', {
        channels: ['sms'],
        templates: { sms: { text: 'Code {{code}}' } },
      });
      await call('PUT', '/v1/recipients/ann', { phone: '+4915112345678' });
      const res = await call('POST', '/v1/notifications', {
        type: 'code',
        to: 'ann',
        data: { code: '123' },
      });
      const id = ((await res.json()) as SendResult).notifications[0]!.id;
      await herald.worker({ handlers: builtinHandlers(herald), pollIntervalMs: 50 }).start();
      const n = await waitFor(
        async () => {
          const got = await herald.notifications.get(id);
          return got?.deliveries[0]?.status === 'sent' ? got : null;
        },
        10_000,
        'the SMS',
      );
      assert.equal(n.deliveries[0]!.provider, 'twilio');
      assert.deepEqual(n.deliveries[0]!.details, { segments: 1 });
      assert.equal(twilio.requests.at(-1)?.form.Body, 'Code 123');
    } finally {
      await closeHerald(herald);
    }
  });

  it('refuses to start with two WhatsApp providers and no choice, naming the setting', async () => {
    const both = {
      twilioAccountSid: twilio.accountSid,
      twilioAuthToken: twilio.authToken,
      twilioWhatsappFrom: '+15005550006',
      whatsappToken: 'EAAG-token',
      whatsappPhoneNumberId: '106540352242922',
    };
    await assert.rejects(openHerald('pglite', both), /HERALD_WHATSAPP_PROVIDER/);
    const chosen = await openHerald('pglite', { ...both, whatsappProvider: 'twilio-whatsapp' });
    try {
      assert.equal(chosen.providers.get('whatsapp')?.name, 'twilio-whatsapp');
      assert.equal(chosen.providers.get('sms'), undefined, 'no SMS sender was set');
    } finally {
      await closeHerald(chosen);
    }
  });

  it('picks the one email provider configured, and wants HERALD_EMAIL_PROVIDER for two', async () => {
    // The registry alone (createHerald builds the same from its configuration; the WhatsApp
    // test above shows a refusal stops the start): no database to open for each case.
    const log = makeLogger('silent');
    const name = async (settings: HeraldConfigInput) => {
      const providers = makeProviders(parseConfig(settings), log);
      try {
        return providers.get('email')?.name;
      } finally {
        await providers.close();
      }
    };
    assert.equal(await name({}), 'outbox');
    assert.equal(await name({ resendApiKey: 're_123' }), 'resend');
    assert.equal(await name({ postmarkServerToken: 'pm-token' }), 'postmark');
    await assert.rejects(
      name({ resendApiKey: 're_123', smtpUrl: 'smtp://127.0.0.1:2525' }),
      /resend and smtp are both configured for email: say which with HERALD_EMAIL_PROVIDER/,
    );
    assert.equal(
      await name({
        resendApiKey: 're_123',
        smtpUrl: 'smtp://127.0.0.1:2525',
        emailProvider: 'smtp',
      }),
      'smtp',
    );
    assert.equal(await name({ sendgridApiKey: 'SG.x', emailProvider: 'outbox' }), 'outbox');
    await assert.rejects(
      name({ emailProvider: 'resend' }),
      /HERALD_EMAIL_PROVIDER is resend, which is not configured/,
    );
  });
});
