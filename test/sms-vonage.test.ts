/**
 * The Vonage SMS provider end to end: a trigger over HTTP, a worker, the provider, and a local
 * Vonage SMS API (test/helpers/vonage-server.ts) that checks each request as Vonage does and
 * records it. Then what Vonage's answers (its statuses in an HTTP 200, and real HTTP 429 / 5xx)
 * do to a delivery, the classification alone, and choosing between Twilio and Vonage from the
 * configuration.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isProviderError, type ProviderErrorKind } from '../src/channels/provider.js';
import { makeProviders } from '../src/channels/registry.js';
import {
  classifyVonageFailure,
  makeVonageSmsProvider,
  vonageSmsFromConfig,
  type VonageOptions,
} from '../src/channels/sms/vonage.js';
import { resolveConfig } from '../src/config.js';
import { makeLogger } from '../src/obs/log.js';
import { pgSkipReason, type Backend, providerBackends } from './helpers/db.js';
import type { Reply } from './helpers/http-service.js';
import { assertErrorHandling, startTextPipeline } from './helpers/text-pipeline.js';
import { startTwilioServer, type TwilioServer } from './helpers/twilio-server.js';
import {
  paramsOf,
  startVonageServer,
  vonageStatus,
  type VonageServer,
} from './helpers/vonage-server.js';

const pgSkip = await pgSkipReason();
const log = makeLogger('silent');
const FROM = '+15017122661';

/** The Vonage provider for this server, sending from FROM, with `overrides`. */
const providerFor = (vonage: VonageServer, overrides: Partial<VonageOptions> = {}) =>
  makeVonageSmsProvider({
    apiKey: vonage.apiKey,
    apiSecret: vonage.apiSecret,
    from: FROM,
    url: vonage.url,
    log,
    ...overrides,
  });

/**
 * Vonage's answers for the permanent, transient (twice) and rate-limited cases of
 * `assertErrorHandling`, and what the delivery's error then says.
 */
const ERROR_CASES: {
  name: string;
  answers: Record<'permanent' | 'transient' | 'rateLimited', Reply[]>;
  codes: Parameters<typeof assertErrorHandling>[2];
}[] = [
  {
    name: 'statuses in a 200: 7 barred fails, 5 internal error retries, 1 throttled waits 1 s',
    answers: {
      permanent: [vonageStatus(7, 'Number barred.')],
      transient: [vonageStatus(5, 'Internal Error'), vonageStatus(5, 'Internal Error')],
      rateLimited: [vonageStatus(1, 'Throughput Rate Exceeded - please wait [ 1000 ] and retry')],
    },
    codes: {
      permanent: /^vonage: vonage status 7: Number barred/,
      transient: /status 5: Internal Error/,
      rateLimited: /status 1: Throughput Rate Exceeded/,
    },
  },
  {
    name: '33 de-activated fails; HTTP 503 then bad credentials retry; HTTP 429 waits Retry-After',
    answers: {
      permanent: [vonageStatus(33, 'Number De-activated')],
      transient: [{ status: 503, body: 'Service Unavailable' }, vonageStatus(4, 'Bad Credentials')],
      rateLimited: [
        {
          status: 429,
          headers: { 'retry-after': '1' },
          body: { type: 'https://developer.vonage.com/api-errors#throttled', title: 'Throttled' },
        },
      ],
    },
    codes: { permanent: /status 33/, transient: /status 4: Bad Credentials/, rateLimited: /429/ },
  },
];

/** A pipeline with no provider passed in code: Twilio and Vonage both set, Vonage chosen. */
const startTextPipelineFromConfig = (
  backend: Backend,
  vonage: VonageServer,
  twilio: TwilioServer,
) =>
  startTextPipeline(backend, [], {
    twilioAccountSid: twilio.accountSid,
    twilioAuthToken: twilio.authToken,
    twilioFrom: FROM,
    twilioUrl: twilio.url,
    vonageApiKey: vonage.apiKey,
    vonageApiSecret: vonage.apiSecret,
    vonageFrom: 'Acme',
    vonageUrl: vonage.url,
    smsProvider: 'vonage',
  });

for (const backend of await providerBackends()) {
  describe(`Vonage SMS on ${backend}`, { skip: backend === 'pg' ? pgSkip : undefined }, () => {
    let vonage: VonageServer;
    let pipeline: Awaited<ReturnType<typeof startTextPipeline>>;
    before(async () => {
      vonage = await startVonageServer();
      pipeline = await startTextPipeline(backend, [providerFor(vonage)]);
    });
    after(async () => {
      await pipeline?.close();
      await vonage?.close();
    });

    it('sends the form Vonage expects and keeps the message id and the segments', async () => {
      const text = 'Your order 1234 has shipped. '.repeat(7).slice(0, 200);
      const d = await pipeline.deliver('sms', '+4915112345001', text);
      assert.equal(d.status, 'sent', d.error ?? '');
      const [req, ...more] = vonage.requestsFor('4915112345001');
      assert.ok(req);
      assert.equal(more.length, 0);
      assert.equal(req.method, 'POST');
      assert.equal(req.path, '/sms/json');
      assert.equal(req.headers['content-type'], 'application/x-www-form-urlencoded');
      assert.equal(req.headers.accept, 'application/json');
      assert.deepEqual(paramsOf(req), {
        api_key: vonage.apiKey,
        api_secret: vonage.apiSecret,
        from: '15017122661',
        to: '4915112345001',
        text,
        'client-ref': d.id,
      });
      const answer = vonage.accepted.find((a) => a.params.to === '4915112345001')!.answer;
      assert.equal(answer['message-count'], '2');
      const ids = answer.messages.map((m) => m['message-id']);
      assert.equal(d.provider, 'vonage');
      assert.equal(d.address, '+4915112345001');
      assert.equal(d.providerMessageId, ids[0]);
      assert.deepEqual(d.details, { segments: 2, heraldSegments: 2, messageIds: ids });
    });

    it('sends text outside GSM-7 as type=unicode', async () => {
      const d = await pipeline.deliver('sms', '+4915112345002', 'Joyeux Noël 🎉');
      assert.equal(d.status, 'sent', d.error ?? '');
      const params = paramsOf(vonage.requestsFor('4915112345002')[0]!);
      assert.equal(params.type, 'unicode');
      assert.equal(params.text, 'Joyeux Noël 🎉');
      assert.deepEqual(d.details, { segments: 1, heraldSegments: 1 });
      // GSM-7 text goes without a type (Vonage's default, text).
      assert.equal(paramsOf(vonage.requestsFor('4915112345001')[0]!).type, undefined);
    });

    for (const c of ERROR_CASES)
      it(c.name, async () => {
        const script = (answers: Reply[]) => (phone: string) =>
          vonage.script(phone.slice(1), ...answers);
        await assertErrorHandling(
          (phone) => pipeline.deliver('sms', phone, 'hi'),
          {
            permanent: script(c.answers.permanent),
            transient: script(c.answers.transient),
            rateLimited: script(c.answers.rateLimited),
          },
          c.codes,
        );
      });

    it('takes Vonage from the configuration when HERALD_SMS_PROVIDER names it', async () => {
      const twilio = await startTwilioServer();
      const fromConfig = await startTextPipelineFromConfig(backend, vonage, twilio);
      try {
        assert.equal(fromConfig.herald.providers.get('sms')?.name, 'vonage');
        const d = await fromConfig.deliver('sms', '+4915112345003', 'Code 123');
        assert.equal(d.status, 'sent', d.error ?? '');
        assert.equal(d.provider, 'vonage');
        assert.equal(paramsOf(vonage.requestsFor('4915112345003')[0]!).from, 'Acme');
        assert.equal(twilio.requests.length, 0);
      } finally {
        await fromConfig.close();
        await twilio.close();
      }
    });
  });
}

describe('Vonage and Twilio from the configuration', () => {
  const twilioEnv = {
    HERALD_TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`,
    HERALD_TWILIO_AUTH_TOKEN: 'token',
    HERALD_TWILIO_FROM: FROM,
  };
  const vonageEnv = {
    HERALD_VONAGE_API_KEY: 'abcd1234',
    HERALD_VONAGE_API_SECRET: 'abcdef0123456789',
    HERALD_VONAGE_FROM: 'Acme',
  };
  const smsOf = (env: Record<string, string | undefined>) =>
    makeProviders(resolveConfig({ env, noFile: true }), log).get('sms')?.name;

  it('makes the Vonage provider only when its key and sender are set, and wants the secret', () => {
    assert.equal(vonageSmsFromConfig(resolveConfig({ env: {}, noFile: true }), log), undefined);
    assert.equal(smsOf(vonageEnv), 'vonage');
    assert.equal(smsOf(twilioEnv), 'twilio');
    const noSecret = { ...vonageEnv, HERALD_VONAGE_API_SECRET: undefined };
    assert.throws(() => smsOf(noSecret), /HERALD_VONAGE_API_SECRET is missing/);
    assert.throws(
      () => resolveConfig({ env: { HERALD_VONAGE_URL: 'ftp://x' }, noFile: true }),
      /vonageUrl/,
    );
  });

  it('refuses Twilio and Vonage both set without HERALD_SMS_PROVIDER; with it picks that one', () => {
    const both = { ...twilioEnv, ...vonageEnv };
    assert.throws(
      () => smsOf(both),
      /twilio and vonage are both configured for sms: say which with HERALD_SMS_PROVIDER/,
    );
    assert.equal(smsOf({ ...both, HERALD_SMS_PROVIDER: 'vonage' }), 'vonage');
    assert.equal(smsOf({ ...both, HERALD_SMS_PROVIDER: 'twilio' }), 'twilio');
    assert.throws(
      () => smsOf({ ...twilioEnv, HERALD_SMS_PROVIDER: 'vonage' }),
      /HERALD_SMS_PROVIDER is vonage, which is not configured \(configured for sms: twilio\)/,
    );
    assert.throws(() => smsOf({ ...both, HERALD_SMS_PROVIDER: 'nexmo' }), /smsProvider/);
  });
});

describe('the Vonage provider alone', () => {
  let vonage: VonageServer;
  before(async () => {
    vonage = await startVonageServer();
  });
  after(() => vonage.close());

  const provider = (overrides: Partial<VonageOptions> = {}) => providerFor(vonage, overrides);
  const sms = (to: string, text: string, deliveryId = '00000000-0000-4000-8000-000000000001') =>
    ({ channel: 'sms', deliveryId, to, content: { text } }) as const;

  it('refuses a number that is not E.164 before any request', async () => {
    const before = vonage.requests.length;
    await assert.rejects(provider().send(sms('015112345678', 'hi')), (err) =>
      isProviderError(err, 'permanent'),
    );
    assert.equal(vonage.requests.length, before);
  });

  it('a wrong API secret gets status 4, classified transient (a setting to fix)', async () => {
    await assert.rejects(
      provider({ apiSecret: 'wrong' }).send(sms('+4915112345101', 'hi')),
      (err) => {
        assert.ok(isProviderError(err, 'transient'));
        assert.equal(err.providerCode, '4');
        assert.match(err.message, /Bad Credentials/);
        return true;
      },
    );
  });

  it('sends an alphanumeric sender as it is and cuts client-ref at 100 characters', async () => {
    const sent = await provider({ from: 'Acme' }).send(
      sms('+4915112345102', 'hi', 'd'.repeat(150)),
    );
    const params = paramsOf(vonage.requestsFor('4915112345102')[0]!);
    assert.equal(params.from, 'Acme');
    assert.equal(params['client-ref'], 'd'.repeat(100));
    assert.equal(sent.providerMessageId, vonage.accepted.at(-1)!.answer.messages[0]!['message-id']);
  });

  it('connection failures and timeouts are transient', async () => {
    await assert.rejects(
      provider({ url: 'http://127.0.0.1:1' }).send(sms('+4915112345103', 'hi')),
      (err) => isProviderError(err, 'transient'),
    );
    const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    const err = classifyVonageFailure(timeout);
    assert.equal(err.kind, 'transient');
    assert.match(err.message, /no answer in time/);
  });

  it('classifies every documented status and HTTP error in one place', () => {
    const answer = (status: number, json: unknown, headers: Record<string, string> = {}) => ({
      status,
      headers: new Headers(headers),
      json,
      text: JSON.stringify(json ?? ''),
    });
    const statusAnswer = (code: string) =>
      answer(200, { 'message-count': '1', messages: [{ status: code, 'error-text': 'x' }] });
    const expect: Record<ProviderErrorKind, string[]> = {
      rate_limited: ['1', '10'],
      transient: ['4', '5', '8', '9', '11', '14', '32'],
      permanent: ['2', '3', '6', '7', '12', '15', '22', '23', '29', '33', '99'],
    };
    for (const [kind, codes] of Object.entries(expect))
      for (const code of codes) {
        const err = classifyVonageFailure(statusAnswer(code));
        assert.equal(err.kind, kind, `status ${code}`);
        assert.equal(err.providerCode, code);
        if (kind === 'rate_limited') assert.equal(err.retryAfterMs, 1_000);
      }
    for (const status of [408, 401, 403, 500, 502, 503])
      assert.equal(classifyVonageFailure(answer(status, undefined)).kind, 'transient', `${status}`);
    for (const status of [400, 404, 422])
      assert.equal(classifyVonageFailure(answer(status, undefined)).kind, 'permanent', `${status}`);
    const at = new Date(Date.now() + 5_000).toUTCString();
    const limited = classifyVonageFailure(answer(429, undefined, { 'retry-after': at }));
    assert.equal(limited.kind, 'rate_limited');
    assert.ok((limited.retryAfterMs ?? 0) > 3_000 && (limited.retryAfterMs ?? 0) <= 5_000);
    // A 200 Herald cannot read (no messages) may be a gateway's page: transient.
    assert.equal(classifyVonageFailure(answer(200, { foo: 1 })).kind, 'transient');
    // A part refused after one accepted decides the whole message, and says which part.
    const partial = classifyVonageFailure(
      answer(200, {
        'message-count': '2',
        messages: [
          { status: '0', 'message-id': 'A1' },
          { status: '1', 'error-text': 'Throttled' },
        ],
      }),
    );
    assert.equal(partial.kind, 'rate_limited');
    assert.match(partial.message, /status 1 \(part 2 of 2\): Throttled/);
  });
});
