/**
 * Digests (notify/digests.ts), on both backends through HTTP with a worker and a real SMTP
 * server process: notifications held per recipient, type and channel and sent as one email
 * per window listing them; urgent ones and the inbox at once; a type's own rule; cancel and
 * erase before the window; a second job of the window sending nothing; a trigger racing a
 * running digest job. The window boundaries (DST in both hemispheres, 45-minute offsets,
 * quiet hours) and the joining of items without a digest template are unit tests.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { builtinHandlers } from '../src/handlers.js';
import type { Worker } from '../src/queue/worker.js';
import type { NotificationDetail } from '../src/notify/notifications.js';
import type { NotificationSummary } from '../src/notify/send.js';
import {
  digestJobKey,
  digestSendAt,
  digestWindowEnd,
  digestWindowFor,
  joinRendered,
  type DigestWindow,
} from '../src/notify/digests.js';
import {
  BACKENDS,
  closeHerald,
  openHerald,
  pgClient,
  pgSkipReason,
  sleep,
  waitFor,
} from './helpers/db.js';
import { apiCaller, recipientToken, type Call, type Problem } from './helpers/api.js';
import { startSmtpSink, type ReceivedMail, type SmtpSink } from './helpers/smtp-sink.js';

const pgSkip = await pgSkipReason();
const KEY = 'digests-test-key-0123456789';
const SECRET = 'a-jwt-secret-of-at-least-32-characters!';

const news = {
  channels: ['email', 'inapp'],
  templates: {
    email: { subject: 'News: {{title}}', html: '<p>{{title}}</p>', text: '{{title}}' },
    inapp: { title: '{{title}}', body: 'new' },
  },
  digestTemplates: {
    email: {
      subject: '{{count}} news for {{recipient.id}}',
      html: '<ul>{{#each items}}<li>{{title}}</li>{{/each}}</ul>',
      text: '{{#each items}}- {{title}}\n{{/each}}({{window}})',
    },
  },
};

/** A type with its own daily rule and no digest template: items are joined. */
const ruled = {
  channels: ['email'],
  digest: { window: 'daily' },
  templates: { email: { subject: 'Ruled: {{title}}', text: '{{title}}' } },
};

/** Of these zones (full hours at :00, :30 and :15 UTC), the one whose next full hour is furthest. */
function roomyZone(): string {
  const now = Date.now();
  const zones = ['UTC', 'Asia/Kolkata', 'Asia/Kathmandu'];
  return zones.reduce((best, z) =>
    digestWindowEnd('hourly', now, z) > digestWindowEnd('hourly', now, best) ? z : best,
  );
}

const localTime = (instant: number, timeZone: string) =>
  new Intl.DateTimeFormat('en-GB', {
    timeZone,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(instant);

for (const backend of BACKENDS) {
  describe(`digests on ${backend}`, { skip: backend === 'pg' ? pgSkip : undefined }, () => {
    let sink: SmtpSink;
    let herald: Herald;
    let app: Hono;
    let call: Call;
    let worker: Worker;

    before(async () => {
      sink = await startSmtpSink({ defer: /^later@/ });
      herald = await openHerald(backend, {
        apiKey: KEY,
        jwtSecret: SECRET,
        smtpUrl: sink.url,
        emailFrom: 'Acme <no-reply@acme.test>',
        backoff: { baseMs: 10, capMs: 20 },
        delivery: { maxAttempts: 2 },
      });
      app = makeApp(herald);
      call = apiCaller(app, KEY);
      worker = herald.worker({ handlers: builtinHandlers(herald), pollIntervalMs: 50 });
      await worker.start();
      assert.equal((await call('PUT', '/v1/types/news', news)).status, 201);
      assert.equal((await call('PUT', '/v1/types/ruled', ruled)).status, 201);
    });
    after(async () => {
      await closeHerald(herald);
      await sink.close();
    });

    const sql = async <R>(text: string, params: unknown[] = []) =>
      (await herald.db.query<R>(text.replaceAll('$s', `"${herald.config.schema}"`), params)).rows;

    async function recipient(id: string, fields: object, preferences?: object) {
      assert.equal((await call('PUT', `/v1/recipients/${id}`, fields)).status, 201);
      if (preferences)
        assert.equal(
          (await call('PUT', `/v1/recipients/${id}/preferences`, preferences)).status,
          200,
        );
    }

    async function trigger(body: object): Promise<NotificationSummary> {
      const res = await call('POST', '/v1/notifications', body);
      assert.equal(res.status, 202, await res.clone().text());
      const [n] = ((await res.json()) as { notifications: NotificationSummary[] }).notifications;
      return n!;
    }

    const delivery = (n: NotificationSummary, channel: string) =>
      n.deliveries.find((d) => d.channel === channel)!;

    const detail = async (id: string) =>
      (await (await call('GET', `/v1/notifications/${id}`)).json()) as NotificationDetail;

    const digestJobs = (recipientId: string) =>
      sql<{ key: string; run_at: Date; status: string }>(
        `SELECT key, run_at, status FROM $s.jobs
         WHERE kind = 'digest' AND payload->>'recipientId' = $1 ORDER BY id`,
        [recipientId],
      );

    /** The window ends now: the recipient's digest jobs are due. */
    const runWindow = (recipientId: string) =>
      sql(
        `UPDATE $s.jobs SET run_at = now()
         WHERE kind = 'digest' AND status = 'queued' AND payload->>'recipientId' = $1`,
        [recipientId],
      );

    /** Waits until the recipient's digest jobs are done (deleted when complete). */
    const windowDone = (recipientId: string) =>
      waitFor(
        async () => (await digestJobs(recipientId)).length === 0,
        10_000,
        `${recipientId}'s digest jobs`,
      );

    const mailTo = (address: string): ReceivedMail[] =>
      sink.messages().filter((m) => m.envelope.rcptTo.includes(address));

    it('holds three notifications and sends one email listing them at the window end', async () => {
      const zone = roomyZone();
      await recipient('ann', { email: 'ann@example.com', timezone: zone }, { digest: 'hourly' });
      const end = new Date(digestWindowEnd('hourly', Date.now(), zone)).toISOString();
      const ns = [];
      for (const title of ['Alpha', 'Beta', 'Gamma'])
        ns.push(await trigger({ type: 'news', to: 'ann', data: { title } }));
      for (const n of ns) {
        // The answer says it is held, and until when.
        assert.deepEqual(delivery(n, 'email'), {
          ...delivery(n, 'email'),
          status: 'queued',
          reason: 'digest',
          runAt: end,
        });
        assert.equal(delivery(n, 'inapp').reason, null, 'the inbox is not digested');
      }
      const jobs = await digestJobs('ann');
      assert.deepEqual(
        jobs.map((j) => [j.key, new Date(j.run_at).toISOString()]),
        [[digestJobKey('ann', 'news', 'email', new Date(end)), end]],
        'one digest job for the window',
      );
      assert.equal(
        (
          await sql(`SELECT 1 FROM $s.jobs WHERE kind = 'deliver' AND key = $1`, [
            `deliver:${delivery(ns[0]!, 'email').id}`,
          ])
        ).length,
        0,
      );

      // The inbox items are there at once; no email yet.
      const jwt = await recipientToken('ann', SECRET);
      const inbox = await waitFor(
        async () => {
          const res = await call('GET', '/v1/me/notifications', undefined, jwt);
          const body = (await res.json()) as { items: { title: string }[] };
          return body.items.length === 3 ? body.items : null;
        },
        10_000,
        'three inbox items',
      );
      assert.deepEqual(inbox.map((i) => i.title).sort(), ['Alpha', 'Beta', 'Gamma']);
      await sleep(200);
      assert.equal(mailTo('ann@example.com').length, 0, 'the email is held');

      await runWindow('ann');
      const [mail] = await waitFor(
        () => (mailTo('ann@example.com').length > 0 ? mailTo('ann@example.com') : null),
        10_000,
        'the digest email',
      );
      assert.equal(mail!.parsed.subject, '3 news for ann');
      assert.equal(mail!.parsed.text?.trim(), '- Alpha\n- Beta\n- Gamma\n(hourly)');
      assert.equal(mail!.parsed.html, '<ul><li>Alpha</li><li>Beta</li><li>Gamma</li></ul>');
      await windowDone('ann');

      for (const n of ns) {
        const email = (await detail(n.id)).deliveries.find((d) => d.channel === 'email')!;
        assert.equal(email.status, 'sent');
        assert.equal(email.reason, 'digested');
        assert.equal(email.provider, 'smtp');
        assert.equal(email.address, 'ann@example.com');
        assert.equal(email.providerMessageId, mail!.parsed.messageId);
        assert.deepEqual(email.details?.digest, { count: 3, window: 'hourly', sendAt: end });
        assert.deepEqual(
          email.events.map((e) => [e.status, e.detail]),
          [
            ['queued', 'digest'],
            ['sent', 'digested'],
          ],
        );
      }
      assert.equal((await sql(`SELECT 1 FROM $s.digest_holds`)).length, 0, 'no hold left');

      // Another job of the same window (a re-run, a duplicate) finds nothing to send.
      await herald.queue.enqueue({
        kind: 'digest',
        key: digestJobKey('ann', 'news', 'email', new Date(end)),
        payload: { recipientId: 'ann', type: 'news', channel: 'email', sendAt: end },
      });
      await windowDone('ann');
      await sleep(200);
      assert.equal(mailTo('ann@example.com').length, 1, 'exactly one email');
    });

    it('sends an urgent notification at once', async () => {
      const before = mailTo('ann@example.com').length;
      const n = await trigger({
        type: 'news',
        to: 'ann',
        priority: 'urgent',
        data: { title: 'Fire' },
      });
      assert.equal(delivery(n, 'email').reason, null);
      const mail = await waitFor(
        () => mailTo('ann@example.com')[before],
        10_000,
        'the urgent email',
      );
      assert.equal(mail.parsed.subject, 'News: Fire');
      assert.equal((await digestJobs('ann')).length, 0, 'no digest for it');
    });

    it("applies a type's own rule to a recipient whose digest is off; the preference wins", async () => {
      const zone = 'America/New_York';
      await recipient('bob', { email: 'bob@example.com', timezone: zone });
      const daily = delivery(
        await trigger({ type: 'ruled', to: 'bob', data: { title: 'x' } }),
        'email',
      );
      assert.equal(daily.reason, 'digest');
      const at = Date.parse(daily.runAt!);
      assert.ok(Math.abs(at - digestWindowEnd('daily', Date.now(), zone)) < 1000 * 60);
      assert.match(localTime(at, zone), /08:00$/, 'at 08:00 in the recipient zone');

      await call('PUT', '/v1/recipients/bob/preferences', { digest: 'weekly' });
      const weekly = delivery(
        await trigger({ type: 'ruled', to: 'bob', data: { title: 'y' } }),
        'email',
      );
      assert.equal(weekly.reason, 'digest');
      assert.equal(localTime(Date.parse(weekly.runAt!), zone), 'Mon 08:00');
      assert.equal((await digestJobs('bob')).length, 2, 'one job per window');
      // A type with `digest: false` is never held, whatever the preference.
      const never = { ...ruled, digest: false };
      assert.equal((await call('PUT', '/v1/types/never', never)).status, 201);
      const sentAlone = await trigger({ type: 'never', to: 'bob', data: { title: 'now' } });
      assert.equal(delivery(sentAlone, 'email').reason, null);
      // A type without a rule is sent on its own to a recipient whose digest is off.
      await call('PUT', '/v1/recipients/bob/preferences', { digest: 'off' });
      const alone = delivery(
        await trigger({ type: 'news', to: 'bob', data: { title: 'z' } }),
        'email',
      );
      assert.equal(alone.reason, null);
    });

    it('joins the items as each renders alone when the type has no digest template', async () => {
      await recipient('cara', { email: 'cara@example.com', timezone: 'Europe/Berlin' });
      await trigger({ type: 'ruled', to: 'cara', data: { title: 'First' } });
      await trigger({ type: 'ruled', to: 'cara', data: { title: 'Second' } });
      await runWindow('cara');
      const mail = await waitFor(() => mailTo('cara@example.com')[0], 10_000, "cara's digest");
      assert.equal(mail.parsed.subject, 'Ruled: First (+1 more)');
      assert.equal(mail.parsed.text?.trim(), 'First\n\nSecond');
      await windowDone('cara');
    });

    it('leaves out a notification cancelled before the window ends', async () => {
      const zone = roomyZone();
      await recipient('dan', { email: 'dan@example.com', timezone: zone }, { digest: 'hourly' });
      const ns = [];
      for (const title of ['One', 'Two', 'Three'])
        ns.push(await trigger({ type: 'news', to: 'dan', data: { title } }));
      const cancelled = await call('POST', `/v1/notifications/${ns[1]!.id}/cancel`);
      assert.equal(cancelled.status, 200);
      await runWindow('dan');
      const mail = await waitFor(() => mailTo('dan@example.com')[0], 10_000, "dan's digest");
      assert.equal(mail.parsed.subject, '2 news for dan');
      assert.equal(mail.parsed.text?.trim(), '- One\n- Three\n(hourly)');
      await windowDone('dan');
      const statuses = [];
      for (const n of ns)
        statuses.push((await detail(n.id)).deliveries.find((d) => d.channel === 'email')!.status);
      assert.deepEqual(statuses, ['sent', 'cancelled', 'sent']);
    });

    it('sends nothing to a recipient erased before the window ends', async () => {
      await recipient('eve', { email: 'eve@example.com' }, { digest: 'daily' });
      const n = await trigger({ type: 'news', to: 'eve', data: { title: 'Secret' } });
      assert.equal((await call('DELETE', '/v1/recipients/eve')).status, 204);
      await runWindow('eve');
      await windowDone('eve');
      await sleep(200);
      assert.equal(mailTo('eve@example.com').length, 0);
      const email = (await detail(n.id)).deliveries.find((d) => d.channel === 'email')!;
      assert.deepEqual([email.status, email.reason], ['cancelled', 'recipient_erased']);
    });

    it('gives a trigger that finds its window job running a job of its own, and sends each once', async () => {
      const zone = roomyZone();
      await recipient('fay', { email: 'fay@example.com', timezone: zone }, { digest: 'hourly' });
      await trigger({ type: 'news', to: 'fay', data: { title: 'Early' } });
      const [first] = await digestJobs('fay');
      // As if a worker were running it now (and had read the held deliveries already).
      await sql(
        `UPDATE $s.jobs SET status = 'processing', attempts = 1, locked_by = 'elsewhere',
           locked_until = now() + interval '1 hour' WHERE key = $1`,
        [first!.key],
      );
      const res = await call('POST', '/v1/notifications', {
        type: 'news',
        to: 'fay',
        data: { title: 'Late' },
      });
      const { triggerId } = (await res.json()) as { triggerId: string };
      assert.deepEqual(
        (await digestJobs('fay')).map((j) => j.key),
        [first!.key, `${first!.key}:${triggerId}`],
      );
      await sql(
        `UPDATE $s.jobs SET status = 'queued', attempts = 0, locked_by = NULL, locked_until = NULL
         WHERE key = $1`,
        [first!.key],
      );
      await runWindow('fay');
      await windowDone('fay');
      await sleep(200);
      const mails = mailTo('fay@example.com');
      assert.equal(mails.length, 1, 'the second job found them taken');
      assert.equal(mails[0]!.parsed.text?.trim(), '- Early\n- Late\n(hourly)');
    });

    it('retries a digest the server defers, then fails every delivery in it', async () => {
      await recipient('lou', { email: 'later@example.com' }, { digest: 'daily' });
      const ns = [
        await trigger({ type: 'news', to: 'lou', data: { title: 'a' } }),
        await trigger({ type: 'news', to: 'lou', data: { title: 'b' } }),
      ];
      await runWindow('lou');
      await windowDone('lou');
      for (const n of ns) {
        const email = (await detail(n.id)).deliveries.find((d) => d.channel === 'email')!;
        assert.deepEqual(
          [email.status, email.reason, email.attempts],
          ['failed', 'retries_exhausted', 2],
        );
        assert.deepEqual(
          email.events.map((e) => e.status),
          ['queued', 'retrying', 'failed'],
        );
      }
    });

    it('refuses digest templates for channels the type lacks, the inbox, or with bad syntax', async () => {
      const cases: [object, string][] = [
        [{ digestTemplates: { sms: { text: 'x' } } }, 'digestTemplates.sms'],
        [
          { digestTemplates: { email: { subject: '{{#each items}}', text: 'x' } } },
          'digestTemplates.email.subject',
        ],
        [{ digestTemplates: { inapp: { title: 'x', body: 'y' } } }, 'digestTemplates.inapp'],
        [{ digestLocales: { de: { email: { subject: 'x' } } } }, 'digestLocales.de.email'],
      ];
      for (const [extra, field] of cases) {
        const res = await call('PUT', '/v1/types/broken', { ...ruled, ...extra });
        assert.equal(res.status, 400, JSON.stringify(extra));
        const problem = (await res.json()) as Problem;
        assert.ok(
          problem.errors?.some((e) => e.field === field),
          `${field} in ${JSON.stringify(problem.errors)}`,
        );
      }
      assert.equal((await call('GET', '/v1/types/broken')).status, 404);
    });

    it(
      'holds the digest job until a trigger still open on it commits',
      { skip: backend !== 'pg' },
      async () => {
        const zone = roomyZone();
        await recipient('gus', { email: 'gus@example.com', timezone: zone }, { digest: 'hourly' });
        await trigger({ type: 'news', to: 'gus', data: { title: 'Committed' } });
        const client = await pgClient();
        try {
          await client.query('BEGIN');
          await herald.send({ type: 'news', to: 'gus', data: { title: 'Open' } }, { tx: client });
          await runWindow('gus');
          await sleep(500);
          assert.equal(mailTo('gus@example.com').length, 0, 'the job waits for the trigger');
          await client.query('COMMIT');
        } finally {
          await client.end();
        }
        const mail = await waitFor(() => mailTo('gus@example.com')[0], 10_000, "gus's digest");
        assert.equal(mail.parsed.text?.trim(), '- Committed\n- Open\n(hourly)');
      },
    );
  });
}

describe('digest windows', () => {
  const at = (iso: string) => Date.parse(iso);
  const iso = (t: number) => new Date(t).toISOString();

  const NY = 'America/New_York';
  // [why, window, at, zone, window end]
  const ends: [string, DigestWindow, string, string, string][] = [
    // Saturday noon EDT (UTC-4); Sunday 1 November 2026 at 08:00 is EST (UTC-5).
    ['daily over the fall-back night', 'daily', '2026-10-31T16:00:00Z', NY, '2026-11-01T13:00:00Z'],
    ['daily, strictly after 08:00', 'daily', '2026-11-01T13:00:00Z', NY, '2026-11-02T13:00:00Z'],
    // 01:00 happens twice; only its first occurrence (05:00Z) ends a window.
    ['hourly in the repeated hour', 'hourly', '2026-11-01T05:30:00Z', NY, '2026-11-01T07:00:00Z'],
    // 02:00 does not exist: the window ends at the gap's end, 03:00 EDT, then 04:00 EDT.
    ['hourly before the gap', 'hourly', '2026-03-08T06:30:00Z', NY, '2026-03-08T07:00:00Z'],
    ['hourly after the gap', 'hourly', '2026-03-08T07:00:00Z', NY, '2026-03-08T08:00:00Z'],
    [
      'hourly at UTC+05:45',
      'hourly',
      '2026-06-01T10:00:00Z',
      'Asia/Kathmandu',
      '2026-06-01T10:15:00Z',
    ],
    ['weekly on Monday', 'weekly', '2026-11-04T12:00:00Z', NY, '2026-11-09T13:00:00Z'],
    // Sydney springs forward on Sunday 4 October 2026: 08:00 is then UTC+11.
    [
      'daily on spring-forward down under',
      'daily',
      '2026-10-03T12:00:00Z',
      'Australia/Sydney',
      '2026-10-03T21:00:00Z',
    ],
  ];
  for (const [why, window, from, zone, end] of ends) {
    it(`ends the window: ${why} (${zone})`, () => {
      assert.equal(iso(digestWindowEnd(window, at(from), zone)), new Date(end).toISOString());
    });
  }

  it('moves a send time inside quiet hours to their end', () => {
    const quiet = { start: '22:00', end: '07:30' };
    const sendAt = (from: string) => iso(digestSendAt('hourly', at(from), 'Europe/Berlin', quiet));
    // 22:10 in Berlin (summer, UTC+2): the hour ends at 23:00, inside quiet hours.
    assert.equal(sendAt('2026-06-01T20:10:00Z'), '2026-06-02T05:30:00.000Z');
    assert.equal(sendAt('2026-06-01T10:10:00Z'), '2026-06-01T11:00:00.000Z');
  });

  it("takes the recipient's window over the type's, never for urgent ones or the inbox", () => {
    const rule = { window: 'weekly' } as const;
    assert.equal(digestWindowFor('daily', rule, 'normal', 'email'), 'daily');
    assert.equal(digestWindowFor('off', rule, 'low', 'sms'), 'weekly');
    assert.equal(digestWindowFor(undefined, undefined, 'normal', 'email'), undefined);
    assert.equal(digestWindowFor('hourly', rule, 'urgent', 'email'), undefined);
    assert.equal(digestWindowFor('hourly', rule, 'normal', 'inapp'), undefined);
    assert.equal(digestWindowFor('hourly', false, 'normal', 'email'), undefined, 'never digested');
  });

  it('joins rendered items field by field', () => {
    assert.deepEqual(
      joinRendered([
        { subject: 'A', html: '<p>a</p>', text: 'a', replyTo: 'x@example.com' },
        { subject: 'B', html: '<p>b</p>', text: 'b', replyTo: 'y@example.com' },
      ]),
      {
        subject: 'A (+1 more)',
        html: '<p>a</p>\n<hr>\n<p>b</p>',
        text: 'a\n\nb',
        replyTo: 'x@example.com',
      },
    );
    assert.deepEqual(
      joinRendered([
        { text: 'one', blocks: '[{"type":"divider"}]' },
        { text: 'two', blocks: '[{"type":"section"}]' },
      ]),
      {
        text: 'one\n\ntwo',
        blocks: '[{"type":"divider"},{"type":"section"}]',
      },
    );
  });
});
