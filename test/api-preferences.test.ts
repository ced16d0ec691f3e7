/**
 * Recipient preferences through HTTP on both backends: defaults, replace, read back, every
 * bad field named with nothing changed, unknown recipients, and erasure with the recipient.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason } from './helpers/db.js';
import { apiCaller, type Call, type Problem } from './helpers/api.js';

const pgSkip = await pgSkipReason();

// A full preferences document: every field set.
const example = {
  channels: { email: true, sms: false, push: true, inapp: true, whatsapp: false },
  types: { weekly_summary: false, due_date_reminder: { email: false } },
  quietHours: { start: '22:00', end: '07:30' },
  timezone: 'Europe/Berlin',
  digest: 'daily',
  schedules: {
    daily_briefing: { time: '08:00', skipWeekends: true },
    weekly_summary: { day: 'monday', time: '09:00' },
  },
  consent: { marketing: true },
};

for (const backend of BACKENDS) {
  describe(`preferences API on ${backend}`, { skip: backend === 'pg' ? pgSkip : undefined }, () => {
    let herald: Herald;
    let app: Hono;
    before(async () => {
      herald = await openHerald(backend, { apiKey: 'prefs-test-key-0123456789' });
      app = makeApp(herald);
      await herald.recipients.upsert('u-1', { timezone: 'America/New_York' });
    });
    after(async () => {
      await closeHerald(herald);
    });
    const call = (...args: Parameters<Call>) =>
      apiCaller(app, 'prefs-test-key-0123456789')(...args);

    it('answers defaults for a recipient without preferences, 404 for an unknown one', async () => {
      const res = await call('GET', '/v1/recipients/u-1/preferences');
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), {
        channels: {},
        types: {},
        quietHours: null,
        timezone: null,
        digest: 'off',
        schedules: {},
        consent: { marketing: false },
      });
      const unknown = await call('PUT', '/v1/recipients/nobody/preferences', example);
      assert.equal(unknown.status, 404);
      assert.match(((await unknown.json()) as { detail: string }).detail, /create it first/);
    });

    it('replaces the preferences and reads them back', async () => {
      const put = await call('PUT', '/v1/recipients/u-1/preferences', example);
      assert.equal(put.status, 200);
      const got = (await (
        await call('GET', '/v1/recipients/u-1/preferences')
      ).json()) as typeof example;
      assert.deepEqual(got.channels, example.channels);
      assert.deepEqual(got.types, example.types);
      assert.deepEqual(got.quietHours, example.quietHours);
      assert.equal(got.digest, 'daily');
      assert.deepEqual(got.schedules.weekly_summary, {
        day: 'monday',
        time: '09:00',
        enabled: true,
      });
      assert.deepEqual(got.consent, { marketing: true });
    });

    it('refuses bad times, unknown channels and unknown zones field by field, changing nothing', async () => {
      const res = await call('PUT', '/v1/recipients/u-1/preferences', {
        channels: { pigeon: true },
        quietHours: { start: '24:00', end: '7:30' },
        timezone: 'Atlantis/Capital',
        digest: 'sometimes',
        schedules: { daily_briefing: { time: '8am' } },
      });
      assert.equal(res.status, 400);
      const fields = (((await res.json()) as Problem).errors ?? []).map((e) => e.field).sort();
      assert.deepEqual(fields, [
        'channels.pigeon',
        'digest',
        'quietHours.end',
        'quietHours.start',
        'schedules.daily_briefing.time',
        'timezone',
      ]);
      const same = (await (
        await call('GET', '/v1/recipients/u-1/preferences')
      ).json()) as typeof example;
      assert.equal(same.digest, 'daily', 'unchanged');
    });

    it('erasing the recipient erases the preferences', async () => {
      await herald.recipients.upsert('u-2', {});
      await herald.preferences.put('u-2', { digest: 'weekly' });
      await herald.recipients.erase('u-2');
      const { rows } = await herald.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM "${herald.config.schema}".preferences WHERE recipient_id = 'u-2'`,
      );
      assert.equal(Number(rows[0]?.n), 0);
    });
  });
}
