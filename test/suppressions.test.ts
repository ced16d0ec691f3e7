/**
 * The suppression list on both backends: the admin endpoints (admin key only), a suppressed
 * email or phone skipped with `suppressed` (email matched whatever its case), also across a
 * 10,000-recipient trigger in a fixed number of statements, and removal letting sends through.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import type { Queryable } from '../src/db/db.js';
import { makeApp } from '../src/http/app.js';
import type { SendResult } from '../src/notify/send.js';
import type { Suppression } from '../src/notify/suppressions.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason } from './helpers/db.js';
import { apiCaller, type Call, type Problem } from './helpers/api.js';

const pgSkip = await pgSkipReason();
const KEY = 'suppressions-test-server-key-0123456789';
const ADMIN = 'suppressions-test-admin-key-0123456789';

for (const backend of BACKENDS) {
  describe(`suppressions on ${backend}`, { skip: backend === 'pg' ? pgSkip : undefined }, () => {
    let herald: Herald;
    let app: Hono;
    let call: Call;
    let admin: Call;
    const reasons = async (to: string | string[]) => {
      const res = await call('POST', '/v1/notifications', { type: 'alert', to });
      assert.equal(res.status, 202);
      const { notifications } = (await res.json()) as SendResult;
      return notifications[0]!.deliveries.map((d) => `${d.channel}:${d.reason ?? d.status}`);
    };

    before(async () => {
      herald = await openHerald(backend, { apiKey: KEY, adminKey: ADMIN });
      app = makeApp(herald);
      call = apiCaller(app, KEY);
      admin = apiCaller(app, ADMIN);
      await call('PUT', '/v1/types/alert', {
        channels: ['email', 'sms', 'inapp'],
        templates: {
          email: { subject: 'Alert', text: 'x' },
          sms: { text: 'x' },
          inapp: { title: 'Alert', body: 'x' },
        },
      });
      await call('PUT', '/v1/recipients/ann', { email: 'Ann@Example.com', phone: '+15550001111' });
    });
    after(() => closeHerald(herald));

    it('refuses server keys (403) and no key (401)', async () => {
      for (const method of ['GET', 'PUT', 'DELETE']) {
        const body = method === 'GET' ? undefined : { channel: 'email', address: 'a@b.c' };
        assert.equal((await call(method, '/v1/admin/suppressions', body)).status, 403);
        assert.equal((await call(method, '/v1/admin/suppressions', body, null)).status, 401);
      }
    });

    it('skips a suppressed email and phone with `suppressed`, and sends again once removed', async () => {
      assert.deepEqual(await reasons('ann'), ['email:queued', 'sms:no_provider', 'inapp:queued']);

      let res = await admin('PUT', '/v1/admin/suppressions', {
        channel: 'email',
        address: ' ANN@example.COM ',
      });
      assert.equal(res.status, 204);
      res = await admin('PUT', '/v1/admin/suppressions', {
        channel: 'sms',
        address: '+15550001111',
        reason: 'bounce',
      });
      assert.equal(res.status, 204);
      // Again: idempotent.
      assert.equal(
        (await admin('PUT', '/v1/admin/suppressions', { channel: 'sms', address: '+15550001111' }))
          .status,
        204,
      );

      const list = (await (await admin('GET', '/v1/admin/suppressions')).json()) as {
        items: Suppression[];
      };
      assert.deepEqual(list.items.map((s) => [s.channel, s.address, s.reason, s.source]).sort(), [
        ['email', 'ann@example.com', 'manual', 'admin'],
        ['sms', '+15550001111', 'bounce', 'admin'],
      ]);
      const emailOnly = (await (
        await admin('GET', '/v1/admin/suppressions?channel=email')
      ).json()) as { items: Suppression[] };
      assert.equal(emailOnly.items.length, 1);

      // Suppression comes before no_provider: the sms has no provider here.
      assert.deepEqual(await reasons('ann'), [
        'email:suppressed',
        'sms:suppressed',
        'inapp:queued',
      ]);
      assert.deepEqual(
        [...(await herald.suppressions.isSuppressed('email', ['ANN@example.com', 'bob@x.y']))],
        ['ANN@example.com'],
      );

      res = await admin('DELETE', '/v1/admin/suppressions', {
        channel: 'email',
        address: 'Ann@Example.com',
      });
      assert.equal(res.status, 204);
      res = await admin('DELETE', '/v1/admin/suppressions', {
        channel: 'email',
        address: 'ann@example.com',
      });
      assert.equal(res.status, 404);
      assert.equal(((await res.json()) as Problem).code, 'not_found');
      assert.deepEqual(await reasons('ann'), ['email:queued', 'sms:suppressed', 'inapp:queued']);
      await herald.suppressions.remove({ channel: 'sms', address: '+15550001111' });
    });

    it('refuses a bad channel, reason or empty address', async () => {
      for (const body of [
        { channel: 'push', address: 'x' },
        { channel: 'email', address: 'a@b.c', reason: 'spam' },
        { channel: 'email', address: '  ' },
        { channel: 'email' },
      ]) {
        const res = await admin('PUT', '/v1/admin/suppressions', body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(((await res.json()) as Problem).code, 'validation_failed');
      }
    });

    it('skips suppressed addresses among 10,000 recipients in a fixed number of statements', async () => {
      const s = `"${herald.config.schema}"`;
      const ids = Array.from({ length: 10_000 }, (_, i) => `sup-${i}`);
      await herald.db.query(
        `INSERT INTO ${s}.recipients (id, email) SELECT id, id || '@Example.com' FROM unnest($1::text[]) id`,
        [ids],
      );
      // Every third recipient's email is suppressed.
      const suppressed = ids.filter((_, i) => i % 3 === 0);
      await herald.db.query(
        `INSERT INTO ${s}.suppressions (channel, address, reason, source)
         SELECT 'email', lower(id) || '@example.com', 'bounce', 'test' FROM unnest($1::text[]) id`,
        [suppressed],
      );
      let statements = 0;
      const result = await herald.db.transaction((tx) => {
        const counting: Queryable = {
          query: (text, params) => {
            statements++;
            return tx.query(text, params);
          },
        };
        return herald.send({ type: 'alert', to: ids, channels: ['email'] }, { tx: counting });
      });
      assert.equal(result.notifications.length, 10_000);
      const skipped = new Set(
        result.notifications
          .filter((n) => n.deliveries[0]!.reason === 'suppressed')
          .map((n) => n.recipientId),
      );
      assert.deepEqual(skipped, new Set(suppressed));
      assert.ok(statements < 20, `${statements} statements for 10,000 recipients`);
      const { rows } = await herald.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${s}.deliveries WHERE reason = 'suppressed' AND status = 'skipped'
           AND notification_id IN (SELECT id FROM ${s}.notifications WHERE recipient_id LIKE 'sup-%')`,
      );
      assert.equal(rows[0]!.n, suppressed.length);
    });
  });
}
