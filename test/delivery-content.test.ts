/**
 * The content a delivery was sent with (HERALD_KEEP_CONTENT, default on), on both backends:
 * an email sent over real SMTP keeps its rendered subject, text and HTML on the delivery, the
 * same the SMTP server received; erasing the recipient removes it; turned off, none is kept.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { builtinHandlers } from '../src/handlers.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason, waitFor } from './helpers/db.js';
import { startSmtpSink, type SmtpSink } from './helpers/smtp-sink.js';

const pgSkip = await pgSkipReason();

for (const backend of BACKENDS) {
  describe(`kept content on ${backend}`, { skip: backend === 'pg' ? pgSkip : undefined }, () => {
    let sink: SmtpSink;
    before(async () => {
      sink = await startSmtpSink();
    });
    after(() => sink.close());

    async function sendOne(keepContent: boolean) {
      const herald = await openHerald(backend, {
        smtpUrl: sink.url,
        emailFrom: 'Acme <no-reply@acme.test>',
        delivery: { keepContent },
      });
      await herald.types.put('welcome', {
        channels: ['email'],
        templates: {
          email: {
            subject: 'Welcome, {{name}}',
            html: '<p>Hello <b>{{name}}</b></p>',
            text: 'Hello {{name}}',
          },
        },
      });
      await herald.recipients.upsert('kc-1', { email: `kc-${keepContent}@example.com` });
      const worker = herald.worker({ handlers: builtinHandlers(herald), pollIntervalMs: 50 });
      await worker.start();
      const sent = await herald.send({ type: 'welcome', to: 'kc-1', data: { name: 'Ada' } });
      const id = sent.notifications[0]!.deliveries[0]!.id;
      const content = async () =>
        (
          await herald.db.query<{ status: string; content: Record<string, string> | null }>(
            `SELECT status, content FROM "${herald.config.schema}".deliveries WHERE id = $1`,
            [id],
          )
        ).rows[0];
      await waitFor(async () => (await content())?.status === 'sent', 20_000, 'the email sent');
      await worker.stop();
      return { herald, content };
    }

    it('keeps what was sent, the same the SMTP server received, until the recipient is erased', async () => {
      const { herald, content } = await sendOne(true);
      try {
        const kept = (await content())?.content;
        assert.equal(kept?.subject, 'Welcome, Ada');
        assert.equal(kept?.text, 'Hello Ada');
        assert.match(kept?.html ?? '', /Hello <b>Ada<\/b>/);
        // The sink reports what it received a moment after its 250.
        const mail = await waitFor(
          () => sink.messages().find((m) => m.envelope.rcptTo.includes('kc-true@example.com')),
          20_000,
          'the message at the SMTP server',
        );

        assert.equal(mail?.parsed.subject, kept?.subject);
        assert.match(String(mail?.parsed.html), /Hello <b>Ada<\/b>/);
        await herald.recipients.erase('kc-1');
        assert.equal((await content())?.content, null);
      } finally {
        await closeHerald(herald);
      }
    });

    it('keeps nothing when turned off', async () => {
      const { herald, content } = await sendOne(false);
      try {
        assert.equal((await content())?.content, null);
      } finally {
        await closeHerald(herald);
      }
    });
  });
}
