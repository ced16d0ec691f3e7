/**
 * The pipeline end to end, on both backends: a trigger over HTTP, a worker, the SMTP provider,
 * and a real SMTP server process receiving the mail, which the test parses (headers, HTML,
 * text, List-Unsubscribe). Also the inbox through /v1/me, marketing consent, the RFC 8058
 * one-click unsubscribe, and what permanent and transient SMTP errors do to a delivery.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { builtinHandlers } from '../src/handlers.js';
import type { Worker } from '../src/queue/worker.js';
import type { NotificationDetail } from '../src/notify/notifications.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason, waitFor } from './helpers/db.js';
import { apiCaller, recipientToken, type Call } from './helpers/api.js';
import { startSmtpSink, type SmtpSink } from './helpers/smtp-sink.js';

const pgSkip = await pgSkipReason();
const KEY = 'pipeline-test-key-0123456789';
const SECRET = 'a-jwt-secret-of-at-least-32-characters!';

const dueSoon = {
  channels: ['email', 'inapp'],
  templates: {
    email: {
      subject: 'Due soon: {{title}}',
      html: '<p>{{title}} is due {{due}}</p>',
      text: '{{title}} is due {{due}}',
    },
    inapp: { title: '{{title}}', body: 'Due {{due}}', actionUrl: '/tasks/{{id}}' },
  },
  locales: { de: { email: { subject: 'Bald fällig: {{title}}' } } },
};

const newsletter = {
  category: 'marketing',
  channels: ['email'],
  templates: {
    email: {
      subject: 'News for {{recipient.id}}',
      html: '<p>Hello</p><p><a href="{{unsubscribeUrl}}">Unsubscribe</a></p>',
      text: 'Hello. Unsubscribe: {{unsubscribeUrl}}',
    },
  },
};

for (const backend of BACKENDS) {
  describe(
    `email pipeline over SMTP on ${backend}`,
    { skip: backend === 'pg' ? pgSkip : undefined },
    () => {
      let sink: SmtpSink;
      let herald: Herald;
      let app: Hono;
      let call: Call;
      let worker: Worker;

      before(async () => {
        sink = await startSmtpSink({ reject: /^bounce@/, defer: /^later@/ });
        herald = await openHerald(backend, {
          apiKey: KEY,
          jwtSecret: SECRET,
          smtpUrl: sink.url,
          emailFrom: 'Acme <no-reply@acme.test>',
          publicUrl: 'https://herald.acme.test',
          backoff: { baseMs: 10, capMs: 20 },
          delivery: { maxAttempts: 2 },
        });
        app = makeApp(herald);
        call = apiCaller(app, KEY);
        worker = herald.worker({ handlers: builtinHandlers(herald), pollIntervalMs: 50 });
        await worker.start();
        assert.equal((await call('PUT', '/v1/types/due-soon', dueSoon)).status, 201);
        assert.equal((await call('PUT', '/v1/types/newsletter', newsletter)).status, 201);
      });
      after(async () => {
        await closeHerald(herald);
        await sink.close();
      });

      async function trigger(
        body: unknown,
      ): Promise<
        { id: string; deliveries: { channel: string; status: string; reason: string | null }[] }[]
      > {
        const res = await call('POST', '/v1/notifications', body);
        assert.equal(res.status, 202, await res.clone().text());
        return ((await res.json()) as { notifications: never[] }).notifications;
      }

      /** The notification once none of its deliveries is queued. */
      async function settled(id: string): Promise<NotificationDetail> {
        return waitFor(
          async () => {
            const n = (await (
              await call('GET', `/v1/notifications/${id}`)
            ).json()) as NotificationDetail;
            return n.deliveries.every((d) => d.status !== 'queued') ? n : null;
          },
          10_000,
          `notification ${id} to settle`,
        );
      }

      it('sends the email over SMTP, escaped and localized, and fills the inbox', async () => {
        await call('PUT', '/v1/recipients/ann', { email: 'ann@example.com', locale: 'de-AT' });
        const [n] = await trigger({
          type: 'due-soon',
          to: 'ann',
          data: { title: '<b>Tax & VAT</b>', due: 'tomorrow', id: 't-7' },
        });
        const [mail] = await sink.waitForMessages(1);
        assert.ok(mail);
        const p = mail.parsed;
        assert.deepEqual(
          p.from?.value.map((a) => [a.name, a.address]),
          [['Acme', 'no-reply@acme.test']],
        );
        assert.deepEqual(mail.envelope.rcptTo, ['ann@example.com']);
        assert.equal(p.subject, 'Bald fällig: <b>Tax & VAT</b>');
        assert.equal(p.html, '<p>&lt;b&gt;Tax &amp; VAT&lt;/b&gt; is due tomorrow</p>');
        assert.equal(p.text?.trim(), '<b>Tax & VAT</b> is due tomorrow');
        assert.equal(
          p.headers.get('list'),
          undefined,
          'transactional mail has no unsubscribe header',
        );

        const detail = await settled(n!.id);
        const email = detail.deliveries.find((d) => d.channel === 'email');
        assert.equal(email?.status, 'sent');
        assert.equal(email?.provider, 'smtp');
        assert.equal(email?.address, 'ann@example.com');
        assert.equal(email?.providerMessageId, p.messageId);
        assert.deepEqual(
          email?.events.map((e) => e.status),
          ['queued', 'sent'],
        );

        const metrics = await (await app.request('/metrics')).text();
        for (const line of [
          'herald_notifications_total{type="due-soon",status="created"} 1',
          'herald_deliveries_queued_total{channel="email",reason=""} 1',
          'herald_deliveries_queued_total{channel="inapp",reason=""} 1',
          'herald_deliveries_total{channel="email",provider="smtp",status="sent",reason=""} 1',
          'herald_deliveries_total{channel="inapp",provider="inbox",status="sent",reason=""} 1',
          'herald_delivery_duration_seconds_count{channel="email",provider="smtp",outcome="sent"} 1',
        ])
          assert.ok(metrics.includes(line), `${line} in /metrics`);

        const jwt = await recipientToken('ann', SECRET);
        const inbox = (await (
          await call('GET', '/v1/me/notifications', undefined, jwt)
        ).json()) as {
          items: { id: string; title: string; body: string; actionUrl: string; read: boolean }[];
        };
        assert.deepEqual(
          inbox.items.map((i) => [i.id, i.title, i.body, i.actionUrl, i.read]),
          [[n!.id, '<b>Tax & VAT</b>', 'Due tomorrow', '/tasks/t-7', false]],
        );
      });

      it('sends marketing only with consent, with RFC 8058 headers, and one click unsubscribes', async () => {
        await call('PUT', '/v1/recipients/bob', { email: 'bob@example.com' });
        const [refused] = await trigger({ type: 'newsletter', to: 'bob' });
        assert.deepEqual(
          refused!.deliveries.map((d) => [d.status, d.reason]),
          [['skipped', 'no_consent']],
        );

        await call('PUT', '/v1/recipients/bob/preferences', { consent: { marketing: true } });
        const before = sink.messages().length;
        await trigger({ type: 'newsletter', to: 'bob' });
        const mail = (await sink.waitForMessages(before + 1)).at(-1);
        assert.ok(mail);
        // mailparser puts the List-* headers under 'list'.
        const list = mail.parsed.headers.get('list') as { unsubscribe?: { url: string } };
        const link = list.unsubscribe?.url ?? '';
        assert.match(link, /^https:\/\/herald\.acme\.test\/v1\/unsubscribe\?token=[\w-]+\.[\w-]+$/);
        assert.match(mail.raw, /^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r$/m);
        // Handlebars escapes '=' in HTML as &#x3D;, which a browser reads back as '='.
        assert.ok(String(mail.parsed.html).includes(`href="${link.replace(/=/g, '&#x3D;')}"`));
        assert.ok(mail.parsed.text?.includes(link));

        const path = new URL(link).pathname + new URL(link).search;
        // A forged token (another recipient's id, same signature) is refused; nothing changes.
        const [body, sig] = new URL(link).searchParams.get('token')!.split('.');
        const forgedBody = Buffer.from(JSON.stringify({ r: 'ann', t: 'newsletter' })).toString(
          'base64url',
        );
        assert.notEqual(forgedBody, body);
        const forged = await app.request(`/v1/unsubscribe?token=${forgedBody}.${sig}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'List-Unsubscribe=One-Click',
        });
        assert.equal(forged.status, 400);
        assert.deepEqual((await herald.preferences.get('ann')).types, {});

        // GET only shows the page; the mail client's one-click POST unsubscribes.
        assert.equal((await app.request(path)).status, 200);
        assert.deepEqual((await herald.preferences.get('bob')).types, {});
        const res = await app.request(path, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'List-Unsubscribe=One-Click',
        });
        assert.equal(res.status, 200);
        const prefs = await herald.preferences.get('bob');
        assert.deepEqual(prefs.types, { newsletter: false });
        assert.equal(prefs.consent.marketing, true, 'the rest of the preferences stay');

        const [after] = await trigger({ type: 'newsletter', to: 'bob' });
        assert.deepEqual(
          after!.deliveries.map((d) => [d.status, d.reason]),
          [['skipped', 'opted_out']],
        );
      });

      it('fails a delivery at once on a permanent SMTP error, after retries on a transient one', async () => {
        await call('PUT', '/v1/recipients/bouncer', { email: 'bounce@example.com' });
        await call('PUT', '/v1/recipients/slow', { email: 'later@example.com' });
        const [bounced] = await trigger({
          type: 'due-soon',
          to: 'bouncer',
          channels: ['email'],
          data: { title: 'x', due: 'y', id: 1 },
        });
        const [deferred] = await trigger({
          type: 'due-soon',
          to: 'slow',
          channels: ['email'],
          data: { title: 'x', due: 'y', id: 2 },
        });

        const b = (await settled(bounced!.id)).deliveries[0]!;
        assert.equal(b.status, 'failed');
        assert.equal(b.reason, 'permanent_error');
        assert.equal(b.attempts, 1);
        assert.match(b.error ?? '', /550/);

        const d = (await settled(deferred!.id)).deliveries[0]!;
        assert.equal(d.status, 'failed');
        assert.equal(d.reason, 'retries_exhausted');
        assert.equal(d.attempts, 2);
        assert.deepEqual(
          d.events.map((e) => e.status),
          ['queued', 'retrying', 'failed'],
        );
        assert.match(d.error ?? '', /451/);
      });
    },
  );
}
