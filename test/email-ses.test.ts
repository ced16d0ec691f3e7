/**
 * The Amazon SES v2 provider: its SigV4 signer against AWS's published test suite; the whole
 * pipeline (trigger over HTTP → worker → SES provider → a local SES that verifies every
 * signature independently, test/helpers/ses-server.ts) on one backend (providerBackends), with the raw
 * message SES received and what its permanent, transient and rate-limited answers do to a
 * delivery; a wrong secret end to end; then the provider alone and its settings.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { resolveConfig } from '../src/config.js';
import { makeLogger } from '../src/obs/log.js';
import { makeProviders } from '../src/channels/registry.js';
import { ProviderError, type EmailMessage } from '../src/channels/provider.js';
import { signV4 } from '../src/channels/email/sigv4.js';
import {
  classifySesFailure,
  makeSesProvider,
  sesErrorType,
  sesFromConfig,
} from '../src/channels/email/ses.js';
import type { HttpAnswer } from '../src/channels/http.js';
import { pgSkipReason, providerBackends } from './helpers/db.js';
import type { HttpService, RecordedRequest } from './helpers/http-service.js';
import { EMAIL_FROM, startEmailPipeline } from './helpers/email-pipeline.js';
import { startSesServer } from './helpers/ses-server.js';

const log = makeLogger('silent');
const pgSkip = await pgSkipReason();
const FROM = EMAIL_FROM; // the pipeline harness's sender
const REGION = 'eu-west-1';
const KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

const startServer = () =>
  startSesServer({
    region: REGION,
    accessKeyId: KEY_ID,
    secretAccessKey: SECRET,
    retryAfterSeconds: 1,
    permanent: /^bounce@/,
    unavailable: /^down@/,
    flaky: /^flaky@/,
    rateLimited: /^busy@/,
    hang: /^hang@/,
  });

/** The raw MIME message of a SendEmail request, decoded. */
function rawOf(req: RecordedRequest): string {
  const body = req.json as { Content: { Raw: { Data: string } } };
  return Buffer.from(body.Content.Raw.Data, 'base64').toString('utf8');
}

/** One header of a raw message (unfolded). */
function headerOf(raw: string, name: string): string | undefined {
  const head = raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
  const line = head.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}

const err = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe('the SigV4 signer against the AWS Signature Version 4 test suite', () => {
  // aws-sig-v4-test-suite: credentials AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY,
  // us-east-1, service "service", 2015-08-30T12:36:00Z, Host example.amazonaws.com, no body.
  const suite = (method: string) =>
    signV4({
      method,
      url: 'https://example.amazonaws.com/',
      region: 'us-east-1',
      service: 'service',
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
      now: new Date('2015-08-30T12:36:00Z'),
    });

  it('get-vanilla: the canonical request, string to sign and Authorization header', () => {
    const s = suite('GET');
    assert.equal(
      s.canonicalRequest,
      'GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    assert.equal(
      s.stringToSign,
      'AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63',
    );
    assert.equal(
      s.headers.authorization,
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    );
    assert.equal(s.headers['x-amz-date'], '20150830T123600Z');
    assert.equal(s.headers.host, undefined, 'fetch sets Host from the URL');
  });

  it('post-vanilla', () => {
    assert.equal(
      suite('POST').signature,
      '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b',
    );
  });
});

for (const backend of await providerBackends())
  describe(
    `email over Amazon SES through the pipeline on ${backend}`,
    { skip: backend === 'pg' ? pgSkip : undefined },
    () => {
      let server: HttpService;
      let pipeline: Awaited<ReturnType<typeof startEmailPipeline>>;

      before(async () => {
        server = await startServer();
        const provider = sesFromConfig(
          {
            sesRegion: REGION,
            sesAccessKeyId: KEY_ID,
            sesSecretAccessKey: SECRET,
            sesUrl: server.url,
            emailFrom: FROM,
          },
          log,
        );
        assert.ok(provider);
        pipeline = await startEmailPipeline(backend, provider, { maxAttempts: 2 });
      });
      after(async () => {
        await pipeline.close();
        await server.close();
      });

      it('sends marketing email as a signed raw message, List-Unsubscribe included, and keeps the MessageId', async () => {
        const d = await pipeline.sendTo('nell', 'nell@example.com', 'newsletter');
        assert.equal(d.status, 'sent', d.error ?? '');
        assert.equal(d.provider, 'ses');
        assert.equal(d.attempts, 1);
        const [req] = server.requestsFor('nell@example.com');
        assert.ok(req);
        assert.equal(req.reply?.status, 200, JSON.stringify(req.reply?.body));
        assert.equal(req.method, 'POST');
        assert.equal(req.path, '/v2/email/outbound-emails');
        assert.equal(req.headers['content-type'], 'application/json');
        assert.match(
          req.headers.authorization ?? '',
          new RegExp(
            `^AWS4-HMAC-SHA256 Credential=${KEY_ID}/\\d{8}/${REGION}/ses/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$`,
          ),
        );
        const body = req.json as Record<string, unknown>;
        assert.deepEqual(Object.keys(body), ['FromEmailAddress', 'Destination', 'Content']);
        assert.equal(body.FromEmailAddress, FROM);
        assert.deepEqual(body.Destination, { ToAddresses: ['nell@example.com'] });
        const raw = rawOf(req);
        assert.equal(headerOf(raw, 'Subject'), 'News for nell');
        assert.equal(headerOf(raw, 'From'), FROM);
        assert.equal(headerOf(raw, 'To'), 'nell@example.com');
        assert.equal(headerOf(raw, 'Message-ID'), `<${d.id}@acme.test>`);
        assert.match(
          headerOf(raw, 'List-Unsubscribe') ?? '',
          /^<https:\/\/herald\.acme\.test\/v1\/unsubscribe\?token=[\w-]+\.[\w-]+>$/,
        );
        assert.equal(headerOf(raw, 'List-Unsubscribe-Post'), 'List-Unsubscribe=One-Click');
        assert.match(headerOf(raw, 'Content-Type') ?? '', /^multipart\/alternative/);
        assert.ok(raw.includes('<p>Hello nell</p>') && raw.includes('Hello nell'));
        const id = (req.reply?.body as { MessageId: string }).MessageId;
        assert.ok(id);
        assert.equal(d.providerMessageId, id);
      });

      it('fails at once on MessageRejected, keeping the SES message and type', async () => {
        const d = await pipeline.sendTo('bo', 'bounce@example.com');
        assert.equal(d.status, 'failed');
        assert.equal(d.reason, 'permanent_error');
        assert.equal(d.attempts, 1);
        assert.equal(server.requestsFor('bounce@example.com').length, 1);
        assert.match(
          d.error ?? '',
          /^ses: SES answered 400 MessageRejected: Email address is not verified/,
        );
      });

      it('retries a 500 InternalFailure and then sends', async () => {
        const d = await pipeline.sendTo('fl', 'flaky@example.com');
        assert.equal(d.status, 'sent', d.error ?? '');
        assert.equal(d.attempts, 2);
        assert.deepEqual(
          d.events.map((e) => e.status),
          ['queued', 'retrying', 'sent'],
        );
        const reqs = server.requestsFor('flaky@example.com');
        assert.equal(reqs.length, 2);
        assert.equal(reqs[0]?.reply?.status, 500);
        assert.equal(
          headerOf(rawOf(reqs[0]), 'Message-ID'),
          headerOf(rawOf(reqs[1]!), 'Message-ID'),
          'a retry carries the same Message-ID',
        );
        assert.equal(
          d.providerMessageId,
          (reqs[1]!.reply?.body as { MessageId: string }).MessageId,
        );
      });

      it('gives up after maxAttempts (2) when SES stays unavailable', async () => {
        const d = await pipeline.sendTo('dn', 'down@example.com');
        assert.equal(d.status, 'failed');
        assert.equal(d.reason, 'retries_exhausted');
        assert.equal(d.attempts, 2);
        assert.equal(server.requestsFor('down@example.com').length, 2);
        assert.match(d.error ?? '', /500 InternalFailure/);
      });

      it('waits as long as the 429 TooManyRequestsException says, then sends', async () => {
        const d = await pipeline.sendTo('bz', 'busy@example.com');
        assert.equal(d.status, 'sent', d.error ?? '');
        assert.deepEqual(
          d.events.map((e) => e.status),
          ['queued', 'retrying', 'sent'],
        );
        const [first, second] = server.requestsFor('busy@example.com');
        assert.equal(first?.reply?.status, 429);
        assert.ok(second);
        assert.ok(second.at - first.at >= 900, `waited ${second.at - first.at} ms`);
      });
    },
  );

describe('a wrong SES secret through the pipeline on pglite', () => {
  let server: HttpService;
  let pipeline: Awaited<ReturnType<typeof startEmailPipeline>>;
  before(async () => {
    server = await startServer();
    pipeline = await startEmailPipeline(
      'pglite',
      makeSesProvider({
        region: REGION,
        accessKeyId: KEY_ID,
        secretAccessKey: 'not-the-secret',
        url: server.url,
        from: FROM,
        log,
      }),
      { maxAttempts: 2 },
    );
  });
  after(async () => {
    await pipeline.close();
    await server.close();
  });

  it('is refused with 403 SignatureDoesNotMatch on every attempt; the delivery fails after maxAttempts', async () => {
    const d = await pipeline.sendTo('ann', 'ann@example.com');
    assert.equal(d.status, 'failed');
    assert.equal(d.reason, 'retries_exhausted', 'transient: no message lost before maxAttempts');
    assert.equal(d.attempts, 2);
    const reqs = server.requestsFor('ann@example.com');
    assert.equal(reqs.length, 0, 'refused before the body is read as an email');
    const refused = server.requests.filter((r) => r.reply?.status === 403);
    assert.equal(refused.length, 2);
    assert.match(refused[0]!.reply?.headers?.['x-amzn-errortype'] ?? '', /^SignatureDoesNotMatch:/);
    assert.match(d.error ?? '', /403 SignatureDoesNotMatch/);
  });
});

describe('the SES provider alone', () => {
  let server: HttpService;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  const email = (to: string): EmailMessage => ({
    channel: 'email',
    deliveryId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
    from: FROM,
    to,
    subject: 'Grüße',
    text: 'Hello',
    headers: {},
  });
  const provider = (over: Partial<Parameters<typeof makeSesProvider>[0]> = {}) =>
    makeSesProvider({
      region: REGION,
      accessKeyId: KEY_ID,
      secretAccessKey: SECRET,
      url: server.url,
      log,
      ...over,
    });

  it('sends a non-ASCII subject encoded in the raw message', async () => {
    const res = await provider().send(email('uli@example.com'));
    const [req] = server.requestsFor('uli@example.com');
    assert.equal(res.providerMessageId, (req?.reply?.body as { MessageId: string }).MessageId);
    assert.equal(headerOf(rawOf(req!), 'Subject'), '=?UTF-8?B?R3LDvMOfZQ==?=');
  });

  it('takes a clock more than 15 minutes off, a wrong key id or region as transient, with the SES type', async () => {
    const skewed = await err(
      provider({ now: () => new Date(Date.now() - 20 * 60_000) }).send(email('a@example.com')),
    );
    assert.ok(skewed instanceof ProviderError);
    assert.equal(skewed.kind, 'transient');
    assert.equal(skewed.providerCode, 'InvalidSignatureException');
    const wrongId = await err(provider({ accessKeyId: 'AKIAWRONG' }).send(email('a@example.com')));
    assert.ok(wrongId instanceof ProviderError);
    assert.equal(wrongId.kind, 'transient');
    assert.equal(wrongId.providerCode, 'InvalidClientTokenId');
    const wrongRegion = await err(provider({ region: 'us-east-1' }).send(email('a@example.com')));
    assert.ok(wrongRegion instanceof ProviderError);
    assert.equal(wrongRegion.providerCode, 'SignatureDoesNotMatch');
    assert.match(wrongRegion.message, /scoped to a valid region, not 'us-east-1'/);
  });

  it('the server refuses a body that does not match x-amz-content-sha256', async () => {
    const body = JSON.stringify({
      FromEmailAddress: 'a@acme.test',
      Destination: { ToAddresses: ['x@example.com'] },
      Content: { Raw: { Data: Buffer.from('Subject: x\r\n\r\nhi').toString('base64') } },
    });
    const signed = signV4({
      method: 'POST',
      url: `${server.url}/v2/email/outbound-emails`,
      headers: {
        'content-type': 'application/json',
        'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      },
      body: '',
      region: REGION,
      service: 'ses',
      accessKeyId: KEY_ID,
      secretAccessKey: SECRET,
    });
    const res = await fetch(`${server.url}/v2/email/outbound-emails`, {
      method: 'POST',
      headers: signed.headers,
      body,
    });
    assert.equal(res.status, 400);
    assert.match(res.headers.get('x-amzn-errortype') ?? '', /^XAmzContentSHA256Mismatch:/);
  });

  it('treats no answer in time as transient', async () => {
    const e = await err(provider({ timeoutMs: 150 }).send(email('hang@example.com')));
    assert.ok(e instanceof ProviderError);
    assert.equal(e.kind, 'transient');
    assert.equal(e.providerCode, 'timeout');
  });

  it('classifies each SES error type', () => {
    const answer = (status: number, type: string | null, body: unknown = {}): HttpAnswer => ({
      status,
      headers: new Headers(
        type ? { 'x-amzn-errortype': `${type}:http://internal.amazon.com/` } : {},
      ),
      text: JSON.stringify(body),
      json: body,
    });
    const kind = (status: number, type: string | null, body?: unknown) =>
      classifySesFailure(answer(status, type, body)).kind;
    assert.equal(kind(400, 'MessageRejected'), 'permanent');
    assert.equal(kind(400, 'MailFromDomainNotVerifiedException'), 'permanent');
    assert.equal(kind(400, 'AccountSuspendedException'), 'permanent');
    assert.equal(kind(404, 'NotFoundException'), 'permanent');
    assert.equal(kind(400, 'BadRequestException'), 'permanent');
    assert.equal(kind(400, 'SendingPausedException'), 'transient');
    assert.equal(kind(403, 'AccessDeniedException'), 'transient');
    assert.equal(kind(503, 'ServiceUnavailable'), 'transient');
    assert.equal(kind(429, 'LimitExceededException'), 'rate_limited');
    assert.equal(kind(400, 'ThrottlingException'), 'rate_limited');
    const limited = classifySesFailure(answer(429, 'TooManyRequestsException'));
    assert.equal(limited.retryAfterMs, 60_000, 'SES sends no Retry-After: a minute');
    const fromBody = classifySesFailure(
      answer(400, null, { __type: 'com.amazonaws.sesv2#MessageRejected', message: 'no' }),
    );
    assert.equal(fromBody.providerCode, 'MessageRejected');
    assert.equal(fromBody.message, 'SES answered 400 MessageRejected: no');
    assert.equal(sesErrorType(null, {}), undefined);
  });
});

describe('SES settings', () => {
  it('maps the environment, needs region and both keys, and is chosen by the registry', () => {
    const env = {
      HERALD_SES_REGION: 'eu-central-1',
      HERALD_SES_ACCESS_KEY_ID: KEY_ID,
      HERALD_SES_SECRET_ACCESS_KEY: SECRET,
      HERALD_SES_URL: 'http://127.0.0.1:9',
    };
    const config = resolveConfig({ noFile: true, env });
    assert.equal(config.sesRegion, 'eu-central-1');
    assert.equal(config.sesAccessKeyId, KEY_ID);
    assert.equal(config.sesSecretAccessKey, SECRET);
    assert.equal(config.sesUrl, 'http://127.0.0.1:9');
    assert.equal(sesFromConfig(config, log)?.name, 'ses');
    assert.equal(makeProviders(config, log).get('email')?.name, 'ses');
    const both = resolveConfig({
      noFile: true,
      env: { ...env, HERALD_RESEND_API_KEY: 're_x', HERALD_EMAIL_PROVIDER: 'ses' },
    });
    assert.equal(makeProviders(both, log).get('email')?.name, 'ses');
    for (const missing of Object.keys(env).slice(0, 3)) {
      const partial = resolveConfig({
        noFile: true,
        env: Object.fromEntries(Object.entries(env).filter(([k]) => k !== missing)),
      });
      assert.equal(sesFromConfig(partial, log), undefined, `without ${missing}`);
    }
    assert.throws(() => resolveConfig({ noFile: true, env: { HERALD_SES_REGION: 'Ireland' } }));
  });
});
