/** The email providers against a real SMTP server process (the sink), and the outbox folder. */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';
import { resolveConfig } from '../src/config.js';
import { HeraldError } from '../src/errors.js';
import { makeLogger } from '../src/obs/log.js';
import { isProviderError, type EmailMessage, type Provider } from '../src/channels/provider.js';
import { classifySmtpError, makeSmtpProvider } from '../src/channels/email/smtp.js';
import { makeOutboxProvider } from '../src/channels/email/outbox.js';
import { makeEmailProvider } from '../src/channels/email/index.js';
import { startSmtpSink, type SmtpSink } from './helpers/smtp-sink.js';

const log = makeLogger('silent');

const email = (overrides: Partial<EmailMessage> = {}): EmailMessage => ({
  channel: 'email',
  deliveryId: 'd_1234',
  from: 'Herald Billing <billing@example.com>',
  to: 'ann@example.org',
  subject: 'Fällig: Überweisung',
  html: '<p>Bitte überweisen Sie <b>42 €</b> bis Montag.</p>',
  text: 'Bitte überweisen Sie 42 € bis Montag.',
  headers: {
    'List-Unsubscribe': '<https://herald.example/u/tok123>, <mailto:unsubscribe@example.com>',
    'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
  },
  ...overrides,
});

const addresses = (a: AddressObject | AddressObject[] | undefined) =>
  (Array.isArray(a) ? a : a ? [a] : []).flatMap((o) => o.value);

/** A header as written (folded lines joined), looked up by lower-case name. */
const headerLine = (mail: ParsedMail, name: string) =>
  mail.headerLines.find((h) => h.key === name)?.line.replace(/\r?\n[ \t]+/g, ' ');

/** Checks a parsed message against the `EmailMessage` it was built from. */
function assertSameEmail(parsed: ParsedMail, sent: EmailMessage) {
  assert.equal(parsed.subject, sent.subject);
  assert.deepEqual(
    addresses(parsed.from).map((a) => [a.name, a.address]),
    [['Herald Billing', 'billing@example.com']],
  );
  assert.deepEqual(
    addresses(parsed.to).map((a) => a.address),
    [sent.to],
  );
  assert.equal(typeof parsed.html === 'string' ? parsed.html.trim() : parsed.html, sent.html);
  assert.equal(parsed.text?.trim(), sent.text);
  assert.equal(parsed.messageId, `<${sent.deliveryId}@example.com>`);
  assert.equal(
    headerLine(parsed, 'list-unsubscribe'),
    `List-Unsubscribe: ${sent.headers['List-Unsubscribe']}`,
  );
  assert.equal(
    headerLine(parsed, 'list-unsubscribe-post'),
    'List-Unsubscribe-Post: List-Unsubscribe=One-Click',
  );
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The ProviderError a failed send threw. */
async function sendError(provider: Provider, message: EmailMessage, signal?: AbortSignal) {
  const err = await provider.send(message, signal).then(
    () => assert.fail(`the send to ${message.to} should have failed`),
    (e: unknown) => e,
  );
  assert.ok(isProviderError(err), `a ProviderError, got ${String(err)}`);
  return err;
}

describe('SMTP provider, through a real SMTP server', () => {
  let sink: SmtpSink;
  before(async () => {
    sink = await startSmtpSink({
      reject: /^bounce@/,
      defer: /^later@/,
      throttle: /^busy@/,
    });
  });
  after(() => sink.close());

  it('delivers the message with its headers, parts and Message-ID, logging in from the URL', async () => {
    const provider = makeSmtpProvider({
      url: `smtp://herald%40app:s3cr%3At@127.0.0.1:${sink.port}`,
      log,
    });
    try {
      const message = email();
      const result = await provider.send(message);
      assert.equal(result.providerMessageId, '<d_1234@example.com>');
      const [mail] = await sink.waitForMessages(1);
      assert.ok(mail);
      assertSameEmail(mail.parsed, message);
      assert.deepEqual(mail.envelope, { mailFrom: 'billing@example.com', rcptTo: [message.to] });
      assert.equal(mail.user, 'herald@app', 'the URL-encoded user of the URL logged in');
      // Non-ASCII travels encoded (encoded words, quoted-printable): the message is 7-bit.
      assert.doesNotMatch(mail.raw, /[^\t\n\r -~]/);
      assert.doesNotMatch(mail.raw, /Fällig/);
    } finally {
      await provider.close?.();
    }
  });

  it('sends 200 messages at once over a pool of at most maxConnections connections', async () => {
    const before = await sink.stats();
    const provider = makeSmtpProvider({ url: sink.url, maxConnections: 3, log });
    try {
      const ids = Array.from({ length: 200 }, (_, i) => `pool_${i}`);
      const results = await Promise.all(
        ids.map((deliveryId) =>
          provider.send(email({ deliveryId, to: `r${deliveryId}@example.org` })),
        ),
      );
      assert.deepEqual(
        results.map((r) => r.providerMessageId),
        ids.map((id) => `<${id}@example.com>`),
      );
      const arrived = (await sink.waitForMessages(before.messages + 200)).slice(before.messages);
      assert.deepEqual(
        arrived.map((m) => m.parsed.messageId).sort(),
        ids.map((id) => `<${id}@example.com>`).sort(),
      );
      const after = await sink.stats();
      const connections = after.connections - before.connections;
      assert.ok(connections <= 3, `${connections} connections for 200 messages, pool of 3`);
      assert.ok(connections >= 2, `the pool sends in parallel (${connections} connection)`);
      assert.equal(new Set(arrived.map((m) => m.connectionId)).size, connections);
    } finally {
      await provider.close?.();
    }
  });

  it('classifies the server answers: 550 permanent, 451 transient, 450 "too many" rate limited', async () => {
    const before = await sink.stats();
    // One connection: every answer below comes over it, then the last message does too.
    const provider = makeSmtpProvider({ url: sink.url, maxConnections: 1, log });
    try {
      const bounced = await sendError(provider, email({ to: 'bounce@example.org' }));
      assert.equal(bounced.kind, 'permanent');
      assert.equal(bounced.providerCode, '550');
      assert.match(bounced.message, /no such user/);

      const deferred = await sendError(provider, email({ to: 'later@example.org' }));
      assert.equal(deferred.kind, 'transient');
      assert.equal(deferred.providerCode, '451');

      const busy = await sendError(provider, email({ to: 'busy@example.org' }));
      assert.equal(busy.kind, 'rate_limited');
      assert.equal(busy.providerCode, '450');
      assert.equal(busy.retryAfterMs, 60_000);

      // A refused recipient does not cost the connection (the session is reset and reused).
      await provider.send(email({ deliveryId: 'after_bounce', to: 'fine@example.org' }));
      const mails = await sink.waitForMessages(before.messages + 1);
      assert.equal(mails.at(-1)?.parsed.messageId, '<after_bounce@example.com>');
      assert.equal((await sink.stats()).connections - before.connections, 1);
    } finally {
      await provider.close?.();
    }
  });

  it('an address nodemailer cannot use is permanent without asking the server', async () => {
    const provider = makeSmtpProvider({ url: sink.url, log });
    try {
      const err = await sendError(provider, email({ to: 'not an address' }));
      assert.equal(err.kind, 'permanent');
      assert.equal(err.providerCode, 'EENVELOPE');
    } finally {
      await provider.close?.();
    }
  });

  it('a closed port is transient', async () => {
    const provider = makeSmtpProvider({ url: `smtp://127.0.0.1:${await closedPort()}`, log });
    try {
      const err = await sendError(provider, email());
      assert.equal(err.kind, 'transient');
      assert.match(err.providerCode ?? '', /ECONNREFUSED/);
    } finally {
      await provider.close?.();
    }
  });

  it('a send aborted by the pipeline (job timeout, shutdown) is transient', async () => {
    const provider = makeSmtpProvider({ url: sink.url, log });
    try {
      const err = await sendError(provider, email(), AbortSignal.abort());
      assert.equal(err.kind, 'transient');
      assert.equal(err.providerCode, 'EABORT');
    } finally {
      await provider.close?.();
    }
  });

  it('refuses a URL that is not smtp:// or smtps://', () => {
    assert.throws(
      () => makeSmtpProvider({ url: 'http://user:hunter2@mail.example.com', log }),
      (e: unknown) =>
        e instanceof HeraldError &&
        e.code === 'config_invalid' &&
        !e.message.includes('hunter2') &&
        /HERALD_SMTP_URL/.test(e.message),
    );
  });
});

describe('classifySmtpError', () => {
  const smtp = (responseCode: number, response: string, extra: object = {}) =>
    Object.assign(new Error(`failed: ${response}`), {
      code: 'EENVELOPE',
      responseCode,
      response,
      ...extra,
    });
  const classify = (err: unknown) => {
    const e = classifySmtpError(err);
    return [e.kind, e.retryAfterMs, e.providerCode];
  };

  it('reads the reply code and its words', () => {
    assert.deepEqual(classify(smtp(554, '554 5.7.1 Message rejected as spam')), [
      'permanent',
      undefined,
      '554',
    ]);
    assert.deepEqual(classify(smtp(421, '421 4.7.0 Too many connections, slow down')), [
      'rate_limited',
      60_000,
      '421',
    ]);
    assert.deepEqual(classify(smtp(452, '452 4.3.1 Insufficient system storage')), [
      'transient',
      undefined,
      '452',
    ]);
    assert.deepEqual(classify(smtp(503, '503 5.5.1 Bad sequence of commands')), [
      'transient',
      undefined,
      '503',
    ]);
    assert.deepEqual(classify(smtp(552, '552 5.5.3 Too many recipients', { command: 'RCPT TO' })), [
      'transient',
      undefined,
      '552',
    ]);
    assert.deepEqual(classify(smtp(552, '552 5.3.4 Message too big', { command: 'DATA' })), [
      'permanent',
      undefined,
      '552',
    ]);
    assert.deepEqual(classify(smtp(550, '550 5.7.1 Service unavailable, try again later')), [
      'transient',
      undefined,
      '550',
    ]);
  });

  it('counts bad credentials and connection failures as transient, a refused envelope as permanent', () => {
    assert.deepEqual(classify(smtp(535, '535 5.7.8 Authentication failed', { code: 'EAUTH' })), [
      'transient',
      undefined,
      '535',
    ]);
    const refused = Object.assign(new Error('connect ECONNREFUSED'), {
      code: 'ESOCKET',
      originalCode: 'ECONNREFUSED',
    });
    assert.deepEqual(classify(refused), ['transient', undefined, 'ESOCKET/ECONNREFUSED']);
    assert.equal(classify(Object.assign(new Error('t'), { code: 'ETIMEDOUT' }))[0], 'transient');
    assert.equal(classify(Object.assign(new Error('d'), { code: 'EDNS' }))[0], 'transient');
    const noRecipients = Object.assign(new Error('No recipients defined'), { code: 'EENVELOPE' });
    assert.deepEqual(classify(noRecipients), ['permanent', undefined, 'EENVELOPE']);
    assert.equal(classify(new Error('Connection pool was closed'))[0], 'transient');
    assert.equal(classify('a string')[0], 'transient');
  });
});

describe('outbox provider', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'herald-outbox-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('writes the complete message as <timestamp>-<deliveryId>.eml, readable by a mail parser', async () => {
    const folder = join(dir, 'new', 'outbox');
    const provider = makeOutboxProvider({ dir: folder, log });
    const message = email({ deliveryId: 'd_outbox/1' });
    const { providerMessageId: file } = await provider.send(message);
    const files = await readdir(folder);
    assert.equal(files.length, 1, `only the message, no temporary file: ${files.join()}`);
    assert.match(files[0] ?? '', /^\d{8}T\d{9}Z-d_outbox_1\.eml$/);
    assert.equal(file, join(folder, files[0] ?? ''));
    const raw = await readFile(file);
    assert.match(raw.toString(), /\r\n\r\n/, 'CRLF line ends, as on the wire');
    const parsed = await simpleParser(raw);
    assertSameEmail(parsed, { ...message, deliveryId: 'd_outbox_1' });
  });

  it('writes the same header fields as the SMTP provider sends', async () => {
    const sink = await startSmtpSink();
    const smtp = makeSmtpProvider({ url: sink.url, log });
    try {
      const message = email({ deliveryId: 'same_headers' });
      await smtp.send(message);
      const [sent] = await sink.waitForMessages(1);
      const written = await simpleParser(
        await readFile((await makeOutboxProvider({ dir, log }).send(message)).providerMessageId),
      );
      const keys = (mail: ParsedMail) => mail.headerLines.map((h) => h.key).sort();
      assert.ok(sent);
      assert.deepEqual(keys(written), keys(sent.parsed));
      assert.ok(keys(written).includes('message-id') && keys(written).includes('date'));
    } finally {
      await smtp.close?.();
      await sink.close();
    }
  });

  it('refuses a message of another channel for good', async () => {
    const provider = makeOutboxProvider({ dir, log });
    const err: unknown = await provider
      .send({ channel: 'sms', deliveryId: 'x', to: '+4912345', content: { text: 'hi' } })
      .catch((e: unknown) => e);
    assert.ok(isProviderError(err, 'permanent'));
  });
});

describe('email settings and provider choice', () => {
  it('reads the email settings from the environment and checks the SMTP URL', () => {
    const env = {
      HERALD_SMTP_URL: 'smtps://u:p@smtp.example.com:465',
      HERALD_EMAIL_FROM: 'App <app@example.com>',
      HERALD_OUTBOX_DIR: '/tmp/x',
      HERALD_SMTP_POOL_SIZE: '7',
    };
    const config = resolveConfig({ env, noFile: true });
    assert.equal(config.smtpUrl, env.HERALD_SMTP_URL);
    assert.equal(config.emailFrom, 'App <app@example.com>');
    assert.equal(config.outboxDir, '/tmp/x');
    assert.equal(config.smtpPoolSize, 7);

    const defaults = resolveConfig({ env: {}, noFile: true });
    assert.equal(defaults.smtpUrl, undefined);
    assert.equal(defaults.emailFrom, 'Herald <herald@localhost>');
    assert.equal(defaults.outboxDir, undefined, 'resolved from dataDir where the provider is made');
    assert.equal(defaults.smtpPoolSize, 10);

    assert.throws(
      () => resolveConfig({ env: { HERALD_SMTP_URL: 'mail.example.com:25' }, noFile: true }),
      /smtpUrl \(HERALD_SMTP_URL\): must start with smtp:\/\/ or smtps:\/\//,
    );
  });

  it('uses SMTP when a URL is set, else the outbox in <dataDir>/outbox', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'herald-data-'));
    try {
      const base = resolveConfig({ env: { HERALD_DATA_DIR: dataDir }, noFile: true });
      const outbox = makeEmailProvider(base, log);
      assert.equal(outbox.name, 'outbox');
      const { providerMessageId } = await outbox.send(email());
      assert.equal(providerMessageId.startsWith(join(dataDir, 'outbox') + '/'), true);

      const smtp = makeEmailProvider({ ...base, smtpUrl: 'smtp://127.0.0.1:2525' }, log);
      assert.equal(smtp.name, 'smtp');
      assert.equal(smtp.channel, 'email');
      await smtp.close?.();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('SMTP sink helper', () => {
  it('count-only mode counts the messages without keeping them', async () => {
    const sink = await startSmtpSink({ countOnly: true });
    const provider = makeSmtpProvider({ url: sink.url, log });
    try {
      await Promise.all(
        Array.from({ length: 50 }, (_, i) => provider.send(email({ deliveryId: `c${i}` }))),
      );
      assert.deepEqual(await sink.waitForMessages(50), []);
      assert.equal(sink.count(), 50);
      assert.equal((await sink.stats()).messages, 50);
      assert.deepEqual(sink.messages(), []);
    } finally {
      await provider.close?.();
      await sink.close();
    }
  });

  it('fails loudly when the sink process dies', async () => {
    const sink = await startSmtpSink();
    const waiting = sink.waitForMessages(1, 10_000);
    process.kill(sink.pid, 'SIGKILL');
    await assert.rejects(waiting, /SMTP sink exited unexpectedly \(code null, signal SIGKILL\)/);
    assert.throws(() => sink.messages(), /exited unexpectedly/);
    await assert.rejects(sink.close(), /exited unexpectedly/);
  });
});
