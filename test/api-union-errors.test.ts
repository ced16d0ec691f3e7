/**
 * A value that fits none of a union's shapes is told what the field accepts, not zod's bare
 * "Invalid input": the trigger's `to`, a reminder's `to`, the admin replay body.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { closeHerald, openHerald } from './helpers/db.js';
import { apiCaller, type Call, type Problem } from './helpers/api.js';

const KEY = 'union-errors-server-key-0123456789';
const ADMIN = 'union-errors-admin-key-0123456789';

describe('union errors say what the field accepts', () => {
  let herald: Herald;
  let app: Hono;
  let call: Call;
  before(async () => {
    herald = await openHerald('pglite', { apiKey: KEY, adminKey: ADMIN });
    app = makeApp(herald);
    call = apiCaller(app, KEY);
    await herald.recipients.upsert('ann', {});
    await call('PUT', '/v1/types/remind', {
      channels: ['inapp'],
      templates: { inapp: { title: 'hi', body: 'soon' } },
    });
  });
  after(async () => {
    await closeHerald(herald);
  });
  const count = async (table: string) => {
    const { rows } = await herald.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${herald.config.schema}".${table}`,
    );
    return rows[0]!.n;
  };
  const issue = async (res: Response, field: string) => {
    assert.equal(res.status, 400);
    const body = (await res.json()) as Problem;
    assert.equal(body.code, 'validation_failed');
    const found = body.errors?.find((e) => e.field === field);
    assert.ok(found, `an issue names ${field}: ${JSON.stringify(body.errors)}`);
    assert.doesNotMatch(found.message, /^Invalid input$/);
    return found.message;
  };

  it('to: 123 on a trigger says what `to` accepts, and nothing is written', async () => {
    const before = await count('notifications');
    for (const to of [123, null, true]) {
      const message = await issue(
        await call('POST', '/v1/notifications', { type: 'remind', to }),
        'to',
      );
      assert.match(message, /recipient id/);
      assert.match(message, /list/);
      assert.match(message, /inline recipient object/);
    }
    assert.equal(await count('notifications'), before);
  });

  it('a replay body of neither shape says both shapes', async () => {
    const res = await apiCaller(app, ADMIN)('POST', '/v1/admin/jobs/replay', { ids: 5 });
    assert.equal(res.status, 400);
    const body = (await res.json()) as Problem;
    assert.equal(body.code, 'validation_failed');
    assert.ok(
      body.errors?.some((e) => /"all": true/.test(e.message)),
      JSON.stringify(body.errors),
    );
  });
});
