/**
 * The server realm's lists (GET /v1/types, GET /v1/recipients) on both backends: ordered by
 * key, a page at a time with a cursor that neither skips nor repeats, the recipients' prefix
 * filter on id and email; a cursor or limit this API did not give out is a 400 naming the
 * field; a recipient token is refused.
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

    it('refuses a cursor or limit it did not give out, and a recipient token', async () => {
      for (const [path, field] of [
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
    });
  });
}
