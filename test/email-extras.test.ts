/**
 * Email attachments, Reply-To and custom headers (`email` in a trigger; `replyTo` and `headers`
 * in a type's email template), on one backend (providerBackends):
 *
 * - through the whole pipeline (trigger over HTTP → worker → provider) for every email provider:
 *   SMTP to a real SMTP server process and the .eml outbox (both parsed with mailparser), SES
 *   (the raw MIME the local SES received, parsed), Resend, SendGrid and Postmark (the exact
 *   JSON fields each local service received and checked as the real one does): file names,
 *   content types and bytes, inline images, Reply-To, the trigger's headers over the type's,
 *   List-Unsubscribe kept beside them;
 * - the checks: header injection, headers Herald owns, bad names, base64, file names, content
 *   types, sizes, addresses → 400 validation_failed naming the field, and nothing written;
 * - storage: the options on the notification row (not in the job payload), cleared by erase;
 *   a 3 MiB attachment with a raised body limit; a template Reply-To that renders no address.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { simpleParser, type ParsedMail } from 'mailparser';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { builtinHandlers } from '../src/handlers.js';
import { makeLogger } from '../src/obs/log.js';
import type { Provider } from '../src/channels/provider.js';
import { makeSmtpProvider } from '../src/channels/email/smtp.js';
import { makeOutboxProvider } from '../src/channels/email/outbox.js';
import { resendFromConfig } from '../src/channels/email/resend.js';
import { sendgridFromConfig } from '../src/channels/email/sendgrid.js';
import { postmarkFromConfig } from '../src/channels/email/postmark.js';
import { sesFromConfig } from '../src/channels/email/ses.js';
import { closeHerald, openHerald, pgSkipReason, waitFor, providerBackends } from './helpers/db.js';
import { apiCaller, type Call, type Problem } from './helpers/api.js';
import { EMAIL_FROM, startEmailPipeline } from './helpers/email-pipeline.js';
import { changed, tableSnapshot } from './helpers/fuzz.js';
import type { HttpService, RecordedRequest } from './helpers/http-service.js';
import { triggerAndSettle } from './helpers/pipeline.js';
import { startPostmarkServer } from './helpers/postmark-server.js';
import { startResendServer } from './helpers/resend-server.js';
import { startSendGridServer } from './helpers/sendgrid-server.js';
import { startSesServer } from './helpers/ses-server.js';
import { startSmtpSink, type SmtpSink } from './helpers/smtp-sink.js';

const pgSkip = await pgSkipReason();
const log = makeLogger('silent');

// Bytes of every value, so an encoding mistake anywhere shows.
const PDF = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.from([...Array(256).keys()])]);
const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');
const PDF_NAME = 'Rechnung März №7 — Kopie.pdf';
const CID = 'logo@acme.test';
const b64 = (b: Buffer) => b.toString('base64');

const invoiceType = {
  channels: ['email'],
  templates: {
    email: {
      subject: 'Invoice {{n}}',
      html: `<p>Invoice {{n}} <img src="cid:${CID}"></p>`,
      text: 'Invoice {{n}}',
      replyTo: '{{recipient.data.manager}}',
      headers: { 'X-Campaign': 'from-template', 'X-Template': 'tpl-{{n}}' },
    },
  },
};

const attachments = [
  { filename: PDF_NAME, contentType: 'application/pdf', content: b64(PDF) },
  { filename: 'logo.png', contentType: 'image/png', content: b64(PNG), contentId: CID },
];

/** The trigger's options: its Reply-To and `x-campaign` win over the template's. */
const emailOptions = {
  replyTo: 'Billing Desk <billing-desk@acme.test>',
  headers: { 'x-campaign': 'spring', 'X-Ticket': 'T-42' },
  attachments,
};

/** What arrived, the same for every provider: names lower-cased, content as bytes. */
interface Received {
  replyTo: string | undefined;
  headers: Record<string, string>;
  attachments: {
    filename: string;
    contentType: string;
    content: Buffer;
    contentId?: string | undefined;
  }[];
}

const lower = (entries: [string, string][]) =>
  Object.fromEntries(entries.map(([k, v]) => [k.toLowerCase(), v]));

/** A message parsed by mailparser (SMTP, outbox, SES), normalized. */
function fromMime(mail: ParsedMail): Received {
  const [reply] = mail.replyTo?.value ?? [];
  return {
    replyTo: reply ? `${reply.name} <${reply.address}>` : undefined,
    headers: lower(
      mail.headerLines.map((h) => [
        h.key,
        h.line
          .slice(h.line.indexOf(':') + 1)
          .replace(/\r?\n[ \t]+/g, ' ')
          .trim(),
      ]),
    ),
    attachments: mail.attachments.map((a) => ({
      filename: a.filename ?? '',
      contentType: a.contentType,
      content: a.content,
      contentId: a.cid,
    })),
  };
}

/** What every provider's received email must say for `emailOptions` and invoiceType. */
function assertReceived(got: Received, replyTo = emailOptions.replyTo) {
  assert.equal(got.replyTo, replyTo);
  assert.equal(got.headers['x-campaign'], 'spring', 'the trigger’s header wins');
  assert.equal(got.headers['x-template'], 'tpl-7', 'the template’s header, rendered');
  assert.equal(got.headers['x-ticket'], 'T-42');
  const files = [...got.attachments].sort((a, b) => a.filename.localeCompare(b.filename));
  assert.deepEqual(
    files.map((f) => [f.filename, f.contentType, f.contentId]),
    [
      ['logo.png', 'image/png', CID],
      [PDF_NAME, 'application/pdf', undefined],
    ],
  );
  assert.ok(files[0]!.content.equals(PNG), 'the image bytes arrive as sent');
  assert.ok(files[1]!.content.equals(PDF), 'the PDF bytes arrive as sent');
}

interface Case {
  name: string;
  /** Starts what receives the email; answers the provider and a way to stop. */
  start(): Promise<{ provider: Provider; close: () => Promise<void> }>;
  /** What arrived for `to` (the last email to that address), normalized. */
  received(to: string, providerMessageId: string): Received | Promise<Received>;
  /** Checks the exact shape the service received (its own field names). */
  assertExact(to: string, providerMessageId: string): void | Promise<void>;
}

/** The local HTTP service of a case; set by its `start`. */
let service: HttpService | undefined;
const lastRequest = (to: string): RecordedRequest => {
  const req = service?.requestsFor(to).at(-1);
  assert.ok(req, `a request for ${to}`);
  assert.equal(req.reply?.status && req.reply.status < 300, true, JSON.stringify(req.reply));
  return req;
};
const bodyOf = (to: string) => lastRequest(to).json as Record<string, unknown>;
const stopService = async () => {
  await service?.close();
  service = undefined;
};

const mimeCase = (
  name: string,
  start: Case['start'],
  parsed: (to: string, id: string) => Promise<ParsedMail>,
): Case => ({
  name,
  start,
  received: async (to, id) => fromMime(await parsed(to, id)),
  async assertExact(to, id) {
    const mail = await parsed(to, id);
    const logo = mail.attachments.find((a) => a.filename === 'logo.png');
    assert.equal(logo?.related, true, 'the inline image belongs to the HTML (multipart/related)');
    assert.equal(logo?.contentDisposition, 'inline');
    const pdf = mail.attachments.find((a) => a.filename === PDF_NAME);
    assert.equal(pdf?.contentDisposition, 'attachment');
    assert.equal(mail.headerLines.filter((h) => h.key === 'x-campaign').length, 1);
    assert.match(mail.html || '', /<p>Invoice 7 <img src="/);
    assert.equal(mail.text?.trim(), 'Invoice 7');
  },
});

let sink: SmtpSink | undefined;
let outboxDir = '';
const REGION = 'eu-west-1';
const SES_KEY = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7EXAMPLE' };

const CASES: Case[] = [
  mimeCase(
    'smtp',
    async () => {
      sink = await startSmtpSink();
      const provider = makeSmtpProvider({ url: sink.url, from: EMAIL_FROM, log });
      return { provider, close: async () => sink?.close() };
    },
    async (to) => {
      // The sink parses what it received a moment after it answered 250.
      const mail = await waitFor(
        () =>
          sink
            ?.messages()
            .filter((m) => m.envelope.rcptTo.includes(to))
            .at(-1) ?? null,
        5_000,
        `a message to ${to}`,
      );
      return mail.parsed;
    },
  ),
  mimeCase(
    'outbox',
    async () => {
      outboxDir = await mkdtemp(join(tmpdir(), 'herald-extras-'));
      const provider = makeOutboxProvider({ dir: outboxDir, from: EMAIL_FROM, log });
      return { provider, close: () => rm(outboxDir, { recursive: true, force: true }) };
    },
    async (_to, file) => simpleParser(await readFile(file)),
  ),
  mimeCase(
    'ses',
    async () => {
      service = await startSesServer({ region: REGION, ...SES_KEY });
      const provider = sesFromConfig(
        {
          sesRegion: REGION,
          sesAccessKeyId: SES_KEY.accessKeyId,
          sesSecretAccessKey: SES_KEY.secretAccessKey,
          sesUrl: service.url,
          emailFrom: EMAIL_FROM,
        },
        log,
      );
      assert.ok(provider);
      return { provider, close: stopService };
    },
    async (to) => {
      const data = (bodyOf(to).Content as { Raw: { Data: string } }).Raw.Data;
      return simpleParser(Buffer.from(data, 'base64'));
    },
  ),
  {
    name: 'resend',
    async start() {
      service = await startResendServer({ apiKey: 're_extras_key' });
      const provider = resendFromConfig(
        { resendApiKey: 're_extras_key', resendUrl: service.url, emailFrom: EMAIL_FROM },
        log,
      );
      assert.ok(provider);
      return { provider, close: stopService };
    },
    received(to) {
      const body = bodyOf(to) as {
        reply_to?: string;
        headers?: Record<string, string>;
        attachments?: Record<string, string>[];
      };
      return {
        replyTo: body.reply_to,
        headers: lower(Object.entries(body.headers ?? {})),
        attachments: (body.attachments ?? []).map((a) => ({
          filename: a.filename!,
          contentType: a.content_type!,
          content: Buffer.from(a.content!, 'base64'),
          contentId: a.content_id,
        })),
      };
    },
    assertExact(to) {
      const body = bodyOf(to);
      assert.equal(body.reply_to, emailOptions.replyTo);
      assert.deepEqual(body.headers, {
        'x-campaign': 'spring',
        'X-Template': 'tpl-7',
        'X-Ticket': 'T-42',
      });
      assert.deepEqual(body.attachments, [
        { filename: PDF_NAME, content: b64(PDF), content_type: 'application/pdf' },
        { filename: 'logo.png', content: b64(PNG), content_type: 'image/png', content_id: CID },
      ]);
    },
  },
  {
    name: 'sendgrid',
    async start() {
      service = await startSendGridServer({ apiKey: 'SG.extras-key' });
      const provider = sendgridFromConfig(
        { sendgridApiKey: 'SG.extras-key', sendgridUrl: service.url, emailFrom: EMAIL_FROM },
        log,
      );
      assert.ok(provider);
      return { provider, close: stopService };
    },
    received(to) {
      const body = bodyOf(to) as {
        reply_to?: { email: string; name?: string };
        headers?: Record<string, string>;
        attachments?: Record<string, string>[];
      };
      return {
        replyTo: body.reply_to && `${body.reply_to.name} <${body.reply_to.email}>`,
        headers: lower(Object.entries(body.headers ?? {})),
        attachments: (body.attachments ?? []).map((a) => ({
          filename: a.filename!,
          contentType: a.type!,
          content: Buffer.from(a.content!, 'base64'),
          contentId: a.content_id,
        })),
      };
    },
    assertExact(to) {
      const body = bodyOf(to);
      assert.deepEqual(body.reply_to, { email: 'billing-desk@acme.test', name: 'Billing Desk' });
      assert.deepEqual(body.headers, {
        'x-campaign': 'spring',
        'X-Template': 'tpl-7',
        'X-Ticket': 'T-42',
      });
      assert.deepEqual(body.attachments, [
        {
          content: b64(PDF),
          filename: PDF_NAME,
          type: 'application/pdf',
          disposition: 'attachment',
        },
        {
          content: b64(PNG),
          filename: 'logo.png',
          type: 'image/png',
          disposition: 'inline',
          content_id: CID,
        },
      ]);
    },
  },
  {
    name: 'postmark',
    async start() {
      service = await startPostmarkServer({ serverToken: 'pm-extras-token' });
      const provider = postmarkFromConfig(
        { postmarkServerToken: 'pm-extras-token', postmarkUrl: service.url, emailFrom: EMAIL_FROM },
        log,
      );
      assert.ok(provider);
      return { provider, close: stopService };
    },
    received(to) {
      const body = bodyOf(to) as {
        ReplyTo?: string;
        Headers?: { Name: string; Value: string }[];
        Attachments?: Record<string, string>[];
      };
      return {
        replyTo: body.ReplyTo,
        headers: lower((body.Headers ?? []).map((h) => [h.Name, h.Value])),
        attachments: (body.Attachments ?? []).map((a) => ({
          filename: a.Name!,
          contentType: a.ContentType!,
          content: Buffer.from(a.Content!, 'base64'),
          contentId: a.ContentID?.replace(/^cid:/, ''),
        })),
      };
    },
    assertExact(to) {
      const body = bodyOf(to);
      assert.equal(body.ReplyTo, emailOptions.replyTo);
      // In any order (jsonb keeps object keys sorted its own way).
      const headers = [...(body.Headers as { Name: string }[])];
      assert.deepEqual(
        headers.sort((a, b) => a.Name.localeCompare(b.Name)),
        [
          { Name: 'x-campaign', Value: 'spring' },
          { Name: 'X-Template', Value: 'tpl-7' },
          { Name: 'X-Ticket', Value: 'T-42' },
        ],
      );
      assert.deepEqual(body.Attachments, [
        { Name: PDF_NAME, Content: b64(PDF), ContentType: 'application/pdf' },
        { Name: 'logo.png', Content: b64(PNG), ContentType: 'image/png', ContentID: `cid:${CID}` },
      ]);
    },
  },
];

/** An HTTP caller on Herald's API with a key of its own. */
async function callerFor(herald: Herald): Promise<Call> {
  const { key } = await herald.keys.create();
  return apiCaller(makeApp(herald), key);
}

for (const c of CASES)
  for (const backend of await providerBackends())
    describe(
      `email attachments, Reply-To and headers over ${c.name} on ${backend}`,
      { skip: backend === 'pg' ? pgSkip : undefined },
      () => {
        let herald: Herald;
        let call: Call;
        let closeReceiver: () => Promise<void>;
        let closePipeline: () => Promise<void>;

        before(async () => {
          const receiver = await c.start();
          closeReceiver = receiver.close;
          const pipeline = await startEmailPipeline(backend, receiver.provider, { maxAttempts: 2 });
          ({ herald, close: closePipeline } = pipeline);
          call = await callerFor(herald);
          assert.equal((await call('PUT', '/v1/types/invoice', invoiceType)).status, 201);
        });
        after(async () => {
          await closePipeline();
          await closeReceiver();
        });

        /** One email to a new recipient; the delivery, sent. */
        async function send(id: string, body: Record<string, unknown>, data = {}) {
          const to = `${id}@example.com`;
          await call('PUT', `/v1/recipients/${id}`, { email: to, data });
          const n = await triggerAndSettle(herald, call, { to: id, data: { n: 7 }, ...body });
          const d = n.deliveries[0]!;
          assert.equal(d.status, 'sent', d.error ?? '');
          assert.equal(d.provider, c.name);
          return { to, id: d.providerMessageId ?? '' };
        }

        it('sends the trigger’s attachments, Reply-To and headers as the service expects', async () => {
          const { to, id } = await send(
            'ann',
            { type: 'invoice', email: emailOptions },
            { manager: 'Mona <mona@acme.test>' },
          );
          assertReceived(await c.received(to, id));
          await c.assertExact(to, id);
        });

        it('renders the template’s Reply-To when the trigger has none; List-Unsubscribe stays beside custom headers', async () => {
          const sent = await send(
            'bob',
            { type: 'invoice', email: { headers: emailOptions.headers, attachments } },
            { manager: 'Mona Manager <mona@acme.test>' },
          );
          assertReceived(await c.received(sent.to, sent.id), 'Mona Manager <mona@acme.test>');

          await call('PUT', '/v1/recipients/cy', { email: 'cy@example.com' });
          await call('PUT', '/v1/recipients/cy/preferences', { consent: { marketing: true } });
          const n = await triggerAndSettle(herald, call, {
            type: 'newsletter',
            to: 'cy',
            email: { headers: { 'X-Campaign': 'spring' } },
          });
          const d = n.deliveries[0]!;
          assert.equal(d.status, 'sent', d.error ?? '');
          const got = await c.received('cy@example.com', d.providerMessageId ?? '');
          assert.equal(got.headers['x-campaign'], 'spring');
          assert.match(
            got.headers['list-unsubscribe'] ?? '',
            /^<https:\/\/herald\.acme\.test\/v1\/unsubscribe\?token=/,
          );
          assert.equal(got.headers['list-unsubscribe-post'], 'List-Unsubscribe=One-Click');
          assert.equal(got.replyTo, undefined);
          assert.deepEqual(got.attachments, []);
        });
      },
    );

// ---------------------------------------------------------------------------------------------
// The checks, the storage, erase, a large attachment, a Reply-To that renders no address.

const BIG_BODY = 16 * 1024 * 1024;
const one = (over: Record<string, unknown>) => [{ ...attachments[0], ...over }];

/** Bodies refused, each with the field the answer must name. */
const REFUSED: [string, Record<string, unknown>, string][] = [
  [
    'a CR LF in a header value (injection)',
    { headers: { 'X-Note': 'a\r\nBcc: victim@example.com' } },
    'email.headers.X-Note',
  ],
  ['a lone LF in a header value', { headers: { 'X-Note': 'a\nb' } }, 'email.headers.X-Note'],
  ['a NUL in a header value', { headers: { 'X-Note': 'a\u0000' } }, 'email.headers.X-Note'],
  ['a header Herald owns (Subject)', { headers: { Subject: 'Win' } }, 'email.headers.Subject'],
  [
    'a header Herald owns (content-type)',
    { headers: { 'content-type': 'text/html' } },
    'email.headers.content-type',
  ],
  [
    'a header Herald owns (List-Unsubscribe)',
    { headers: { 'List-Unsubscribe': '<https://x>' } },
    'email.headers.List-Unsubscribe',
  ],
  [
    'a header Herald owns (Message-ID)',
    { headers: { 'message-id': '<1@x>' } },
    'email.headers.message-id',
  ],
  ['Reply-To as a header', { headers: { 'Reply-To': 'a@example.com' } }, 'email.headers.Reply-To'],
  ['a header name with a space', { headers: { 'X Note': '1' } }, 'email.headers.X Note'],
  ['a header name with a colon', { headers: { 'X:Note': '1' } }, 'email.headers.X:Note'],
  [
    'a header name twice (case-insensitively)',
    { headers: { 'X-A': '1', 'x-a': '2' } },
    'email.headers.x-a',
  ],
  [
    'a header value over 2,000 characters',
    { headers: { 'X-A': 'x'.repeat(2001) } },
    'email.headers.X-A',
  ],
  ['a Reply-To that is no address', { replyTo: 'billing desk' }, 'email.replyTo'],
  [
    'a Reply-To with a line break',
    { replyTo: 'A <a@example.com>\r\nBcc: v@example.com' },
    'email.replyTo',
  ],
  [
    'content that is not base64',
    { attachments: one({ content: 'not base64!' }) },
    'email.attachments.0.content',
  ],
  [
    'base64 without padding',
    { attachments: one({ content: 'QUJ' }) },
    'email.attachments.0.content',
  ],
  [
    'base64 with a line break',
    { attachments: one({ content: 'QUJD\nQUJD' }) },
    'email.attachments.0.content',
  ],
  ['empty content', { attachments: one({ content: '' }) }, 'email.attachments.0.content'],
  [
    'a path as the file name',
    { attachments: one({ filename: '../etc/passwd' }) },
    'email.attachments.0.filename',
  ],
  [
    'a Windows path as the file name',
    { attachments: one({ filename: 'C:\\x\\a.pdf' }) },
    'email.attachments.0.filename',
  ],
  [
    'a control character in the file name',
    { attachments: one({ filename: 'a\r\n.pdf' }) },
    'email.attachments.0.filename',
  ],
  [
    'a file name over 255 bytes',
    { attachments: one({ filename: `${'ä'.repeat(128)}.pdf` }) },
    'email.attachments.0.filename',
  ],
  [
    'a content type without subtype',
    { attachments: one({ contentType: 'pdf' }) },
    'email.attachments.0.contentType',
  ],
  [
    'a content type with parameters',
    { attachments: one({ contentType: 'text/plain; charset=utf-8' }) },
    'email.attachments.0.contentType',
  ],
  [
    'a multipart content type',
    { attachments: one({ contentType: 'multipart/mixed' }) },
    'email.attachments.0.contentType',
  ],
  [
    'a content id with a space',
    { attachments: one({ contentId: 'my logo' }) },
    'email.attachments.0.contentId',
  ],
  [
    'a content id twice',
    { attachments: [...one({ contentId: 'a@x' }), ...one({ contentId: 'a@x' })] },
    'email.attachments.1.contentId',
  ],
  [
    'an unknown attachment field',
    { attachments: one({ path: '/etc/passwd' }) },
    'email.attachments.0.path',
  ],
  ['an unknown email field', { cc: 'x@example.com' }, 'email.cc'],
  [
    '11 attachments',
    { attachments: Array.from({ length: 11 }, () => attachments[1]) },
    'email.attachments',
  ],
];

for (const backend of await providerBackends())
  describe(
    `email options: checks, storage and erase on ${backend}`,
    { skip: backend === 'pg' ? pgSkip : undefined },
    () => {
      let herald: Herald;
      let call: Call;
      let smtp: SmtpSink;
      const s = () => `"${herald.config.schema}"`;

      before(async () => {
        smtp = await startSmtpSink();
        herald = await openHerald(backend, {
          logLevel: 'silent',
          maxBodyBytes: BIG_BODY,
          emailFrom: EMAIL_FROM,
          providers: [makeSmtpProvider({ url: smtp.url, from: EMAIL_FROM, log })],
          backoff: { baseMs: 10, capMs: 20 },
        });
        call = await callerFor(herald);
        assert.equal((await call('PUT', '/v1/types/invoice', invoiceType)).status, 201);
        const inboxOnly = { channels: ['inapp'], templates: { inapp: { title: 't', body: 'b' } } };
        assert.equal((await call('PUT', '/v1/types/note', inboxOnly)).status, 201);
        await call('PUT', '/v1/recipients/ann', {
          email: 'ann@example.com',
          data: { manager: 'not an address' },
        });
      });
      after(async () => {
        await closeHerald(herald);
        await smtp.close();
      });

      /** POSTs the trigger; asserts 400 validation_failed naming `field`, and nothing written. */
      async function refused(body: Record<string, unknown>, field: string, what: string) {
        const snapshot = tableSnapshot(herald);
        const before = await snapshot();
        const res = await call('POST', '/v1/notifications', body);
        const problem = (await res.json()) as Problem;
        assert.equal(res.status, 400, `${what}: ${JSON.stringify(problem)}`);
        assert.equal(problem.code, 'validation_failed', what);
        assert.ok(
          problem.errors?.some((e) => e.field === field),
          `${what}: names ${field} (${JSON.stringify(problem.errors)})`,
        );
        assert.deepEqual(changed(before, await snapshot()), [], `${what}: nothing written`);
        return problem;
      }

      it('refuses header injection, owned headers, bad names, base64, file names and types, naming the field', async () => {
        for (const [what, email, field] of REFUSED)
          await refused({ type: 'invoice', to: 'ann', email }, field, what);
        const owned = await refused(
          { type: 'invoice', to: 'ann', email: { headers: { 'Reply-To': 'a@example.com' } } },
          'email.headers.Reply-To',
          'Reply-To',
        );
        assert.match(owned.errors![0]!.message, /replyTo/);
        const { rows } = await herald.db.query(`SELECT 1 FROM ${s()}.notifications`);
        assert.equal(rows.length, 0, 'no notification row');
      });

      it('refuses attachments over 5 MiB together, over 100 MiB stored, and email options without email', async () => {
        const half = b64(randomBytes(2.6 * 1024 * 1024));
        await refused(
          {
            type: 'invoice',
            to: 'ann',
            email: { attachments: [...one({ content: half }), ...one({ content: half })] },
          },
          'email.attachments',
          'over 5 MiB',
        );
        // 101 recipients × 1 MiB: refused before any recipient is looked up.
        const mib = b64(randomBytes(1024 * 1024));
        const problem = await refused(
          {
            type: 'invoice',
            to: Array.from({ length: 101 }, (_, i) => `r${i}`),
            email: { attachments: one({ content: mib }) },
          },
          'email.attachments',
          'over 100 MiB stored',
        );
        assert.match(problem.errors![0]!.message, /once per recipient/);
        await refused(
          { type: 'note', to: 'ann', email: { replyTo: 'a@example.com' } },
          'email',
          'no email channel',
        );
        await refused(
          {
            type: 'invoice',
            to: 'ann',
            channels: ['email'],
            email: { headers: { 'X-A': '\ud800' } },
          },
          'email.headers.X-A',
          'a lone surrogate',
        );
      });

      it('refuses owned headers and bad names in a type’s email template', async () => {
        const bad = (headers: Record<string, string>) => ({
          channels: ['email'],
          templates: { email: { subject: 's', text: 't', headers } },
        });
        for (const [headers, field] of [
          [{ From: 'x' }, 'templates.email.headers.From'],
          [{ 'X Bad': 'x' }, 'templates.email.headers.X Bad'],
          [{ 'X-A': '{{#if}}' }, 'templates.email.headers.X-A'],
        ] as const) {
          const res = await call('PUT', '/v1/types/bad', bad(headers));
          const problem = (await res.json()) as Problem;
          assert.equal(res.status, 400, JSON.stringify(problem));
          assert.ok(
            problem.errors?.some((e) => e.field === field),
            JSON.stringify(problem.errors),
          );
        }
      });

      it('previews the template’s replyTo and headers; a locale overrides a single header', async () => {
        const type = {
          ...invoiceType,
          locales: { de: { email: { headers: { 'X-Template': 'de-{{n}}' } } } },
        };
        assert.equal((await call('PUT', '/v1/types/invoice-de', type)).status, 201);
        const res = await call('POST', '/v1/types/invoice-de/preview', {
          locale: 'de-AT',
          data: { n: 5, recipient: { data: { manager: 'Mona <mona@acme.test>' } } },
        });
        assert.equal(res.status, 200, await res.clone().text());
        const { email } = (await res.json()) as { email: Record<string, string> };
        assert.equal(email.replyTo, 'Mona <mona@acme.test>');
        assert.equal(email['headers.X-Template'], 'de-5');
        assert.equal(email['headers.X-Campaign'], 'from-template');
      });

      it('stores the options on the notification, not in the job, and erase clears them', async () => {
        await call('PUT', '/v1/recipients/eve', { email: 'eve@example.com' });
        const later = new Date(Date.now() + 86_400_000).toISOString();
        const res = await call('POST', '/v1/notifications', {
          type: 'invoice',
          to: 'eve',
          sendAt: later,
          data: { n: 1 },
          email: emailOptions,
        });
        assert.equal(res.status, 202, await res.clone().text());
        const { rows } = await herald.db.query<{ email: unknown; payload: unknown }>(
          `SELECT n.email, j.payload FROM ${s()}.notifications n
           JOIN ${s()}.deliveries d ON d.notification_id = n.id
           JOIN ${s()}.jobs j ON j.key = 'deliver:' || d.id
           WHERE n.recipient_id = 'eve'`,
        );
        assert.equal(rows.length, 1);
        assert.deepEqual(rows[0]!.email, emailOptions);
        assert.deepEqual(Object.keys(rows[0]!.payload as object), ['deliveryId']);

        assert.equal((await call('DELETE', '/v1/recipients/eve')).status, 204);
        const { rows: erased } = await herald.db.query<{ email: unknown }>(
          `SELECT email FROM ${s()}.notifications WHERE recipient_id IS NULL`,
        );
        assert.deepEqual(
          erased.map((r) => r.email),
          [null],
          'the Reply-To, headers and attachments are gone',
        );
      });

      it('sends a 3 MiB attachment with a raised body limit; a template Reply-To that is no address fails the delivery', async () => {
        await herald.worker({ handlers: builtinHandlers(herald), pollIntervalMs: 20 }).start();
        const big = randomBytes(3 * 1024 * 1024);
        await call('PUT', '/v1/recipients/fay', { email: 'fay@example.com' });
        const n = await triggerAndSettle(herald, call, {
          type: 'invoice',
          to: 'fay',
          data: { n: 2 },
          email: {
            replyTo: 'fay-support@acme.test',
            attachments: [
              { filename: 'data.bin', contentType: 'application/octet-stream', content: b64(big) },
            ],
          },
        });
        assert.equal(n.deliveries[0]?.status, 'sent', n.deliveries[0]?.error ?? '');
        const [mail] = await smtp.waitForMessages(1);
        const [file] = mail!.parsed.attachments;
        assert.equal(file?.filename, 'data.bin');
        assert.ok(file.content.equals(big), '3 MiB arrive byte for byte');

        // ann's manager is "not an address": the template's Reply-To cannot be used.
        const failed = await triggerAndSettle(herald, call, {
          type: 'invoice',
          to: 'ann',
          data: { n: 3 },
        });
        const d = failed.deliveries[0]!;
        assert.equal(d.status, 'failed');
        assert.equal(d.reason, 'render_error');
        assert.match(d.error ?? '', /templates\.email\.replyTo: rendered "not an address"/);
        assert.equal(smtp.messages().length, 1, 'nothing more was sent');
      });
    },
  );
