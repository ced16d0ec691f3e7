/**
 * Notification types through HTTP on both backends: define, read, replace, delete; every
 * broken rule (a channel without a template, bad Handlebars, an unknown channel, a bad name)
 * refused with the field named, and nothing written.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason } from './helpers/db.js';
import { apiCaller, type Call, type Problem } from './helpers/api.js';

const pgSkip = await pgSkipReason();

const dueSoon = {
  category: 'transactional',
  channels: ['email', 'inapp', 'push'],
  priority: 'high',
  templates: {
    email: {
      subject: 'Due soon: {{title}}',
      html: '<p>{{title}} is due {{due}}</p>',
      text: '{{title}} is due {{due}}',
    },
    push: { title: 'Due soon', body: '{{title}}' },
    inapp: { title: 'Due soon', body: '{{title}}', actionUrl: '/tasks/{{id}}' },
  },
  locales: { de: { email: { subject: 'Bald fällig: {{title}}' } } },
};

for (const backend of BACKENDS) {
  describe(
    `notification types API on ${backend}`,
    { skip: backend === 'pg' ? pgSkip : undefined },
    () => {
      let herald: Herald;
      let app: Hono;
      before(async () => {
        herald = await openHerald(backend, { apiKey: 'types-test-key-0123456789' });
        app = makeApp(herald);
      });
      after(async () => {
        await closeHerald(herald);
      });
      const call = (...args: Parameters<Call>) =>
        apiCaller(app, 'types-test-key-0123456789')(...args);

      it('defines, reads, replaces and deletes a type', async () => {
        const created = await call('PUT', '/v1/types/due_date_reminder', dueSoon);
        assert.equal(created.status, 201);
        const got = (await (await call('GET', '/v1/types/due_date_reminder')).json()) as Record<
          string,
          unknown
        >;
        assert.equal(got.name, 'due_date_reminder');
        assert.equal(got.priority, 'high');
        assert.equal(got.defaultLocale, 'en', 'defaults filled in');
        assert.deepEqual(got.locales, dueSoon.locales);
        const replaced = await call('PUT', '/v1/types/due_date_reminder', {
          channels: ['sms'],
          templates: { sms: { text: '{{title}} is due' } },
        });
        assert.equal(replaced.status, 200);
        const again = (await (await call('GET', '/v1/types/due_date_reminder')).json()) as Record<
          string,
          unknown
        >;
        assert.deepEqual(again.channels, ['sms']);
        assert.equal(again.category, 'transactional');
        assert.equal((await call('DELETE', '/v1/types/due_date_reminder')).status, 204);
        assert.equal((await call('GET', '/v1/types/due_date_reminder')).status, 404);
      });

      it('refuses a broken type, naming each field, and writes nothing', async () => {
        const res = await call('PUT', '/v1/types/broken', {
          channels: ['email', 'sms', 'pigeon'],
          templates: { email: { subject: 'Hi {{#if name}}', text: 'ok' } },
        });
        assert.equal(res.status, 400);
        const body = (await res.json()) as Problem;
        assert.equal(body.code, 'validation_failed');
        assert.deepEqual(
          (body.errors ?? []).map((e) => e.field),
          ['channels.2'],
        );
        // With the channels fixed, the missing template and the bad syntax are named.
        const res2 = await call('PUT', '/v1/types/broken', {
          channels: ['email', 'sms'],
          templates: { email: { subject: 'Hi {{#if name}}', text: 'ok' } },
        });
        assert.deepEqual(
          ((await res2.json()) as Problem).errors?.map((e) => e.field),
          ['templates.sms'],
        );
        const res3 = await call('PUT', '/v1/types/broken', {
          channels: ['email'],
          templates: { email: { subject: 'Hi {{#if name}}', text: 'ok' } },
        });
        const p3 = (await res3.json()) as Problem;
        assert.deepEqual(
          p3.errors?.map((e) => e.field),
          ['templates.email.subject'],
        );
        assert.match(p3.errors?.[0]?.message ?? '', /not a valid Handlebars template/);
        const badName = await call('PUT', '/v1/types/Bad%20Name', dueSoon);
        assert.deepEqual(
          ((await badName.json()) as Problem).errors?.map((e) => e.field),
          ['name'],
        );
        assert.equal((await call('GET', '/v1/types/broken')).status, 404, 'nothing written');
      });
    },
  );
}
