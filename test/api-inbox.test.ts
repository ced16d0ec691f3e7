/**
 * The inbox through /v1/me on both backends: newest first, cursor pages, unread filter and
 * count, read/unread/read-all, delete. And the auth matrix of the notification endpoints: no
 * key, a wrong key, a recipient token on server routes, and one recipient's token on another's
 * items are all refused, and nothing changes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { builtinHandlers } from '../src/handlers.js';
import type { InboxPage } from '../src/notify/inbox.js';
import type { SendResult } from '../src/notify/send.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason, waitFor } from './helpers/db.js';
import { apiCaller, recipientToken, type Call, type Problem } from './helpers/api.js';

const pgSkip = await pgSkipReason();
const KEY = 'inbox-test-key-0123456789abc';
const SECRET = 'a-jwt-secret-of-at-least-32-characters!';
const tokenFor = (sub: string) => recipientToken(sub, SECRET);

for (const backend of BACKENDS) {
  describe(`inbox on ${backend}`, { skip: backend === 'pg' ? pgSkip : undefined }, () => {
    let herald: Herald;
    let app: Hono;
    let call: Call;
    let ann: string;
    let bob: string;
    const annIds: string[] = []; // oldest first
    let bobId = '';

    /** Everything the inbox shows of both recipients, to prove a refused call changed nothing. */
    const snapshot = async () =>
      JSON.stringify(
        (
          await herald.db.query(
            `SELECT id, read_at, archived_at, inbox_at FROM "${herald.config.schema}".notifications ORDER BY id`,
          )
        ).rows,
      );

    before(async () => {
      herald = await openHerald(backend, { apiKey: KEY, jwtSecret: SECRET });
      app = makeApp(herald);
      call = apiCaller(app, KEY);
      await call('PUT', '/v1/types/note', {
        channels: ['inapp'],
        templates: { inapp: { title: 'Note {{n}}', body: 'body {{n}}' } },
      });
      await call('PUT', '/v1/recipients/ann', {});
      await call('PUT', '/v1/recipients/bob', {});
      const worker = herald.worker({ handlers: builtinHandlers(herald), pollIntervalMs: 50 });
      await worker.start();
      for (let n = 1; n <= 5; n++) {
        // One at a time, so each lands in the inbox after the one before.
        const res = await call('POST', '/v1/notifications', {
          type: 'note',
          to: 'ann',
          data: { n },
        });
        const id = ((await res.json()) as SendResult).notifications[0]!.id;
        await waitFor(
          async () => (await herald.notifications.get(id))?.inbox,
          10_000,
          'inbox item',
        );
        annIds.push(id);
      }
      const res = await call('POST', '/v1/notifications', {
        type: 'note',
        to: 'bob',
        data: { n: 'b' },
      });
      bobId = ((await res.json()) as SendResult).notifications[0]!.id;
      await waitFor(
        async () => (await herald.notifications.get(bobId))?.inbox,
        10_000,
        'inbox item',
      );
      await worker.stop();
      ann = await tokenFor('ann');
      bob = await tokenFor('bob');
    });
    after(() => closeHerald(herald));

    const list = async (query: string, token = ann) => {
      const res = await call('GET', `/v1/me/notifications${query}`, undefined, token);
      assert.equal(res.status, 200);
      return (await res.json()) as InboxPage;
    };
    const unread = async (token = ann) =>
      (
        (await (await call('GET', '/v1/me/unread-count', undefined, token)).json()) as {
          count: number;
        }
      ).count;

    it('lists newest first in cursor pages', async () => {
      const first = await list('?limit=2');
      assert.deepEqual(
        first.items.map((i) => i.title),
        ['Note 5', 'Note 4'],
      );
      assert.ok(first.nextCursor);
      const second = await list(`?limit=2&cursor=${first.nextCursor}`);
      assert.deepEqual(
        second.items.map((i) => i.title),
        ['Note 3', 'Note 2'],
      );
      const third = await list(`?limit=2&cursor=${second.nextCursor}`);
      assert.deepEqual(
        third.items.map((i) => i.id),
        [annIds[0]],
      );
      assert.equal(third.nextCursor, null);
      assert.deepEqual(third.items[0]!.data, { n: 1 });
      assert.equal(
        (await call('GET', '/v1/me/notifications?cursor=bogus', undefined, ann)).status,
        400,
      );
      assert.equal(
        (await call('GET', '/v1/me/notifications?limit=1000', undefined, ann)).status,
        400,
      );
    });

    it('marks read and unread, counts, filters, and reads all', async () => {
      assert.equal(await unread(), 5);
      assert.equal(
        (await call('POST', `/v1/me/notifications/${annIds[1]}/read`, undefined, ann)).status,
        204,
      );
      assert.equal(await unread(), 4);
      const unreadOnly = await list('?unread=true');
      assert.equal(unreadOnly.items.length, 4);
      assert.ok(!unreadOnly.items.some((i) => i.id === annIds[1]));
      const item = (await list('')).items.find((i) => i.id === annIds[1])!;
      assert.equal(item.read, true);
      assert.ok(item.readAt);
      assert.equal(
        (await call('POST', `/v1/me/notifications/${annIds[1]}/unread`, undefined, ann)).status,
        204,
      );
      assert.equal(await unread(), 5);
      const all = await call('POST', '/v1/me/notifications/read-all', undefined, ann);
      assert.deepEqual(await all.json(), { updated: 5 });
      assert.equal(await unread(), 0);
      assert.equal(await unread(bob), 1, "bob's inbox is his own");
    });

    it('deletes an item from the inbox', async () => {
      assert.equal(
        (await call('DELETE', `/v1/me/notifications/${annIds[4]}`, undefined, ann)).status,
        204,
      );
      assert.ok(!(await list('')).items.some((i) => i.id === annIds[4]));
      assert.equal(
        (await call('DELETE', `/v1/me/notifications/${annIds[4]}`, undefined, ann)).status,
        404,
      );
    });

    it("refuses one recipient's token on another's items, changing nothing", async () => {
      const before = await snapshot();
      for (const [method, path] of [
        ['POST', `/v1/me/notifications/${bobId}/read`],
        ['POST', `/v1/me/notifications/${bobId}/unread`],
        ['DELETE', `/v1/me/notifications/${bobId}`],
      ] as const) {
        const res = await call(method, path, undefined, ann);
        assert.equal(res.status, 404, `${method} ${path}`);
        assert.equal(((await res.json()) as Problem).code, 'not_found');
      }
      assert.ok(!(await list('')).items.some((i) => i.id === bobId));
      assert.equal(await snapshot(), before);
      assert.equal(await unread(bob), 1);
    });

    it('refuses calls without the right credentials, changing nothing', async () => {
      const before = await snapshot();
      const counts = async () =>
        (
          await herald.db.query(
            `SELECT count(*)::int AS n FROM "${herald.config.schema}".deliveries`,
          )
        ).rows;
      const deliveries = await counts();
      const trigger = { type: 'note', to: 'ann', data: { n: 9 } };
      const cases: [string, string, unknown, string | null, number][] = [
        ['POST', '/v1/notifications', trigger, null, 401],
        ['POST', '/v1/notifications', trigger, 'wrong-key-0123456789abcdef', 401],
        ['POST', '/v1/notifications', trigger, ann, 401],
        ['GET', `/v1/notifications/${annIds[0]}`, undefined, null, 401],
        ['GET', `/v1/notifications/${annIds[0]}`, undefined, ann, 401],
        ['POST', `/v1/notifications/${annIds[0]}/cancel`, undefined, ann, 401],
        ['GET', '/v1/me/notifications', undefined, null, 401],
        ['GET', '/v1/me/notifications', undefined, KEY, 401],
        ['POST', '/v1/me/notifications/read-all', undefined, KEY, 401],
        ['POST', '/v1/me/notifications/read-all', undefined, 'not-a-jwt', 401],
      ];
      for (const [method, path, body, auth, status] of cases) {
        const res = await call(method, path, body, auth);
        assert.equal(res.status, status, `${method} ${path} with ${auth ?? 'nothing'}`);
        assert.equal(res.headers.get('content-type'), 'application/problem+json');
      }
      assert.equal(await snapshot(), before);
      assert.deepEqual(await counts(), deliveries);
    });
  });
}
