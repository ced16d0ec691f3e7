/**
 * The server API's first resource, recipients, through HTTP (Hono in-process) on both
 * backends: API key auth, problem+json errors with field lists, the body limit, and
 * create / merge-update / read / erase. A refused request writes nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason } from './helpers/db.js';
import { apiCaller, type Call, type Problem } from './helpers/api.js';

const pgSkip = await pgSkipReason();

for (const backend of BACKENDS) {
  describe(`recipients API on ${backend}`, { skip: backend === 'pg' ? pgSkip : undefined }, () => {
    let herald: Herald;
    let app: Hono;
    let key: string;
    before(async () => {
      herald = await openHerald(backend, {
        apiKey: 'env-key-0123456789abcdef',
        maxBodyBytes: 4_096,
      });
      app = makeApp(herald);
      key = (await herald.keys.create({ name: 'tests' })).key;
    });
    after(async () => {
      await closeHerald(herald);
    });

    const call = (...args: Parameters<Call>) => apiCaller(app, key)(...args);
    const count = async () =>
      Number(
        (
          await herald.db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM "${herald.config.schema}".recipients`,
          )
        ).rows[0]?.n,
      );

    it('refuses requests without a known key, and changes nothing', async () => {
      for (const auth of [null, 'hk_nope_nope', `${key}x`, '']) {
        const res = await call('PUT', '/v1/recipients/u-auth', { email: 'a@example.com' }, auth);
        assert.equal(res.status, 401, `auth ${String(auth)}`);
        assert.equal(res.headers.get('content-type'), 'application/problem+json');
        assert.equal(((await res.json()) as Problem).code, 'unauthorized');
      }
      assert.equal(await count(), 0);
      // The key from the environment works too.
      assert.equal(
        (await call('GET', '/v1/recipients/u-auth', undefined, 'env-key-0123456789abcdef')).status,
        404,
      );
    });

    it('creates, merges an update, reads and erases a recipient', async () => {
      const created = await call('PUT', '/v1/recipients/u-1', {
        email: 'ada@example.com',
        phone: '+4915112345678',
        locale: 'de',
        timezone: 'Europe/Berlin',
        data: { plan: 'pro' },
      });
      assert.equal(created.status, 201);
      const updated = await call('PUT', '/v1/recipients/u-1', {
        timezone: 'Asia/Kolkata',
        phone: null,
      });
      assert.equal(updated.status, 200);
      const got = (await (await call('GET', '/v1/recipients/u-1')).json()) as Record<
        string,
        unknown
      >;
      assert.equal(got.email, 'ada@example.com', 'fields not sent are kept');
      assert.equal(got.phone, null, 'null clears');
      assert.equal(got.timezone, 'Asia/Kolkata');
      assert.deepEqual(got.data, { plan: 'pro' });
      assert.equal((await call('DELETE', '/v1/recipients/u-1')).status, 204);
      assert.equal((await call('GET', '/v1/recipients/u-1')).status, 404);
      assert.equal((await call('DELETE', '/v1/recipients/u-1')).status, 404);
    });

    it('bad input: 400 listing every bad field, nothing written', async () => {
      const res = await call('PUT', '/v1/recipients/u-bad', {
        email: 'not-an-address',
        phone: '0151 1234',
        locale: 'not a locale!',
        timezone: 'Mars/Olympus_Mons',
        colour: 'blue',
      });
      assert.equal(res.status, 400);
      const body = (await res.json()) as Problem;
      assert.equal(body.code, 'validation_failed');
      const fields = (body.errors ?? []).map((e) => e.field).sort();
      assert.deepEqual(fields, ['colour', 'email', 'locale', 'phone', 'timezone']);
      assert.match(
        body.errors?.find((e) => e.field === 'timezone')?.message ?? '',
        /IANA time zone/,
      );
      for (const raw of ['{"email":', '[1,2]', 'null']) {
        const r = await call('PUT', '/v1/recipients/u-bad', raw);
        assert.equal(r.status, 400, raw);
      }
      assert.equal(await count(), 0);
    });

    it('a body over the limit is 413 payload_too_large', async () => {
      const res = await call('PUT', '/v1/recipients/u-big', { data: { blob: 'x'.repeat(5_000) } });
      assert.equal(res.status, 413);
      assert.equal(((await res.json()) as Problem).code, 'payload_too_large');
      assert.equal(await count(), 0);
    });

    it('an unknown route is a 404 problem', async () => {
      const res = await call('GET', '/v1/nothing-here');
      assert.equal(res.status, 404);
      assert.equal(((await res.json()) as Problem).code, 'not_found');
    });
  });
}
