/**
 * POST /v1/notifications and what it writes, on both backends: idempotency (also under 50
 * concurrent identical requests), refusals that write nothing, sendAt and cancel, quiet hours,
 * inline recipients, a 10,000-recipient trigger, erasure, and `send(..., { tx })`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import pg from 'pg';
import type { Herald } from '../src/index.js';
import type { Queryable } from '../src/db/db.js';
import { makeApp } from '../src/http/app.js';
import { builtinHandlers } from '../src/handlers.js';
import type { NotificationDetail } from '../src/notify/notifications.js';
import type { SendResult } from '../src/notify/send.js';
import { BACKENDS, closeHerald, openHerald, PG_URL, pgSkipReason, waitFor } from './helpers/db.js';
import { apiCaller, type Call, type Problem } from './helpers/api.js';

const pgSkip = await pgSkipReason();
const KEY = 'notifications-test-key-0123456789';

const remind = {
  channels: ['email', 'inapp'],
  templates: {
    email: { subject: 'Reminder: {{title}}', text: '{{title}}' },
    inapp: { title: '{{title}}', body: 'soon' },
  },
};

for (const backend of BACKENDS) {
  describe(
    `notifications API on ${backend}`,
    { skip: backend === 'pg' ? pgSkip : undefined },
    () => {
      let herald: Herald;
      let app: Hono;
      let call: Call;
      const count = async (table: string, where = 'true') => {
        const { rows } = await herald.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM "${herald.config.schema}".${table} WHERE ${where}`,
        );
        return rows[0]!.n;
      };
      const post = async (body: unknown, headers: Record<string, string> = {}) =>
        app.request('/v1/notifications', {
          method: 'POST',
          headers: {
            authorization: `Bearer ${KEY}`,
            'content-type': 'application/json',
            ...headers,
          },
          body: JSON.stringify(body),
        });

      before(async () => {
        herald = await openHerald(backend, { apiKey: KEY, poolSize: 20 });
        app = makeApp(herald);
        call = apiCaller(app, KEY);
        await call('PUT', '/v1/types/remind', remind);
        await call('PUT', '/v1/recipients/ann', { email: 'ann@example.com', timezone: 'UTC' });
      });
      after(() => closeHerald(herald));

      it('makes exactly one notification for 50 concurrent identical requests', async () => {
        const before = await count('notifications');
        const body = {
          type: 'remind',
          to: 'ann',
          data: { title: 'once' },
          idempotencyKey: 'burst-1',
        };
        const answers = await Promise.all(Array.from({ length: 50 }, () => post(body)));
        assert.deepEqual([...new Set(answers.map((a) => a.status))], [202]);
        const results = (await Promise.all(answers.map((a) => a.json()))) as SendResult[];
        assert.equal(
          new Set(results.map((r) => r.notifications[0]!.id)).size,
          1,
          'all answer the same notification',
        );
        assert.equal(
          answers.filter((a) => a.headers.get('idempotent-replayed') === 'true').length,
          49,
        );
        assert.equal(await count('notifications'), before + 1);
        assert.equal(await count('deliveries'), await count('deliveries', 'true'));
        assert.equal(
          await count('jobs', "kind = 'deliver'"),
          await count('deliveries', "status = 'queued'"),
        );
      });

      it('takes the key from the Idempotency-Key header too, and refuses a different body with 409', async () => {
        const body = { type: 'remind', to: 'ann', data: { title: 'h' } };
        const first = await post(body, { 'idempotency-key': 'hdr-1' });
        assert.equal(first.status, 202);
        const again = await post(
          { data: { title: 'h' }, to: 'ann', type: 'remind' },
          { 'idempotency-key': 'hdr-1' },
        );
        assert.equal(again.status, 202, 'key order does not make a new request');
        assert.equal(again.headers.get('idempotent-replayed'), 'true');
        const before = await count('notifications');
        const other = await post(
          { ...body, data: { title: 'other' } },
          { 'idempotency-key': 'hdr-1' },
        );
        assert.equal(other.status, 409);
        assert.equal(((await other.json()) as Problem).code, 'idempotency_conflict');
        const mixed = await post({ ...body, idempotencyKey: 'a' }, { 'idempotency-key': 'b' });
        assert.equal(mixed.status, 400);
        assert.equal(await count('notifications'), before);
      });

      it('refuses unknown types, unknown recipients and foreign channels, writing nothing', async () => {
        const before = [
          await count('notifications'),
          await count('deliveries'),
          await count('jobs'),
        ];
        const cases: [unknown, number, string][] = [
          [{ type: 'nope', to: 'ann' }, 422, 'unknown_type'],
          [{ type: 'remind', to: ['ann', 'ghost', 'ghost-2'] }, 422, 'unknown_recipient'],
          [{ type: 'remind', to: 'ann', channels: ['sms'] }, 400, 'validation_failed'],
          [{ type: 'remind', to: 'ann', sendAt: 'tomorrow' }, 400, 'validation_failed'],
          [{ type: 'remind', to: [] }, 400, 'validation_failed'],
          [{ type: 'remind', to: 'ann', extra: 1 }, 400, 'validation_failed'],
        ];
        for (const [body, status, code] of cases) {
          const res = await post(body);
          assert.equal(res.status, status, JSON.stringify(body));
          const p = (await res.json()) as Problem;
          assert.equal(p.code, code);
          assert.ok(p.detail.length > 0);
        }
        assert.deepEqual(
          [await count('notifications'), await count('deliveries'), await count('jobs')],
          before,
        );
      });

      it('upserts an inline recipient and records why channels were skipped', async () => {
        const res = await post({
          type: 'remind',
          to: { id: 'carl', locale: 'en' },
          data: { title: 'x' },
        });
        assert.equal(res.status, 202);
        const [n] = ((await res.json()) as SendResult).notifications;
        assert.equal(n!.recipientId, 'carl');
        assert.deepEqual(n!.deliveries.map((d) => [d.channel, d.status, d.reason]).sort(), [
          ['email', 'skipped', 'no_address'],
          ['inapp', 'queued', null],
        ]);
        assert.equal((await herald.recipients.get('carl'))?.locale, 'en');
      });

      it('schedules with sendAt, and cancel stops what was not sent', async () => {
        const sendAt = new Date(Date.now() + 3_600_000).toISOString();
        const res = await post({ type: 'remind', to: 'ann', data: { title: 'later' }, sendAt });
        const [n] = ((await res.json()) as SendResult).notifications;
        assert.deepEqual(
          n!.deliveries.map((d) => d.runAt),
          [sendAt, sendAt],
        );
        const jobs = await herald.db.query<{ run_at: Date; status: string }>(
          `SELECT run_at, status FROM "${herald.config.schema}".jobs WHERE key = ANY($1::text[])`,
          [n!.deliveries.map((d) => `deliver:${d.id}`)],
        );
        assert.deepEqual(
          jobs.rows.map((j) => [j.run_at.toISOString(), j.status]),
          [
            [sendAt, 'queued'],
            [sendAt, 'queued'],
          ],
        );

        const cancelled = await call('POST', `/v1/notifications/${n!.id}/cancel`);
        assert.equal(cancelled.status, 200);
        const detail = (await cancelled.json()) as NotificationDetail;
        assert.ok(detail.cancelledAt);
        assert.deepEqual(
          detail.deliveries.map((d) => d.status),
          ['cancelled', 'cancelled'],
        );
        const after = await herald.db.query<{ status: string }>(
          `SELECT status FROM "${herald.config.schema}".jobs WHERE key = ANY($1::text[])`,
          [n!.deliveries.map((d) => `deliver:${d.id}`)],
        );
        assert.deepEqual(
          after.rows.map((j) => j.status),
          ['cancelled', 'cancelled'],
        );
        assert.equal(
          (await call('POST', '/v1/notifications/00000000-0000-7000-8000-000000000000/cancel'))
            .status,
          404,
        );
        assert.equal((await call('GET', '/v1/notifications/not-a-uuid')).status, 404);
      });

      it('defers to the end of quiet hours; urgent passes', async () => {
        const hhmm = (t: number) => new Date(t).toISOString().slice(11, 16);
        const now = Date.now();
        // Quiet hours around now in UTC (ann's zone), ending two hours from now.
        const start = hhmm(now - 3_600_000);
        const end = hhmm(now + 7_200_000);
        await call('PUT', '/v1/recipients/ann/preferences', { quietHours: { start, end } });
        const res = await post({ type: 'remind', to: 'ann', data: { title: 'q' } });
        const [n] = ((await res.json()) as SendResult).notifications;
        const email = n!.deliveries.find((d) => d.channel === 'email')!;
        const inapp = n!.deliveries.find((d) => d.channel === 'inapp')!;
        assert.equal(email.reason, 'quiet_hours');
        assert.equal(email.runAt!.slice(11, 16), end);
        assert.ok(Date.parse(email.runAt!) > now + 7_000_000);
        assert.ok(Date.parse(inapp.runAt!) <= Date.now(), 'the inbox is not held back');
        const urgent = await post({
          type: 'remind',
          to: 'ann',
          data: { title: 'u' },
          priority: 'urgent',
        });
        const [u] = ((await urgent.json()) as SendResult).notifications;
        assert.ok(
          u!.deliveries.every((d) => d.reason === null && Date.parse(d.runAt!) <= Date.now()),
        );
        await call('PUT', '/v1/recipients/ann/preferences', {});
      });

      it('erases a recipient from notifications and deliveries, and cancels what was queued', async () => {
        await call('PUT', '/v1/recipients/dora', { email: 'dora@example.com' });
        const sent = await post({ type: 'remind', to: 'dora', data: { title: 'secret-title' } });
        const [first] = ((await sent.json()) as SendResult).notifications;
        const worker = herald.worker({ handlers: builtinHandlers(herald), pollIntervalMs: 50 });
        await worker.start();
        await waitFor(
          async () =>
            (await herald.notifications.get(first!.id))?.deliveries.every(
              (d) => d.status === 'sent',
            ),
          10_000,
          'sent',
        );
        await worker.stop();
        const later = await post({
          type: 'remind',
          to: 'dora',
          data: { title: 'secret-2' },
          sendAt: new Date(Date.now() + 86_400_000).toISOString(),
        });
        const [second] = ((await later.json()) as SendResult).notifications;

        assert.equal((await call('DELETE', '/v1/recipients/dora')).status, 204);
        assert.equal((await call('GET', '/v1/recipients/dora')).status, 404);
        for (const id of [first!.id, second!.id]) {
          const n = (await herald.notifications.get(id))!;
          assert.equal(n.recipientId, null);
          assert.deepEqual(n.data, {});
          assert.equal(n.inbox, null);
          const text = JSON.stringify(n);
          assert.ok(!text.includes('dora') && !text.includes('secret'), text);
        }
        const queued = (await herald.notifications.get(second!.id))!.deliveries;
        assert.deepEqual(
          queued.map((d) => [d.status, d.reason]),
          [
            ['cancelled', 'recipient_erased'],
            ['cancelled', 'recipient_erased'],
          ],
        );
        assert.equal(
          await count('jobs', `key = 'deliver:${queued[0]!.id}' AND status = 'queued'`),
          0,
        );
      });

      it('sends inside the caller transaction: nothing on rollback, everything on commit', async () => {
        const inTx = async (commit: boolean, key: string) => {
          const attempt = async (tx: Queryable) => {
            await herald.send(
              { type: 'remind', to: 'ann', data: { title: key }, idempotencyKey: key },
              { tx },
            );
          };
          if (backend === 'pg') {
            const client = new pg.Client({ connectionString: PG_URL });
            await client.connect();
            try {
              await client.query('BEGIN');
              await attempt(client);
              await client.query(commit ? 'COMMIT' : 'ROLLBACK');
            } finally {
              await client.end();
            }
          } else {
            await herald.db
              .transaction(async (tx) => {
                await attempt(tx);
                if (!commit) throw new Error('roll back');
              })
              .catch((err: Error) => assert.equal(err.message, 'roll back'));
          }
        };
        const before = await count('notifications');
        await inTx(false, 'tx-rolled-back');
        assert.equal(await count('notifications'), before);
        assert.equal(await count('idempotency_keys', "key = 'tx-rolled-back'"), 0);
        await inTx(true, 'tx-committed');
        assert.equal(await count('notifications'), before + 1);
      });

      it('accepts 10,000 recipients in one trigger', async () => {
        const ids = Array.from({ length: 10_000 }, (_, i) => `bulk-${i}`);
        await herald.db.query(
          `INSERT INTO "${herald.config.schema}".recipients (id, email) SELECT id, id || '@example.com' FROM unnest($1::text[]) id`,
          [ids],
        );
        const res = await post({ type: 'remind', to: ids, data: { title: 'all' } });
        assert.equal(res.status, 202);
        const { notifications } = (await res.json()) as SendResult;
        assert.equal(notifications.length, 10_000);
        assert.deepEqual(new Set(notifications.map((n) => n.recipientId)), new Set(ids));
        assert.equal(await count('notifications', "recipient_id LIKE 'bulk-%'"), 10_000);
        assert.equal(
          await count('jobs', "kind = 'deliver' AND status = 'queued'"),
          await count('deliveries', "status = 'queued'"),
        );
      });
    },
  );
}
