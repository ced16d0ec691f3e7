/**
 * The SMS and WhatsApp providers (Twilio SMS, Twilio WhatsApp, WhatsApp Cloud API) end to end:
 * a trigger over HTTP, a worker, the provider, and a local server speaking the service's
 * protocol, which records the exact request. Then what the services' permanent, transient and
 * rate-limited answers do to a delivery, segment counting, E.164 checks and template messages.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeLogger } from '../src/obs/log.js';
import { isProviderError } from '../src/channels/provider.js';
import { smsSegments, isE164 } from '../src/channels/sms/segments.js';
import {
  classifyTwilioError,
  makeTwilioSmsProvider,
  twilioSmsFromConfig,
} from '../src/channels/sms/twilio.js';
import {
  makeTwilioWhatsappProvider,
  twilioWhatsappFromConfig,
} from '../src/channels/whatsapp/twilio.js';
import {
  classifyWhatsappError,
  makeWhatsappCloudProvider,
  whatsappCloudFromConfig,
} from '../src/channels/whatsapp/meta.js';
import { resolveConfig } from '../src/config.js';
import { pgSkipReason, providerBackends } from './helpers/db.js';
import { assertErrorHandling, startTextPipeline } from './helpers/text-pipeline.js';
import { startTwilioServer, twilioError, type TwilioServer } from './helpers/twilio-server.js';
import { graphError, startWhatsappServer, type WhatsappServer } from './helpers/whatsapp-server.js';

const pgSkip = await pgSkipReason();
const log = makeLogger('silent');
const SMS_FROM = '+15017122661';
const WA_FROM = '+14155238886';

describe('SMS segments and E.164', () => {
  it('counts GSM-7 and UCS-2 segments', () => {
    assert.deepEqual(smsSegments(''), { encoding: 'GSM-7', segments: 1 });
    assert.deepEqual(smsSegments('a'.repeat(160)), { encoding: 'GSM-7', segments: 1 });
    assert.deepEqual(smsSegments('a'.repeat(161)), { encoding: 'GSM-7', segments: 2 });
    assert.deepEqual(smsSegments('a'.repeat(200)), { encoding: 'GSM-7', segments: 2 });
    assert.deepEqual(smsSegments('a'.repeat(306)), { encoding: 'GSM-7', segments: 2 });
    assert.deepEqual(smsSegments('a'.repeat(307)), { encoding: 'GSM-7', segments: 3 });
    // Extension characters take two septets: 80 x '€' = 160 septets.
    assert.deepEqual(smsSegments('€'.repeat(80)), { encoding: 'GSM-7', segments: 1 });
    assert.deepEqual(smsSegments('€'.repeat(81)), { encoding: 'GSM-7', segments: 2 });
    assert.deepEqual(smsSegments('Grüße, Señor Müller'), { encoding: 'GSM-7', segments: 1 });
    // 'ë' is not in the GSM-7 alphabet: the whole body goes UCS-2.
    assert.deepEqual(smsSegments('Joyeux Noël'), { encoding: 'UCS-2', segments: 1 });
    assert.deepEqual(smsSegments('ç'.repeat(70)), { encoding: 'UCS-2', segments: 1 });
    assert.deepEqual(smsSegments('ç'.repeat(71)), { encoding: 'UCS-2', segments: 2 });
    // An emoji is two UTF-16 units: 69 + 2 = 71 > 70.
    assert.deepEqual(smsSegments('a'.repeat(69) + '🎉'), { encoding: 'UCS-2', segments: 2 });
    assert.deepEqual(smsSegments('a'.repeat(68) + '🎉'), { encoding: 'UCS-2', segments: 1 });
    // A surrogate pair is not split: 66 + 2 does not fit 67, so it moves on.
    assert.deepEqual(smsSegments('a'.repeat(66) + '🎉' + 'a'.repeat(66)), {
      encoding: 'UCS-2',
      segments: 3,
    });
  });

  it('accepts E.164 numbers only', () => {
    for (const ok of ['+4915112345678', '+15017122661', '+447911123456']) assert.ok(isE164(ok), ok);
    for (const bad of ['4915112345678', '+0123456', '+1 501 712 2661', '+1234567890123456', ''])
      assert.ok(!isE164(bad), bad);
  });
});

describe('provider settings', () => {
  it('makes each provider only when it is configured', () => {
    const none = resolveConfig({ env: {}, noFile: true });
    assert.equal(twilioSmsFromConfig(none, log), undefined);
    assert.equal(twilioWhatsappFromConfig(none, log), undefined);
    assert.equal(whatsappCloudFromConfig(none, log), undefined);
    const env = {
      HERALD_TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`,
      HERALD_TWILIO_AUTH_TOKEN: 'token',
      HERALD_TWILIO_FROM: SMS_FROM,
      HERALD_TWILIO_WHATSAPP_FROM: WA_FROM,
      HERALD_TWILIO_URL: 'http://127.0.0.1:1',
      HERALD_WHATSAPP_TOKEN: 'EAAG-token',
      HERALD_WHATSAPP_PHONE_NUMBER_ID: '106540352242922',
      HERALD_WHATSAPP_URL: 'http://127.0.0.1:1',
    };
    const all = resolveConfig({ env, noFile: true });
    assert.equal(twilioSmsFromConfig(all, log)?.name, 'twilio');
    assert.equal(twilioWhatsappFromConfig(all, log)?.name, 'twilio-whatsapp');
    assert.equal(whatsappCloudFromConfig(all, log)?.name, 'whatsapp-cloud');
    assert.throws(
      () => resolveConfig({ env: { HERALD_TWILIO_ACCOUNT_SID: 'nope' }, noFile: true }),
      /twilioAccountSid|TWILIO_ACCOUNT_SID/,
    );
  });
});

for (const backend of await providerBackends()) {
  describe(
    `SMS and WhatsApp providers on ${backend}`,
    { skip: backend === 'pg' ? pgSkip : undefined },
    () => {
      let twilio: TwilioServer;
      let meta: WhatsappServer;
      // Herald 1: Twilio SMS and the WhatsApp Cloud API; Herald 2: Twilio WhatsApp.
      let one: Awaited<ReturnType<typeof startTextPipeline>>;
      let two: Awaited<ReturnType<typeof startTextPipeline>>;

      before(async () => {
        twilio = await startTwilioServer({ segments: (body) => smsSegments(body).segments });
        meta = await startWhatsappServer();
        const twilioSettings = {
          accountSid: twilio.accountSid,
          authToken: twilio.authToken,
          url: twilio.url,
          log,
        };
        one = await startTextPipeline(backend, [
          makeTwilioSmsProvider({ ...twilioSettings, from: SMS_FROM }),
          makeWhatsappCloudProvider({
            token: meta.token,
            phoneNumberId: meta.phoneNumberId,
            url: meta.url,
            log,
          }),
        ]);
        two = await startTextPipeline(backend, [
          makeTwilioWhatsappProvider({ ...twilioSettings, from: WA_FROM }),
        ]);
      });
      after(async () => {
        await one?.close();
        await two?.close();
        await twilio?.close();
        await meta?.close();
      });

      it('Twilio SMS: sends the form Twilio expects and keeps the sid and the segments', async () => {
        const text = 'Your order 1234 has shipped. '.repeat(7).slice(0, 200);
        assert.equal(text.length, 200);
        const d = await one.deliver('sms', '+4915112345001', text);
        assert.equal(d.status, 'sent', d.error ?? '');
        const req = twilio.requests.find((r) => r.form.To === '+4915112345001');
        assert.ok(req);
        assert.equal(req.method, 'POST');
        assert.equal(req.path, `/2010-04-01/Accounts/${twilio.accountSid}/Messages.json`);
        assert.equal(
          req.headers.authorization,
          `Basic ${Buffer.from(`${twilio.accountSid}:${twilio.authToken}`).toString('base64')}`,
        );
        assert.equal(req.headers['content-type'], 'application/x-www-form-urlencoded');
        assert.deepEqual(req.form, { To: '+4915112345001', Body: text, From: SMS_FROM });
        const answer = twilio.accepted.find((a) => a.form.To === '+4915112345001')!.answer;
        assert.equal(d.provider, 'twilio');
        assert.equal(d.address, '+4915112345001');
        assert.equal(d.providerMessageId, answer.sid);
        assert.match(d.providerMessageId ?? '', /^SM[0-9a-f]{32}$/);
        assert.deepEqual(d.details, { segments: 2 });

        const emoji = `${'x'.repeat(69)}🎉`;
        assert.equal([...emoji].length, 70);
        const e = await one.deliver('sms', '+4915112345002', `${emoji}!`);
        assert.equal(e.status, 'sent');
        assert.deepEqual(e.details, { segments: 2 });
      });

      it('Twilio SMS: permanent, transient and rate-limited answers', async () => {
        await assertErrorHandling(
          (phone) => one.deliver('sms', phone, 'hi'),
          {
            permanent: (p) =>
              twilio.script(
                p,
                twilioError(400, 21610, 'Attempt to send to unsubscribed recipient'),
              ),
            transient: (p) =>
              twilio.script(
                p,
                twilioError(500, 20500, 'Internal Server Error'),
                twilioError(503, 20503, 'Service unavailable'),
              ),
            rateLimited: (p) =>
              twilio.script(
                p,
                twilioError(429, 20429, 'Too Many Requests', { 'retry-after': '1' }),
              ),
          },
          { permanent: /21610/, transient: /503/, rateLimited: /429.*20429/ },
        );
      });

      it('WhatsApp Cloud API: sends the JSON Meta expects and keeps the wamid', async () => {
        const d = await one.deliver('whatsapp', '+4915112345003', 'Your code is 123456');
        assert.equal(d.status, 'sent', d.error ?? '');
        const req = meta.requests.find((r) => r.body?.to === '4915112345003');
        assert.ok(req);
        assert.equal(req.method, 'POST');
        assert.equal(req.path, `/v21.0/${meta.phoneNumberId}/messages`);
        assert.equal(req.headers.authorization, `Bearer ${meta.token}`);
        assert.equal(req.headers['content-type'], 'application/json');
        assert.deepEqual(req.body, {
          messaging_product: 'whatsapp',
          recipient_type: 'individual',
          to: '4915112345003',
          type: 'text',
          text: { preview_url: false, body: 'Your code is 123456' },
        });
        assert.equal(d.provider, 'whatsapp-cloud');
        assert.match(d.providerMessageId ?? '', /^wamid\./);
      });

      it('WhatsApp Cloud API: permanent, transient and rate-limited answers', async () => {
        await assertErrorHandling(
          (phone) => one.deliver('whatsapp', phone, 'hi'),
          {
            permanent: (p) =>
              meta.script(p.slice(1), graphError(400, 131026, 'Message undeliverable')),
            transient: (p) =>
              meta.script(
                p.slice(1),
                graphError(500, 131000, 'Something went wrong'),
                graphError(503, 2, 'Service temporarily unavailable'),
              ),
            rateLimited: (p) => meta.script(p.slice(1), graphError(400, 130429, 'Rate limit hit')),
          },
          { permanent: /131026/, transient: /\(2\)/, rateLimited: /130429/ },
        );
      });

      it('Twilio WhatsApp: sends whatsapp: addresses and keeps the sid', async () => {
        const d = await two.deliver('whatsapp', '+4915112345004', 'Your table is ready');
        assert.equal(d.status, 'sent', d.error ?? '');
        const req = twilio.requests.find((r) => r.form.To === 'whatsapp:+4915112345004');
        assert.ok(req);
        assert.equal(req.path, `/2010-04-01/Accounts/${twilio.accountSid}/Messages.json`);
        assert.deepEqual(req.form, {
          To: 'whatsapp:+4915112345004',
          Body: 'Your table is ready',
          From: `whatsapp:${WA_FROM}`,
        });
        assert.equal(d.provider, 'twilio-whatsapp');
        assert.equal(
          d.providerMessageId,
          twilio.accepted.find((a) => a.form.To === req.form.To)!.answer.sid,
        );
        assert.equal(d.details, null);
      });

      it('Twilio WhatsApp: permanent, transient and rate-limited answers', async () => {
        const wa = (p: string) => `whatsapp:${p}`;
        await assertErrorHandling(
          (phone) => two.deliver('whatsapp', phone, 'hi'),
          {
            permanent: (p) =>
              twilio.script(
                wa(p),
                twilioError(
                  400,
                  63016,
                  'Failed to send freeform message because you are outside the allowed window.',
                ),
              ),
            transient: (p) =>
              twilio.script(
                wa(p),
                twilioError(502, 20500, 'Bad Gateway'),
                twilioError(500, 20500, 'Internal Server Error'),
              ),
            rateLimited: (p) => twilio.script(wa(p), twilioError(429, 20429, 'Too Many Requests')),
          },
          { permanent: /63016/, transient: /500/, rateLimited: /20429/ },
        );
      });
    },
  );
}

describe('providers without the pipeline', () => {
  let twilio: TwilioServer;
  let meta: WhatsappServer;
  before(async () => {
    twilio = await startTwilioServer();
    meta = await startWhatsappServer();
  });
  after(async () => {
    await twilio.close();
    await meta.close();
  });

  const sms = (to: string, text: string) =>
    ({
      channel: 'sms',
      deliveryId: '00000000-0000-4000-8000-000000000001',
      to,
      content: { text },
    }) as const;

  it('refuses a number that is not E.164 before any request', async () => {
    const p = makeTwilioSmsProvider({
      accountSid: twilio.accountSid,
      authToken: twilio.authToken,
      from: SMS_FROM,
      url: twilio.url,
      log,
    });
    const before = twilio.requests.length;
    await assert.rejects(p.send(sms('015112345678', 'hi')), (err) =>
      isProviderError(err, 'permanent'),
    );
    assert.equal(twilio.requests.length, before);
  });

  it('sends through a Messaging Service and counts the segments itself (Twilio reports 0)', async () => {
    const service = `MG${'a'.repeat(32)}`;
    const p = makeTwilioSmsProvider({
      accountSid: twilio.accountSid,
      authToken: twilio.authToken,
      from: service,
      url: twilio.url,
      log,
    });
    const sent = await p.send(sms('+4915112345100', 'ç'.repeat(71)));
    assert.deepEqual(sent.details, { segments: 2 });
    assert.deepEqual(twilio.requests.at(-1)?.form, {
      To: '+4915112345100',
      Body: 'ç'.repeat(71),
      MessagingServiceSid: service,
    });
  });

  it('a wrong auth token gets Twilio 401 (20003), classified transient (a setting to fix)', async () => {
    const p = makeTwilioSmsProvider({
      accountSid: twilio.accountSid,
      authToken: 'wrong',
      from: SMS_FROM,
      url: twilio.url,
      log,
    });
    await assert.rejects(p.send(sms('+4915112345101', 'hi')), (err) => {
      assert.ok(isProviderError(err, 'transient'));
      assert.equal(err.providerCode, '20003');
      return true;
    });
  });

  it('a wrong token gets Meta 401 (190), classified transient', async () => {
    const p = makeWhatsappCloudProvider({
      token: 'wrong',
      phoneNumberId: meta.phoneNumberId,
      url: meta.url,
      log,
    });
    await assert.rejects(
      p.send({
        channel: 'whatsapp',
        deliveryId: 'd',
        to: '+4915112345102',
        content: { text: 'hi' },
      }),
      (err) => isProviderError(err, 'transient') && err.providerCode === '190',
    );
  });

  it('sends a WhatsApp template message when the content names a template', async () => {
    const p = makeWhatsappCloudProvider({
      token: meta.token,
      phoneNumberId: meta.phoneNumberId,
      url: meta.url,
      log,
    });
    const components = [{ type: 'body', parameters: [{ type: 'text', text: '123456' }] }];
    const sent = await p.send({
      channel: 'whatsapp',
      deliveryId: 'd',
      to: '+4915112345103',
      content: {
        text: '',
        template: 'otp_code',
        language: 'de',
        components: JSON.stringify(components),
      },
    });
    assert.match(sent.providerMessageId, /^wamid\./);
    assert.deepEqual(meta.requests.at(-1)?.body, {
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: '4915112345103',
      type: 'template',
      template: { name: 'otp_code', language: { code: 'de' }, components },
    });
    await assert.rejects(
      p.send({
        channel: 'whatsapp',
        deliveryId: 'd',
        to: '+4915112345103',
        content: { template: 'x', components: '{' },
      }),
      (err) => isProviderError(err, 'permanent'),
    );
  });

  it('connection failures and timeouts are transient; Retry-After dates are honoured', async () => {
    const p = makeTwilioSmsProvider({
      accountSid: twilio.accountSid,
      authToken: twilio.authToken,
      from: SMS_FROM,
      url: 'http://127.0.0.1:1',
      log,
    });
    await assert.rejects(p.send(sms('+4915112345104', 'hi')), (err) =>
      isProviderError(err, 'transient'),
    );
    const headers = new Headers({ 'retry-after': new Date(Date.now() + 5_000).toUTCString() });
    const limited = classifyTwilioError({ status: 429, headers, json: {}, text: '{}' });
    assert.equal(limited.kind, 'rate_limited');
    assert.ok((limited.retryAfterMs ?? 0) > 3_000 && (limited.retryAfterMs ?? 0) <= 5_000);
    const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    assert.equal(classifyWhatsappError(timeout).kind, 'transient');
    const meta80007 = classifyWhatsappError({
      status: 400,
      headers: new Headers(),
      json: { error: { code: 80007 } },
      text: '',
    });
    assert.equal(meta80007.kind, 'rate_limited');
    assert.equal(
      classifyWhatsappError({
        status: 400,
        headers: new Headers(),
        json: { error: { code: 100 } },
        text: '',
      }).kind,
      'permanent',
    );
  });
});
