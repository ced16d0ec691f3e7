/**
 * The admin realm on both backends: only admin keys; deliveries by status, retry of a failed
 * delivery after the cause is fixed, cancel of a queued one; the queue's status, dead letters
 * and replay.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { builtinHandlers } from '../src/handlers.js';
import { PermanentError } from '../src/queue/errors.js';
import type { DeliveryRow } from '../src/notify/deliveries.js';
import type { SendResult } from '../src/notify/send.js';
import { BACKENDS, closeHerald, openHerald, pgSkipReason, waitFor } from './helpers/db.js';
import { apiCaller, type Call, type Problem } from './helpers/api.js';

const pgSkip = await pgSkipReason();
const KEY = 'admin-test-server-key-0123456789';
const ADMIN = 'admin-test-admin-key-0123456789';

for (const backend of BACKENDS) {
  describe(`admin API on ${backend}`, { skip: backend === 'pg' ? pgSkip : undefined }, () => {
    let herald: Herald;
    let app: Hono;
    let call: Call;
    let admin: Call;

    before(async () => {
      herald = await openHerald(backend, { apiKey: KEY, adminKey: ADMIN });
      app = makeApp(herald);
      call = apiCaller(app, KEY);
      admin = apiCaller(app, ADMIN);
      await call('PUT', '/v1/recipients/ann', {});
    });
    after(() => closeHerald(herald));

    it('refuses server keys (403) and no key (401)', async () => {
      for (const [method, path] of [
        ['GET', '/v1/admin/deliveries'],
        ['GET', '/v1/admin/jobs/status'],
        ['GET', '/v1/admin/jobs/dead'],
        ['POST', '/v1/admin/jobs/replay'],
        ['POST', '/v1/admin/deliveries/00000000-0000-7000-8000-000000000000/retry'],
      ] as const) {
        const body = method === 'POST' ? { all: true } : undefined;
        assert.equal((await call(method, path, body)).status, 403, `${method} ${path}`);
        assert.equal((await call(method, path, body, null)).status, 401);
      }
    });

    it('lists failed deliveries, and retries one once its cause is fixed', async () => {
      // The type changes after the trigger to use a variable the trigger did not give (a
      // trigger lacking it now is refused at once): the render fails.
      await call('PUT', '/v1/types/note', {
        channels: ['inapp'],
        templates: { inapp: { title: 'Hi', body: 'x' } },
      });
      const res = await call('POST', '/v1/notifications', { type: 'note', to: 'ann' });
      await call('PUT', '/v1/types/note', {
        channels: ['inapp'],
        templates: { inapp: { title: 'Hi {{name}}', body: 'x' } },
      });
      const delivery = ((await res.json()) as SendResult).notifications[0]!.deliveries[0]!;
      // Completions wait 300 ms, so the job that failed the delivery is still running when the
      // retry comes: the retry must not be swallowed by that job's key.
      const worker = herald.worker({
        handlers: builtinHandlers(herald),
        pollIntervalMs: 50,
        completionDelayMs: 300,
      });
      await worker.start();
      try {
        const failed = await waitFor(
          async () => {
            const page = (await (
              await admin('GET', '/v1/admin/deliveries?status=failed')
            ).json()) as {
              items: DeliveryRow[];
            };
            return page.items.find((d) => d.id === delivery.id);
          },
          10_000,
          'the failed delivery',
        );
        assert.equal(failed.reason, 'render_error');
        assert.match(failed.error ?? '', /name/);
        const none = (await (await admin('GET', '/v1/admin/deliveries?status=sent')).json()) as {
          items: unknown[];
        };
        assert.equal(none.items.length, 0);
        assert.equal((await admin('GET', '/v1/admin/deliveries?status=bogus')).status, 400);

        // Retrying a delivery that is not failed is a conflict; nothing changes.
        const sendAt = new Date(Date.now() + 3_600_000).toISOString();
        const later = await call('POST', '/v1/notifications', {
          type: 'note',
          to: 'ann',
          data: { name: 'x' },
          sendAt,
        });
        const queued = ((await later.json()) as SendResult).notifications[0]!.deliveries[0]!;
        const conflict = await admin('POST', `/v1/admin/deliveries/${queued.id}/retry`);
        assert.equal(conflict.status, 409);
        assert.equal(((await conflict.json()) as Problem).code, 'conflict');

        await call('PUT', '/v1/types/note', {
          channels: ['inapp'],
          templates: { inapp: { title: 'Hi there', body: 'x' } },
        });
        const retried = await admin('POST', `/v1/admin/deliveries/${delivery.id}/retry`);
        assert.equal(retried.status, 200);
        assert.equal(((await retried.json()) as DeliveryRow).status, 'queued');
        const sent = await waitFor(
          async () => {
            const n = await herald.notifications.get(failed.notificationId);
            return n?.deliveries[0]?.status === 'sent' ? n : null;
          },
          10_000,
          'the retried delivery to be sent',
        );
        assert.equal(sent.inbox?.title, 'Hi there');
        assert.deepEqual(
          sent.deliveries[0]!.events.map((e) => e.status),
          ['queued', 'failed', 'queued', 'sent'],
        );

        const cancelled = await admin('POST', `/v1/admin/deliveries/${queued.id}/cancel`);
        assert.equal(cancelled.status, 200);
        assert.equal(((await cancelled.json()) as DeliveryRow).status, 'cancelled');
        assert.equal((await admin('POST', `/v1/admin/deliveries/${queued.id}/cancel`)).status, 409);
        assert.equal((await admin('POST', '/v1/admin/deliveries/nope/cancel')).status, 404);
      } finally {
        await worker.stop();
      }
    });

    it('shows the queue, its dead letters, and replays them', async () => {
      await herald.queue.enqueue({ kind: 'doomed', payload: { n: 1 } });
      const worker = herald.worker({
        handlers: {
          doomed: () => {
            throw new PermanentError('cannot ever work');
          },
        },
        pollIntervalMs: 50,
      });
      await worker.start();
      const dead = await waitFor(
        async () => {
          const body = (await (await admin('GET', '/v1/admin/jobs/dead')).json()) as {
            items: { id: string; kind: string; lastError: string }[];
          };
          return body.items.find((j) => j.kind === 'doomed');
        },
        10_000,
        'a dead job',
      );
      await worker.stop();
      assert.match(dead.lastError, /cannot ever work/);
      const status = (await (await admin('GET', '/v1/admin/jobs/status')).json()) as {
        queues: { kind: string; status: string; count: number }[];
      };
      assert.ok(
        status.queues.some((q) => q.kind === 'doomed' && q.status === 'dead' && q.count === 1),
      );
      assert.equal((await admin('POST', '/v1/admin/jobs/replay', { ids: ['x'] })).status, 400);
      const replayed = await admin('POST', '/v1/admin/jobs/replay', { ids: [dead.id] });
      assert.deepEqual(await replayed.json(), { replayed: [dead.id] });
      assert.equal((await herald.queue.get(dead.id))?.status, 'queued');
    });
  });
}
