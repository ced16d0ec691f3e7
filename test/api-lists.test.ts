/**
 * The server realm's lists (GET /v1/types, /v1/recipients, /v1/notifications) on both
 * backends: ordered by key (notifications newest first), a page at a time with a cursor that
 * neither skips nor repeats, the recipients' prefix filter on id and email, the notifications'
 * filters (recipient, type, delivery status and channel, time, data key/values); a cursor,
 * limit or filter this API did not give out is a 400 naming the field; a recipient token is
 * refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason } from './helpers/db.js';
import { apiCaller, recipientToken, type Call, type Problem } from './helpers/api.js';

const pgSkip = await pgSkipReason();
const KEY = 'lists-test-key-0123456789abcdef';
const SECRET = 'a-jwt-secret-of-at-least-32-characters!';

interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

for (const backend of BACKENDS) {
  describe(`list endpoints on ${backend}`, { skip: backend === 'pg' ? pgSkip : undefined }, () => {
    let herald: Herald;
    let app: Hono;
    let call: Call;

    /** Every item, following the cursors with pages of `limit`. */
    async function all<T>(path: string, limit: number): Promise<{ items: T[]; pages: number }> {
      const items: T[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const sep = path.includes('?') ? '&' : '?';
        const res = await call(
          'GET',
          `${path}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`,
        );
        assert.equal(res.status, 200, await res.clone().text());
        const page = (await res.json()) as Page<T>;
        items.push(...page.items);
        cursor = page.nextCursor;
        pages++;
      } while (cursor);
      return { items, pages };
    }

    before(async () => {
      herald = await openHerald(backend, { apiKey: KEY, jwtSecret: SECRET });
      app = makeApp(herald);
      call = apiCaller(app, KEY);
      for (const name of ['weekly', 'alpha', 'digest', 'beta', 'zulu'])
        await call('PUT', `/v1/types/${name}`, {
          channels: ['inapp'],
          templates: { inapp: { title: name, body: 'b' } },
        });
      for (const [id, email] of [
        ['u-003', 'Carol@Example.com'],
        ['u-001', 'ann@example.com'],
        ['admin-1', 'root@corp.example'],
        ['u-002', null],
        ['carl', 'carl@example.com'],
      ] as const)
        await call('PUT', `/v1/recipients/${id}`, email ? { email } : {});
    });
    after(() => closeHerald(herald));

    it('lists types by name, page by page, each once', async () => {
      const { items, pages } = await all<{ name: string; channels: string[] }>('/v1/types', 2);
      assert.deepEqual(
        items.map((t) => t.name),
        ['alpha', 'beta', 'digest', 'weekly', 'zulu'],
      );
      assert.equal(pages, 3);
      assert.deepEqual(items[0]!.channels, ['inapp']);
    });

    it('lists recipients by id, and by a prefix of the id or the email', async () => {
      const everyone = await all<{ id: string; email: string | null }>('/v1/recipients', 2);
      assert.deepEqual(
        everyone.items.map((r) => r.id),
        ['admin-1', 'carl', 'u-001', 'u-002', 'u-003'],
      );
      const us = await all<{ id: string }>('/v1/recipients?prefix=u-00', 1);
      assert.deepEqual(
        us.items.map((r) => r.id),
        ['u-001', 'u-002', 'u-003'],
      );
      // Emails in any case; ids as they are.
      const car = await all<{ id: string }>('/v1/recipients?prefix=CAROL', 10);
      assert.deepEqual(
        car.items.map((r) => r.id),
        ['u-003'],
      );
      const ca = await all<{ id: string }>('/v1/recipients?prefix=ca', 10);
      assert.deepEqual(
        ca.items.map((r) => r.id),
        ['carl', 'u-003'],
      );
      // LIKE's wildcards are plain characters here.
      const none = await all<{ id: string }>('/v1/recipients?prefix=%25', 10);
      assert.deepEqual(none.items, []);
    });

    it('lists notifications newest first under each filter', async () => {
      await call('PUT', '/v1/types/order_shipped', {
        channels: ['inapp', 'email'],
        templates: {
          inapp: { title: 'Shipped', body: 'b' },
          email: { subject: 'Shipped', text: 'b' },
        },
      });
      // u-002 has no email: its email delivery is skipped (no_address).
      const sent: { id: string; to: string; type: string; data: Record<string, unknown> }[] = [];
      const trigger = async (to: string, type: string, data: Record<string, unknown>) => {
        const res = await call('POST', '/v1/notifications', { type, to, data });
        assert.equal(res.status, 202, await res.clone().text());
        const body = (await res.json()) as { notifications: { id: string }[] };
        sent.push({ id: body.notifications[0]!.id, to, type, data });
      };
      await trigger('u-001', 'order_shipped', { orderId: 'A-1', total: 12, vip: true });
      await trigger('u-002', 'order_shipped', { orderId: 'A-2', total: 30 });
      await trigger('u-001', 'alpha', { orderId: 'A-3' });
      await trigger('u-003', 'order_shipped', { orderId: 'A-4', total: 12 });
      await trigger('u-002', 'beta', { orderId: 'A-5', note: 'x:y' });
      const newest = [...sent].reverse();
      const ids = (items: { id: string }[]) => items.map((n) => n.id);
      const where = (keep: (n: (typeof sent)[number]) => boolean) => ids(newest.filter(keep));

      const everything = await all<{ id: string; deliveries: unknown[] }>('/v1/notifications', 2);
      assert.deepEqual(ids(everything.items).slice(0, 5), ids(newest));
      assert.equal(everything.pages, Math.ceil(everything.items.length / 2) || 1);

      const byRecipient = await all<{ id: string }>('/v1/notifications?recipient=u-001', 1);
      assert.deepEqual(
        ids(byRecipient.items),
        where((n) => n.to === 'u-001'),
      );
      const byType = await all<{ id: string }>('/v1/notifications?type=order_shipped', 2);
      assert.deepEqual(
        ids(byType.items),
        where((n) => n.type === 'order_shipped'),
      );
      const byData = await all<{ id: string; data: unknown }>(
        '/v1/notifications?data.orderId=A-4',
        10,
      );
      assert.deepEqual(
        ids(byData.items),
        where((n) => n.data.orderId === 'A-4'),
      );
      assert.deepEqual(byData.items[0]!.data, { orderId: 'A-4', total: 12 });
      // A number, a boolean, and two filters at once.
      const twelve = await all<{ id: string }>('/v1/notifications?data.total=12', 10);
      assert.deepEqual(
        ids(twelve.items),
        where((n) => n.data.total === 12),
      );
      const vip = await all<{ id: string }>('/v1/notifications?data.vip=true&data.total=12', 10);
      assert.deepEqual(
        ids(vip.items),
        where((n) => n.data.vip === true),
      );
      const colon = await all<{ id: string }>('/v1/notifications?data.note=x%3Ay', 10);
      assert.deepEqual(
        ids(colon.items),
        where((n) => n.data.note === 'x:y'),
      );

      // u-002's order_shipped email was skipped: no address.
      const skipped = await all<{
        id: string;
        deliveries: { channel: string; status: string; reason: string }[];
      }>('/v1/notifications?status=skipped&channel=email', 10);
      assert.deepEqual(
        ids(skipped.items),
        where((n) => n.to === 'u-002' && n.type === 'order_shipped'),
      );
      assert.ok(
        skipped.items[0]!.deliveries.some(
          (d) => d.channel === 'email' && d.status === 'skipped' && d.reason === 'no_address',
        ),
      );

      // Time is the trigger's, as its UUIDv7 id records it (to the millisecond).
      const msOf = (id: string) => parseInt(id.replace('-', '').slice(0, 12), 16);
      const t = msOf(sent[2]!.id);
      const since = await all<{ id: string }>(
        `/v1/notifications?since=${new Date(t).toISOString()}`,
        10,
      );
      assert.deepEqual(
        ids(since.items),
        where((n) => msOf(n.id) >= t),
      );
      const until = await all<{ id: string }>(
        `/v1/notifications?until=${new Date(t).toISOString()}&type=order_shipped`,
        10,
      );
      assert.deepEqual(
        ids(until.items),
        where((n) => msOf(n.id) < t && n.type === 'order_shipped'),
      );
      assert.ok(until.items.length >= 1 && since.items.length >= 3);
    });

    it('refuses a cursor or limit it did not give out, and a recipient token', async () => {
      for (const [path, field] of [
        ['/v1/notifications?cursor=abc', 'cursor'],
        ['/v1/notifications?status=lost', 'status'],
        ['/v1/notifications?since=yesterday', 'since'],
        ['/v1/notifications?channel=email', 'channel'],
        ['/v1/notifications?data.=x', 'data.'],
        ['/v1/types?cursor=not*base64', 'cursor'],
        ['/v1/recipients?cursor=', 'cursor'],
        ['/v1/types?limit=0', 'limit'],
        ['/v1/recipients?limit=201', 'limit'],
        ['/v1/recipients?sort=id', 'sort'],
      ] as const) {
        const res = await call('GET', path);
        assert.equal(res.status, 400, path);
        const problem = (await res.json()) as Problem;
        assert.equal(problem.code, 'validation_failed');
        assert.ok(
          problem.errors?.some((e) => e.field === field),
          `${path}: ${JSON.stringify(problem.errors)}`,
        );
      }
      const token = await recipientToken('u-001', SECRET);
      assert.equal((await call('GET', '/v1/recipients', undefined, token)).status, 401);
      assert.equal((await call('GET', '/v1/types', undefined, token)).status, 401);
      assert.equal((await call('GET', '/v1/notifications', undefined, token)).status, 401);
    });
  });
}
