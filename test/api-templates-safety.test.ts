/**
 * Templates that must not hurt (issue 9), through the HTTP API in-process on both backends:
 * render work is bounded (previews, triggers and sends), `{{log}}` is gone, a parse error
 * shows the parser's whole message, a trigger lacking data its templates need is refused at
 * once (naming the variable and the template), and an inbox action URL may not be a
 * `javascript:`, `data:` or `vbscript:` URL. Every refusal writes nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import { builtinHandlers } from '../src/handlers.js';
import { makeApp } from '../src/http/app.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason, waitFor } from './helpers/db.js';
import { apiCaller, type Problem } from './helpers/api.js';

const pgSkip = await pgSkipReason();
const KEY = 'templates-safety-key-0123456789';

/** Four nested loops over the same 50 items: 6.25 million block bodies (5 s before the bound). */
const NESTED =
  '{{#each items}}{{#each @root.items}}{{#each @root.items}}{{#each @root.items}}x{{/each}}{{/each}}{{/each}}{{/each}}';
const fifty = Array.from({ length: 50 }, (_, i) => i);

for (const backend of BACKENDS) {
  describe(
    `template safety through the API on ${backend}`,
    { skip: backend === 'pg' ? pgSkip : undefined },
    () => {
      let herald: Herald;
      let app: Hono;
      before(async () => {
        herald = await openHerald(backend, { apiKey: KEY });
        app = makeApp(herald);
        await herald.recipients.upsert('ann', { email: 'ann@example.com' });
        await herald.recipients.upsert('vip', { email: 'vip@example.com', data: { vip: true } });
      });
      after(async () => {
        await closeHerald(herald);
      });
      const call = (...args: Parameters<ReturnType<typeof apiCaller>>) =>
        apiCaller(app, KEY)(...args);
      const problem = async (res: Response, status: number, code: string) => {
        const body = (await res.json()) as Problem;
        assert.equal(res.status, status, JSON.stringify(body));
        assert.equal(body.code, code, JSON.stringify(body));
        return body;
      };
      const notificationCount = async () =>
        (
          await herald.db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM "${herald.config.schema}".notifications`,
          )
        ).rows[0]?.n ?? 0;

      it('a preview or trigger past the render budget is refused with template_too_expensive', async () => {
        await call('PUT', '/v1/types/nested', {
          channels: ['inapp'],
          templates: { inapp: { title: 'Loops', body: NESTED } },
        });
        const preview = await call('POST', '/v1/types/nested/preview', {
          data: { items: fifty },
        });
        const body = await problem(preview, 422, 'template_too_expensive');
        assert.equal(body.errors?.[0]?.field, 'templates.inapp.body');
        assert.match(body.errors?.[0]?.message ?? '', /more than 50,000 steps/);

        // A few items are fine.
        const small = await call('POST', '/v1/types/nested/preview', { data: { items: [1, 2] } });
        assert.equal(small.status, 200);
        assert.equal(
          ((await small.json()) as { inapp: { body: string } }).inapp.body,
          'x'.repeat(16),
        );

        const before = await notificationCount();
        const trigger = await call('POST', '/v1/notifications', {
          type: 'nested',
          to: 'ann',
          data: { items: fifty },
        });
        await problem(trigger, 422, 'template_too_expensive');
        assert.equal(await notificationCount(), before, 'nothing written');

        // Output size is bounded too: a short template repeating a long value.
        await call('PUT', '/v1/types/wide', {
          channels: ['inapp'],
          templates: { inapp: { title: 'Wide', body: '{{{v}}}'.repeat(20) } },
        });
        const wide = await call('POST', '/v1/types/wide/preview', {
          data: { v: 'y'.repeat(60_000) },
        });
        assert.match(
          (await problem(wide, 422, 'template_too_expensive')).detail,
          /more than 1,000,000 characters/,
        );
      });

      it('a send past the render budget fails its delivery permanently, saying why', async () => {
        // Data known only per recipient (a schedule's content) is checked when it renders.
        const sent = await herald.send(
          { type: 'nested', to: 'ann' },
          { dataFor: () => ({ items: fifty }) },
        );
        const id = sent.notifications[0]!.id;
        const worker = herald.worker({ handlers: builtinHandlers(herald), pollIntervalMs: 20 });
        await worker.start();
        try {
          const failed = await waitFor(
            async () => {
              const n = (await (await call('GET', `/v1/notifications/${id}`)).json()) as {
                deliveries: { status: string; reason: string | null; error?: string | null }[];
              };
              const d = n.deliveries[0];
              return d?.status === 'failed' ? d : undefined;
            },
            30_000,
            'the delivery to fail',
          );
          assert.equal(failed.reason, 'render_error');
          assert.match(failed.error ?? '', /templates\.inapp\.body: takes more than 50,000 steps/);
        } finally {
          await worker.stop();
        }
      });

      it('{{log}} is no helper: refused when a type is saved', async () => {
        const res = await call('PUT', '/v1/types/logs', {
          channels: ['sms'],
          templates: { sms: { text: 'Hi {{log "secret" name}}{{name}}' } },
        });
        const body = await problem(res, 400, 'validation_failed');
        assert.equal(body.errors?.[0]?.field, 'templates.sms.text');
        assert.match(
          body.errors?.[0]?.message ?? '',
          /uses \{\{log\}\}, which Herald does not have/,
        );
        assert.equal((await call('GET', '/v1/types/logs')).status, 404, 'nothing written');
        // A variable named log is still a variable.
        const plain = await call('PUT', '/v1/types/logs', {
          channels: ['sms'],
          templates: { sms: { text: 'Log: {{log}}' } },
        });
        assert.equal(plain.status, 201);
      });

      it('a parse error shows the line, the pointer and what the parser expected', async () => {
        const res = await call('PUT', '/v1/types/broken', {
          channels: ['sms'],
          templates: { sms: { text: 'Hi {{#if name}}' } },
        });
        const body = await problem(res, 400, 'validation_failed');
        const message = body.errors?.[0]?.message ?? '';
        assert.ok(
          message.startsWith(
            'is not a valid Handlebars template: Parse error on line 1:\nHi {{#if name}}\n---------------^\nExpecting ',
          ),
          message,
        );
        assert.match(message, /got 'EOF'$/);
      });

      it('a trigger whose data lacks a variable is refused, naming it and the template', async () => {
        await call('PUT', '/v1/types/greet', {
          channels: ['email', 'inapp'],
          templates: {
            email: { subject: 'Hi {{name}}', text: '{{emailOnly}}' },
            inapp: {
              title: 'Hi {{name}}',
              body: '{{#if recipient.data.vip}}{{code}}{{/if}}{{recipient.email}} {{count}}',
            },
          },
        });
        const before = await notificationCount();
        const res = await call('POST', '/v1/notifications', {
          type: 'greet',
          to: 'ann',
          channels: ['inapp'],
        });
        const body = await problem(res, 422, 'missing_template_data');
        // Field order is the stored type's (jsonb orders keys by length): compare sorted.
        assert.match(
          body.detail,
          /^the data lacks (name, count|count, name), which the templates use/,
        );
        assert.deepEqual(body.errors?.map((e) => e.message).sort(), [
          'templates.inapp.body uses {{count}}, which the data does not have',
          'templates.inapp.title uses {{name}}, which the data does not have',
        ]);
        assert.deepEqual(body.errors?.map((e) => e.field).sort(), ['data.count', 'data.name']);
        // Every channel that would render is named.
        const both = await call('POST', '/v1/notifications', { type: 'greet', to: 'ann' });
        assert.deepEqual(
          (await problem(both, 422, 'missing_template_data')).errors?.map((e) => e.message).sort(),
          [
            'templates.email.subject uses {{name}}, which the data does not have',
            'templates.email.text uses {{emailOnly}}, which the data does not have',
            'templates.inapp.body uses {{count}}, which the data does not have',
            'templates.inapp.title uses {{name}}, which the data does not have',
          ],
        );
        assert.equal(await notificationCount(), before, 'nothing written');

        // The recipient's own fields decide: ann is no VIP, so `code` is not needed for her;
        // and only the asked channel renders, so `emailOnly` is not needed either.
        const ok = await call('POST', '/v1/notifications', {
          type: 'greet',
          to: 'ann',
          channels: ['inapp'],
          data: { name: 'Ann', count: 1 },
        });
        assert.equal(ok.status, 202, await ok.clone().text());
        const vip = await call('POST', '/v1/notifications', {
          type: 'greet',
          to: ['ann', 'vip'],
          channels: ['inapp'],
          data: { name: 'Vi', count: 2 },
        });
        const vipBody = await problem(vip, 422, 'missing_template_data');
        assert.deepEqual(
          vipBody.errors?.map((e) => e.field),
          ['data.code'],
        );
        assert.equal(await notificationCount(), before + 1, 'only the accepted trigger wrote');
        // Data given per recipient later (a schedule's content) is not checked at trigger time.
        const later = await herald.send({ type: 'greet', to: 'ann' }, { dataFor: () => undefined });
        assert.equal(later.notifications.length, 1);
      });

      it('an inbox action URL may not be a javascript:, data: or vbscript: URL', async () => {
        for (const actionUrl of [
          'javascript:alert(1)',
          ' JavaScript:{{x}}',
          'java\tscript:alert(1)',
          'data:text/html,<script>',
          'vbscript:msgbox',
        ]) {
          const res = await call('PUT', '/v1/types/linky', {
            channels: ['inapp'],
            templates: { inapp: { title: 't', body: 'b', actionUrl } },
          });
          const body = await problem(res, 422, 'unsafe_action_url');
          assert.equal(body.errors?.[0]?.field, 'templates.inapp.actionUrl');
        }
        const locale = await call('PUT', '/v1/types/linky', {
          channels: ['inapp'],
          templates: { inapp: { title: 't', body: 'b' } },
          locales: { de: { inapp: { actionUrl: 'javascript:void(0)' } } },
        });
        assert.equal(
          (await problem(locale, 422, 'unsafe_action_url')).errors?.[0]?.field,
          'locales.de.inapp.actionUrl',
        );
        assert.equal((await call('GET', '/v1/types/linky')).status, 404, 'nothing written');

        // From the data: refused at trigger time.
        const put = await call('PUT', '/v1/types/linky', {
          channels: ['inapp'],
          templates: { inapp: { title: 't', body: 'b', actionUrl: '{{url}}' } },
        });
        assert.equal(put.status, 201);
        const before = await notificationCount();
        for (const url of ['javascript:alert(document.cookie)', 'DATA:text/html,x']) {
          const res = await call('POST', '/v1/notifications', {
            type: 'linky',
            to: 'ann',
            data: { url },
          });
          const body = await problem(res, 422, 'unsafe_action_url');
          assert.equal(body.errors?.[0]?.field, 'templates.inapp.actionUrl');
        }
        assert.equal(await notificationCount(), before, 'nothing written');
        for (const url of [
          'https://app.example.com/orders/42',
          'http://x.test/',
          '/orders/42',
          'orders?id=1',
        ]) {
          const res = await call('POST', '/v1/notifications', {
            type: 'linky',
            to: 'ann',
            data: { url },
          });
          assert.equal(res.status, 202, url);
        }
      });
    },
  );
}
